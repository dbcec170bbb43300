"""Agent runs: a tool-calling loop whose every step is checkpointed, so a retry resumes.

The rule that makes tool calls single: an LLM response is checkpointed *before* any of its tool
calls runs, and each tool result is checkpointed by its tool call id. A retry of the run rebuilds
the conversation from the checkpoints — same tool call ids — and continues: completed LLM steps
are not requested again, completed tool calls are not executed again, and a tool call that ran but
whose checkpoint was lost is caught by the tool's own idempotency (a transfer's ledger entry).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from retryproof import observability as obs
from retryproof.clock import now_iso
from retryproof.config import Settings
from retryproof.dal.accounts import AccountRepository
from retryproof.dal.runs import RunHeader, RunState, RunStore, StepCheckpoint, ToolCheckpoint
from retryproof.dal.transfers import TransferStore
from retryproof.dal.usage import UsageRepository
from retryproof.errors import AgentTimeout, IdempotencyKeyReused, StorageUnavailable
from retryproof.faults import crash_point
from retryproof.idempotency import ClaimKept
from retryproof.llm import RESERVED_MS, Completion, LlmClient
from retryproof.models.agent import AgentRunOut, AgentRunRequest, AgentStepOut
from retryproof.models.generate import TokenUsage
from retryproof.models.outcome import StoredOutcome
from retryproof.models.usage import UsageItem
from retryproof.money import cost_micro_usd, format_usd
from retryproof.persist import after_payment
from retryproof.tools import REGISTRY, Tool, ToolContext, ToolOutput, parse_arguments

OPERATION: Final = "agent_step"
SYSTEM_PROMPT = (
    "You are an operations assistant. Use the tools offered when the task needs them. "
    "Amounts are integer minor units (cents)."
)
# Do not start an LLM step with less time than this left: fail cleanly, the retry resumes.
MIN_STEP_MS = RESERVED_MS + 2_000


def run_id_for(tenant_id: str, idempotency_key: str) -> str:
    digest = hashlib.sha256(f"{tenant_id}\n{idempotency_key}".encode()).hexdigest()
    return f"run_{digest[:32]}"


@dataclass(frozen=True)
class AgentDeps:
    runs: RunStore
    usage: UsageRepository
    llm: LlmClient
    transfers: TransferStore
    accounts: AccountRepository
    settings: Settings
    get_remaining_ms: Callable[[], int | None]


def run_agent(
    request: AgentRunRequest,
    *,
    tenant_id: str,
    idempotency_key: str,
    request_hash: str,
    deps: AgentDeps,
) -> StoredOutcome:
    run_id = run_id_for(tenant_id, idempotency_key)
    state = deps.runs.load(run_id)
    header = state.header or deps.runs.start(
        RunHeader(run_id, tenant_id, idempotency_key, request_hash, now_iso())
    )
    if header.request_hash != request_hash and deps.settings.payload_mismatch == "reject":
        raise IdempotencyKeyReused("this Idempotency-Key started another run; use a new key")
    if header.result is not None:
        return StoredOutcome(
            status=200, body=header.result, original_request_time=header.created_at, replayed=True
        )
    run = _Run(request, run_id, tenant_id, idempotency_key, deps, state)
    body = json.dumps(run.execute().to_json_dict())
    deps.runs.finish(run_id, body)
    return StoredOutcome(status=200, body=body, original_request_time=header.created_at)


class _Run:
    def __init__(
        self,
        request: AgentRunRequest,
        run_id: str,
        tenant_id: str,
        idempotency_key: str,
        deps: AgentDeps,
        state: RunState,
    ) -> None:
        self.request = request
        self.run_id = run_id
        self.tenant_id = tenant_id
        self.key = idempotency_key
        self.deps = deps
        self.state = state
        self.model = deps.settings.default_model
        self.tools: dict[str, Tool[Any]] = {
            name: REGISTRY[name] for name in dict.fromkeys(request.tools)
        }
        self.messages: list[dict[str, Any]] = [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": request.input},
        ]
        self.steps: list[AgentStepOut] = []
        self.checkpoints: list[StepCheckpoint] = []

    def execute(self) -> AgentRunOut:
        # A crash may have come between a step's checkpoint and its cost record.
        for step in self.state.steps:
            self._record_cost(step)
        index = 0
        while True:
            if index < len(self.state.steps):
                step = self.state.steps[index]
            elif index >= self.request.max_steps:
                return self._result("max_steps_reached", None)
            else:
                step = self._ask(index)
            self.checkpoints.append(step)
            self.messages.append(_assistant_message(step))
            if not step.tool_calls:
                return self._result("completed", step.content)
            for call in step.tool_calls:
                self._call_tool(call)
            index += 1

    def _ask(self, index: int) -> StepCheckpoint:
        remaining = self.deps.get_remaining_ms()
        if remaining is not None and remaining < MIN_STEP_MS:
            raise AgentTimeout("the run ran out of time; retry with the same key to resume it")
        completion = self.deps.llm.complete(
            model=self.model,
            messages=self.messages,
            tools=[t.spec() for t in self.tools.values()] or None,
            remaining_ms=remaining,
        )
        try:
            step = after_payment(lambda: self._checkpoint(index, completion))
        except StorageUnavailable as exc:
            raise ClaimKept(exc) from exc  # paid for the step, not checkpointed: keep the lease
        return step

    def _checkpoint(self, index: int, completion: Completion) -> StepCheckpoint:
        step = self.deps.runs.save_step(
            self.run_id,
            StepCheckpoint(
                index=index,
                completion_id=completion.id,
                content=completion.content,
                tool_calls=[
                    {"id": c.id, "name": c.name, "arguments": c.arguments}
                    for c in completion.tool_calls
                ],
                model=completion.model,
                prompt_tokens=completion.prompt_tokens,
                completion_tokens=completion.completion_tokens,
                created_at=now_iso(),
            ),
        )
        self._record_cost(step)
        return step

    def _call_tool(self, call: dict[str, str]) -> None:
        checkpoint = self.state.tools.get(call["id"])
        if checkpoint is None:
            output = self._execute(call)
            crash_point("agent.after_tool")
            fresh = ToolCheckpoint(
                call["id"], call["name"], call["arguments"], output.result, output.replayed
            )
            checkpoint = self.deps.runs.save_tool(self.run_id, fresh)
            replayed = checkpoint is not fresh or output.replayed
        else:
            replayed = True
        self.steps.append(
            AgentStepOut(
                tool_call_id=call["id"],
                name=call["name"],
                arguments=parse_arguments(call["arguments"]),
                result=checkpoint.result,
                replayed=replayed,
            )
        )
        self.messages.append(
            {
                "role": "tool",
                "tool_call_id": call["id"],
                "content": json.dumps(checkpoint.result),
            }
        )

    def _execute(self, call: dict[str, str]) -> ToolOutput:
        tool = self.tools.get(call["name"])
        if tool is None:
            return ToolOutput({"error": "unknown_tool", "detail": f"no tool {call['name']!r}"})
        context = ToolContext(
            tenant_id=self.tenant_id,
            run_id=self.run_id,
            tool_call_id=call["id"],
            transfers=self.deps.transfers,
            accounts=self.deps.accounts,
        )
        output: ToolOutput = tool.run(call["arguments"], context)
        return output

    def _cost(self, step: StepCheckpoint) -> int:
        price = (
            self.deps.settings.model_prices.get(step.model)
            or self.deps.settings.model_prices[self.model]
        )
        return cost_micro_usd(price, step.prompt_tokens, step.completion_tokens)

    def _record_cost(self, step: StepCheckpoint) -> None:
        existing = self.deps.usage.put_once(
            UsageItem(
                tenant_id=self.tenant_id,
                idempotency_key=self.key,
                operation=OPERATION,
                step=step.index,
                model=step.model,
                prompt_tokens=step.prompt_tokens,
                completion_tokens=step.completion_tokens,
                cost_micro_usd=self._cost(step),
                created_at=step.created_at,
            )
        )
        if existing is None:
            obs.count(obs.LLM_COST, self._cost(step))

    def _result(self, status: str, output: str | None) -> AgentRunOut:
        prompt = sum(s.prompt_tokens for s in self.checkpoints)
        completion = sum(s.completion_tokens for s in self.checkpoints)
        return AgentRunOut(
            run_id=self.run_id,
            status=status,
            output=output,
            steps=self.steps,
            usage=TokenUsage(
                prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion
            ),
            cost_usd=format_usd(sum(self._cost(s) for s in self.checkpoints)),
        )


def _assistant_message(step: StepCheckpoint) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": step.content or None}
    if step.tool_calls:
        message["tool_calls"] = [
            {
                "id": c["id"],
                "type": "function",
                "function": {"name": c["name"], "arguments": c["arguments"]},
            }
            for c in step.tool_calls
        ]
    return message
