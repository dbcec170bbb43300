"""Queue messages: what the webhook edge sends the worker (camelCase JSON on the wire)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel


class SummarizeJob(BaseModel):
    """One accepted document-uploaded event, to be summarised once.

    Keyed by its business id (tenant, event id), never by the SQS message id: the same event may
    travel in several messages. `event_time_us` is the event's time, fixed at its first accepted
    delivery, so every message of one event carries the same time.
    """

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True)

    tenant_id: str = Field(min_length=1)
    event_id: str = Field(min_length=1)
    document_id: str = Field(min_length=1)
    job_id: str = Field(min_length=1)
    event_time_us: int
    content: str = Field(repr=False)

    def to_json(self) -> str:
        return self.model_dump_json(by_alias=True)
