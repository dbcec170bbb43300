"""Agent runs: the requests and the responses (a run as `GET /agent/runs/{runId}` shows it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from retryproof.models.generate import TokenUsage
from retryproof.shapes import Shape, spec

ToolName = Literal["transfer_funds", "get_balance"]
Decision = Literal["approve", "reject"]


@dataclass(frozen=True)
class AgentRunRequest(Shape):
    input: str = spec(min_length=1, max_length=32000)
    tools: list[ToolName] = spec(default_factory=list, max_length=10)  # noqa: RUF009 (a field)
    max_steps: int = spec(default=5, ge=1, le=10)
    approve_tools: list[ToolName] = spec(default_factory=list, max_length=10)  # noqa: RUF009


@dataclass(frozen=True)
class ApprovalRequest(Shape):
    decision: Decision
    comment: str | None = spec(default=None, max_length=2000)


@dataclass(frozen=True)
class ApprovalOut(Shape):
    approval_id: str
    decision: Decision
    decided_at: str


@dataclass(frozen=True)
class StepApprovalOut(Shape):
    approval_id: str
    decision: str | None  # approve | reject; null while pending
    decided_at: str | None
    decided_by: str | None  # person | timeout
    comment: str | None


@dataclass(frozen=True)
class AgentStepOut(Shape):
    """One tool call. `refused` and `approval` are present only when they apply."""

    tool_call_id: str
    name: str
    arguments: Any
    result: Any
    replayed: bool
    refused: bool | None = None
    approval: StepApprovalOut | None = None


@dataclass(frozen=True)
class PendingApprovalOut(Shape):
    approval_id: str
    tool_call_id: str
    name: str
    arguments: Any
    expires_at: str


@dataclass(frozen=True)
class RunErrorOut(Shape):
    code: str
    detail: str


@dataclass(frozen=True)
class AgentRunOut(Shape):
    """A run; `output` and `error` are present only when they apply."""

    run_id: str
    status: str  # running | awaiting_approval | completed | failed
    steps: list[AgentStepOut]
    pending_approvals: list[PendingApprovalOut]
    usage: TokenUsage
    cost_usd: str
    created_at: str
    updated_at: str
    output: str | None = None
    error: RunErrorOut | None = None


@dataclass(frozen=True)
class AgentRunAccepted(Shape):
    """202: the run goes on; poll `statusUrl` (also in `Location`) after `Retry-After` seconds."""

    run_id: str
    status: str  # running | awaiting_approval
    status_url: str


def without_nulls(
    value: Any, keys: frozenset[str] = frozenset({"refused", "approval", "output", "error"})
) -> Any:
    """The wire form with the optional members that do not apply left out (not `null`)."""
    if isinstance(value, dict):
        return {
            k: without_nulls(v, keys) for k, v in value.items() if not (k in keys and v is None)
        }
    if isinstance(value, list):
        return [without_nulls(v, keys) for v in value]
    return value
