"""Summaries of documents: event time, the ordering rule, and GET /summaries/{documentId}.

An event's time is its `occurredAt`, or, when absent, the `webhook-timestamp` of its first accepted
delivery. The summary of a document is the one of its latest event: (time, event id) ordered, the
id breaking ties, so the result does not depend on which event a worker finished first.
"""

from __future__ import annotations

from datetime import UTC, datetime

from retryproof.dal.summaries import SummaryRepository
from retryproof.errors import SummaryNotFound
from retryproof.models.summaries import SummaryItem, SummaryOut

MICROS = 1_000_000
EventOrder = tuple[int, str]  # (event time in microseconds since the epoch, event id)


def event_time_us(occurred_at: str | None, webhook_timestamp: int) -> int:
    """Microseconds since the epoch of `occurredAt` (RFC 3339), else of the webhook timestamp."""
    if occurred_at is None:
        return webhook_timestamp * MICROS
    moment = datetime.fromisoformat(occurred_at.upper())
    if moment.tzinfo is None:  # RFC 3339 always has an offset; be explicit anyway
        moment = moment.replace(tzinfo=UTC)
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * MICROS + delta.microseconds


def iso_from_us(micros: int) -> str:
    moment = datetime.fromtimestamp(micros // MICROS, UTC).replace(microsecond=micros % MICROS)
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


def supersedes(candidate: EventOrder, current: EventOrder | None) -> bool:
    """Whether a summary of event `candidate` replaces the stored one of event `current`.

    The rule `DynamoSummaryRepository.put_if_newer` enforces with its condition expression: a later
    time wins; at equal times the greater event id wins; an event never replaces itself.
    """
    return current is None or candidate > current


def order_of(summary: SummaryItem) -> EventOrder:
    return (summary.event_time_us, summary.source_event_id)


def get_summary(summaries: SummaryRepository, *, tenant_id: str, document_id: str) -> SummaryOut:
    item = summaries.get(tenant_id, document_id)
    if item is None:
        raise SummaryNotFound(f"no summary of document {document_id!r} yet")
    return SummaryOut(
        document_id=item.document_id,
        summary=item.summary,
        model=item.model,
        tokens=item.tokens,
        source_event_id=item.source_event_id,
        generated_at=item.generated_at,
    )
