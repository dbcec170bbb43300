"""Transfers: money moves exactly once per (tenant, idempotency key), even after the key expired.

`transfer_funds` is the one path that moves money (POST /transfer and the agent's tool both use
it). Its durable record is the ledger entry, written in the same transaction as the debit and the
credit and keyed by a transfer id derived from (tenant, idempotency key): a second attempt can
never commit, and finds the first attempt's entry instead.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass

from retryproof import observability as obs
from retryproof.clock import now_iso
from retryproof.dal.accounts import AccountRepository
from retryproof.dal.transfers import TransferStore
from retryproof.errors import (
    AccountNotFound,
    BusinessRejection,
    IdempotencyKeyReused,
    SameAccount,
    TransferNotFound,
)
from retryproof.faults import crash_point
from retryproof.models.outcome import StoredOutcome
from retryproof.models.transfers import AccountOut, LedgerItem, TransferOut, TransferRequest


def transfer_id_for(tenant_id: str, idempotency_key: str, scope: str = "") -> str:
    """The transfer id of (tenant, key), per caller: `POST /transfer` has no scope; internal
    callers (the agent's tool) pass one. A client's key is printable ASCII, never a newline, so a
    scoped id can never be reached by any client key (the key `agent:<run>:<call>` included)."""
    material = (
        f"{tenant_id}\n{scope}\n{idempotency_key}" if scope else f"{tenant_id}\n{idempotency_key}"
    )
    digest = hashlib.sha256(material.encode()).hexdigest()
    return f"tr_{digest[:32]}"


def check_accounts_differ(request: TransferRequest) -> None:
    """A validation rule (422, never stored)."""
    if request.from_account_id == request.to_account_id:
        raise SameAccount("fromAccountId and toAccountId must differ")


@dataclass(frozen=True)
class TransferResult:
    entry: LedgerItem
    replayed: bool  # True: the ledger already had it; no money moved this time


def transfer_funds(
    request: TransferRequest,
    *,
    tenant_id: str,
    idempotency_key: str,
    request_hash: str,
    store: TransferStore,
    reject_mismatch: bool = True,
    scope: str = "",
) -> TransferResult:
    """Move `amount` once. Raises `BusinessRejection`s (nothing moved) and infrastructure errors."""
    check_accounts_differ(request)
    entry = LedgerItem(
        transfer_id=transfer_id_for(tenant_id, idempotency_key, scope),
        tenant_id=tenant_id,
        idempotency_key=idempotency_key,
        from_account_id=request.from_account_id,
        to_account_id=request.to_account_id,
        amount=request.amount,
        currency=request.currency,
        request_hash=request_hash,
        created_at=now_iso(),
        execution_id=uuid.uuid4().hex,
    )
    existing = store.apply(entry)
    crash_point("transfer.after_commit")
    if existing is None or existing.execution_id == entry.execution_id:  # ours (answer lost)
        obs.count(obs.TRANSFER_APPLIED)
        return TransferResult(entry, replayed=False)
    obs.count(obs.TRANSFER_REPLAYED)
    if existing.request_hash != request_hash and reject_mismatch:
        raise IdempotencyKeyReused(
            "this Idempotency-Key was used for another transfer; use a new key"
        )
    return TransferResult(existing, replayed=True)


def transfer_out(entry: LedgerItem) -> TransferOut:
    return TransferOut(
        transfer_id=entry.transfer_id,
        from_account_id=entry.from_account_id,
        to_account_id=entry.to_account_id,
        amount=entry.amount,
        currency=entry.currency,
        status="completed",
        created_at=entry.created_at,
    )


def post_transfer(
    request: TransferRequest,
    *,
    tenant_id: str,
    idempotency_key: str,
    request_hash: str,
    store: TransferStore,
    reject_mismatch: bool = True,
) -> StoredOutcome:
    """POST /transfer's outcome: the transfer, or a business rejection stored like a success."""
    try:
        result = transfer_funds(
            request,
            tenant_id=tenant_id,
            idempotency_key=idempotency_key,
            request_hash=request_hash,
            store=store,
            reject_mismatch=reject_mismatch,
        )
    except BusinessRejection as rejection:
        return StoredOutcome(
            status=rejection.status,
            body=json.dumps(rejection.problem()),
            original_request_time=now_iso(),
        )
    return StoredOutcome(
        status=200,
        body=json.dumps(transfer_out(result.entry).to_json_dict()),
        original_request_time=result.entry.created_at,
        replayed=result.replayed,
    )


def get_account(accounts: AccountRepository, *, tenant_id: str, account_id: str) -> AccountOut:
    account = accounts.get(account_id)
    if account is None or account.tenant_id != tenant_id:
        raise AccountNotFound(f"account {account_id!r} was not found")
    return AccountOut(
        account_id=account.account_id, balance=account.balance, currency=account.currency
    )


def get_transfer(
    store: TransferStore, accounts: AccountRepository, *, tenant_id: str, transfer_id: str
) -> TransferOut:
    """The transfer, for the tenant that made it and for the tenant it credited (whose account
    is its target: one more read, only when the caller is not the sender). Both see the ledger
    entry's public fields; neither sees the other's balance, idempotency key or tenant id.
    Anyone else: 404, as for a transfer that does not exist."""
    entry = store.get(transfer_id)
    if entry is not None and entry.tenant_id == tenant_id:
        return transfer_out(entry)
    if entry is not None:
        target = accounts.get(entry.to_account_id)
        if target is not None and target.tenant_id == tenant_id:
            return transfer_out(entry)
    raise TransferNotFound(f"transfer {transfer_id!r} was not found")
