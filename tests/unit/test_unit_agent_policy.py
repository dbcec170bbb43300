"""A tenant's agent policy over the deployment's guard rails: caps per call and per run, allowed
destinations, and an approval threshold that makes a transfer wait for a person although the
client did not name the tool in approveTools. The loop runs on AWS's in-process test runner with
the in-memory fakes of test_unit_agent_run."""

from __future__ import annotations

import pytest

from retryproof import guards
from retryproof.config import Settings
from retryproof.dal.agent_policy import TenantPolicy
from retryproof.dal.runs import PENDING
from tests.unit.test_unit_agent_run import (
    TENANT,
    MemoryBank,
    MemoryRuns,
    MemoryUsage,
    ScriptedLlm,
    World,
    balance_call,
    transfer,
)

pytestmark = pytest.mark.unit


class MemoryPolicies:
    def __init__(self) -> None:
        self.policies: dict[str, TenantPolicy] = {}
        self.reads = 0

    def get(self, tenant_id: str) -> TenantPolicy | None:
        self.reads += 1
        return self.policies.get(tenant_id)


@pytest.fixture
def world() -> World:
    w = World(MemoryRuns(), MemoryUsage(), MemoryBank(), ScriptedLlm([]),
              Settings(agent_step_attempts=3, agent_approval_timeout=1))  # fmt: skip
    w.policies = MemoryPolicies()
    return w


def set_policy(world: World, **fields: object) -> MemoryPolicies:
    policies: MemoryPolicies = world.policies
    policies.policies[TENANT] = TenantPolicy(tenant_id=TENANT, **fields)  # type: ignore[arg-type]
    return policies


def test_limits_take_the_tenants_policy_over_the_deployments_settings() -> None:
    settings = Settings(agent_max_transfer_per_call=100, agent_max_transfer_per_run=200)
    assert guards.Limits.of(settings) == guards.Limits(100, 200, "own")
    policy = TenantPolicy(TENANT, max_transfer_per_call=7, destinations="listed",
                          allowed_account_ids=("acc_x",), approval_above=5)  # fmt: skip
    assert guards.Limits.of(settings, policy) == guards.Limits(
        7, 200, "listed", frozenset({"acc_x"}), 5
    )
    assert guards.Limits.of(settings, TenantPolicy(TENANT, max_transfer_per_run=0)).per_run == 0


@pytest.mark.parametrize(
    "fields",
    [{"max_transfer_per_call": -1}, {"approval_above": -5}, {"destinations": "everywhere"},
     {"allowed_account_ids": ("",)}, {"allowed_account_ids": tuple(f"a{i}" for i in range(101))}],
)  # fmt: skip
def test_a_policy_out_of_range_is_refused(fields: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=r"must be|at most"):
        TenantPolicy(TENANT, **fields)  # type: ignore[arg-type]


def test_the_tenants_caps_replace_the_deployments(world: World) -> None:
    set_policy(world, max_transfer_per_call=300, max_transfer_per_run=500)
    world.llm.script = [
        [transfer("a", 301)],  # over the tenant's cap per call (the deployment's is 100000)
        [transfer("b", 300)],  # runs
        [transfer("c", 201)],  # 501 > the tenant's 500 per run
        [transfer("d", 200)],  # runs: 500
        "done",
    ]

    assert world.run({"input": "x", "tools": ["transfer_funds"], "maxSteps": 5}).status.value == (
        "SUCCEEDED"
    )

    assert world.bank.accounts["acc_ops"].balance == 500
    refused = [s["toolCallId"] for s in world.view()["steps"] if s.get("refused")]
    assert refused == ["a", "c"]


def test_listed_accounts_of_another_tenant_are_allowed_and_nothing_else(world: World) -> None:
    world.bank.accounts["acc_third"] = world.bank.accounts["acc_other"].__class__(
        account_id="acc_third", tenant_id="initech", balance=0, opening_balance=0, currency="USD"
    )
    set_policy(world, allowed_account_ids=("acc_other",))
    world.llm.script = [
        [transfer("a", 10, to="acc_other"), transfer("b", 20, to="acc_third"),
         transfer("c", 30)],
        "done",
    ]  # fmt: skip

    assert world.run().status.value == "SUCCEEDED"

    assert world.bank.accounts["acc_other"].balance == 10  # listed
    assert world.bank.accounts["acc_third"].balance == 0  # another tenant's, not listed
    assert world.bank.accounts["acc_ops"].balance == 30  # own
    assert [s["toolCallId"] for s in world.view()["steps"] if s.get("refused")] == ["b"]


def test_listed_only_refuses_even_the_tenants_own_accounts(world: World) -> None:
    set_policy(world, destinations="listed", allowed_account_ids=("acc_other",))
    world.llm.script = [[transfer("a", 10, to="acc_other"), transfer("b", 30)], "done"]

    assert world.run().status.value == "SUCCEEDED"

    assert (world.bank.accounts["acc_other"].balance, world.bank.accounts["acc_ops"].balance) == (
        10,
        0,
    )
    (refused,) = [s for s in world.view()["steps"] if s.get("refused")]
    assert refused["toolCallId"] == "b"
    assert "lists" in refused["result"]["reason"]


def test_a_transfer_above_the_threshold_waits_for_a_person_without_approve_tools(
    world: World,
) -> None:
    """The client did not ask for approval; the tenant's threshold does. Nobody decides within
    the (1 s) approval timeout: a rejection, no money moved. The one below it runs at once."""
    set_policy(world, approval_above=500)
    world.llm.script = [[transfer("small", 500), transfer("big", 501)], "done"]

    request = {"input": "x", "tools": ["transfer_funds"], "maxSteps": 3}  # no approveTools
    assert world.run(request).status.value == "SUCCEEDED"

    assert world.bank.accounts["acc_ops"].balance == 500
    (approval,) = world.runs.approvals.values()
    assert approval.tool_call_id == "big"
    assert (approval.status, approval.decided_by) == ("reject", "timeout")
    assert world.runs.tools["small"].approval_id is None
    assert world.tool_messages(1)[1]["error"] == "rejected"
    assert approval.status != PENDING


def test_the_policy_is_read_only_for_calls_that_move_money(world: World) -> None:
    policies = set_policy(world, approval_above=10**9)
    world.llm.script = [[balance_call("a"), balance_call("b")], [transfer("c", 5)], "done"]

    assert world.run().status.value == "SUCCEEDED"

    assert policies.reads == 1
