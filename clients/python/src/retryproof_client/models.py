"""Typed results. Money is never a float: amounts are integer minor units, costs `Decimal`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
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
    refused: bool = False  # a guard rail refused the call: it did not run
    approval: Mapping[str, Any] | None = None  # the person's decision, for approved tools

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> AgentStep:
        return cls(
            tool_call_id=str(d["toolCallId"]),
            name=str(d["name"]),
            arguments=d.get("arguments"),
            result=d.get("result"),
            replayed=bool(d["replayed"]),
            refused=bool(d.get("refused", False)),
            approval=d.get("approval"),
        )


@dataclass(frozen=True)
class PendingApproval:
    approval_id: str
    tool_call_id: str
    name: str
    arguments: Any
    expires_at: str

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> PendingApproval:
        return cls(
            approval_id=str(d["approvalId"]),
            tool_call_id=str(d["toolCallId"]),
            name=str(d["name"]),
            arguments=d.get("arguments"),
            expires_at=str(d["expiresAt"]),
        )


ENDED = ("completed", "failed")


@dataclass(frozen=True)
class AgentRun:
    """A run: `status` running | awaiting_approval | completed | failed. A 202 answer (the run
    goes on) carries only `run_id`, `status` and `status_url`; `Client.wait_for_run` polls it."""

    run_id: str
    status: str
    output: str | None = None
    steps: tuple[AgentStep, ...] = ()
    usage: TokenUsage | None = None
    cost_usd: Decimal | None = None
    pending_approvals: tuple[PendingApproval, ...] = ()
    error_code: str | None = None
    error_detail: str | None = None
    status_url: str | None = None

    @property
    def ended(self) -> bool:
        return self.status in ENDED

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> AgentRun:
        output = d.get("output")
        error = d.get("error") or {}
        return cls(
            run_id=str(d["runId"]),
            status=str(d.get("status", "completed")),
            output=None if output is None else str(output),
            steps=tuple(AgentStep.from_json(s) for s in d.get("steps", ())),
            usage=TokenUsage.from_json(d["usage"]) if "usage" in d else None,
            cost_usd=Decimal(str(d["costUsd"])) if "costUsd" in d else None,
            pending_approvals=tuple(
                PendingApproval.from_json(p) for p in d.get("pendingApprovals", ())
            ),
            error_code=error.get("code"),
            error_detail=error.get("detail"),
            status_url=d.get("statusUrl") or f"/agent/runs/{d['runId']}",
        )


@dataclass(frozen=True)
class ApprovalDecision:
    approval_id: str
    decision: str
    decided_at: str

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> ApprovalDecision:
        return cls(str(d["approvalId"]), str(d["decision"]), str(d["decidedAt"]))


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
