"""Accounts: read by id. Balances change only in the transfer transaction (dal/transfers.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from retryproof.dal.errors import storage_errors
from retryproof.models.transfers import AccountItem

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


class AccountRepository(Protocol):
    def get(self, account_id: str) -> AccountItem | None: ...


class DynamoAccountRepository:
    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._client = client
        self._table = table

    def get(self, account_id: str) -> AccountItem | None:
        with storage_errors("accounts.get"):
            out = self._client.get_item(
                TableName=self._table, Key={"accountId": {"S": account_id}}, ConsistentRead=True
            )
        item = out.get("Item")
        return AccountItem.from_item(item) if item else None

    def put(self, account: AccountItem) -> None:
        """Create or reset an account (seeding only)."""
        with storage_errors("accounts.put"):
            self._client.put_item(TableName=self._table, Item=account.to_item())
