"""Transfers and accounts: the request, the responses and the stored items."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from retryproof.shapes import Shape, spec

MAX_AMOUNT = 10**12


@dataclass(frozen=True)
class TransferRequest(Shape):
    from_account_id: str = spec(min_length=1, max_length=128)
    to_account_id: str = spec(min_length=1, max_length=128)
    # Integer minor units (cents); strict: 10.0, "10" and true are refused.
    amount: int = spec(ge=1, le=MAX_AMOUNT, description="integer minor units (e.g. cents)")
    currency: str = spec(pattern="^[A-Z]{3}$", description="ISO 4217 code")


@dataclass(frozen=True)
class TransferOut(Shape):
    transfer_id: str
    from_account_id: str
    to_account_id: str
    amount: int
    currency: str
    status: str
    created_at: str


@dataclass(frozen=True)
class AccountOut(Shape):
    account_id: str
    balance: int
    currency: str


@dataclass(frozen=True, kw_only=True, slots=True)
class AccountItem:
    """An account. `balance` moves only inside a transfer transaction (with its ledger entry)."""

    account_id: str
    tenant_id: str
    balance: int
    opening_balance: int
    currency: str

    def to_item(self) -> dict[str, Any]:
        return {
            "accountId": {"S": self.account_id},
            "tenantId": {"S": self.tenant_id},
            "balance": {"N": str(self.balance)},
            "openingBalance": {"N": str(self.opening_balance)},
            "currency": {"S": self.currency},
        }

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> AccountItem:
        return cls(
            account_id=item["accountId"]["S"],
            tenant_id=item["tenantId"]["S"],
            balance=int(item["balance"]["N"]),
            opening_balance=int(item.get("openingBalance", item["balance"])["N"]),
            currency=item["currency"]["S"],
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class LedgerItem:
    """A transfer that happened: keyed by its id, derived from (tenant, idempotency key)."""

    transfer_id: str
    tenant_id: str
    idempotency_key: str
    from_account_id: str
    to_account_id: str
    amount: int
    currency: str
    request_hash: str
    created_at: str
    # Unique to the execution that wrote the entry: a transaction whose answer was lost and that
    # botocore sent again finds its own entry, which is no replay (entries before it have "").
    execution_id: str = ""

    def to_item(self) -> dict[str, Any]:
        item = {
            "transferId": {"S": self.transfer_id},
            "tenantId": {"S": self.tenant_id},
            "idempotencyKey": {"S": self.idempotency_key},
            "fromAccountId": {"S": self.from_account_id},
            "toAccountId": {"S": self.to_account_id},
            "amount": {"N": str(self.amount)},
            "currency": {"S": self.currency},
            "requestHash": {"S": self.request_hash},
            "createdAt": {"S": self.created_at},
        }
        if self.execution_id:
            item["executionId"] = {"S": self.execution_id}
        return item

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> LedgerItem:
        return cls(
            transfer_id=item["transferId"]["S"],
            tenant_id=item["tenantId"]["S"],
            idempotency_key=item["idempotencyKey"]["S"],
            from_account_id=item["fromAccountId"]["S"],
            to_account_id=item["toAccountId"]["S"],
            amount=int(item["amount"]["N"]),
            currency=item["currency"]["S"],
            request_hash=item["requestHash"]["S"],
            created_at=item["createdAt"]["S"],
            execution_id=item.get("executionId", {}).get("S", ""),
        )
