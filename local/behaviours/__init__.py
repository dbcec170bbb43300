"""Real DynamoDB behaviours the moto server lacks, restored in the local emulator.

moto answers every read with the newest committed item, never cancels a transaction because
another one is in flight, and never deletes an item whose time to live has passed. Real DynamoDB
does all three, and each one can break an idempotency guarantee that holds on moto. So the
emulator (local/emulator.py) restores them, on by default in `make dev`, the tests and
`make chaos`; each can be switched off by its variable (docs/local-stack.md):

- `ttl_sweeper`: expired items are deleted by a background sweeper, after a lag;
  "Time to Live (TTL)", https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/TTL.html
- `transaction_conflicts`: a transaction holds its items for a while; an overlapping
  transaction is cancelled with `TransactionConflict`, a single write gets
  `TransactionConflictException`; "Amazon DynamoDB Transactions: How it works",
  https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis.html
- `stale_reads`: a read without `ConsistentRead` (and every read of a global secondary index)
  sees the table as it was a moment ago; "DynamoDB read consistency",
  https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/HowItWorks.ReadConsistency.html
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

OFF = ("off", "false", "no", "none", "disabled")

# make dev's defaults, also what the tests and `make chaos` run with (all short, all on).
DEFAULT_TTL_SWEEP_LAG_SECONDS = 5.0
DEFAULT_TTL_SWEEP_INTERVAL_SECONDS = 1.0
DEFAULT_TXN_INFLIGHT_MS = 25.0
DEFAULT_STALE_READ_MS = 1000.0
DEFAULT_STALE_READ_PROBABILITY = 1.0


def _number(environ: Mapping[str, str], name: str, default: float) -> float | None:
    """The variable as a non-negative number; None when it says `off`."""
    raw = environ.get(name, "").strip()
    if raw == "":
        return default
    if raw.lower() in OFF:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(
            f"{name} must be a number of seconds/milliseconds or 'off', got {raw!r}"
        ) from None
    if value < 0:
        raise ValueError(f"{name} must be >= 0 or 'off', got {raw!r}")
    return value


@dataclass(frozen=True)
class Behaviours:
    """Which real behaviours the emulator restores, and how strongly.

    `ttl_sweep_lag_s` None: no sweeper. `txn_inflight_ms` 0: transactions never overlap (no
    conflicts). `stale_read_ms` 0: every read is consistent.
    """

    ttl_sweep_lag_s: float | None = DEFAULT_TTL_SWEEP_LAG_SECONDS
    ttl_sweep_interval_s: float = DEFAULT_TTL_SWEEP_INTERVAL_SECONDS
    txn_inflight_ms: float = DEFAULT_TXN_INFLIGHT_MS
    stale_read_ms: float = DEFAULT_STALE_READ_MS
    stale_read_probability: float = DEFAULT_STALE_READ_PROBABILITY

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Behaviours:
        interval = _number(environ, "LOCAL_TTL_SWEEP_INTERVAL_SECONDS", cls.ttl_sweep_interval_s)
        probability = _number(environ, "LOCAL_STALE_READ_PROBABILITY", cls.stale_read_probability)
        if probability is not None and probability > 1:
            raise ValueError("LOCAL_STALE_READ_PROBABILITY must be between 0 and 1")
        return cls(
            ttl_sweep_lag_s=_number(
                environ, "LOCAL_TTL_SWEEP_LAG_SECONDS", cls.ttl_sweep_lag_s or 0
            ),
            ttl_sweep_interval_s=max(0.05, interval or cls.ttl_sweep_interval_s),
            txn_inflight_ms=_number(environ, "LOCAL_TXN_INFLIGHT_MS", cls.txn_inflight_ms) or 0.0,
            stale_read_ms=_number(environ, "LOCAL_STALE_READ_MS", cls.stale_read_ms) or 0.0,
            stale_read_probability=0.0 if probability is None else probability,
        )

    @classmethod
    def none(cls) -> Behaviours:
        """moto as it is: no sweeper, no conflicts, every read consistent."""
        return cls(ttl_sweep_lag_s=None, txn_inflight_ms=0.0, stale_read_ms=0.0)
