"""POST /transfer: money moves exactly once per idempotency key."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.utilities.typing import LambdaContext

from retryproof import aws, http
from retryproof.config import get_settings
from retryproof.dal.transfers import DynamoTransferStore
from retryproof.models.requests import TransferRequest
from retryproof.models.responses import TransferOut
from retryproof.observability import instrument
from retryproof.transfers import check_accounts_differ, post_transfer

app = http.api_resolver()


@app.post(
    "/transfer",
    operation_id="createTransfer",
    summary="Move money between accounts, once per Idempotency-Key",
    responses={
        200: {
            "description": "The transfer (the first execution or its replay)",
            "content": {http.JSON_CONTENT_TYPE: {"model": TransferOut}},
        }
    },
)
def transfer(request: Annotated[TransferRequest, Body()]) -> Response[Any]:
    settings = get_settings()
    check_accounts_differ(request)  # a validation failure: before anything is claimed
    return http.idempotent_post(
        app,
        "transfer",
        settings.idempotency_ttl_transfer,
        lambda post: post_transfer(
            request,
            tenant_id=post.tenant_id,
            idempotency_key=post.key,
            request_hash=post.body_hash,
            store=DynamoTransferStore(
                aws.dynamodb(), settings.accounts_table, settings.ledger_table
            ),
            reject_mismatch=settings.payload_mismatch == "reject",
        ),
    )


@instrument()
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return http.precheck(event) or app.resolve(event, context)
