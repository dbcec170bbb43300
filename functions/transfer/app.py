"""POST /transfer: money moves exactly once per idempotency key."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from retryproof import aws, http, idempotent_http
from retryproof.config import get_settings
from retryproof.dal.transfers import DynamoTransferStore
from retryproof.idempotency import IdempotencyStore
from retryproof.models.transfers import TransferOut, TransferRequest
from retryproof.observability import instrument
from retryproof.transfers import check_accounts_differ, post_transfer

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

app = http.Api()
store = IdempotencyStore("transfer")  # one per execution environment


@app.post(
    "/transfer",
    operation_id="createTransfer",
    summary="Move money between accounts, once per Idempotency-Key",
    body=TransferRequest,
    responses={200: ("The transfer (the first execution or its replay)", TransferOut)},
)
def transfer(request: http.Request[TransferRequest]) -> http.Response:
    settings = get_settings()
    check_accounts_differ(request.body)  # a validation failure: before anything is claimed
    return idempotent_http.idempotent_post(
        request,
        store,
        settings.idempotency_ttl_transfer,
        lambda post: post_transfer(
            request.body,
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
    return app.resolve(event, context)
