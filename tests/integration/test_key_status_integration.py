"""GET /idempotency-keys/{key}: the handler in-process against the moto server, every state.

The states over HTTP (the local stack) are in tests/e2e/test_key_status_e2e.py; here the states
that need a crash, an expired record or a count of DynamoDB calls.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest

from bench.calls import Counter
from retryproof.dal.idempotency_records import record_id
from retryproof.faults import ENV as CRASH_ENV
from retryproof.faults import SimulatedCrash
from tests.integration.conftest import Stack
from tests.support.events import http_event
from tests.support.handlers import Result, body, generate, open_account, pay, transfer

pytestmark = pytest.mark.integration

STATUS = "KeyStatusFunction"
Send = Callable[[Stack, str, str], Result]


def key_status(stack: Stack, tenant: str, key: str, operation: str | None) -> Result:
    ev = http_event("key_status_get.json", tenant=tenant,
                    query={"operation": operation} if operation else {})  # fmt: skip
    ev["pathParameters"] = {"key": key}
    ev["rawPath"] = ev["requestContext"]["http"]["path"] = f"/idempotency-keys/{key}"
    out = stack.invoke(STATUS, ev)
    return Result(out["statusCode"], out.get("headers") or {}, out["body"])


def state(stack: Stack, tenant: str, key: str, operation: str) -> dict[str, Any]:
    reply = key_status(stack, tenant, key, operation)
    assert reply.status == 200, reply.text
    answer: dict[str, Any] = reply.json
    assert (answer["key"], answer["operation"]) == (key, operation)
    return answer


def epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def wait_past(iso: str) -> None:
    """Until the idempotency record has expired (then TTL deletes it, later; it is still there)."""
    time.sleep(max(0.0, epoch(iso) - time.time()) + 1.1)


def send_generate(stack: Stack, tenant: str, key: str, timeout_s: int | None = None) -> Result:
    return generate(stack, tenant, key, {"prompt": "status?"}, timeout_s=timeout_s)


def send_transfer(stack: Stack, tenant: str, key: str, timeout_s: int | None = None) -> Result:
    src, dst = open_account(stack, tenant, 10_000), open_account(stack, tenant, 0)
    return transfer(stack, tenant, key, body(src, dst, 700), timeout_s=timeout_s)


def send_agent_run(stack: Stack, tenant: str, key: str, timeout_s: int | None = None) -> Result:
    src, dst = open_account(stack, tenant, 10_000), open_account(stack, tenant, 0)
    run_body = {"input": f"Pay ops.\n{pay(src, dst)}", "tools": ["transfer_funds", "get_balance"]}
    headers = {"idempotency-key": key, "prefer": "wait=20"}
    ev = http_event("agent_run_post.json", tenant=tenant, body=run_body, headers=headers)
    out = stack.invoke("AgentFunction", ev, timeout_s=timeout_s)
    return Result(out["statusCode"], out.get("headers") or {}, out["body"])


SENDERS: dict[str, Callable[..., Result]] = {
    "generate": send_generate, "transfer": send_transfer, "agent_run": send_agent_run,
}  # fmt: skip
TTL_VARIABLES = {"generate": "IDEMPOTENCY_TTL_GENERATE", "transfer": "IDEMPOTENCY_TTL_TRANSFER",
                 "agent_run": "IDEMPOTENCY_TTL_AGENT"}  # fmt: skip
# Where each operation dies after its side effect landed, before its outcome was stored.
CRASH_POINTS = {"generate": "generate.after_usage_record", "transfer": "transfer.after_commit",
                "agent_run": "agent.after_start"}  # fmt: skip
# The invocation's timeout, hence its claim's lease. An LLM call starts only with 5 s left; the
# module's first generate is a cold start (the SDK imported, the store built), which took 1.5 s of
# a 6 s timeout on a busy 2-core machine (504 llm_timeout): 10 s leaves room for it.
LEASE_S = 10


@pytest.mark.parametrize("operation", list(SENDERS))
def test_unknown_then_completed_for_this_tenant_only(
    stack: Stack, tenant: str, key: str, operation: str
) -> None:
    assert state(stack, tenant, key, operation) == {
        "key": key, "operation": operation, "status": "unknown"
    }  # fmt: skip
    first = SENDERS[operation](stack, tenant, key)
    assert first.status == 200, first.text

    done = state(stack, tenant, key, operation)

    assert done["status"] == "completed"
    assert done["responseStatus"] == 200
    assert done["originalRequestTime"] == first.header("X-Original-Request-Time")
    # The fast record's end: its TTL after the first request (24 h or 1 h by default).
    ttl = {"generate": 86400, "transfer": 3600, "agent_run": 86400}[operation]
    assert epoch(done["originalRequestTime"]) + ttl - 5 <= epoch(done["expiresAt"])
    assert epoch(done["expiresAt"]) <= time.time() + ttl + 1
    assert "leaseExpiresAt" not in done
    # Another tenant with the same key, and this tenant on another route: nothing.
    assert state(stack, f"{tenant}-other", key, operation)["status"] == "unknown"
    other_operation = next(o for o in SENDERS if o != operation)
    assert state(stack, tenant, key, other_operation)["status"] == "unknown"


def test_the_record_read_is_the_one_powertools_wrote(stack: Stack, tenant: str, key: str) -> None:
    """`record_id` restates Powertools' key scheme (prefix + sha256 of [tenant, key]): if a
    Powertools release changed it, this fails before any status would read the wrong record."""
    assert send_transfer(stack, tenant, key).status == 200
    ids = {i["id"]["S"] for i in stack.items("IdempotencyTable")}
    assert record_id("transfer", tenant, key) in ids
    assert record_id("transfer", f"{tenant}-other", key) not in ids


def test_a_business_rejection_is_completed_with_its_status(
    stack: Stack, tenant: str, key: str
) -> None:
    src, dst = open_account(stack, tenant, 100), open_account(stack, tenant, 0)
    rejected = transfer(stack, tenant, key, body(src, dst, 700))
    assert rejected.status == 400  # insufficient_funds: stored under the key

    done = state(stack, tenant, key, "transfer")

    assert (done["status"], done["responseStatus"]) == ("completed", 400)


@pytest.mark.parametrize("operation", list(SENDERS))
def test_past_the_window_the_durable_record_answers(
    stack: Stack, settings_env: pytest.MonkeyPatch, tenant: str, key: str, operation: str
) -> None:
    settings_env.setenv(TTL_VARIABLES[operation], "1")  # a record lives at least a lease
    first = SENDERS[operation](stack, tenant, key, timeout_s=LEASE_S)
    assert first.status == 200, first.text
    wait_past(state(stack, tenant, key, operation)["expiresAt"])  # the fast record expired

    late = state(stack, tenant, key, operation)

    assert late == {
        "key": key, "operation": operation, "status": "completed", "responseStatus": 200,
        "originalRequestTime": first.header("X-Original-Request-Time"),
    }  # fmt: skip
    assert state(stack, f"{tenant}-other", key, operation)["status"] == "unknown"


def test_past_the_window_a_rejected_transfer_is_unknown(
    stack: Stack, settings_env: pytest.MonkeyPatch, tenant: str, key: str
) -> None:
    """A business rejection leaves no ledger entry: once its record expired, a retry runs."""
    settings_env.setenv("IDEMPOTENCY_TTL_TRANSFER", "1")  # a record lives at least a lease
    src, dst = open_account(stack, tenant, 100), open_account(stack, tenant, 0)
    assert transfer(stack, tenant, key, body(src, dst, 700), timeout_s=LEASE_S).status == 400
    wait_past(state(stack, tenant, key, "transfer")["expiresAt"])

    assert state(stack, tenant, key, "transfer")["status"] == "unknown"


@pytest.mark.parametrize("operation", list(SENDERS))
def test_in_progress_while_leased_then_what_the_dead_attempt_left(
    stack: Stack, settings_env: pytest.MonkeyPatch, tenant: str, key: str, operation: str
) -> None:
    settings_env.setenv(CRASH_ENV, CRASH_POINTS[operation])
    started = time.time()
    with pytest.raises(SimulatedCrash):
        SENDERS[operation](stack, tenant, key, timeout_s=LEASE_S)
    settings_env.delenv(CRASH_ENV)

    running = state(stack, tenant, key, operation)

    assert running["status"] == "in_progress"
    assert started + LEASE_S - 1 <= epoch(running["leaseExpiresAt"]) <= time.time() + LEASE_S + 1
    assert set(running) == {"key", "operation", "status", "leaseExpiresAt"}
    assert state(stack, f"{tenant}-other", key, operation)["status"] == "unknown"

    time.sleep(max(0.0, epoch(running["leaseExpiresAt"]) - time.time()) + 0.2)
    after = state(stack, tenant, key, operation)
    if operation == "agent_run":
        # Died after starting the run, before answering: the run (the durable record) answers
        # for the POST, which a retry replays: 202 while it runs, 200 once it ended.
        assert after["status"] == "completed"
        assert after["responseStatus"] in (200, 202)
    else:
        # The completion was recorded / the money moved before the death: completed.
        assert after["status"] == "completed"
        assert after["responseStatus"] == 200
        assert "expiresAt" not in after


@pytest.mark.parametrize(
    ("query", "field"),
    [(None, "query.operation"), ("webhook", "query.operation"), ("agent", "query.operation")],
)
def test_a_missing_or_unknown_operation_is_422(
    stack: Stack, tenant: str, key: str, query: str | None, field: str
) -> None:
    reply = key_status(stack, tenant, key, query)
    assert reply.status == 422
    assert reply.json["code"] == "validation_error"
    assert field in reply.text


def test_one_dynamodb_read_on_the_common_path(stack: Stack, tenant: str, key: str) -> None:
    counter = Counter()
    assert send_transfer(stack, tenant, key).status == 200
    for expected in ("completed", "unknown"):
        probe = key if expected == "completed" else f"{key}-never"
        calls, reply = counter.measure(lambda p=probe: key_status(stack, tenant, p, "transfer"))  # type: ignore[misc]
        assert reply.json["status"] == expected
        # A live record: one GetItem. No record: that read plus the ledger's. (Before them, the
        # tenant's request counter: docs/limits.md.)
        reads = ["GetItem"] if expected == "completed" else ["GetItem"] * 2
        assert counter.calls == ["UpdateItem", *reads]
        assert calls == len(counter.calls)
