"""POST /agent/runs against the moto server and the fake LLM: tool calls once, runs resume."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from retryproof.faults import ENV as CRASH_ENV
from retryproof.faults import SimulatedCrash
from tests.integration.conftest import Stack
from tests.integration.test_generate_integration import Result, usage_items
from tests.integration.test_transfer_integration import balance, ledger, open_account
from tests.support.events import http_event

pytestmark = pytest.mark.integration

AGENT = "AgentFunction"


def call_line(tool: str, args: dict[str, Any]) -> str:
    return f"CALL {tool} {json.dumps(args)}"


def pay(src: str, dst: str, amount: int = 300) -> str:
    args = {"fromAccountId": src, "toAccountId": dst, "amount": amount, "currency": "USD"}
    return call_line("transfer_funds", args)


def run(
    stack: Stack,
    tenant: str,
    key: str,
    text: str,
    *,
    tools: tuple[str, ...] = ("transfer_funds", "get_balance"),
    max_steps: int | None = None,
    timeout_s: int | None = None,
) -> Result:
    body: dict[str, Any] = {"input": text, "tools": list(tools)}
    if max_steps is not None:
        body["maxSteps"] = max_steps
    ev = http_event(
        "agent_run_post.json", tenant=tenant, body=body, headers={"idempotency-key": key}
    )
    out = stack.invoke(AGENT, ev, timeout_s=timeout_s)
    return Result(out["statusCode"], out.get("headers") or {}, out["body"])


def agent_costs(stack: Stack, tenant: str, key: str) -> list[int]:
    return sorted(
        int(i["step"]["N"])
        for i in usage_items(stack, tenant)
        if i["idempotencyKey"]["S"] == key and i["operation"]["S"] == "agent_step"
    )


@pytest.fixture
def accounts(stack: Stack, tenant: str) -> tuple[str, str]:
    return open_account(stack, tenant, 10_000), open_account(stack, tenant, 0)


def test_a_run_transfers_once_answers_and_replays(
    stack: Stack, tenant: str, key: str, accounts: tuple[str, str]
) -> None:
    src, dst = accounts
    before = stack.llm.completions

    first = run(stack, tenant, key, f"Pay ops.\n{pay(src, dst)}")

    assert first.status == 200
    out = first.json
    assert out["status"] == "completed"
    assert out["output"]
    assert [s["name"] for s in out["steps"]] == ["transfer_funds"]
    step = out["steps"][0]
    assert step["toolCallId"].startswith("call_")
    assert step["arguments"]["amount"] == 300
    assert step["result"]["status"] == "completed"
    assert step["replayed"] is False
    assert stack.llm.completions == before + 2  # the tool call, then the answer
    assert (balance(stack, tenant, src), balance(stack, tenant, dst)) == (9_700, 300)
    assert len(ledger(stack, tenant)) == 1
    assert agent_costs(stack, tenant, key) == [0, 1]
    assert out["usage"]["totalTokens"] > 0

    again = run(stack, tenant, key, f"Pay ops.\n{pay(src, dst)}")

    assert again.status == 200
    assert again.replayed
    assert again.text == first.text
    assert stack.llm.completions == before + 2
    assert (balance(stack, tenant, src), balance(stack, tenant, dst)) == (9_700, 300)


def test_llm_failure_on_step_two_then_the_retry_resumes(
    stack: Stack, tenant: str, key: str, accounts: tuple[str, str]
) -> None:
    src, dst = accounts
    text = f"Pay, then check.\n{pay(src, dst)}\n{call_line('get_balance', {'accountId': dst})}"
    stack.llm.fault(delay_ms=1, times=1)  # step 1 answers (after 1 ms) ...
    stack.llm.fault(status=500, times=2)  # ... step 2 fails, and so does the client's retry
    before = stack.llm.completions

    failed = run(stack, tenant, key, text)

    assert failed.status == 502
    assert failed.json["code"] == "llm_error"
    assert stack.llm.completions == before + 1
    assert len(ledger(stack, tenant)) == 1

    resumed = run(stack, tenant, key, text)

    assert resumed.status == 200
    assert not resumed.replayed
    out = resumed.json
    assert [s["name"] for s in out["steps"]] == ["transfer_funds", "get_balance"]
    assert out["steps"][0]["replayed"] is True  # from the checkpoint, not executed again
    assert out["steps"][1]["replayed"] is False
    assert out["steps"][1]["result"]["balance"] == 300
    # Steps 1..3 were each requested once: 1 before the failure, 2 after.
    assert stack.llm.completions == before + 3
    assert (balance(stack, tenant, src), balance(stack, tenant, dst)) == (9_700, 300)
    assert len(ledger(stack, tenant)) == 1
    assert agent_costs(stack, tenant, key) == [0, 1, 2]


def test_dying_after_a_tool_ran_but_before_its_checkpoint_does_not_transfer_again(
    stack: Stack, settings_env: pytest.MonkeyPatch, tenant: str, key: str, accounts: tuple[str, str]
) -> None:
    src, dst = accounts
    text = f"Pay ops.\n{pay(src, dst, 1_000)}"
    settings_env.setenv(CRASH_ENV, "agent.after_tool")
    with pytest.raises(SimulatedCrash):
        run(stack, tenant, key, text, timeout_s=6)  # enough for a step; a 6 s lease
    settings_env.delenv(CRASH_ENV)
    assert (balance(stack, tenant, src), balance(stack, tenant, dst)) == (9_000, 1_000)
    time.sleep(6.2)  # the dead invocation's lease
    before = stack.llm.completions

    resumed = run(stack, tenant, key, text)

    assert resumed.status == 200
    step = resumed.json["steps"][0]
    assert step["replayed"] is True  # the ledger had it: no second transfer
    assert (balance(stack, tenant, src), balance(stack, tenant, dst)) == (9_000, 1_000)
    assert len(ledger(stack, tenant)) == 1
    assert stack.llm.completions == before + 1  # only the final answer was new
    assert agent_costs(stack, tenant, key) == [0, 1]


def test_invalid_tool_arguments_become_a_tool_error(
    stack: Stack, tenant: str, key: str, accounts: tuple[str, str]
) -> None:
    src, _ = accounts
    text = call_line("transfer_funds", {"fromAccountId": src, "amount": "lots"})
    out = run(stack, tenant, key, text)
    assert out.status == 200
    step = out.json["steps"][0]
    assert step["result"]["error"] == "invalid_arguments"
    fields = {d["field"] for d in step["result"]["details"]}
    assert {"toAccountId", "amount", "currency"} <= fields
    assert ledger(stack, tenant) == []
    assert out.json["status"] == "completed"


def test_business_rejections_and_foreign_accounts_are_tool_errors(
    stack: Stack, tenant: str, key: str, accounts: tuple[str, str]
) -> None:
    src, dst = accounts
    foreign = open_account(stack, f"other-{tenant}", 500)
    text = "\n".join(
        [pay(dst, src, 5), call_line("get_balance", {"accountId": foreign}), pay(foreign, dst, 5)]
    )
    out = run(stack, tenant, key, text).json
    assert [s["result"].get("error") for s in out["steps"]] == [
        "insufficient_funds",
        "account_not_found",
        "account_not_found",
    ]
    assert balance(stack, f"other-{tenant}", foreign) == 500
    assert ledger(stack, tenant) == []


def test_max_steps_reached(stack: Stack, tenant: str, key: str, accounts: tuple[str, str]) -> None:
    src, dst = accounts
    text = "\n".join([pay(src, dst, 1), pay(src, dst, 2), pay(src, dst, 3)])
    before = stack.llm.completions

    out = run(stack, tenant, key, text, max_steps=2)

    assert out.status == 200
    assert out.json["status"] == "max_steps_reached"
    assert out.json["output"] is None
    assert [s["arguments"]["amount"] for s in out.json["steps"]] == [1, 2]
    assert stack.llm.completions == before + 2
    assert balance(stack, tenant, dst) == 3


def test_a_run_out_of_time_fails_cleanly_and_resumes(
    stack: Stack, tenant: str, key: str, accounts: tuple[str, str]
) -> None:
    src, dst = accounts
    text = f"Pay ops.\n{pay(src, dst)}"
    stack.llm.fault(delay_ms=2500, times=1)
    before = stack.llm.completions

    late = run(stack, tenant, key, text, timeout_s=7)  # step 1 takes 2.5 s; too little is left

    assert late.status == 504
    assert late.json["code"] == "agent_timeout"
    assert stack.llm.completions == before + 1
    resumed = run(stack, tenant, key, text)
    assert resumed.status == 200
    assert resumed.json["steps"][0]["replayed"] is True
    assert stack.llm.completions == before + 2
    assert balance(stack, tenant, dst) == 300


def test_sixteen_concurrent_retries_make_one_execution(
    stack: Stack, tenant: str, key: str, accounts: tuple[str, str]
) -> None:
    src, dst = accounts
    text = f"Pay ops.\n{pay(src, dst)}"
    stack.llm.fault(delay_ms=600, times=1)
    before = stack.llm.completions
    barrier = threading.Barrier(16)

    def one(_: int) -> Result:
        barrier.wait()
        return run(stack, tenant, key, text)

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(one, range(16)))

    assert {r.status for r in results} <= {200, 409}
    assert len({r.json["runId"] for r in results if r.status == 200}) == 1
    assert stack.llm.completions == before + 2
    assert len(ledger(stack, tenant)) == 1
    assert balance(stack, tenant, dst) == 300


def test_same_key_other_input_is_rejected(stack: Stack, tenant: str, key: str) -> None:
    assert run(stack, tenant, key, "hello").status == 200
    other = run(stack, tenant, key, "something else")
    assert (other.status, other.json["code"]) == (422, "idempotency_key_reused")


@pytest.mark.parametrize(
    "body",
    [
        {"input": "", "tools": []},
        {"input": "x", "tools": ["rm_rf"]},
        {"input": "x", "maxSteps": 11},
        {"input": "x", "maxSteps": 0},
        {"tools": []},
    ],
)
def test_invalid_run_requests_are_422(stack: Stack, tenant: str, key: str, body: Any) -> None:
    ev = http_event(
        "agent_run_post.json", tenant=tenant, body=body, headers={"idempotency-key": key}
    )
    out = stack.invoke(AGENT, ev)
    assert out["statusCode"] == 422
    assert json.loads(out["body"])["code"] == "validation_error"


def test_after_the_idempotency_window_the_finished_run_answers_unchanged(
    stack: Stack, settings_env: pytest.MonkeyPatch, tenant: str, key: str, accounts: tuple[str, str]
) -> None:
    settings_env.setenv("IDEMPOTENCY_TTL_AGENT", "1")
    src, dst = accounts
    first = run(stack, tenant, key, f"Pay ops.\n{pay(src, dst)}")
    time.sleep(2.1)
    before = stack.llm.completions

    late = run(stack, tenant, key, f"Pay ops.\n{pay(src, dst)}")

    assert late.status == 200
    assert late.replayed
    assert late.text == first.text
    assert stack.llm.completions == before
    assert balance(stack, tenant, dst) == 300
