"""GET /idempotency-keys/{key}: what a client needs to decide whether to retry."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from retryproof.shapes import Shape, spec

KeyState = Literal["in_progress", "completed", "unknown"]
KeyOperation = Literal["generate", "transfer", "agent_run"]


@dataclass(frozen=True)
class KeyStatusOut(Shape):
    """The state of one Idempotency-Key of the caller's tenant for one operation; fields that do
    not apply to the state are left out. in_progress: retry at leaseExpiresAt (a time in the past:
    the attempt died, retry now). completed: a retry replays the stored answer, nothing runs
    again. unknown: no record (never used, or expired with no durable record): a retry runs the
    request."""

    key: str
    operation: KeyOperation
    status: KeyState
    lease_expires_at: str | None = spec(
        default=None, description="in_progress: when the running attempt's lease ends"
    )
    original_request_time: str | None = spec(
        default=None, description="completed: when the first execution answered"
    )
    response_status: int | None = spec(
        default=None, description="completed: the HTTP status a retry replays"
    )
    expires_at: str | None = spec(
        default=None,
        description="completed: when the idempotency store's record expires (absent when the "
        "durable record answered: it does not expire)",
    )

    def to_json_dict(self) -> dict[str, Any]:
        return {k: v for k, v in super().to_json_dict().items() if v is not None}
