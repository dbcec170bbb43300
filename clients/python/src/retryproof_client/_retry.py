"""When to retry and how long to wait: exponential backoff with full jitter, `Retry-After`.

The one implementation of the retry rules. `RetryLoop` makes every decision without doing any I/O
or waiting itself, so the synchronous and the asynchronous client run the same rules and differ
only in how they send a request and how they sleep."""

from __future__ import annotations

import email.utils
import http.client
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timezone

# What a network failure raises (connection refused or reset, timeouts, a truncated answer).
NETWORK_ERRORS: tuple[type[BaseException], ...] = (OSError, http.client.HTTPException)
MIN_ATTEMPT_TIMEOUT = 0.05  # seconds: an attempt with less time than this left is not started


def is_retryable_status(status: int) -> bool:
    """409 (the key is in flight), 429 and 5xx are worth retrying with the same key; any other
    4xx is an answer that a retry would only repeat."""
    return status in (409, 429) or status >= 500


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5
    max_elapsed: float = 30.0  # seconds, from the first attempt to the last one's deadline
    base_delay: float = 0.25
    max_delay: float = 8.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.max_elapsed <= 0 or self.base_delay < 0 or self.max_delay < 0:
            raise ValueError("max_elapsed must be positive, delays non-negative")

    def backoff_ceiling(self, retry: int) -> float:
        """The most the `retry`-th wait (1, 2, ...) may last: base * 2^(retry-1), capped."""
        return float(min(self.max_delay, self.base_delay * (2 ** (retry - 1))))

    def backoff(self, retry: int, rand: Callable[[], float]) -> float:
        """Full jitter: uniform in [0, ceiling) (AWS Architecture Blog, "Exponential Backoff
        And Jitter"), so that clients failing together do not retry together."""
        return rand() * self.backoff_ceiling(retry)


def retry_after_seconds(headers: Mapping[str, str], now: Callable[[], float] = time.time) -> float:
    """`Retry-After` as seconds (delta-seconds or an HTTP date); 0 when absent or unreadable."""
    value = headers.get("retry-after", "").strip()
    if not value:
        return 0.0
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return 0.0
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, when.timestamp() - now())


@dataclass(frozen=True)
class Wait:
    """`RetryLoop.after`'s answer when the attempt should be retried."""

    delay: float  # seconds until the next attempt
    status: int | None  # the answer's status, None for a network error
    retry_after: float  # the answer's Retry-After in seconds (0 when absent)


@dataclass(frozen=True)
class GiveUp:
    """`RetryLoop.after`'s answer when the bounds are reached: raise the last outcome."""

    status: int | None


@dataclass
class RetryLoop:
    """One logical request's attempts. Per attempt: `begin()` gives the attempt's timeout; after
    it, `after(status)` (None for a network error) says whether it is final (None), to be retried
    after a `Wait`, or given up (`GiveUp`). Retried: network errors, 409, 429, 5xx; the wait is
    the full-jitter backoff, at least `Retry-After`; at most `max_attempts` attempts, and no
    attempt is started whose wait would end past `max_elapsed`."""

    policy: RetryPolicy
    timeout: float
    clock: Callable[[], float]
    rand: Callable[[], float]
    attempt: int = 0
    started: float = field(default=0.0)

    def __post_init__(self) -> None:
        self.started = self.clock()

    def left(self) -> float:
        return self.policy.max_elapsed - (self.clock() - self.started)

    def begin(self) -> float:
        """Count an attempt; its timeout: the client's, cut to the time left."""
        self.attempt += 1
        return max(MIN_ATTEMPT_TIMEOUT, min(self.timeout, self.left()))

    def after(
        self, status: int | None, headers: Mapping[str, str] | None = None
    ) -> Wait | GiveUp | None:
        if status is not None and not is_retryable_status(status):
            return None
        delay = self.policy.backoff(self.attempt, self.rand)
        retry_after = retry_after_seconds(headers) if headers is not None else 0.0
        delay = max(delay, retry_after)
        if self.attempt >= self.policy.max_attempts or delay + MIN_ATTEMPT_TIMEOUT > self.left():
            return GiveUp(status)
        return Wait(delay, status, retry_after)
