"""The durable agent loop on AWS's in-process test runner (DurableFunctionTestRunner), with the
runs table, ledger, accounts, usage and LLM as small in-memory fakes: exactly-once tool effects
across steps and executions, guard rails, max_tokens, LLM failures that exhaust their attempts."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from aws_durable_execution_sdk_python import DurableContext, durable_execution
from aws_durable_execution_sdk_python_testing import DurableFunctionTestRunner

from retryproof.agent import get_run, run_view
from retryproof.agent_run import RunDeps, execute_run
from retryproof.clock import now_iso
from retryproof.config import Settings
from retryproof.dal.runs import (
    PENDING,
    Approval,
    RunHeader,
    RunState,
    StepCheckpoint,
    ToolCheckpoint,
)
from retryproof.errors import AccountNotFound, InsufficientFunds, LlmError
from retryproof.llm import Completion, ToolCall
from retryproof.models.transfers import AccountItem, LedgerItem
from retryproof.models.usage import UsageItem

pytestmark = pytest.mark.unit

TENANT = "acme"
RUN = "run_unit"


class MemoryRuns:
    def __init__(self) -> None:
        self.header = RunHeader(RUN, TENANT, "key-1", "h", "2026-01-01T00:00:00.000Z")
        self.steps: dict[int, StepCheckpoint] = {}
        self.tools: dict[str, ToolCheckpoint] = {}
        self.approvals: dict[str, Approval] = {}

    def load(self, run_id: str) -> RunState:
        return RunState(self.header, sorted(self.steps.values(), key=lambda s: s.index),
                        dict(self.tools), dict(self.approvals))  # fmt: skip

    def get_header(self, run_id: str) -> RunHeader | None:
        return self.header

    def start(self, header: RunHeader) -> RunHeader:
        return self.header

    def get_step(self, run_id: str, index: int) -> StepCheckpoint | None:
        return self.steps.get(index)

    def save_step(self, run_id: str, step: StepCheckpoint) -> StepCheckpoint:
        return self.steps.setdefault(step.index, step)

    def get_tool(self, run_id: str, tool_call_id: str) -> ToolCheckpoint | None:
        return self.tools.get(tool_call_id)

    def save_tool(self, run_id: str, tool: ToolCheckpoint) -> ToolCheckpoint:
        return self.tools.setdefault(tool.tool_call_id, tool)

    def get_approval(self, run_id: str, approval_id: str) -> Approval | None:
        return self.approvals.get(approval_id)

    def save_approval(self, run_id: str, approval: Approval) -> Approval:
        return self.approvals.setdefault(approval.approval_id, approval)

    def decide(self, run_id: str, approval_id: str, decision: str, decided_at: str,
               comment: str | None, decided_by: str) -> Approval:  # fmt: skip
        stored = self.approvals[approval_id]
        if stored.status == PENDING:
            stored = dataclasses.replace(stored, status=decision, decided_at=decided_at,
                                         comment=comment, decided_by=decided_by)  # fmt: skip
            self.approvals[approval_id] = stored
        return stored

    def finish(self, run_id: str, attempt: int, status: str, updated_at: str, *,
               output: str | None = None, error_code: str | None = None,
               error_detail: str | None = None) -> bool:  # fmt: skip
        if self.header.status != "running" or self.header.attempt != attempt:
            return False
        self.header = dataclasses.replace(
            self.header, status=status, output=output, error_code=error_code,
            error_detail=error_detail,
        )  # fmt: skip
        return True

    def resume(self, run_id: str, attempt: int, updated_at: str) -> bool:
        return False


class MemoryUsage:
    def __init__(self) -> None:
        self.items: dict[tuple[str, int], UsageItem] = {}

    def put_once(self, item: UsageItem) -> UsageItem | None:
        existing = self.items.get((item.idempotency_key, item.step))
        self.items.setdefault((item.idempotency_key, item.step), item)
        return existing


def account(account_id: str, tenant_id: str, balance: int) -> AccountItem:
    return AccountItem(account_id=account_id, tenant_id=tenant_id, balance=balance,
                       opening_balance=balance, currency="USD")  # fmt: skip


class MemoryBank:
    """Accounts and the ledger: `apply` moves money once per transfer id."""

    def __init__(self) -> None:
        self.accounts = {
            "acc_main": account("acc_main", TENANT, 100_000),
            "acc_ops": account("acc_ops", TENANT, 0),
            "acc_other": account("acc_other", "globex", 0),
        }
        self.ledger: dict[str, LedgerItem] = {}
        self.applies = 0  # how often a transfer was attempted

    def get(self, account_id: str) -> AccountItem | None:  # AccountRepository and TransferStore
        if account_id.startswith("tr_"):
            return None
        return self.accounts.get(account_id)

    def apply(self, entry: LedgerItem) -> LedgerItem | None:
        self.applies += 1
        if entry.transfer_id in self.ledger:
            return self.ledger[entry.transfer_id]
        src = self.accounts.get(entry.from_account_id)
        dst = self.accounts.get(entry.to_account_id)
        if src is None or src.tenant_id != entry.tenant_id or dst is None:
            raise AccountNotFound("no such account")
        if src.balance < entry.amount:
            raise InsufficientFunds("too little money")
        self.accounts[src.account_id] = dataclasses.replace(src, balance=src.balance - entry.amount)
        self.accounts[dst.account_id] = dataclasses.replace(dst, balance=dst.balance + entry.amount)
        self.ledger[entry.transfer_id] = entry
        return None


class ScriptedLlm:
    """Answers from a script: a list of tool-call lists (or text, or an exception) per request."""

    def __init__(self, script: list[Any]) -> None:
        self.script = list(script)
        self.requests: list[dict[str, Any]] = []

    def complete(self, **kwargs: Any) -> Completion:
        self.requests.append(kwargs)
        answer = self.script.pop(0)
        if isinstance(answer, Exception):
            raise answer
        text = answer if isinstance(answer, str) else ""
        calls = () if isinstance(answer, str) else tuple(answer)
        return Completion(id=f"cmpl-{len(self.requests)}", content=text,
                          finish_reason="stop", model="gpt-4o-mini", prompt_tokens=10,
                          completion_tokens=5, tool_calls=calls)  # fmt: skip


def transfer(call_id: str, amount: int, to: str = "acc_ops", src: str = "acc_main") -> ToolCall:
    args = {"fromAccountId": src, "toAccountId": to, "amount": amount, "currency": "USD"}
    return ToolCall(call_id, "transfer_funds", json.dumps(args))


def balance_call(call_id: str) -> ToolCall:
    return ToolCall(call_id, "get_balance", json.dumps({"accountId": "acc_main"}))


@dataclasses.dataclass
class World:
    runs: MemoryRuns
    usage: MemoryUsage
    bank: MemoryBank
    llm: ScriptedLlm
    settings: Settings
    policies: Any = None  # a TenantPolicyRepository (test_unit_agent_policy)

    def run(self, request: dict[str, Any] | None = None, attempt: int = 0) -> Any:
        deps = RunDeps(
            runs=self.runs, usage=self.usage, llm=lambda: self.llm, transfers=self.bank,  # type: ignore[arg-type]
            accounts=self.bank, settings=self.settings, remaining_ms=lambda: None,
            policies=self.policies,
        )  # fmt: skip

        @durable_execution
        def handler(event: dict[str, Any], context: DurableContext) -> dict[str, Any]:
            return execute_run(event, context, deps)

        event = {"runId": RUN, "tenantId": TENANT, "idempotencyKey": "key-1", "attempt": attempt,
                 "request": request or {"input": "go", "tools": ["transfer_funds", "get_balance"],
                                        "maxSteps": 5}}  # fmt: skip
        with DurableFunctionTestRunner(handler=handler) as runner:
            return runner.run(input=json.dumps(event), execution_timeout=30)

    def view(self) -> dict[str, Any]:
        out: dict[str, Any] = run_view(self.runs.load(RUN), self.settings).to_json_dict()
        return out

    def tool_messages(self, request: int) -> list[dict[str, Any]]:
        messages = self.llm.requests[request]["messages"]
        return [json.loads(m["content"]) for m in messages if m["role"] == "tool"]


@pytest.fixture
def world() -> World:
    return World(MemoryRuns(), MemoryUsage(), MemoryBank(), ScriptedLlm([]),
                Settings(agent_step_attempts=3))  # fmt: skip


def test_a_tool_call_id_repeated_in_a_later_step_runs_once_and_reports_its_first_result(
    world: World,
) -> None:
    """Issue 12, defect 5: the lookup is by (run, tool call id) across all steps."""
    world.llm.script = [[transfer("c1", 100)], [transfer("c1", 999)], "done"]

    result = world.run()

    assert result.status.value == "SUCCEEDED", result
    assert world.bank.applies == 1  # the tool ran once, not again for the repeated id
    assert len(world.bank.ledger) == 1
    assert world.bank.accounts["acc_ops"].balance == 100
    # The LLM is told the transfer that happened (100), both times.
    assert [m["amount"] for m in world.tool_messages(2)] == [100, 100]
    steps = world.view()["steps"]
    assert [(s["toolCallId"], s["result"]["amount"], s["replayed"]) for s in steps] == [
        ("c1", 100, False), ("c1", 100, True)
    ]  # fmt: skip


def test_a_tool_call_recorded_by_an_earlier_execution_is_not_run_again(world: World) -> None:
    """A resumed run is a new execution: it finds the tool's record in the runs table."""
    world.runs.tools["c1"] = ToolCheckpoint("c1", "transfer_funds", "{}", {"amount": 5}, False)
    world.llm.script = [[transfer("c1", 100)], "done"]

    assert world.run().status.value == "SUCCEEDED"

    assert world.bank.applies == 0
    assert world.tool_messages(1) == [{"amount": 5}]


