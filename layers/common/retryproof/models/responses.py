"""Response bodies (camelCase on the wire)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from retryproof.shapes import Shape


@dataclass(frozen=True)
class TokenUsage(Shape):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


@dataclass(frozen=True)
class GenerateResponse(Shape):
    id: str
    content: str
    tokens: int
    finish_reason: str
    model: str
    usage: TokenUsage
    cost_usd: str
    created_at: str


@dataclass(frozen=True)
class UsageRecordOut(Shape):
    idempotency_key: str
    operation: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    cost_usd: str
    created_at: str


@dataclass(frozen=True)
class UsageList(Shape):
    records: list[UsageRecordOut]
    total_cost_usd: str
    next_token: str | None


@dataclass(frozen=True)
class TransferOut(Shape):
    transfer_id: str
    from_account_id: str
    to_account_id: str
    amount: int
    currency: str
    status: str
    created_at: str


@dataclass(frozen=True)
class AccountOut(Shape):
    account_id: str
    balance: int
    currency: str


@dataclass(frozen=True)
class AgentStepOut(Shape):
    tool_call_id: str
    name: str
    arguments: Any
    result: Any
    replayed: bool


@dataclass(frozen=True)
class AgentRunOut(Shape):
    run_id: str
    status: str
    output: str | None
    steps: list[AgentStepOut]
    usage: TokenUsage
    cost_usd: str


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


@dataclass(frozen=True)
class SummaryOut(Shape):
    document_id: str
    summary: str
    model: str
    tokens: int
    source_event_id: str
    generated_at: str
