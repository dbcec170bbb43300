"""What the idempotency store keeps for a key: the HTTP outcome of the first execution."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class StoredOutcome(BaseModel):
    """Status and body of an execution that finished (success or business rejection)."""

    model_config = ConfigDict(frozen=True)

    status: int
    # The JSON text exactly as first sent, so a replay is byte-identical.
    body: str
    original_request_time: str
    # Set on the way out of the store (response hook); never persisted.
    replayed: bool = Field(default=False, exclude=True)
