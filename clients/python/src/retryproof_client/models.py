"""Typed results. Money is never a float: amounts are integer minor units, costs `Decimal`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any, Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Result(Generic[T]):
    """One operation's answer, after any retries."""

    data: T
    status: int
    body: Any  # the parsed JSON body
    headers: Mapping[str, str]  # lower-case names
    idempotency_key: str | None  # the key every attempt sent (None for reads and webhooks)
    attempts: int

    @property
    def replayed(self) -> bool:
        """True when the server answered with the stored outcome of an earlier attempt."""
        return self.headers.get("idempotent-replayed", "").lower() == "true"

    @property
    def original_request_time(self) -> str | None:
        return self.headers.get("x-original-request-time")


@dataclass(frozen=True)
class TokenUsage:
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> TokenUsage:
        return cls(int(d["promptTokens"]), int(d["completionTokens"]), int(d["totalTokens"]))


@dataclass(frozen=True)
class Generation:
    id: str
    content: str
    tokens: int
    finish_reason: str
    model: str
    usage: TokenUsage
    cost_usd: Decimal
    created_at: str

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Generation:
        return cls(
            id=str(d["id"]),
            content=str(d["content"]),
            tokens=int(d["tokens"]),
            finish_reason=str(d["finishReason"]),
            model=str(d["model"]),
            usage=TokenUsage.from_json(d["usage"]),
            cost_usd=Decimal(str(d["costUsd"])),
            created_at=str(d["createdAt"]),
        )


@dataclass(frozen=True)
class Transfer:
    transfer_id: str
    from_account_id: str
    to_account_id: str
    amount: int
    currency: str
    status: str
    created_at: str

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Transfer:
        return cls(
            transfer_id=str(d["transferId"]),
            from_account_id=str(d["fromAccountId"]),
            to_account_id=str(d["toAccountId"]),
            amount=int(d["amount"]),
            currency=str(d["currency"]),
            status=str(d["status"]),
            created_at=str(d["createdAt"]),
        )


@dataclass(frozen=True)
class Account:
    account_id: str
    balance: int
    currency: str

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Account:
        return cls(str(d["accountId"]), int(d["balance"]), str(d["currency"]))


@dataclass(frozen=True)
class AgentStep:
    tool_call_id: str
    name: str
    arguments: Any
    result: Any
    replayed: bool

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> AgentStep:
        return cls(
            tool_call_id=str(d["toolCallId"]),
            name=str(d["name"]),
            arguments=d.get("arguments"),
            result=d.get("result"),
            replayed=bool(d["replayed"]),
        )


@dataclass(frozen=True)
class AgentRun:
    run_id: str
    status: str
    output: str | None
    steps: tuple[AgentStep, ...]
    usage: TokenUsage
    cost_usd: Decimal

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> AgentRun:
        output = d.get("output")
        return cls(
            run_id=str(d["runId"]),
            status=str(d.get("status", "completed")),
            output=None if output is None else str(output),
            steps=tuple(AgentStep.from_json(s) for s in d["steps"]),
            usage=TokenUsage.from_json(d["usage"]),
            cost_usd=Decimal(str(d["costUsd"])),
        )


@dataclass(frozen=True)
class UsageRecord:
    idempotency_key: str
    operation: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    cost_usd: Decimal
    created_at: str

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> UsageRecord:
        return cls(
            idempotency_key=str(d["idempotencyKey"]),
            operation=str(d["operation"]),
            model=str(d["model"]),
            prompt_tokens=int(d["promptTokens"]),
            completion_tokens=int(d["completionTokens"]),
            cost_usd=Decimal(str(d["costUsd"])),
            created_at=str(d["createdAt"]),
        )


@dataclass(frozen=True)
class UsagePage:
    records: tuple[UsageRecord, ...]
    total_cost_usd: Decimal
    next_token: str | None

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> UsagePage:
        token = d.get("nextToken")
        return cls(
            records=tuple(UsageRecord.from_json(r) for r in d["records"]),
            total_cost_usd=Decimal(str(d["totalCostUsd"])),
            next_token=None if token is None else str(token),
        )


@dataclass(frozen=True)
class WebhookAccepted:
    job_id: str
    event_id: str
    status: str
    duplicate: bool

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> WebhookAccepted:
        return cls(str(d["jobId"]), str(d["eventId"]), str(d["status"]), bool(d["duplicate"]))


@dataclass(frozen=True)
class WebhookEvent:
    event_id: str
    document_id: str
    job_id: str
    status: str  # queued | processing | completed | failed
    attempts: int

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> WebhookEvent:
        return cls(
            event_id=str(d["eventId"]),
            document_id=str(d["documentId"]),
            job_id=str(d["jobId"]),
            status=str(d["status"]),
            attempts=int(d["attempts"]),
        )


@dataclass(frozen=True)
class Summary:
    document_id: str
    summary: str
    model: str
    tokens: int
    source_event_id: str
    generated_at: str

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Summary:
        return cls(
            document_id=str(d["documentId"]),
            summary=str(d["summary"]),
            model=str(d["model"]),
            tokens=int(d["tokens"]),
            source_event_id=str(d["sourceEventId"]),
            generated_at=str(d["generatedAt"]),
        )


@dataclass(frozen=True)
class KeyStatus:
    """What happened to an Idempotency-Key (`GET /idempotency-keys/{key}`), without replaying."""

    key: str
    operation: str  # generate | transfer | agent_run
    status: str  # in_progress | completed | unknown
    lease_expires_at: str | None = None  # in_progress: when the running attempt's lease ends
    original_request_time: str | None = None  # completed
    response_status: int | None = None  # completed: the status a retry replays
    expires_at: str | None = None  # completed, from the fast record: when it expires

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> KeyStatus:
        status = d.get("responseStatus")
        return cls(
            key=str(d["key"]),
            operation=str(d["operation"]),
            status=str(d["status"]),
            lease_expires_at=d.get("leaseExpiresAt"),
            original_request_time=d.get("originalRequestTime"),
            response_status=int(status) if status is not None else None,
            expires_at=d.get("expiresAt"),
        )

    def retry_in(self, now: datetime | None = None) -> float | None:
        """Seconds to wait before retrying with this key: None when it completed (a retry would
        only replay the stored answer), 0 when nothing holds it (unknown, or a lease that ended:
        the attempt died), else the time until the running attempt's lease ends."""
        if self.status == "completed":
            return None
        if self.status != "in_progress" or self.lease_expires_at is None:
            return 0.0
        lease = datetime.fromisoformat(self.lease_expires_at.replace("Z", "+00:00"))
        return max(0.0, (lease - (now or datetime.now(timezone.utc))).total_seconds())
