"""What the idempotency store keeps for a key: the HTTP outcome of the first execution."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True, slots=True)
class StoredOutcome:
    """Status and body of an execution that finished (success or business rejection).

    Stored as `{"status", "body", "original_request_time"}` (see `idempotency.OutcomeSerializer`),
    with `"body": ""` and `"durable_body": true` when the body is in the durable record.
    """

    status: int
    # The JSON text exactly as first sent, so a replay is byte-identical.
    body: str
    original_request_time: str
    # Set on the way out of the store (response hook); never persisted.
    replayed: bool = False
    # The body lives in the operation's durable record (a completion in its usage record): the
    # idempotency record keeps status and time only, so the body's bytes are written once per key,
    # and a replay reads the body from there (`IdempotencyStore.run`'s `durable_body`).
    durable_body: bool = False
