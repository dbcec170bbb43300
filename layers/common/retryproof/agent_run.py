"""Agent runs, the durable side: the tool-calling loop as a Lambda durable execution.

Every LLM request and every tool call is a durable step (`DurableContext.step`): AWS checkpoints
its result, and a re-invocation of the execution (after a crash, a timeout, a wait) replays
completed steps from the checkpoints instead of running them again. A call that needs a person
waits on a durable callback (`create_callback`), for as long as the approval timeout allows,
without a function running.

AWS's engine runs a step at least once per attempt: a step interrupted after its effect but before
its checkpoint runs again. So each step first looks for its own durable record in the runs table
(`retryproof.dal.runs`), keyed by what the engine cannot change — the run and the step index for
an LLM response, the run and the tool call id for a tool call — and only then acts:

- an LLM step whose completion was recorded is never requested (paid) again;
- a tool call id is executed at most once per run, in whatever step or execution it appears;
  `transfer_funds` also goes through the exactly-once transfer path (ledger entry keyed by run
  and tool call id), which catches a transfer whose tool record was lost.

A resumed run is a new execution of the same run: it replays nothing from the old execution's
history, but finds every completed step and tool call in the runs table.
"""

from __future__ import annotations

import contextlib
import functools
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from retryproof import guards
from retryproof import observability as obs
from retryproof.agent import approval_id_for, step_cost
from retryproof.clock import now_iso
from retryproof.config import Settings
from retryproof.dal.accounts import AccountRepository
from retryproof.dal.agent_policy import TenantPolicyRepository
from retryproof.dal.runs import (
    COMPLETED,
    FAILED,
    PENDING,
    Approval,
    RunStore,
    StepCheckpoint,
    ToolCheckpoint,
)
from retryproof.dal.transfers import TransferStore
from retryproof.dal.usage import UsageRepository
from retryproof.errors import AgentTimeout
from retryproof.faults import crash_point, disabled
from retryproof.llm import RESERVED_MS, LlmClient
from retryproof.models.agent import AgentRunRequest
from retryproof.models.usage import UsageItem
from retryproof.persist import after_payment
from retryproof.tools import REGISTRY, Tool, ToolContext, ToolOutput

if TYPE_CHECKING:
    from aws_durable_execution_sdk_python import DurableContext

SYSTEM_PROMPT: Final = (
    "You are an operations assistant. Use the tools offered when the task needs them. "
    "Amounts are integer minor units (cents)."
)
# Do not start an LLM request with less time than this left in the invocation: the step fails
# cleanly and its retry (a new invocation) asks.
MIN_STEP_MS: Final = RESERVED_MS + 2_000
# Step errors the run reports by code; anything else is `step_failed`.
ERROR_CODES: Final = {
    "LlmError": "llm_error",
    "LlmTimeout": "llm_timeout",
    "AgentTimeout": "agent_timeout",
    "StorageUnavailable": "storage_unavailable",
}


@dataclass(frozen=True)
class RunDeps:
    runs: RunStore
    usage: UsageRepository
    # Built at each LLM request, not before: an LLM key that cannot be read is then the step's
    # error (its attempts apply, then the run ends `failed` with its end recorded), not the
    # invocation's, which the engine would end with no end recorded (the run left `running`).
    llm: Callable[[], LlmClient]
    transfers: TransferStore
    accounts: AccountRepository
    settings: Settings
    remaining_ms: Callable[[], int | None]
    policies: TenantPolicyRepository | None = None  # tenants' overrides of the AGENT_* settings


def execute_run(event: dict[str, Any], ctx: DurableContext, deps: RunDeps) -> dict[str, Any]:
    """The durable handler's body: the loop, then the run's end recorded once."""
    from aws_durable_execution_sdk_python import StepError

    loop = _Loop(event, ctx, deps)
    try:
        status, output, code, detail = loop.run()
    except StepError as exc:
        status, output = FAILED, None
        # error_type is the escaping error's qualified class name (retryproof.errors.LlmError).
        code = ERROR_CODES.get((exc.error_type or "").rpartition(".")[2], "step_failed")
        detail = "a step failed after all its attempts; resume the run once the cause is fixed"
    loop.finish(status, output, code, detail)
    return {"runId": loop.run_id, "status": status}


