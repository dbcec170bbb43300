"""What the idempotency store keeps for a key: the HTTP outcome of the first execution."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True, slots=True)
class StoredOutcome:
    """Status and body of an execution that finished (success or business rejection).

    Stored as `{"status", "body", "original_request_time"}` (see `idempotency.OutcomeSerializer`).
    """

    status: int
    # The JSON text exactly as first sent, so a replay is byte-identical.
    body: str
    original_request_time: str
    # Set on the way out of the store (response hook); never persisted.
    replayed: bool = False
