"""Key status: in progress, completed or unknown, for one (tenant, operation, Idempotency-Key).

Answered from the idempotency store's record first (one read: the common path), and, when it has
no live record (expired, deleted by TTL, or an in-progress record whose lease lapsed), from the
operation's durable record: the usage record of a completion, the ledger entry of a transfer, the
finished run. Every lookup is keyed by the caller's tenant, so another tenant's key is never seen.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Final, NamedTuple

from retryproof.dal.idempotency_records import (
    COMPLETED,
    IN_PROGRESS,
    IdempotencyRecords,
    record_id,
)
from retryproof.dal.runs import COMPLETED as RUN_COMPLETED
from retryproof.dal.runs import FAILED as RUN_FAILED
from retryproof.models.key_status import KeyOperation, KeyStatusOut
from retryproof.transfers import transfer_id_for

if TYPE_CHECKING:
    from retryproof.dal.runs import RunStore
    from retryproof.dal.transfers import TransferStore
    from retryproof.dal.usage import UsageRepository

# The API's operation names -> the idempotency store's (run_idempotent's `operation`).
STORE_OPERATIONS: Final[dict[KeyOperation, str]] = {
    "generate": "generate",
    "transfer": "transfer",
    "agent_run": "agent",
}


class Durable(NamedTuple):
    """What an operation's durable record says of a key: it completed, then, with this answer."""

    original_request_time: str
    response_status: int


DurableLookup = Callable[[], Durable | None]


def iso_ms(epoch_ms: int) -> str:
    moment = datetime.fromtimestamp(epoch_ms / 1000, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def key_status(
    *,
    tenant_id: str,
    key: str,
    operation: KeyOperation,
    records: IdempotencyRecords,
    durable: DurableLookup,
    now_ms: int,
) -> KeyStatusOut:
    """The key's state; `durable` is read only when the store has no live answer."""
    record = records.get(record_id(STORE_OPERATIONS[operation], tenant_id, key))
    out = partial(KeyStatusOut, key=key, operation=operation)
    lapsed_lease: int | None = None
    # Powertools treats a record whose `expiration` has passed as absent (TTL deletes it later).
    if record is not None and record.expires_at_s * 1000 >= now_ms:
        if record.status == COMPLETED:
            return out(
                status="completed",
                original_request_time=record.original_request_time,
                response_status=record.response_status,
                expires_at=iso_ms(record.expires_at_s * 1000),
            )
        if record.status == IN_PROGRESS:
            # Without a lease (no Lambda context) the claim holds until the record expires.
            lease = record.lease_expires_at_ms or record.expires_at_s * 1000
            if lease >= now_ms:
                return out(status="in_progress", lease_expires_at=iso_ms(lease))
            lapsed_lease = lease  # the attempt died; its side effect may still have landed
    found = durable()
    if found is not None:
        return out(
            status="completed",
            original_request_time=found.original_request_time,
            response_status=found.response_status,
        )
    if lapsed_lease is not None:
        # In the past: retry now, and the retry takes the claim over.
        return out(status="in_progress", lease_expires_at=iso_ms(lapsed_lease))
    return out(status="unknown")


# --- the durable records, per operation ----------------------------------------------------------


def generate_durable(usage: UsageRepository, tenant_id: str, key: str) -> DurableLookup:
    """The usage record written once per key, holding the completion's response."""

    def lookup() -> Durable | None:
        item = usage.get(tenant_id, key, "generate")
        if item is None or item.result is None or item.tenant_id != tenant_id:
            return None
        return Durable(item.created_at, 200)

    return lookup


def transfer_durable(store: TransferStore, tenant_id: str, key: str) -> DurableLookup:
    """The ledger entry, whose id is derived from (tenant, key). Business rejections leave none:
    past the window a rejected key is unknown (a retry runs, and may now succeed)."""

    def lookup() -> Durable | None:
        entry = store.get(transfer_id_for(tenant_id, key))
        if entry is None or entry.tenant_id != tenant_id:
            return None
        return Durable(entry.created_at, 200)

    return lookup


def agent_run_durable(runs: RunStore, tenant_id: str, key: str) -> DurableLookup:
    """The run (runs table): the POST that started it completed, whatever the run does now."""

    def lookup() -> Durable | None:
        # Imported here: the agent module brings the LLM client, which this read route needs
        # only on this path (no live record in the idempotency store).
        from retryproof.agent import run_id_for

        header = runs.get_header(run_id_for(tenant_id, key))
        if header is None or header.tenant_id != tenant_id:
            return None
        # The POST that started the run answered 200 once it had ended, else 202 (still going).
        ended = header.status in (RUN_COMPLETED, RUN_FAILED)
        return Durable(header.created_at, 200 if ended else 202)

    return lookup
