"""Every route at its floor of DynamoDB calls and capacity units (the deterministic part of
`make bench`)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from aws_lambda_powertools.shared import user_agent

from bench.calls import CAPACITY_FLOORS, LARGE, RATE, SMALL, measure_calls
from retryproof import aws
from tests.integration.conftest import Stack
from tests.support.events import http_event

pytestmark = pytest.mark.integration

EXPECTED_STATUS = {
    "first request": 200,
    "replay (cold cache)": 200,
    "replay (warm cache)": 200,
    "payload mismatch": 422,
    "in-flight conflict": 409,
    "valid key": 200,
    "read": 200,
    "past its window": 200,
    "per new cost record": 200,
}


def test_every_route_sits_at_its_floor_of_dynamodb_calls(stack: Stack) -> None:
    rows = measure_calls(stack)
    assert {r.route for r in rows} >= {
        "POST /generate",
        "POST /transfer",
        "POST /agent/runs",
        "authorizer",
        "GET /accounts/{id}",
        "GET /transfers/{id}",
        "GET /usage",
        "GET /idempotency-keys/{key}",
        "usage totals (stream)",
    }
    for row in rows:
        expected = EXPECTED_STATUS[row.situation]
        if row.route == "POST /agent/runs" and expected == 200:
            expected = 202  # Prefer: wait=0: the run goes on as a durable execution
        assert row.status == expected, row
        assert row.calls == row.floor, row
        assert (row.rcu, row.wcu) == CAPACITY_FLOORS[(SMALL, row.route, row.situation)], row


def test_a_large_completion_is_written_once_and_replayed_from_its_usage_record(
    stack: Stack,
) -> None:
    """A 4,000-token completion (16,000 bytes of content) is written to DynamoDB once per key: in
    its usage record, not also in the idempotency record; a cold replay reads it there."""
    rows = {r.situation: r for r in measure_calls(stack, LARGE, only_generate=True)}
    first = rows["first request"]
    assert first.status == 200
    assert 16_000 < first.written_bytes < 18_000, first  # twice that when stored twice
    for situation, row in rows.items():
        key = (LARGE, row.route, situation)
        assert (row.rcu, row.wcu) == CAPACITY_FLOORS[key], row
    # A replay in another execution environment: the failed claim (a small record) + one read
    # (+ the tenant's request counter).
    replay = rows["replay (cold cache)"]
    assert replay.status == 200
    assert replay.calls == replay.floor == 2 + RATE
    assert replay.written_bytes < 1024, replay


def test_warm_invocations_do_not_pile_up_request_hooks(
    stack: Stack, tenant: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Powertools registers a User-Agent hook on the client each time a persistence layer is
    built. Built per invocation, that made every warm request run one more hook than the last
    (found by `make chaos`, whose requests slowed as the run grew); built once per execution
    environment (`IdempotencyStore`), the hook runs once per request."""
    hook_runs: list[str] = []
    requests: list[str] = []
    original = user_agent._create_feature_function

    def counted(feature: str) -> Callable[..., None]:
        hook = original(feature)

        def run(request: Any, **kwargs: Any) -> None:
            hook_runs.append(feature)
            hook(request, **kwargs)

        return run

    monkeypatch.setattr(user_agent, "_create_feature_function", counted)
    # A client of its own, as in Lambda, where one function's execution environment has it (in
    # this process every function shares it, and each function's store registers its hook).
    aws.reset_clients()
    client = aws.dynamodb()
    count = lambda model, **_: requests.append(model.name)  # noqa: E731
    client.meta.events.register("before-call.dynamodb", count)
    try:
        for n in range(6):
            ev = http_event(
                "generate_post.json",
                tenant=tenant,
                body={"prompt": f"p {n}"},
                headers={"idempotency-key": str(uuid.uuid4())},
            )
            assert int(stack.invoke("GenerateFunction", ev)["statusCode"]) == 200
    finally:
        client.meta.events.unregister("before-call.dynamodb", count)
    assert len(requests) >= 6 * 3
    # The idempotency feature's hook runs once per request: registered once, not once per store
    # (but for the first request's rate counter update, made before the store registers it).
    assert hook_runs.count("idempotency") == len(requests) - 1
