"""Test-only crash points (simulate the process dying at a named place) and guard switches.

With `RETRYPROOF_CRASH_POINTS=generate.after_usage_record`, `crash_point(that name)` raises
`SimulatedCrash`, a BaseException: like a killed process, it skips every `except Exception`
cleanup (Powertools does not release the idempotency claim), so a test can prove that the retry
after the lease expires finds the durable record. `armed(...)` does the same for the current
thread only (the chaos run). Unset in any deployment: one env lookup and one context lookup.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

ENV = "RETRYPROOF_CRASH_POINTS"
# Test-only: the guards `make chaos-selftest` disables one at a time, to show the storm's
# invariants catch each missing guard. Unset in any deployment (template.yaml never sets it).
GUARDS_ENV = "RETRYPROOF_DISABLED_GUARDS"
GUARDS = (
    "durable_check",  # generate: read the usage record before paying
    "ledger_condition",  # transfers: the ledger entry is written only if absent
    "no_retry_rule",  # LLM: never resend a request the provider may have processed
    "worker_lease",  # worker: an event leased by a live worker is not taken
    "tool_result_lookup",  # agent: a tool call id's recorded outcome answers it, not a new run
)
_armed: ContextVar[frozenset[str]] = ContextVar("retryproof_crash_points", default=frozenset())
# A process-wide chooser (the durable chaos storm): code that runs in threads the test does not
# own (a durable execution's handler) crashes where it says. None in any deployment.
_chooser: Callable[[str, str], bool] | None = None


def choose_crashes(chooser: Callable[[str, str], bool] | None) -> None:
    """Crash at a point whenever `chooser(name, scope)` says so, in any thread (None: stop).
    `scope`: what the point is part of (an agent run's id), so a chooser can budget per run."""
    global _chooser
    _chooser = chooser


class SimulatedCrash(BaseException):
    """The function died here (test-only)."""


@contextmanager
def armed(*names: str) -> Iterator[None]:
    """Crash at these points in this thread (and context) only, while the block runs."""
    token = _armed.set(_armed.get() | frozenset(names))
    try:
        yield
    finally:
        _armed.reset(token)


def crash_point(name: str, scope: str = "") -> None:
    if name in _armed.get():
        raise SimulatedCrash(name)
    if _chooser is not None and _chooser(name, scope):
        raise SimulatedCrash(name)
    points = os.environ.get(ENV)
    if points and name in points.split(","):
        raise SimulatedCrash(name)


def disabled(guard: str) -> bool:
    """True when the chaos self-test switched this guard off (never in a deployment)."""
    guards = os.environ.get(GUARDS_ENV) or ""
    return guard in guards.split(",")
