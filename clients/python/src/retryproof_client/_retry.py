"""When to retry and how long to wait: exponential backoff with full jitter, `Retry-After`."""

from __future__ import annotations

import email.utils
import http.client
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timezone

# What a network failure raises (connection refused or reset, timeouts, a truncated answer).
NETWORK_ERRORS: tuple[type[BaseException], ...] = (OSError, http.client.HTTPException)


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
