"""The durable agent runs' chaos (crashes at step boundaries, exhausted LLM attempts then
resume, duplicate starts, concurrent approvals), smaller, in `make test`."""

from __future__ import annotations

import os

import pytest

from tests.chaos.durable_storm import DurableConfig, durable_report, run_durable_storm

pytestmark = [
    pytest.mark.chaos,
    # Not in `make test` (CI time): `make chaos` runs it; CHAOS_DURABLE=1 runs it here. The runs
    # once left `running` under load had two causes, both fixed (docs/chaos.md); a short storm,
    # CHAOS_DURABLE=1 CHAOS_DURABLE_RUNS=4, takes ~45 s on a loaded 2-core machine.
    pytest.mark.skipif(not os.environ.get("CHAOS_DURABLE"), reason="CHAOS_DURABLE=1 runs it"),
]


def test_durable_run_invariants_hold_after_a_fault_storm() -> None:
    config = DurableConfig(seed=int(os.environ.get("CHAOS_SEED", "7")),
                           runs=int(os.environ.get("CHAOS_DURABLE_RUNS", "10")))  # fmt: skip
    storm, checks, elapsed = run_durable_storm(config)
    table = durable_report(storm, checks, elapsed)
    print(table)
    crashes = sum(n for k, n in storm.counts.items() if k.startswith("crash "))
    assert crashes > 0, table  # the storm did crash the durable function
    failed = [c for c in checks if not c.holds]
    assert not failed, table
