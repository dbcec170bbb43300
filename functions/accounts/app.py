"""GET /accounts/{accountId} (the owner tenant's) and GET /transfers/{transferId} (the sender's
and the credited tenant's)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from retryproof import aws, http
from retryproof.config import get_settings
from retryproof.dal.accounts import DynamoAccountRepository
from retryproof.dal.transfers import DynamoTransferStore
from retryproof.models.transfers import AccountOut, TransferOut
from retryproof.observability import instrument
from retryproof.shapes import Param, Spec
from retryproof.transfers import get_account, get_transfer

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

app = http.Api()
ID = Spec(min_length=1, max_length=128)


@app.get(
    "/accounts/{accountId}",
    operation_id="getAccount",
    summary="An account of the caller's tenant",
    params=(Param("accountId", "path", spec=ID),),
    responses={200: ("The account", AccountOut)},
)
def account(request: http.Request[None]) -> http.Response:
    settings = get_settings()
    repo = DynamoAccountRepository(aws.dynamodb(), settings.accounts_table)
    out = get_account(repo, tenant_id=request.tenant_id, account_id=request.params["accountId"])
    return http.json_response(200, out.to_json_dict())


@app.get(
    "/transfers/{transferId}",
    operation_id="getTransfer",
    summary="A transfer the caller's tenant made or received (the ledger entry)",
    params=(Param("transferId", "path", spec=ID),),
    responses={200: ("The transfer", TransferOut)},
)
def transfer(request: http.Request[None]) -> http.Response:
    settings = get_settings()
    client = aws.dynamodb()
    store = DynamoTransferStore(client, settings.accounts_table, settings.ledger_table)
    accounts = DynamoAccountRepository(client, settings.accounts_table)
    out = get_transfer(
        store, accounts, tenant_id=request.tenant_id, transfer_id=request.params["transferId"]
    )
    return http.json_response(200, out.to_json_dict())


@instrument()
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
