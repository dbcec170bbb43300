"""bench/durable.py's counts, which are deterministic: what one durable step costs in operation
updates checkpointed, handler invocations and DynamoDB calls (latencies are `make bench`'s)."""

from __future__ import annotations

from collections import Counter

import pytest

from bench.durable import measure_runs, scenarios
from tests.integration.conftest import Stack

pytestmark = pytest.mark.integration


def test_durable_step_costs(stack: Stack) -> None:
    costs = measure_runs(stack, runs=2)
    steps = {s.name: len(s.steps) for s in scenarios("a", "b")}
    # Per run: the LLM step (read its record, record it, its cost record), the run's end; a
    # transfer adds the check (its tool record, the tenant's policy, the target account), the
    # tool (its record again, the transfer transaction, its record) and a second LLM step.
    dynamodb = {
        "answer, no tool": Counter(GetItem=1, PutItem=2, UpdateItem=1),
        "one transfer": Counter(GetItem=6, PutItem=5, TransactWriteItems=1, UpdateItem=1),
    }
    for name, runs in costs.items():
        for run in runs:
            assert run.updates == 2 * steps[name], name  # each step: START, then SUCCEED
            assert 1 <= run.checkpoints <= run.updates, name  # the SDK batches, never splits
            assert (run.invocations, run.state_reads) == (1, 0), name  # no replay, no paging
            assert run.dynamodb == dynamodb[name], name
