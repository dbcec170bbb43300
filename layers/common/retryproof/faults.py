"""Test-only crash points: simulate the process dying at a named place.

With `RETRYPROOF_CRASH_POINTS=generate.after_usage_record`, `crash_point(that name)` raises
`SimulatedCrash`, a BaseException: like a killed process, it skips every `except Exception`
cleanup (Powertools does not release the idempotency claim), so a test can prove that the retry
after the lease expires finds the durable record. Unset in any deployment; one env lookup.
"""

from __future__ import annotations

import os

ENV = "RETRYPROOF_CRASH_POINTS"


class SimulatedCrash(BaseException):
    """The function died here (test-only)."""


def crash_point(name: str) -> None:
    points = os.environ.get(ENV)
    if points and name in points.split(","):
        raise SimulatedCrash(name)
