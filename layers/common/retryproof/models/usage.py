"""Cost records: the stored usage item and the GET /usage response."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, get_args
from urllib.parse import quote

from retryproof.models import check_choice
from retryproof.shapes import Shape

Operation = Literal["generate", "agent_step", "summarize"]


OPERATIONS: frozenset[str] = frozenset(get_args(Operation))


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
        check_choice("operation", self.operation, OPERATIONS)

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
    return f"{quote(idempotency_key, safe='')}#{operation}#{step:04d}"


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
    # When the tenant's running total last counted a record: a record written since may not be in
    # `total_cost_usd` yet (it is counted from the usage table's stream, usually within seconds).
    # None with `idempotencyKey` (that total is the listed records' sum) or before any count.
    total_as_of: str | None = None
