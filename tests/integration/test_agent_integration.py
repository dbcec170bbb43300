"""Agent runs in-process against the moto server, the fake LLM and AWS's local durable runner:
the API function starts a durable execution, the runner invokes the durable function, the run's
record lands in the runs table; tool calls once, one run per key."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.integration.conftest import Stack
from tests.support.events import http_event
from tests.support.handlers import (
    Result,
    balance,
    ledger,
    open_account,
    pay,
    usage_items,
)

pytestmark = pytest.mark.integration

AGENT = "AgentFunction"


def run(
    stack: Stack,
    tenant: str,
    key: str,
    text: str,
    *,
    tools: tuple[str, ...] = ("transfer_funds", "get_balance"),
    wait: int = 20,
) -> Result:
    body: dict[str, Any] = {"input": text, "tools": list(tools)}
    headers = {"idempotency-key": key, "prefer": f"wait={wait}"}
    ev = http_event("agent_run_post.json", tenant=tenant, body=body, headers=headers)
    out = stack.invoke(AGENT, ev)
    return Result(out["statusCode"], out.get("headers") or {}, out["body"])


def get_run(stack: Stack, tenant: str, run_id: str) -> Result:
    ev = http_event("agent_run_get.json", tenant=tenant)
    ev["pathParameters"] = {"runId": run_id}
    ev["rawPath"] = ev["requestContext"]["http"]["path"] = f"/agent/runs/{run_id}"
    out = stack.invoke(AGENT, ev)
    return Result(out["statusCode"], out.get("headers") or {}, out["body"])


def wait_ended(stack: Stack, tenant: str, run_id: str, timeout_s: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        out = get_run(stack, tenant, run_id).json
        if out["status"] in ("completed", "failed") or time.monotonic() > deadline:
            return dict(out)
        time.sleep(0.1)


def run_items(stack: Stack, run_id: str) -> list[str]:
    return sorted(i["item"]["S"] for i in stack.items("RunsTable") if i["runId"]["S"] == run_id)


def agent_costs(stack: Stack, tenant: str, key: str) -> list[int]:
    return sorted(
        int(i["step"]["N"])
        for i in usage_items(stack, tenant)
        if i["idempotencyKey"]["S"] == key and i["operation"]["S"] == "agent_step"
    )


@pytest.fixture
def accounts(stack: Stack, tenant: str) -> tuple[str, str]:
    return open_account(stack, tenant, 10_000), open_account(stack, tenant, 0)


def test_a_run_transfers_once_records_its_steps_and_replays(
    stack: Stack, tenant: str, key: str, accounts: tuple[str, str]
) -> None:
    src, dst = accounts
    before = stack.llm.completions

    first = run(stack, tenant, key, f"Pay ops.\n{pay(src, dst)}")

    assert first.status == 200, first.text
    out = first.json
    assert out["status"] == "completed"
    assert [s["name"] for s in out["steps"]] == ["transfer_funds"]
    assert out["steps"][0]["replayed"] is False
    assert stack.llm.completions == before + 2
    assert balance(stack, tenant, dst) == 300
    assert len(ledger(stack, tenant)) == 1
    assert agent_costs(stack, tenant, key) == [0, 1]
    call_id = out["steps"][0]["toolCallId"]
    assert run_items(stack, out["runId"]) == ["run", "step#0000", "step#0001", f"tool#{call_id}"]
    assert get_run(stack, tenant, out["runId"]).json == out
    assert get_run(stack, "someone-else", out["runId"]).status == 404
    replay = run(stack, tenant, key, f"Pay ops.\n{pay(src, dst)}")
    assert replay.replayed
    assert replay.text == first.text
    assert stack.llm.completions == before + 2


def test_a_run_past_the_wait_answers_202_with_location(stack: Stack, tenant: str, key: str) -> None:
    stack.llm.fault(delay_ms=1500, times=1)

    first = run(stack, tenant, key, "hello", wait=0)

    assert first.status == 202, first.text
    assert first.json["status"] == "running"
    assert first.headers["Location"] == first.json["statusUrl"]
    assert first.headers["Retry-After"] == "2"
    assert wait_ended(stack, tenant, first.json["runId"])["status"] == "completed"
    replay = run(stack, tenant, key, "hello", wait=0)
    assert (replay.status, replay.text) == (202, first.text)
    assert replay.headers["Location"] == first.json["statusUrl"]


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
        return run(stack, tenant, key, text, wait=5)

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(one, range(16)))

    assert {r.status for r in results} <= {200, 202, 409}
    run_ids = {r.json["runId"] for r in results if r.status in (200, 202)}
    assert len(run_ids) == 1
    assert wait_ended(stack, tenant, run_ids.pop())["status"] == "completed"
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

    # The idempotency record expired: the run's own record answers, and no second run starts.
    assert late.status == 200
    assert late.json == first.json
    assert stack.llm.completions == before
    assert balance(stack, tenant, dst) == 300
