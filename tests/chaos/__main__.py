"""`make chaos`: CHAOS_SEED (1) and CHAOS_OPS (2000) pick the run, CHAOS_DURABLE_RUNS (40) the
durable agent runs' storm after it (0: skip it); exit 1 if an invariant fails."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import warnings

from bench.charts import ROOT, save_chaos
from tests.chaos.durable_storm import DurableConfig, durable_report, run_durable_storm
from tests.chaos.storm import ChaosConfig, report, run_storm


def main() -> int:
    logging.disable(logging.CRITICAL)  # crashes are injected on purpose; the table tells
    warnings.filterwarnings("ignore")
    config = ChaosConfig(
        seed=int(os.environ.get("CHAOS_SEED", "1")), ops=int(os.environ.get("CHAOS_OPS", "2000"))
    )
    # The handlers' EMF lines go nowhere; the table tells.
    with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull):
        storm, checks, elapsed = run_storm(config)
    print(report(storm, checks, elapsed))
    for written in save_chaos(
        {
            "seed": config.seed,
            "ops": config.ops,
            "elapsed_s": elapsed,
            "faults": dict(storm.faults.counts)
            | {f"(observed) past its timeout: {f}": n for f, n in storm.overruns.items()},
            "invariants": [{"name": c.name, "figure": c.figure, "holds": c.holds} for c in checks],
        }
    ):
        print(f"written to {written.relative_to(ROOT)}")
    holds = all(c.holds for c in checks)
    runs = int(os.environ.get("CHAOS_DURABLE_RUNS", "40"))
    if runs > 0:
        durable = DurableConfig(seed=config.seed, runs=runs)
        with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull):
            dstorm, dchecks, delapsed = run_durable_storm(durable)
        print()
        print(durable_report(dstorm, dchecks, delapsed))
        holds = holds and all(c.holds for c in dchecks)
    return 0 if holds else 1


if __name__ == "__main__":
    sys.exit(main())
