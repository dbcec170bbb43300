"""`make chaos-selftest`: a storm that can fail. Each guard switched off in turn, a short storm
aimed at it, and at least one invariant must fail — else the invariants could not see that bug.

The switches are `retryproof.faults.GUARDS` (RETRYPROOF_DISABLED_GUARDS, test-only, like the crash
points): the durable check before paying, the ledger entry's condition, the no-retry rule of the
LLM client, the worker's lease, the agent's lookup of a tool call's recorded outcome.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field

from retryproof.faults import GUARDS, GUARDS_ENV
from tests.chaos.storm import ChaosConfig, Check, report, run_storm


@dataclass(frozen=True)
class Mutant:
    guard: str
    mix: dict[str, float]
    faults: dict[str, float] = field(default_factory=dict)


# Each storm is aimed at its guard: the operations that pass it, the faults that test it.
MUTANTS = (
    Mutant("durable_check", {"generate": 1.0}, {"p_crash": 0.3}),
    Mutant("ledger_condition", {"transfer": 1.0}, {"p_crash": 0.3}),
    Mutant("no_retry_rule", {"generate": 1.0}, {"p_llm": 0.5}),
    # A long lease: on a busy machine an invocation past a short one makes its events "billed
    # maybe" (allowed a second completion), which would hide the twin that the mutant lets in.
    # And no LLM or DynamoDB faults: then a failed record cannot have been paid unrecorded, and
    # is not allowed a second completion either; every batch twice, every LLM answer 300 ms late:
    # the twins overlap in the window the lease guards.
    Mutant(
        "worker_lease",
        {"webhook": 1.0},
        {
            "p_sqs_twice": 1.0,
            "lease_s": 20,
            "llm_delay_ms": 300,
            "p_llm": 0.0,
            "p_throttle": 0.0,
            "p_dynamo_5xx": 0.0,
            "p_lost": 0.0,
        },
    ),
    Mutant("tool_result_lookup", {"agent": 1.0}),
)
assert {m.guard for m in MUTANTS} == set(GUARDS), "a guard without its mutant storm"


@contextlib.contextmanager
def disabled(guard: str) -> Iterator[None]:
    os.environ[GUARDS_ENV] = guard
    try:
        yield
    finally:
        os.environ.pop(GUARDS_ENV, None)


def run_mutant(mutant: Mutant, seed: int, ops: int) -> tuple[list[Check], str]:
    config = ChaosConfig(seed=seed, ops=ops, mix=mutant.mix)
    for name, value in mutant.faults.items():
        setattr(config, name, value)
    with disabled(mutant.guard):
        storm, checks, elapsed = run_storm(config)
    return checks, report(storm, checks, elapsed)


def main() -> int:
    logging.disable(logging.CRITICAL)
    warnings.filterwarnings("ignore")
    seed = int(os.environ.get("CHAOS_SEED", "7"))
    ops = int(os.environ.get("CHAOS_SELFTEST_OPS", "80"))
    survived = []
    for mutant in MUTANTS:
        with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull):
            checks, _ = run_mutant(mutant, seed, ops)
        failed = [c.name for c in checks if not c.holds]
        print(f"{mutant.guard:<18} {'caught' if failed else 'NOT CAUGHT'}: {'; '.join(failed)}")
        if not failed:
            survived.append(mutant.guard)
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main())