def test_a_transfer_whose_record_was_lost_is_found_in_the_ledger_not_repeated(
    world: World,
) -> None:
    world.llm.script = [[transfer("c1", 100)], "done"]
    assert world.run().status.value == "SUCCEEDED"
    del world.runs.tools["c1"]  # the transfer committed, its tool record was lost
    world.runs.header = dataclasses.replace(world.runs.header, status="running", attempt=1)
    world.llm.script = ["done"]

    assert world.run(attempt=1).status.value == "SUCCEEDED"

    assert world.bank.accounts["acc_ops"].balance == 100
    assert world.runs.tools["c1"].replayed is True


def test_a_recorded_llm_step_is_not_requested_again(world: World) -> None:
    world.runs.steps[0] = StepCheckpoint(0, "cmpl-old", "", [{"id": "c9", "name": "get_balance",
                                         "arguments": '{"accountId": "acc_main"}'}],
                                         "gpt-4o-mini", 1, 1, "t")  # fmt: skip
    world.llm.script = ["done"]

    assert world.run().status.value == "SUCCEEDED"

    assert len(world.llm.requests) == 1  # step 1 only
    assert world.runs.header.output == "done"
    assert sorted(step for _, step in world.usage.items) == [0, 1]  # step 0's cost recorded too


def test_at_most_five_tool_calls_of_a_step_run_and_the_rest_reach_the_llm_refused(
    world: World,
) -> None:
    world.llm.script = [[balance_call(f"c{i}") for i in range(7)], "done"]

    assert world.run().status.value == "SUCCEEDED"

    messages = world.tool_messages(1)
    assert [("refused" in m) for m in messages] == [False] * 5 + [True] * 2
    assert all(m["reason"] for m in messages[5:])
    assert [s.get("refused") for s in world.view()["steps"]] == [None] * 5 + [True] * 2


