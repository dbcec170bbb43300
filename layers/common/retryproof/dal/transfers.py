"""The transfer transaction: debit, credit and ledger entry commit together, or nothing does."""

from __future__ import annotations

import random
import time
from typing import TYPE_CHECKING, Protocol

from retryproof.dal.errors import TransactionCanceled, storage_errors
from retryproof.errors import (
    AccountNotFound,
    CurrencyMismatch,
    InsufficientFunds,
    StorageUnavailable,
)
from retryproof.faults import disabled
from retryproof.models.transfers import LedgerItem

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

CONFLICT_ATTEMPTS = 8  # transactions on a hot account cancel each other (TransactionConflict)
MAX_CONFLICT_PAUSE_S = 0.8
CHECK_FAILED = "ConditionalCheckFailed"


class TransferStore(Protocol):
    def apply(self, entry: LedgerItem) -> LedgerItem | None:
        """Move the money and write the entry; or return the entry already written for its id.

        Raises `InsufficientFunds`, `AccountNotFound`, `CurrencyMismatch` (nothing moved).
        """
        ...

    def get(self, transfer_id: str) -> LedgerItem | None: ...


class DynamoTransferStore:
    def __init__(self, client: DynamoDBClient, accounts_table: str, ledger_table: str) -> None:
        self._client = client
        self._accounts = accounts_table
        self._ledger = ledger_table

    def get(self, transfer_id: str) -> LedgerItem | None:
        with storage_errors("ledger.get"):
            out = self._client.get_item(
                TableName=self._ledger, Key={"transferId": {"S": transfer_id}}, ConsistentRead=True
            )
        item = out.get("Item")
        return LedgerItem.from_item(item) if item else None

    def apply(self, entry: LedgerItem) -> LedgerItem | None:
        for attempt in range(CONFLICT_ATTEMPTS):
            try:
                self._transact(entry)
                return None
            except TransactionCanceled as exc:
                if exc.code(2) == CHECK_FAILED:
                    # Already applied (a retry after a crash or after the idempotency record
                    # expired): the entry that was written is the result. Nothing moved now.
                    stored = exc.item(2)
                    if stored is None:
                        raise StorageUnavailable("ledger entry vanished") from exc
                    return LedgerItem.from_item(stored)
                if exc.code(0) == CHECK_FAILED:
                    raise _source_rejection(entry, exc.item(0)) from exc
                if exc.code(1) == CHECK_FAILED:
                    raise _target_rejection(entry, exc.item(1)) from exc
                if exc.conflict and attempt + 1 < CONFLICT_ATTEMPTS:
                    # exponential backoff with full jitter, so the contenders spread out
                    time.sleep(random.uniform(0, min(MAX_CONFLICT_PAUSE_S, 0.05 * 2**attempt)))
                    continue
                raise StorageUnavailable("the transfer transaction was cancelled") from exc
        raise StorageUnavailable("the transfer transaction kept conflicting")

    def _transact(self, entry: LedgerItem) -> None:
        amount = {"N": str(entry.amount)}
        currency = {"S": entry.currency}
        with storage_errors("transfer"):
            self._client.transact_write_items(
                TransactItems=[
                    {
                        "Update": {
                            "TableName": self._accounts,
                            "Key": {"accountId": {"S": entry.from_account_id}},
                            "UpdateExpression": "SET balance = balance - :amount",
                            "ConditionExpression": "attribute_exists(accountId) AND "
                            "tenantId = :tenant AND currency = :currency AND balance >= :amount",
                            "ExpressionAttributeValues": {
                                ":amount": amount,
                                ":currency": currency,
                                ":tenant": {"S": entry.tenant_id},
                            },
                            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                        }
                    },
                    {
                        "Update": {
                            "TableName": self._accounts,
                            "Key": {"accountId": {"S": entry.to_account_id}},
                            "UpdateExpression": "SET balance = balance + :amount",
                            "ConditionExpression": "attribute_exists(accountId) AND "
                            "currency = :currency",
                            "ExpressionAttributeValues": {":amount": amount, ":currency": currency},
                            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                        }
                    },
                    {
                        "Put": {
                            "TableName": self._ledger,
                            "Item": entry.to_item(),
                            "ConditionExpression": "attribute_not_exists(transferId)"
                            if not disabled("ledger_condition")
                            else "attribute_exists(transferId) OR attribute_not_exists(transferId)",
                            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                        }
                    },
                ]
            )


def account_not_found(account_id: str) -> AccountNotFound:
    """The one answer for an account the caller may not see: missing, another tenant's, or
    another tenant's that cannot take the transfer. Same status, code and body for each, so
    that no answer tells whether another tenant's account exists or what its currency is."""
    return AccountNotFound(f"account {account_id!r} was not found")


def _source_rejection(
    entry: LedgerItem, item: dict[str, object] | None
) -> AccountNotFound | CurrencyMismatch | InsufficientFunds:
    # Another tenant's account is reported exactly like a missing one.
    if item is None or item.get("tenantId") != {"S": entry.tenant_id}:
        return account_not_found(entry.from_account_id)
    if item.get("currency") != {"S": entry.currency}:
        return CurrencyMismatch(f"the source account is not in {entry.currency}")
    return InsufficientFunds("the source account's balance is lower than the amount")


def _target_rejection(
    entry: LedgerItem, item: dict[str, object] | None
) -> AccountNotFound | CurrencyMismatch:
    # Only the caller's own target may say why it refused (its currency): another tenant's
    # account that cannot take the transfer answers as a missing one (no probing).
    if item is None or item.get("tenantId") != {"S": entry.tenant_id}:
        return account_not_found(entry.to_account_id)
    return CurrencyMismatch("the target account is in another currency")
