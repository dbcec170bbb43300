"""Document summaries: the stored item and the response."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from retryproof.shapes import Shape


@dataclass(frozen=True)
class SummaryOut(Shape):
    document_id: str
    summary: str
    model: str
    tokens: int
    source_event_id: str
    generated_at: str


@dataclass(frozen=True, kw_only=True, slots=True)
class SummaryItem:
    """The current summary of a document. Key: (tenantId, documentId); the newest event wins."""

    tenant_id: str
    document_id: str
    summary: str
    model: str
    tokens: int
    source_event_id: str
    event_time_ns: int
    generated_at: str

    def to_item(self) -> dict[str, Any]:
        return {
            "tenantId": {"S": self.tenant_id},
            "documentId": {"S": self.document_id},
            "summary": {"S": self.summary},
            "model": {"S": self.model},
            "tokens": {"N": str(self.tokens)},
            "sourceEventId": {"S": self.source_event_id},
            "eventTimeNs": {"N": str(self.event_time_ns)},
            "generatedAt": {"S": self.generated_at},
        }

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> SummaryItem:
        return cls(
            tenant_id=item["tenantId"]["S"],
            document_id=item["documentId"]["S"],
            summary=item["summary"]["S"],
            model=item["model"]["S"],
            tokens=int(item["tokens"]["N"]),
            source_event_id=item["sourceEventId"]["S"],
            event_time_ns=int(item["eventTimeNs"]["N"]),
            generated_at=item["generatedAt"]["S"],
        )
