"""Request bodies, validated at the edge before anything is claimed or stored."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class StrictBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=False)


class GenerateRequest(StrictBody):
    prompt: str = Field(min_length=1, max_length=32000)
    model: str | None = Field(default=None, min_length=1, max_length=100)
    temperature: float | None = Field(default=None, ge=0, le=2)
    max_tokens: int | None = Field(default=None, ge=1, le=4096, alias="maxTokens")


MAX_AMOUNT = 10**12


class TransferRequest(StrictBody):
    from_account_id: str = Field(alias="fromAccountId", min_length=1, max_length=128)
    to_account_id: str = Field(alias="toAccountId", min_length=1, max_length=128)
    # Integer minor units (cents); strict: 10.0, "10" and true are refused.
    amount: int = Field(ge=1, le=MAX_AMOUNT)
    currency: str = Field(pattern="^[A-Z]{3}$")


ToolName = Literal["transfer_funds", "get_balance"]


class AgentRunRequest(StrictBody):
    input: str = Field(min_length=1, max_length=32000)
    tools: list[ToolName] = Field(default_factory=list, max_length=10)
    max_steps: int = Field(default=5, ge=1, le=10, alias="maxSteps")


# --- webhooks -----------------------------------------------------------------------------------

# Ids that travel in URL paths (GET /webhook-events/{eventId}, GET /summaries/{documentId}).
WEBHOOK_ID_PATTERN = r"^[A-Za-z0-9._:@~+=-]{1,255}$"
# RFC 3339 date-time (a full date, a time with seconds, an optional fraction, an offset).
RFC3339_PATTERN = r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$"
MAX_DOCUMENT_CHARS = 200_000


class DocumentUploadedRequest(BaseModel):
    """The document-uploaded webhook body, validated after its signature.

    Unknown fields are ignored (a sender may add fields to its events); `content` has no length
    limit here because a longer document is 413 `payload_too_large`, not a validation error.
    """

    model_config = ConfigDict(extra="ignore", strict=True, populate_by_name=False, frozen=True)

    event_id: str = Field(alias="eventId", pattern=WEBHOOK_ID_PATTERN)
    tenant_id: str = Field(alias="tenantId", min_length=1, max_length=128)
    document_id: str = Field(alias="documentId", pattern=WEBHOOK_ID_PATTERN)
    content: str
    occurred_at: str | None = Field(default=None, alias="occurredAt", pattern=RFC3339_PATTERN)

    @field_validator("occurred_at")
    @classmethod
    def _a_real_date(cls, value: str | None) -> str | None:
        if value is not None:
            datetime.fromisoformat(value.upper())  # ValueError: e.g. month 13
        return value
