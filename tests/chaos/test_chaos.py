"""The chaos run's smaller seed, in `make test`: every invariant holds after the storm."""

from __future__ import annotations

import os

import pytest

from tests.chaos.selftest import MUTANTS, Mutant, run_mutant
from tests.chaos.storm import ChaosConfig, report, run_storm

pytestmark = pytest.mark.chaos


def test_invariants_hold_after_a_fault_storm() -> None:
    config = ChaosConfig(
        seed=int(os.environ.get("CHAOS_SEED", "7")), ops=int(os.environ.get("CHAOS_OPS", "250"))
    )
    storm, checks, elapsed = run_storm(config)
    table = report(storm, checks, elapsed)
    print(table)
    assert sum(storm.faults.counts.values()) > 50, table  # the storm did inject faults
    kinds = {r.kind for r in storm.records}
    assert kinds == {"generate", "transfer", "agent", "webhook"}, table
    failed = [c for c in checks if not c.holds]
    assert not failed, table


@pytest.mark.parametrize("mutant", MUTANTS, ids=lambda m: m.guard)
def test_each_guard_switched_off_makes_an_invariant_fail(mutant: Mutant) -> None:
    # The storm can fail: without this guard, the bug it prevents shows in an invariant.
    checks, table = run_mutant(mutant, seed=7, ops=int(os.environ.get("CHAOS_SELFTEST_OPS", "80")))
    assert [c for c in checks if not c.holds], table
