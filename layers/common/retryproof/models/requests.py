"""Request bodies, validated at the edge before anything is claimed or stored."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from retryproof.shapes import Shape, spec


@dataclass(frozen=True)
class GenerateRequest(Shape):
    prompt: str = spec(min_length=1, max_length=32000)
    model: str | None = spec(default=None, min_length=1, max_length=100)
    temperature: float | None = spec(default=None, ge=0, le=2)
    max_tokens: int | None = spec(default=None, ge=1, le=4096)


MAX_AMOUNT = 10**12


@dataclass(frozen=True)
class TransferRequest(Shape):
    from_account_id: str = spec(min_length=1, max_length=128)
    to_account_id: str = spec(min_length=1, max_length=128)
    # Integer minor units (cents); strict: 10.0, "10" and true are refused.
    amount: int = spec(ge=1, le=MAX_AMOUNT, description="integer minor units (e.g. cents)")
    currency: str = spec(pattern="^[A-Z]{3}$", description="ISO 4217 code")


ToolName = Literal["transfer_funds", "get_balance"]


@dataclass(frozen=True)
class AgentRunRequest(Shape):
    input: str = spec(min_length=1, max_length=32000)
    tools: list[ToolName] = spec(default_factory=list, max_length=10)  # noqa: RUF009 (a field)
    max_steps: int = spec(default=5, ge=1, le=10)


# --- webhooks -----------------------------------------------------------------------------------

# Ids that travel in URL paths (GET /webhook-events/{eventId}, GET /summaries/{documentId}).
WEBHOOK_ID_PATTERN = r"^[A-Za-z0-9._:@~+=-]{1,255}$"
# RFC 3339 date-time (a full date, a time with seconds, an optional fraction, an offset).
RFC3339_PATTERN = r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$"
MAX_DOCUMENT_CHARS = 200_000


def _a_real_date(value: str) -> str | None:
    try:
        datetime.fromisoformat(value.upper())
    except ValueError:
        return "Input should be a valid date-time (e.g. month 1-12)"
    return None


@dataclass(frozen=True)
class DocumentUploadedRequest(Shape):
    """The document-uploaded webhook body, validated after its signature.

    Unknown fields are ignored (a sender may add fields to its events); `content` has no length
    limit here because a longer document is 413 `payload_too_large`, not a validation error.
    """

    EXTRA = "ignore"

    event_id: str = spec(pattern=WEBHOOK_ID_PATTERN)
    tenant_id: str = spec(min_length=1, max_length=128)
    document_id: str = spec(pattern=WEBHOOK_ID_PATTERN)
    content: str = spec()
    occurred_at: str | None = spec(default=None, pattern=RFC3339_PATTERN, check=_a_real_date)
