"""Times as stored and answered: ISO 8601 UTC, and event times in microseconds."""

from __future__ import annotations

from datetime import UTC, datetime

MICROS = 1_000_000


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def event_time_us(occurred_at: str | None, webhook_timestamp: int) -> int:
    """Microseconds since the epoch of `occurredAt` (RFC 3339), else of the webhook timestamp."""
    if occurred_at is None:
        return webhook_timestamp * MICROS
    moment = datetime.fromisoformat(occurred_at.upper())
    if moment.tzinfo is None:  # RFC 3339 always has an offset; be explicit anyway
        moment = moment.replace(tzinfo=UTC)
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * MICROS + delta.microseconds