def test_transfers_outside_the_guard_rails_are_refused_and_move_nothing(world: World) -> None:
    world.settings = Settings(agent_max_transfer_per_call=1000, agent_max_transfer_per_run=1500)
    world.llm.script = [
        [transfer("a", 10, to="acc_other")],  # another tenant's account
        [transfer("b", 1001)],  # over the limit per call
        [transfer("c", 1000)],  # runs
        [transfer("d", 600)],  # 1600 > 1500 per run
        [transfer("e", 500)],  # runs: 1500
        "done",
    ]

    assert world.run({"input": "x", "tools": ["transfer_funds"], "maxSteps": 6}).status.value == (
        "SUCCEEDED"
    )

    assert world.bank.accounts["acc_other"].balance == 0
    assert world.bank.accounts["acc_ops"].balance == 1500
    refused = [s["toolCallId"] for s in world.view()["steps"] if s.get("refused")]
    assert refused == ["a", "b", "d"]


def test_a_run_executes_at_most_its_tool_calls_per_run(world: World) -> None:
    world.settings = Settings(agent_max_tool_calls_per_run=3)
    world.llm.script = [
        [transfer("a", 1), transfer("b", 1)],
        [transfer("c", 1), transfer("d", 1)],  # d: the 4th call of the run
        [transfer("e", 1)],
        "done",
    ]

    assert world.run({"input": "x", "tools": ["transfer_funds"], "maxSteps": 6}).status.value == (
        "SUCCEEDED"
    )

    assert world.bank.accounts["acc_ops"].balance == 3
    refused = [s["toolCallId"] for s in world.view()["steps"] if s.get("refused")]
    assert refused == ["d", "e"]


