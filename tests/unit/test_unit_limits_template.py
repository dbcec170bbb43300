"""Fair shares in template.yaml: every function's concurrency bounded, the sum within the budget,
the per-tenant limits passed to the functions (docs/limits.md)."""

from __future__ import annotations

from functools import cache
from typing import Any

import pytest

from local.template import Template

pytestmark = pytest.mark.unit

# The default account limit is 1,000 concurrent executions, of which AWS keeps at least 100
# unreserved: reservations may take 900 in all. docs/limits.md states this budget.
ACCOUNT_LIMIT = 1000
UNRESERVED_MINIMUM = 100
BUDGET = ACCOUNT_LIMIT - UNRESERVED_MINIMUM


@cache
def template() -> Template:
    return Template()


def functions() -> dict[str, Any]:
    found: dict[str, Any] = template().of_type("AWS::Serverless::Function")
    return found


def reserved_parameter(logical_id: str) -> str:
    value = functions()[logical_id]["Properties"].get("ReservedConcurrentExecutions")
    assert isinstance(value, dict), f"{logical_id}: no ReservedConcurrentExecutions parameter"
    assert set(value) == {"Ref"}, f"{logical_id}: not a template parameter: {value!r}"
    name = str(value["Ref"])
    assert name in template().parameters, f"{logical_id}: {name} is not a parameter"
    return name


def default(parameter: str) -> int:
    return int(template().parameters[parameter]["Default"])


def test_every_function_has_a_bounded_share_from_a_parameter() -> None:
    assert len(functions()) >= 12
    for logical_id in functions():
        parameter = reserved_parameter(logical_id)
        spec = template().parameters[parameter]
        assert spec["Type"] == "Number", parameter
        assert 1 <= int(spec["MinValue"]) <= default(parameter), parameter
        # No one parameter can be set to take the whole account.
        assert int(spec["MaxValue"]) <= BUDGET, parameter
        assert spec.get("Description"), f"{parameter} is undocumented"


def test_the_defaults_fit_the_default_account_limit() -> None:
    total = sum(default(reserved_parameter(f)) for f in functions())
    assert total <= BUDGET, f"reservations sum to {total}, over the budget of {BUDGET}"


def test_the_authorizer_has_a_reservation_of_its_own() -> None:
    parameter = reserved_parameter("AuthorizerFunction")
    users = [f for f in functions() if reserved_parameter(f) == parameter]
    assert users == ["AuthorizerFunction"]
    assert default(parameter) >= 50


def test_agent_runs_cannot_take_the_account() -> None:
    """The issue's arithmetic: agent invocations of 120 s at the stage's 100 rps would need
    12,000 concurrent executions; their reservations cap them well below the account."""
    for logical_id in ("AgentFunction", "AgentRunFunction", "GenerateFunction"):
        assert default(reserved_parameter(logical_id)) <= BUDGET // 4, logical_id


def test_the_worker_reservation_covers_its_event_source_concurrency() -> None:
    (mapping,) = template().functions()["WorkerFunction"].queue_events
    reserved = default(reserved_parameter("WorkerFunction"))
    assert mapping.maximum_concurrency is not None
    assert reserved >= mapping.maximum_concurrency


def test_the_tenant_limits_reach_every_function() -> None:
    env = template().doc["Globals"]["Function"]["Environment"]["Variables"]
    assert env["TENANT_RATE_LIMIT"] == {"Ref": "TenantRateLimit"}
    assert env["TENANT_RATE_WINDOW_SECONDS"] == {"Ref": "TenantRateWindowSeconds"}
    assert env["TENANT_RATE_SHARDS"] == {"Ref": "TenantRateShards"}
    assert env["TENANT_DAILY_SPEND_LIMIT_MICRO_USD"] == {"Ref": "TenantDailySpendLimitMicroUsd"}
    assert env["RATE_LIMIT_TABLE"] == {"Ref": "RateLimitTable"}
    # The real defaults limit: a deployment is protected unless it says otherwise.
    assert default("TenantRateLimit") > 0
    assert default("TenantDailySpendLimitMicroUsd") > 0
    ttl = template().resources["RateLimitTable"]["Properties"]["TimeToLiveSpecification"]
    assert ttl == {"AttributeName": "expiresAt", "Enabled": True}
