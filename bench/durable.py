"""What a durable step costs: agent runs on AWS's local runner (`dex-local-runner`), in-process
against the emulator and the fake LLM (local/inprocess.py).

For each scenario, `runs` runs one after the other; per run:

- checkpoint calls (`CheckpointDurableExecution`) and the operation updates they carry, state
  reads (`GetDurableExecutionState`) and handler invocations — seen by the stack's Lambda API
  (`LambdaService.observer`), which forwards them to the runner;
- the latency of each checkpoint call (the Lambda API's round trip to the runner) and the run's
  own time per durable step (the runs table's `updatedAt - createdAt`: from its header to its end,
  no polling in it);
- the run's DynamoDB calls (the durable function's: calls made outside the measuring thread, as in
  bench/calls.py), by operation.

Counts are deterministic (the integration test `test_durable_step_costs` asserts them); latencies
belong here only.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from local.inprocess import InProcess
from retryproof import aws
from retryproof.dal.accounts import DynamoAccountRepository
from retryproof.models.transfers import AccountItem
from tests.support.events import http_event


@dataclass(frozen=True)
class Scenario:
    name: str
    body: dict[str, Any]
    steps: tuple[str, ...]  # the durable steps one run goes through


def scenarios(src: str, dst: str) -> list[Scenario]:
    call = {"fromAccountId": src, "toAccountId": dst, "amount": 1, "currency": "USD"}
    return [
        Scenario("answer, no tool", {"input": "Say hi.", "tools": []}, ("llm-0", "finish")),
        Scenario(
            "one transfer",
            {"input": f"Pay.\nCALL transfer_funds {json.dumps(call)}", "tools": ["transfer_funds"]},
            ("llm-0", "check", "tool", "llm-1", "finish"),
        ),
    ]


@dataclass
class RunCost:
    checkpoints: int = 0
    updates: int = 0  # operation updates carried by the checkpoints (START, SUCCEED, …)
    state_reads: int = 0
    invocations: int = 0
    dynamodb: Counter[str] = field(default_factory=Counter)
    checkpoint_ms: list[float] = field(default_factory=list)
    run_ms: float = 0.0


class Meter:
    """Counts the durable function's Lambda API and DynamoDB calls while one run goes on."""

    def __init__(self, ip: InProcess) -> None:
        assert ip.durable is not None
        self.cost = RunCost()
        self.ended = threading.Event()  # a handler invocation returned since the last reset
        self._lock = threading.Lock()
        self._thread = threading.get_ident()
        ip.durable.service.observer = self._lambda
        aws.dynamodb().meta.events.register("before-call.dynamodb", self._dynamodb)

    def reset(self) -> RunCost:
        with self._lock:
            done, self.cost = self.cost, RunCost()
            self._thread = threading.get_ident()
            self.ended.clear()
        return done

    def _lambda(self, operation: str, seconds: float, body: bytes) -> None:
        with self._lock:
            if operation == "checkpoint":
                self.cost.checkpoints += 1
                self.cost.updates += len(json.loads(body or b"{}").get("Updates") or [])
                self.cost.checkpoint_ms.append(seconds * 1000)
            elif operation == "state":
                self.cost.state_reads += 1
            elif operation == "invoke":
                self.cost.invocations += 1
                self.ended.set()

    def _dynamodb(self, model: Any, **_: Any) -> None:
        if threading.get_ident() != self._thread:  # not the API's own calls, nor its polls
            with self._lock:
                self.cost.dynamodb[model.name] += 1


def _ms(a: str, b: str) -> float:
    return (datetime.fromisoformat(b) - datetime.fromisoformat(a)).total_seconds() * 1000


def measure_runs(ip: InProcess, runs: int) -> dict[str, list[RunCost]]:
    """Run each scenario `runs` times; the costs of each run."""
    tenant = f"bench-durable-{uuid.uuid4().hex[:6]}"
    accounts = DynamoAccountRepository(aws.dynamodb(), ip.refs.table("AccountsTable"))
    src, dst = f"acc_{tenant}_a", f"acc_{tenant}_b"
    for account_id in (src, dst):
        accounts.put(AccountItem(account_id=account_id, tenant_id=tenant, balance=10**9,
                                 opening_balance=10**9, currency="USD"))  # fmt: skip
    meter = Meter(ip)
    out: dict[str, list[RunCost]] = {}
    for scenario in scenarios(src, dst):
        costs = out.setdefault(scenario.name, [])
        for _ in range(runs):
            meter.reset()
            headers = {"idempotency-key": str(uuid.uuid4()), "prefer": "wait=25"}
            ev = http_event("agent_run_post.json", tenant=tenant, body=scenario.body,
                            headers=headers)  # fmt: skip
            reply = ip.invoke("AgentFunction", ev)
            run = json.loads(reply["body"])
            assert reply["statusCode"] == 200, reply
            assert run["status"] == "completed", reply
            # The run reads completed once its end is written; the invocation that wrote it
            # returns (with the execution's result, its last word to the runner) just after.
            meter.ended.wait(30)
            cost = meter.reset()
            cost.run_ms = _ms(run["createdAt"], run["updatedAt"])
            costs.append(cost)
    assert ip.durable is not None
    ip.durable.service.observer = None
    return out


def _q(values: list[float], pct: int) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * pct / 100))]


def durable_rows(ip: InProcess, runs: int) -> list[dict[str, Any]]:
    rows = []
    steps_of = {s.name: len(s.steps) for s in scenarios("a", "b")}
    for name, costs in measure_runs(ip, runs).items():
        steps = steps_of[name]
        per_run = costs[0]
        # Checkpoint calls are not compared: the SDK batches updates on a background thread, so
        # how many calls carry them is timing (updates per step are not).
        same = all(
            (c.updates, c.invocations, c.dynamodb)
            == (per_run.updates, per_run.invocations, per_run.dynamodb)
            for c in costs
        )
        calls_per_step = sorted(c.checkpoints / steps for c in costs)
        checkpoint_ms = [ms for c in costs for ms in c.checkpoint_ms]
        step_ms = [c.run_ms / steps for c in costs]
        calls = sum(per_run.dynamodb.values())
        rows.append(
            {
                "scenario": name,
                "runs": len(costs),
                "durable steps": steps,
                "checkpoint calls / step p50": f"{_q(calls_per_step, 50):.2f}",
                "checkpoint calls / step max": f"{calls_per_step[-1]:.2f}",
                "updates / step": f"{per_run.updates / steps:.2f}",
                "invocations / run": per_run.invocations,
                "checkpoint p50 ms": f"{_q(checkpoint_ms, 50):.1f}",
                "checkpoint p99 ms": f"{_q(checkpoint_ms, 99):.1f}",
                "run ms / step p50": f"{_q(step_ms, 50):.1f}",
                "run ms / step p99": f"{_q(step_ms, 99):.1f}",
                "DynamoDB calls / step": f"{calls / steps:.2f}",
                "DynamoDB calls / run": ", ".join(
                    f"{op} {n}" for op, n in sorted(per_run.dynamodb.items())
                ),
                "same counts every run": "yes" if same else "NO",
            }
        )
    return rows
