"""Items as stored in DynamoDB, with explicit mapping to and from attribute values.

Frozen stdlib dataclasses (no pydantic: these are imported on every cold start). Values read from
a table that a `Literal` type restricts are checked on construction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, get_args

Operation = Literal["generate", "agent_step", "summarize"]
OPERATIONS: frozenset[str] = frozenset(get_args(Operation))


def _check_choice(name: str, value: object, allowed: frozenset[str]) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {sorted(allowed)}, not {value!r}")


@dataclass(frozen=True, kw_only=True, slots=True)
class UsageItem:
    """One paid LLM call. Key: (tenantId, recordKey); written once with a conditional put."""

    tenant_id: str
    idempotency_key: str
    operation: Operation
    step: int = 0
    model: str
    prompt_tokens: int
    completion_tokens: int
    cost_micro_usd: int
    created_at: str
    request_hash: str = ""
    # The response body (JSON text) of an operation whose usage record is its durable result.
    result: str | None = None

    def __post_init__(self) -> None:
        _check_choice("operation", self.operation, OPERATIONS)

    @property
    def record_key(self) -> str:
        return usage_record_key(self.idempotency_key, self.operation, self.step)

    def to_item(self) -> dict[str, Any]:
        item: dict[str, Any] = {
            "tenantId": {"S": self.tenant_id},
            "recordKey": {"S": self.record_key},
            "idempotencyKey": {"S": self.idempotency_key},
            "operation": {"S": self.operation},
            "step": {"N": str(self.step)},
            "model": {"S": self.model},
            "promptTokens": {"N": str(self.prompt_tokens)},
            "completionTokens": {"N": str(self.completion_tokens)},
            "costMicroUsd": {"N": str(self.cost_micro_usd)},
            "createdAt": {"S": self.created_at},
        }
        if self.request_hash:
            item["requestHash"] = {"S": self.request_hash}
        if self.result is not None:
            item["result"] = {"S": self.result}
        return item

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> UsageItem:
        return cls(
            tenant_id=item["tenantId"]["S"],
            idempotency_key=item["idempotencyKey"]["S"],
            operation=item["operation"]["S"],
            step=int(item["step"]["N"]),
            model=item["model"]["S"],
            prompt_tokens=int(item["promptTokens"]["N"]),
            completion_tokens=int(item["completionTokens"]["N"]),
            cost_micro_usd=int(item["costMicroUsd"]["N"]),
            created_at=item["createdAt"]["S"],
            request_hash=item.get("requestHash", {}).get("S", ""),
            result=item["result"]["S"] if "result" in item else None,
        )


def usage_record_key(idempotency_key: str, operation: str, step: int = 0) -> str:
    """Sort key: the idempotency key percent-encoded (so '#' cannot collide), operation, step."""
    from urllib.parse import quote

    return f"{quote(idempotency_key, safe='')}#{operation}#{step:04d}"


@dataclass(frozen=True, kw_only=True, slots=True)
class AccountItem:
    """An account. `balance` moves only inside a transfer transaction (with its ledger entry)."""

    account_id: str
    tenant_id: str
    balance: int
    opening_balance: int
    currency: str

    def to_item(self) -> dict[str, Any]:
        return {
            "accountId": {"S": self.account_id},
            "tenantId": {"S": self.tenant_id},
            "balance": {"N": str(self.balance)},
            "openingBalance": {"N": str(self.opening_balance)},
            "currency": {"S": self.currency},
        }

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> AccountItem:
        return cls(
            account_id=item["accountId"]["S"],
            tenant_id=item["tenantId"]["S"],
            balance=int(item["balance"]["N"]),
            opening_balance=int(item.get("openingBalance", item["balance"])["N"]),
            currency=item["currency"]["S"],
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class LedgerItem:
    """A transfer that happened: keyed by its id, derived from (tenant, idempotency key)."""

    transfer_id: str
    tenant_id: str
    idempotency_key: str
    from_account_id: str
    to_account_id: str
    amount: int
    currency: str
    request_hash: str
    created_at: str

    def to_item(self) -> dict[str, Any]:
        return {
            "transferId": {"S": self.transfer_id},
            "tenantId": {"S": self.tenant_id},
            "idempotencyKey": {"S": self.idempotency_key},
            "fromAccountId": {"S": self.from_account_id},
            "toAccountId": {"S": self.to_account_id},
            "amount": {"N": str(self.amount)},
            "currency": {"S": self.currency},
            "requestHash": {"S": self.request_hash},
            "createdAt": {"S": self.created_at},
        }

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> LedgerItem:
        return cls(
            transfer_id=item["transferId"]["S"],
            tenant_id=item["tenantId"]["S"],
            idempotency_key=item["idempotencyKey"]["S"],
            from_account_id=item["fromAccountId"]["S"],
            to_account_id=item["toAccountId"]["S"],
            amount=int(item["amount"]["N"]),
            currency=item["currency"]["S"],
            request_hash=item["requestHash"]["S"],
            created_at=item["createdAt"]["S"],
        )


EventStatus = Literal["queued", "processing", "completed", "failed"]
EVENT_STATUSES: frozenset[str] = frozenset(get_args(EventStatus))


@dataclass(frozen=True, kw_only=True, slots=True)
class WebhookEventItem:
    """A webhook event (the processed-events table). Key: (tenantId, eventId).

    Written by the edge when a delivery is accepted (never overwritten there) and by the worker's
    claim (status `processing` with a lease), release (`queued` or `failed`) and completion.
    """

    tenant_id: str
    event_id: str
    document_id: str
    job_id: str
    status: EventStatus
    attempts: int = 0
    # The event's time (its occurredAt, or the webhook-timestamp of its first accepted delivery),
    # in microseconds since the epoch: what orders the summaries of one document.
    event_time_us: int
    created_at: str
    accepted_at: str | None = None
    lease_owner: str | None = None
    lease_expires_at_ms: int | None = None
    # The current (or last) attempt was the message's last receive before the dead-letter queue.
    final_attempt: bool = False
    last_error: str | None = None
    completed_at: str | None = None

    def __post_init__(self) -> None:
        _check_choice("status", self.status, EVENT_STATUSES)

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> WebhookEventItem:
        def s(name: str) -> str | None:
            return item[name]["S"] if name in item else None

        def n(name: str) -> int | None:
            return int(item[name]["N"]) if name in item else None

        return cls(
            tenant_id=item["tenantId"]["S"],
            event_id=item["eventId"]["S"],
            document_id=item["documentId"]["S"],
            job_id=item["jobId"]["S"],
            status=item["status"]["S"],
            attempts=n("attempts") or 0,
            event_time_us=n("eventTimeUs") or 0,
            created_at=item["createdAt"]["S"],
            accepted_at=s("acceptedAt"),
            lease_owner=s("leaseOwner"),
            lease_expires_at_ms=n("leaseExpiresAtMs"),
            final_attempt=bool(item.get("finalAttempt", {}).get("BOOL", False)),
            last_error=s("lastError"),
            completed_at=s("completedAt"),
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class SummaryItem:
    """The current summary of a document. Key: (tenantId, documentId); the newest event wins."""

    tenant_id: str
    document_id: str
    summary: str
    model: str
    tokens: int
    source_event_id: str
    event_time_us: int
    generated_at: str

    def to_item(self) -> dict[str, Any]:
        return {
            "tenantId": {"S": self.tenant_id},
            "documentId": {"S": self.document_id},
            "summary": {"S": self.summary},
            "model": {"S": self.model},
            "tokens": {"N": str(self.tokens)},
            "sourceEventId": {"S": self.source_event_id},
            "eventTimeUs": {"N": str(self.event_time_us)},
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
            event_time_us=int(item["eventTimeUs"]["N"]),
            generated_at=item["generatedAt"]["S"],
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class WebhookSecretItem:
    """A tenant's webhook signing secret (`whsec_<base64>`), in an encrypted table."""

    tenant_id: str
    secret: str = field(repr=False)
    created_at: str

    def to_item(self) -> dict[str, Any]:
        return {
            "tenantId": {"S": self.tenant_id},
            "secret": {"S": self.secret},
            "createdAt": {"S": self.created_at},
        }

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> WebhookSecretItem:
        return cls(
            tenant_id=item["tenantId"]["S"],
            secret=item["secret"]["S"],
            created_at=item["createdAt"]["S"],
        )
