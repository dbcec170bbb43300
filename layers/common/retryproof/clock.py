"""Times as stored and answered: ISO 8601 UTC, and event times in nanoseconds."""

from __future__ import annotations

import re
from datetime import UTC, datetime

NANOS = 1_000_000_000
_FRACTION = re.compile(r"\.(\d+)")


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def event_time_ns(occurred_at: str | None, webhook_timestamp: int) -> int:
    """Nanoseconds since the epoch of `occurredAt` (RFC 3339, up to 9 fraction digits: the model's
    pattern), else of the webhook timestamp. `datetime` keeps microseconds only, so the fraction is
    read from the text: two events 1 ns apart still order."""
    if occurred_at is None:
        return webhook_timestamp * NANOS
    fraction = _FRACTION.search(occurred_at)
    nanos = int(fraction.group(1).ljust(9, "0")[:9]) if fraction else 0
    whole = _FRACTION.sub("", occurred_at, count=1).upper()
    moment = datetime.fromisoformat(whole)
    if moment.tzinfo is None:  # RFC 3339 always has an offset; be explicit anyway
        moment = moment.replace(tzinfo=UTC)
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * NANOS + nanos
