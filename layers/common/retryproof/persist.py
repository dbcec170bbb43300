"""Writes after paying: an LLM completion that was paid for is recorded with extra persistence.

The record writes are conditional (written once), so trying again is safe: a write that succeeded
but whose answer was lost comes back as "already there". botocore already retries throttling and
5xx three times; after paying, a few more tries with backoff keep a passing storage hiccup from
turning into a second paid completion.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from retryproof.errors import StorageUnavailable

ATTEMPTS = 4
FIRST_DELAY_S = 0.1


def after_payment[T](
    write: Callable[[], T],
    *,
    attempts: int = ATTEMPTS,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run `write`, trying again on `StorageUnavailable` (backoff 0.1, 0.2, 0.4 s)."""
    delay = FIRST_DELAY_S
    for attempt in range(attempts):
        try:
            return write()
        except StorageUnavailable:
            if attempt + 1 == attempts:
                raise
            sleep(delay)
            delay *= 2
    raise AssertionError("unreachable")