def test_any_destination_when_the_deployment_allows_it(world: World) -> None:
    world.settings = Settings(agent_transfer_destinations="any")
    world.llm.script = [[transfer("a", 10, to="acc_other")], "done"]

    assert world.run().status.value == "SUCCEEDED"

    assert world.bank.accounts["acc_other"].balance == 10


def test_every_llm_step_carries_max_tokens(world: World) -> None:
    world.settings = Settings(agent_max_tokens=77)
    world.llm.script = [[balance_call("c1")], "done"]

    world.run()

    assert [r["max_tokens"] for r in world.llm.requests] == [77, 77]


def test_an_llm_step_failing_all_its_attempts_ends_the_run_failed(world: World) -> None:
    world.llm.script = [LlmError("down")] * 3

    result = world.run()

    assert result.status.value == "SUCCEEDED"  # the execution ended; the run records its failure
    assert len(world.llm.requests) == 3  # AGENT_STEP_ATTEMPTS
    assert world.runs.header.status == "failed"
    assert world.runs.header.error_code == "llm_error"
    assert world.view()["error"]["code"] == "llm_error"


def test_max_steps_without_an_answer_fails_the_run(world: World) -> None:
    world.llm.script = [[balance_call("c1")], [balance_call("c2")]]

    world.run({"input": "x", "tools": ["get_balance"], "maxSteps": 2})

    assert world.runs.header.status == "failed"
    assert world.runs.header.error_code == "max_steps_exceeded"


def test_a_run_past_its_timeout_reads_as_failed_and_resumable(world: World) -> None:
    """Lambda ends an execution at AGENT_RUN_TIMEOUT without the run recording it: the first
    read after the deadline records the failure, so no run stays `running` for ever."""
    world.runs.header = dataclasses.replace(world.runs.header, updated_at="2020-01-01T00:00:00Z")

    out = get_run(world.runs, tenant_id=TENANT, run_id=RUN, settings=world.settings)

    assert out["status"] == "failed"
    assert out["error"]["code"] == "run_timeout"
    assert world.runs.header.status == "failed"
    fresh = dataclasses.replace(world.runs.header, status="running", updated_at=now_iso())
    world.runs.header = fresh
    assert (
        get_run(world.runs, tenant_id=TENANT, run_id=RUN, settings=world.settings)["status"]
        == "running"
    )
