"""GET /accounts/{accountId} and GET /transfers/{transferId}: the owner tenant's view."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Path
from aws_lambda_powertools.utilities.typing import LambdaContext

from retryproof import aws, http
from retryproof.config import get_settings
from retryproof.dal.accounts import DynamoAccountRepository
from retryproof.dal.transfers import DynamoTransferStore
from retryproof.models.responses import AccountOut, TransferOut
from retryproof.observability import instrument
from retryproof.transfers import get_account, get_transfer

app = http.api_resolver()


@app.get(
    "/accounts/<accountId>",
    operation_id="getAccount",
    summary="An account of the caller's tenant",
    responses={
        200: {
            "description": "The account",
            "content": {http.JSON_CONTENT_TYPE: {"model": AccountOut}},
        }
    },
)
def account(accountId: Annotated[str, Path(min_length=1, max_length=128)]) -> Response[Any]:
    settings = get_settings()
    repo = DynamoAccountRepository(aws.dynamodb(), settings.accounts_table)
    out = get_account(repo, tenant_id=http.tenant_id(app), account_id=accountId)
    return http.json_response(200, out.to_json_dict())


@app.get(
    "/transfers/<transferId>",
    operation_id="getTransfer",
    summary="A transfer the caller's tenant made (the ledger entry)",
    responses={
        200: {
            "description": "The transfer",
            "content": {http.JSON_CONTENT_TYPE: {"model": TransferOut}},
        }
    },
)
def transfer(transferId: Annotated[str, Path(min_length=1, max_length=128)]) -> Response[Any]:
    settings = get_settings()
    store = DynamoTransferStore(aws.dynamodb(), settings.accounts_table, settings.ledger_table)
    out = get_transfer(store, tenant_id=http.tenant_id(app), transfer_id=transferId)
    return http.json_response(200, out.to_json_dict())


@instrument()
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return http.precheck(event) or app.resolve(event, context)
