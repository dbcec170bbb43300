"""Summaries of documents: the ordering rule, and GET /summaries/{documentId}.

An event's time (`clock.event_time_us`) is its `occurredAt`, or, when absent, the
`webhook-timestamp` of its first accepted delivery. The summary of a document is the one of its
latest event: (time, event id) ordered, the id breaking ties, so the result does not depend on
which event a worker finished first.
"""

from __future__ import annotations

from retryproof.dal.summaries import SummaryRepository
from retryproof.errors import SummaryNotFound
from retryproof.models.summaries import SummaryItem, SummaryOut

EventOrder = tuple[int, str]  # (event time in microseconds since the epoch, event id)


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
