"""Response bodies (camelCase on the wire)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class CamelModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True)

    def to_json_dict(self) -> dict[str, object]:
        return self.model_dump(mode="json", by_alias=True)


class TokenUsage(CamelModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class GenerateResponse(CamelModel):
    id: str
    content: str
    tokens: int
    finish_reason: str
    model: str
    usage: TokenUsage
    cost_usd: str
    created_at: str


class UsageRecordOut(CamelModel):
    idempotency_key: str
    operation: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    cost_usd: str
    created_at: str


class UsageList(CamelModel):
    records: list[UsageRecordOut]
    total_cost_usd: str
    next_token: str | None


class TransferOut(CamelModel):
    transfer_id: str
    from_account_id: str
    to_account_id: str
    amount: int
    currency: str
    status: str
    created_at: str


class AccountOut(CamelModel):
    account_id: str
    balance: int
    currency: str


class AgentStepOut(CamelModel):
    tool_call_id: str
    name: str
    arguments: Any
    result: Any
    replayed: bool


class AgentRunOut(CamelModel):
    run_id: str
    status: str
    output: str | None
    steps: list[AgentStepOut]
    usage: TokenUsage
    cost_usd: str


class WebhookAccepted(CamelModel):
    job_id: str
    event_id: str
    status: str
    duplicate: bool


class WebhookEventOut(CamelModel):
    event_id: str
    document_id: str
    job_id: str
    status: str
    attempts: int


class SummaryOut(CamelModel):
    document_id: str
    summary: str
    model: str
    tokens: int
    source_event_id: str
    generated_at: str
