"""Per-tenant limits (docs/limits.md) with the handlers in-process, the moto server and the fake
LLM over HTTP: the request rate over the counters table, the daily spend over the stream-kept
totals."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest

from local.lambda_runtime import LocalFunction
from retryproof.dal.idempotency_records import record_id
from retryproof.limits import utc_day
from tests.integration.conftest import Stack
from tests.integration.test_agent_integration import run
from tests.integration.test_generate_integration import (
    Result,
    generate,
    idempotency_items,
    usage,
    usage_items,
)

pytestmark = pytest.mark.integration

WINDOW_S = 3600  # one window for the whole test, but for a boundary it may straddle (bounded)


def new_tenant(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:10]}"


def assert_refused(reply: Result, code: str, longest_s: int) -> None:
    assert reply.status == 429, reply.text
    assert reply.header("Content-Type") == "application/problem+json"
    assert reply.json["code"] == code
    assert reply.json["status"] == 429
    retry_after = reply.header("Retry-After")
    assert retry_after is not None
    assert 1 <= int(retry_after) <= longest_s


def claimed(stack: Stack, tenant: str, key: str) -> bool:
    wanted = record_id("generate", tenant, key)
    return any(i["id"]["S"] == wanted for i in idempotency_items(stack))


def test_a_flooding_tenant_is_refused_while_another_tenant_is_answered(
    stack: Stack, settings_env: pytest.MonkeyPatch
) -> None:
    settings_env.setenv("TENANT_RATE_LIMIT", "3")
    settings_env.setenv("TENANT_RATE_WINDOW_SECONDS", str(WINDOW_S))
    settings_env.setenv("TENANT_RATE_SHARDS", "1")
    flooder, quiet = new_tenant("flood"), new_tenant("quiet")
    before = stack.llm.completions

    keys = [str(uuid.uuid4()) for _ in range(10)]
    flood = [generate(stack, flooder, k) for k in keys]
    answered = [generate(stack, quiet, str(uuid.uuid4())) for _ in range(3)]

    ok = [k for k, r in zip(keys, flood, strict=True) if r.status == 200]
    assert 3 <= len(ok) <= 6  # 3 per window; 6 only if the flood straddled a window's end
    for key, reply in zip(keys, flood, strict=True):
        if reply.status != 200:
            assert_refused(reply, "rate_limited", WINDOW_S)
            assert not claimed(stack, flooder, key)  # refused before the idempotency store
    assert [r.status for r in answered] == [200, 200, 200]
    # Only admitted requests reached the LLM and the usage table.
    assert stack.llm.completions == before + len(ok) + 3
    assert sorted(i["idempotencyKey"]["S"] for i in usage_items(stack, flooder)) == sorted(ok)
    # Every authorized route counts: the flooder's reads are refused too.
    reads = [usage(stack, flooder) for _ in range(4)]
    assert any(r.status == 429 for r in reads)
    # The counters: one item per (tenant, window, shard), every request counted, TTL set.
    counters = [i for i in stack.items("RateLimitTable") if i["id"]["S"].startswith(flooder)]
    assert sum(int(i["requests"]["N"]) for i in counters) == 14
    assert all(int(i["expiresAt"]["N"]) > 0 for i in counters)


def test_the_limit_shares_a_tenants_window_over_several_counter_items(
    stack: Stack, settings_env: pytest.MonkeyPatch
) -> None:
    settings_env.setenv("TENANT_RATE_LIMIT", "8")
    settings_env.setenv("TENANT_RATE_WINDOW_SECONDS", str(WINDOW_S))
    settings_env.setenv("TENANT_RATE_SHARDS", "4")
    tenant = new_tenant("sharded")

    replies = [usage(stack, tenant) for _ in range(60)]

    ok = sum(r.status == 200 for r in replies)
    assert 1 <= ok <= 16  # 4 * ceil(8 / 4) per window, at most two windows
    counters = [i for i in stack.items("RateLimitTable") if i["id"]["S"].startswith(tenant)]
    assert len(counters) >= 2  # not one hot item per tenant
    assert sum(int(i["requests"]["N"]) for i in counters) == 60


def test_no_new_completion_once_the_daily_spend_limit_is_reached(
    stack: Stack, settings_env: pytest.MonkeyPatch, tenant: str
) -> None:
    settings_env.setenv("TENANT_DAILY_SPEND_LIMIT_MICRO_USD", "1")
    done = str(uuid.uuid4())
    first = generate(stack, tenant, done)
    assert first.status == 200
    stack.drain_streams()  # the stream consumer counts it into today's total
    today = [
        i
        for i in stack.items("UsageTable")
        if i["tenantId"]["S"] == f"TOTAL#{tenant}" and i["recordKey"]["S"] == f"day#{utc_day()}"
    ]
    paid = int(Decimal(first.json["costUsd"]) * 1_000_000)
    assert paid >= 1
    assert [int(i["costMicroUsd"]["N"]) for i in today] == [paid]
    before = stack.llm.completions

    fresh = str(uuid.uuid4())
    refused = generate(stack, tenant, fresh)

    assert_refused(refused, "spend_limit_reached", 86_400)
    assert stack.llm.completions == before  # nothing paid
    assert [i["idempotencyKey"]["S"] for i in usage_items(stack, tenant)] == [done]
    assert not claimed(stack, tenant, fresh)  # not stored: the key works once the limit allows
    # A completed key still replays: from the idempotency store, and past its window from the
    # usage record.
    replay = generate(stack, tenant, done)
    assert replay.status == 200
    assert replay.replayed
    assert replay.text == first.text
    stack.dynamodb.delete_item(
        TableName=stack.refs.table("IdempotencyTable"),
        Key={"id": {"S": record_id("generate", tenant, done)}},
    )
    # Another execution environment: no local cache of the idempotency store answers.
    stack.functions["GenerateFunction"] = LocalFunction(stack.functions["GenerateFunction"].spec)
    late = generate(stack, tenant, done)
    assert late.status == 200
    assert late.text == first.text
    assert stack.llm.completions == before
    # Another tenant's spend is its own.
    assert generate(stack, new_tenant("other"), str(uuid.uuid4())).status == 200
    assert stack.llm.completions == before + 1


def test_the_spend_limit_reads_what_the_stream_has_counted(
    stack: Stack, settings_env: pytest.MonkeyPatch, tenant: str
) -> None:
    """The bound of docs/limits.md: a completion paid but not yet counted is not seen."""
    settings_env.setenv("TENANT_DAILY_SPEND_LIMIT_MICRO_USD", "1")
    assert generate(stack, tenant, str(uuid.uuid4())).status == 200
    assert generate(stack, tenant, str(uuid.uuid4())).status == 200  # not counted yet
    stack.drain_streams()
    before = stack.llm.completions
    assert_refused(generate(stack, tenant, str(uuid.uuid4())), "spend_limit_reached", 86_400)
    assert stack.llm.completions == before


def test_no_new_agent_run_once_the_daily_spend_limit_is_reached(
    stack: Stack, settings_env: pytest.MonkeyPatch, tenant: str
) -> None:
    settings_env.setenv("TENANT_DAILY_SPEND_LIMIT_MICRO_USD", "1")
    earlier = str(uuid.uuid4())
    started = run(stack, tenant, earlier, "Say hello.", wait=20)
    assert started.status in (200, 202), started.text
    assert generate(stack, tenant, str(uuid.uuid4())).status == 200
    stack.drain_streams()  # today's total now passes the limit
    before = stack.llm.completions

    fresh = str(uuid.uuid4())
    refused = run(stack, tenant, fresh, "Say hello again.", wait=0)

    assert_refused(refused, "spend_limit_reached", 86_400)
    runs = [i for i in stack.items("RunsTable") if i["item"]["S"] == "run"]
    assert fresh not in {i["idempotencyKey"]["S"] for i in runs}  # no run was started
    assert stack.llm.completions == before  # nothing paid
    # The run of a key started before the limit is still answered (an existing run is not new
    # work): from the idempotency store, and past its window from the runs table.
    stack.dynamodb.delete_item(
        TableName=stack.refs.table("IdempotencyTable"),
        Key={"id": {"S": record_id("agent", tenant, earlier)}},
    )
    stack.functions["AgentFunction"] = LocalFunction(stack.functions["AgentFunction"].spec)
    again = run(stack, tenant, earlier, "Say hello.", wait=0)
    assert again.status in (200, 202), again.text
    assert again.json["runId"] == started.json["runId"]
