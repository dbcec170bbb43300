"""Queue messages: what the webhook edge sends the worker (camelCase JSON on the wire).

A stdlib dataclass with explicit (de)serialisation, so neither side imports pydantic.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Final

# Field name -> its camelCase name on the wire, in wire order.
_WIRE: Final = {
    "tenant_id": "tenantId",
    "event_id": "eventId",
    "document_id": "documentId",
    "job_id": "jobId",
    "event_time_ns": "eventTimeNs",
    "content": "content",
}
_NON_EMPTY: Final = ("tenant_id", "event_id", "document_id", "job_id")


@dataclass(frozen=True, kw_only=True, slots=True)
class SummarizeJob:
    """One accepted document-uploaded event, to be summarised once.

    Keyed by its business id (tenant, event id), never by the SQS message id: the same event may
    travel in several messages. `event_time_ns` is the event's time, fixed at its first accepted
    delivery, so every message of one event carries the same time.

    Construction checks the types and that the ids are not empty (`ValueError` otherwise).
    """

    tenant_id: str
    event_id: str
    document_id: str
    job_id: str
    event_time_ns: int
    content: str = field(repr=False)

    def __post_init__(self) -> None:
        problems: list[str] = []
        for name in _NON_EMPTY:
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                problems.append(f"{_WIRE[name]} must be a non-empty string")
        if not isinstance(self.event_time_ns, int) or isinstance(self.event_time_ns, bool):
            problems.append("eventTimeNs must be an integer")
        if not isinstance(self.content, str):
            problems.append("content must be a string")
        if problems:
            raise ValueError(f"invalid summarize job: {'; '.join(problems)}")

    def to_dict(self) -> dict[str, Any]:
        """The message as a JSON object with camelCase keys."""
        return {wire: getattr(self, name) for name, wire in _WIRE.items()}

    def to_json(self) -> str:
        """The message body: compact JSON, non-ASCII characters kept as they are (UTF-8)."""
        return json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: object) -> SummarizeJob:
        """A job from its camelCase JSON object (unknown keys are ignored).

        Raises `ValueError` if `data` is not an object, lacks a field or has a wrong type.
        """
        if not isinstance(data, dict):
            raise ValueError("invalid summarize job: the message is not a JSON object")
        missing = [wire for wire in _WIRE.values() if wire not in data]
        if missing:
            raise ValueError(f"invalid summarize job: missing {', '.join(missing)}")
        return cls(**{name: data[wire] for name, wire in _WIRE.items()})

    @classmethod
    def from_json(cls, body: str | bytes) -> SummarizeJob:
        """A job from a message body. Raises `ValueError` on a malformed message."""
        try:
            data = json.loads(body)
        except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError
            raise ValueError("invalid summarize job: the message is not JSON") from exc
        return cls.from_dict(data)
