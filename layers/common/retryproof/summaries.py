"""GET /summaries/{documentId}: the summary of a document's latest event.

An event's time (`clock.event_time_ns`) is its `occurredAt`, or, when absent, the
`webhook-timestamp` of its first accepted delivery. The summary kept is the one of the latest
event, (time, event id) ordered, the id breaking ties, so the result does not depend on which
event a worker finished first: `DynamoSummaryRepository.put_if_newer`'s condition decides it.
"""

from __future__ import annotations

from retryproof.dal.summaries import SummaryRepository
from retryproof.errors import SummaryNotFound
from retryproof.models.summaries import SummaryOut


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