class _Loop:
    def __init__(self, event: dict[str, Any], ctx: DurableContext, deps: RunDeps) -> None:
        self.ctx = ctx
        self.deps = deps
        self.run_id: str = event["runId"]
        self.tenant_id: str = event["tenantId"]
        self.key: str = event["idempotencyKey"]
        self.attempt: int = int(event["attempt"])
        self.request = AgentRunRequest.parse(event["request"])
        self.deadline: str = event.get("deadline", "")
        self.settings = deps.settings
        self.tools: dict[str, Tool[Any]] = {
            n: REGISTRY[n] for n in dict.fromkeys(self.request.tools)
        }
        self.messages: list[dict[str, Any]] = [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": self.request.input},
        ]
        self.outcomes: dict[str, dict[str, Any]] = {}  # tool call id -> outcome, this run
        self.spent = 0  # money moved by this run's tool calls
        self.retry = _retry(self.settings.agent_step_attempts)

    # --- the loop (deterministic: every effect and every read is inside a step) --------------
    def run(self) -> tuple[str, str | None, str | None, str | None]:
        for index in range(self.request.max_steps):
            step: dict[str, Any] = self.ctx.step(
                functools.partial(self._llm_step, index, list(self.messages)),
                name=f"llm-{index}",
                config=self.retry,
            )
            self.messages.append(_assistant_message(step))
            if not step["tool_calls"]:
                return COMPLETED, step["content"], None, None
            for position, call in enumerate(step["tool_calls"]):
                outcome = self._tool_call(call, position)
                self.messages.append(
                    {
                        "role": "tool",
                        "tool_call_id": call["id"],
                        "content": json.dumps(outcome["result"]),
                    }
                )
        return (
            FAILED,
            None,
            "max_steps_exceeded",
            (f"the run used its {self.request.max_steps} steps without a final answer"),
        )

    def _tool_call(self, call: dict[str, str], position: int) -> dict[str, Any]:
        known = None if disabled("tool_result_lookup") else self.outcomes.get(call["id"])
        if known is not None:  # the same id again in a later step: the first outcome, not rerun
            return known
        check = self.ctx.step(
            lambda _: self._check(call, position, self.spent, len(self.outcomes)),
            name=f"check-{call['id']}",
            config=self.retry,
        )
        if check.get("outcome") is not None:
            outcome: dict[str, Any] = check["outcome"]
        else:
            approval_id = None
            decision = "approve"
            # Named in approveTools by the client, or above the tenant's approval threshold.
            if call["name"] in self.request.approve_tools or check.get("approval"):
                approval_id, decision = self._approval(call)
            if decision == "approve":
                outcome = self.ctx.step(
                    lambda _: self._execute(call, approval_id),
                    name=f"tool-{call['id']}",
                    config=self.retry,
                )
            else:
                outcome = self.ctx.step(
                    lambda _: self._rejected(call, approval_id),
                    name=f"rejected-{call['id']}",
                    config=self.retry,
                )
        self.outcomes[call["id"]] = outcome
        self.spent += guards.moved(call["name"], outcome["result"])
        return outcome

    def _approval(self, call: dict[str, str]) -> tuple[str, str]:
        from aws_durable_execution_sdk_python import CallbackError
        from aws_durable_execution_sdk_python.config import CallbackConfig, Duration

        approval_id = approval_id_for(self.run_id, call["id"])
        timeout = self._approval_timeout()
        callback = self.ctx.create_callback(
            name=f"approval-{call['id']}",
            config=CallbackConfig(timeout=Duration.from_seconds(timeout)),
        )
        stored = self.ctx.step(
            lambda _: self._await(call, approval_id, callback.callback_id, timeout),
            name=f"await-{call['id']}",
            config=self.retry,
        )
        if stored["status"] == PENDING:
            # The execution suspends here until a decision or the timeout; a timeout (or a
            # failure) leaves the recorded decision, or a rejection, to decide.
            with contextlib.suppress(CallbackError):
                callback.result()
        decision: str = self.ctx.step(
            lambda _: self._decision(approval_id), name=f"decision-{call['id']}", config=self.retry
        )
        return approval_id, decision

    def _approval_timeout(self) -> int:
        """The approval timeout, but never past the run's own deadline (minus a minute to end)."""
        timeout = self.settings.agent_approval_timeout
        if self.deadline:
            left = datetime.fromisoformat(self.deadline) - datetime.now(UTC)
            timeout = min(timeout, int(left.total_seconds()) - 60)
        return max(1, timeout)

    def finish(self, status: str, output: str | None, code: str | None, detail: str | None) -> None:
        def end(_: Any) -> bool:
            ended = self.deps.runs.finish(
                self.run_id, self.attempt, status, now_iso(), output=output, error_code=code,
                error_detail=detail,
            )  # fmt: skip
            if ended:
                obs.count(obs.AGENT_RUN_COMPLETED if status == COMPLETED else obs.AGENT_RUN_FAILED)
            crash_point("agent.after_finish", self.run_id)
            return ended

        self.ctx.step(end, name="finish", config=self.retry)

    # --- the steps (each looks for its durable record before acting) ---------------------------
    def _llm_step(self, index: int, messages: list[dict[str, Any]], _: Any) -> dict[str, Any]:
        runs = self.deps.runs
        recorded = runs.get_step(self.run_id, index)
        if recorded is None:
            llm = self.deps.llm()  # reads the key: before the time left is measured
            remaining = self.deps.remaining_ms()
            if remaining is not None and remaining < MIN_STEP_MS:
                raise AgentTimeout("too little time left in this invocation for an LLM request")
            completion = llm.complete(
                model=self.settings.default_model,
                messages=messages,
                tools=[t.spec() for t in self.tools.values()] or None,
                max_tokens=self.settings.agent_max_tokens,
                remaining_ms=remaining,
            )
            # paid, not recorded: the window that stays
            crash_point("agent.after_llm", self.run_id)
            fresh = StepCheckpoint(
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
            )
            recorded = after_payment(lambda: runs.save_step(self.run_id, fresh))
        self._record_cost(recorded)
        crash_point(
            "agent.after_llm_record", self.run_id
        )  # recorded, not checkpointed: found on the re-run
        return asdict(recorded)

    def _check(
        self, call: dict[str, str], position: int, spent: int, earlier_calls: int
    ) -> dict[str, Any]:
        """The call's recorded outcome (any step, any execution of this run), or a refusal by a
        guard rail (recorded), or {"approval": True} when the tenant's policy makes it wait for a
        person, or {} to go on."""
        lookup = not disabled("tool_result_lookup")
        recorded = self.deps.runs.get_tool(self.run_id, call["id"]) if lookup else None
        if recorded is not None:
            return {"outcome": _outcome(recorded, replayed=True)}
        limits = self._limits(call)
        reason = guards.refusal(
            call["name"], call["arguments"], position=position, spent=spent,
            tenant_id=self.tenant_id, limits=limits, accounts=self.deps.accounts,
            earlier_calls=earlier_calls,
        )  # fmt: skip
        if reason is None:
            return (
                {"approval": True}
                if guards.needs_approval(call["name"], call["arguments"], limits)
                else {}
            )
        obs.count(obs.AGENT_TOOL_REFUSED)
        refused = ToolCheckpoint(
            call["id"], call["name"], call["arguments"], {"refused": True, "reason": reason},
            replayed=False, refused=True,
        )  # fmt: skip
        stored = self.deps.runs.save_tool(self.run_id, refused)
        stored = stored if lookup else refused
        return {"outcome": _outcome(stored, replayed=stored is not refused)}

    def _limits(self, call: dict[str, str]) -> guards.Limits:
        """The guard rails for this call: the tenant's policy (a consistent read, only for a call
        that would move money) over the deployment's settings."""
        policy = None
        if self.deps.policies is not None and guards.transfer_args(call["name"], call["arguments"]):
            policy = self.deps.policies.get(self.tenant_id)
        return guards.Limits.of(self.settings, policy)

    def _await(
        self, call: dict[str, str], approval_id: str, callback_id: str, timeout: int
    ) -> dict[str, Any]:
        now = datetime.now(UTC)
        approval = Approval(
            approval_id=approval_id,
            tool_call_id=call["id"],
            name=call["name"],
            arguments=call["arguments"],
            callback_id=callback_id,
            expires_at=(now + timedelta(seconds=timeout))
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            created_at=now.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        )
        stored = self.deps.runs.save_approval(self.run_id, approval)
        crash_point("agent.after_approval_record", self.run_id)
        return {"status": stored.status}

    def _decision(self, approval_id: str) -> str:
        stored = self.deps.runs.get_approval(self.run_id, approval_id)
        assert stored is not None
        if stored.status == PENDING:  # no decision in time: a rejection (set once)
            stored = self.deps.runs.decide(self.run_id, approval_id, "reject", now_iso(), None,
                                           "timeout")  # fmt: skip
        return stored.status

    def _execute(self, call: dict[str, str], approval_id: str | None) -> dict[str, Any]:
        runs = self.deps.runs
        lookup = not disabled("tool_result_lookup")
        recorded = runs.get_tool(self.run_id, call["id"]) if lookup else None
        if recorded is not None:  # ran in an attempt whose checkpoint was lost
            return _outcome(recorded, replayed=True)
        output = self._run_tool(call)
        crash_point("agent.after_tool", self.run_id)
        fresh = ToolCheckpoint(
            call["id"], call["name"], call["arguments"], output.result, output.replayed,
            approval_id=approval_id,
        )  # fmt: skip
        stored = runs.save_tool(self.run_id, fresh)
        stored = stored if lookup else fresh
        crash_point("agent.after_tool_record", self.run_id)
        return _outcome(stored, replayed=stored is not fresh or stored.replayed)

    def _rejected(self, call: dict[str, str], approval_id: str | None) -> dict[str, Any]:
        result = {"error": "rejected", "detail": "the call was not approved; it did not run"}
        fresh = ToolCheckpoint(
            call["id"], call["name"], call["arguments"], result, replayed=False,
            approval_id=approval_id,
        )  # fmt: skip
        stored = self.deps.runs.save_tool(self.run_id, fresh)
        return _outcome(stored, replayed=stored is not fresh)

    def _run_tool(self, call: dict[str, str]) -> ToolOutput:
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

    def _record_cost(self, step: StepCheckpoint) -> None:
        cost = step_cost(step.model, step.prompt_tokens, step.completion_tokens, self.settings)
        existing = self.deps.usage.put_once(
            UsageItem(
                tenant_id=self.tenant_id,
                idempotency_key=self.key,
                operation="agent_step",
                step=step.index,
                model=step.model,
                prompt_tokens=step.prompt_tokens,
                completion_tokens=step.completion_tokens,
                cost_micro_usd=cost,
                created_at=step.created_at,
            )
        )
        if existing is None:
            obs.count(obs.LLM_COST, cost)


def _outcome(tool: ToolCheckpoint, *, replayed: bool) -> dict[str, Any]:
    return {"result": tool.result, "replayed": replayed, "refused": tool.refused}


def _retry(attempts: int) -> Any:
    """Every step: `attempts` tries, backoff from 1 s (the SDK's default starts at 5 s)."""
    from aws_durable_execution_sdk_python.config import Duration, StepConfig
    from aws_durable_execution_sdk_python.retries import RetryStrategyConfig, create_retry_strategy

    strategy = create_retry_strategy(
        RetryStrategyConfig(
            max_attempts=attempts,
            initial_delay=Duration.from_seconds(1),
            max_delay=Duration.from_seconds(30),
            backoff_rate=2.0,
        )
    )
    return StepConfig(retry_strategy=strategy)


def _assistant_message(step: dict[str, Any]) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": step["content"] or None}
    if step["tool_calls"]:
        message["tool_calls"] = [
            {
                "id": c["id"],
                "type": "function",
                "function": {"name": c["name"], "arguments": c["arguments"]},
            }
            for c in step["tool_calls"]
        ]
    return message
