"""Webhooks: the signed body, the responses, the stored event and the tenant's secrets."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, get_args

from retryproof.models import check_choice
from retryproof.shapes import Shape, spec

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


@dataclass(frozen=True)
class WebhookAccepted(Shape):
    job_id: str
    event_id: str
    status: str
    duplicate: bool


@dataclass(frozen=True)
class WebhookEventOut(Shape):
    event_id: str
    document_id: str
    job_id: str
    status: str
    attempts: int


EventStatus = Literal["queued", "processing", "completed", "failed"]


EVENT_STATUSES: frozenset[str] = frozenset(get_args(EventStatus))


@dataclass(frozen=True, kw_only=True, slots=True)
class WebhookEventItem:
    """A webhook event (the processed-events table). Key: (tenantId, eventId).

    Written by the edge when a delivery is accepted (never overwritten there) and by the worker's
    lease (status `processing` until the lease ends), release (`queued` or `failed`) and completion.
    """

    tenant_id: str
    event_id: str
    document_id: str
    job_id: str
    status: EventStatus
    attempts: int = 0
    # The event's time (its occurredAt, or the webhook-timestamp of its first accepted delivery),
    # in nanoseconds since the epoch: what orders the summaries of one document.
    event_time_ns: int
    created_at: str
    accepted_at: str | None = None
    lease_owner: str | None = None
    lease_expires_at_ms: int | None = None
    # The current (or last) attempt was the message's last receive before the dead-letter queue.
    final_attempt: bool = False
    last_error: str | None = None
    completed_at: str | None = None

    def __post_init__(self) -> None:
        check_choice("status", self.status, EVENT_STATUSES)

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> WebhookEventItem:
        def s(name: str) -> str | None:
            return item[name]["S"] if name in item else None

        def n(name: str) -> int | None:
            return int(item[name]["N"]) if name in item else None

        return cls(
            tenant_id=item["tenantId"]["S"],
            event_id=item["eventId"]["S"],
            document_id=item["documentId"]["S"],
            job_id=item["jobId"]["S"],
            status=item["status"]["S"],
            attempts=n("attempts") or 0,
            event_time_ns=n("eventTimeNs") or 0,
            created_at=item["createdAt"]["S"],
            accepted_at=s("acceptedAt"),
            lease_owner=s("leaseOwner"),
            lease_expires_at_ms=n("leaseExpiresAtMs"),
            final_attempt=bool(item.get("finalAttempt", {}).get("BOOL", False)),
            last_error=s("lastError"),
            completed_at=s("completedAt"),
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class WebhookSecretSet:
    """A tenant's webhook signing secrets (`whsec_<base64>`), one Secrets Manager secret: the
    current one and, for an overlap window after a rotation, the previous one, which verifies
    until `previous_expires_at` (epoch seconds). Neither secret is in the repr."""

    current: str = field(repr=False)
    previous: str | None = field(default=None, repr=False)
    previous_expires_at: int | None = None
    updated_at: str

    def active(self, now: float) -> tuple[str, ...]:
        """The secrets a delivery may be signed with at `now`."""
        expires = self.previous_expires_at
        if self.previous and expires is not None and now < expires:
            return (self.current, self.previous)
        return (self.current,)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"current": self.current, "updatedAt": self.updated_at}
        if self.previous and self.previous_expires_at is not None:
            out["previous"] = self.previous
            out["previousExpiresAt"] = self.previous_expires_at
        return out

    @classmethod
    def from_json(cls, value: Any) -> WebhookSecretSet:
        """From the secret's JSON value; `ValueError` if it is not one."""
        if not isinstance(value, dict) or not isinstance(value.get("current"), str):
            raise ValueError("a webhook secret value is a JSON object with `current`")
        previous = value.get("previous")
        expires = value.get("previousExpiresAt")
        return cls(
            current=value["current"],
            previous=previous if isinstance(previous, str) else None,
            previous_expires_at=expires if isinstance(expires, int) else None,
            updated_at=str(value.get("updatedAt", "")),
        )
