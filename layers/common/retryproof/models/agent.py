"""POST /agent/runs: the request and the response."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from retryproof.models.generate import TokenUsage
from retryproof.shapes import Shape, spec

ToolName = Literal["transfer_funds", "get_balance"]


@dataclass(frozen=True)
class AgentRunRequest(Shape):
    input: str = spec(min_length=1, max_length=32000)
    tools: list[ToolName] = spec(default_factory=list, max_length=10)  # noqa: RUF009 (a field)
    max_steps: int = spec(default=5, ge=1, le=10)


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
