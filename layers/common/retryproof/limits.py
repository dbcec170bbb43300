"""Per-tenant limits: a request rate and a daily LLM spend, each tenant counted apart.

Request rate: fixed windows of `TENANT_RATE_WINDOW_SECONDS`; a tenant's count in a window is
split over `TENANT_RATE_SHARDS` counter items, and each request adds to one of them, picked at
random, so no single item takes every request of a tenant. A request is refused (429
`rate_limited`, `Retry-After` = the seconds left in the window) when its counter passes its part
of the limit, ceil(limit / shards). So a tenant that floods is held to at most shards * ceil(limit
/ shards) requests per window (the limit plus fewer than `shards`), and a tenant just under its
limit may see a refusal early when the random picks load one counter more than the others (the
approximation that keeps the counter off one hot item; docs/limits.md has the numbers). Refused
requests are counted too: a client that keeps flooding stays refused until the window ends. A
counter that cannot be written lets the request through (logged and counted as
`TenantRateUnchecked`): the limiter never takes the API down with it.

Daily spend: before a paid LLM call for new work, the tenant's spend today (UTC) is read from its
running total, which the usage-totals stream consumer keeps (`retryproof.usage_totals`), and the
call is refused (429 `spend_limit_reached`, `Retry-After` = the seconds to midnight UTC) when it
reached `TENANT_DAILY_SPEND_LIMIT_MICRO_USD`. The total is eventually exact: it lags the paid calls
by the stream's delay, so the spend can pass the limit by what is paid in that lag (the bound is in
docs/limits.md). A replay is never refused: the stored result answers before the check.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple, Protocol
from urllib.parse import quote

from aws_lambda_powertools import Logger

from retryproof import observability as obs
from retryproof.errors import RateLimited, SpendLimitReached, StorageUnavailable

logger = Logger(child=True)

# A counter item outlives its window by this much before TTL may delete it (TTL deletes late, never
# early, and a late deletion changes nothing: the next window has items of its own).
COUNTER_GRACE_S = 60


class RequestCounter(Protocol):
    def add(self, counter_id: str, expires_at: int) -> int: ...


class RateLimit(NamedTuple):
    limit: int  # requests per window and tenant; 0: no limit
    window_s: int
    shards: int

    @property
    def per_shard(self) -> int:
        return -(-self.limit // self.shards)


def counter_id(tenant_id: str, window_s: int, window: int, shard: int) -> str:
    # The tenant percent-encoded, so no tenant id can name another tenant's counter.
    return f"{quote(tenant_id, safe='')}#{window_s}#{window}#{shard}"


def check_rate(
    tenant_id: str,
    rate: RateLimit,
    counter: RequestCounter,
    *,
    now_s: float | None = None,
    pick: Callable[[int], int] | None = None,
) -> None:
    """Count one request of `tenant_id`; raise `RateLimited` if it is over the tenant's limit."""
    if rate.limit <= 0:
        return
    now = time.time() if now_s is None else now_s
    window = int(now // rate.window_s)
    ends = (window + 1) * rate.window_s
    shard = (pick or random.randrange)(rate.shards)
    try:
        count = counter.add(
            counter_id(tenant_id, rate.window_s, window, shard), ends + COUNTER_GRACE_S
        )
    except StorageUnavailable as exc:
        logger.warning("request not counted", extra={"detail": exc.detail})
        obs.count(obs.RATE_UNCHECKED)
        return
    if count > rate.per_shard:
        obs.count(obs.RATE_LIMITED)
        retry_after = max(1, math.ceil(ends - now))
        raise RateLimited(
            f"this tenant may send {rate.limit} requests per {rate.window_s} s; "
            f"retry after {retry_after} s",
            headers={"Retry-After": str(retry_after)},
        )


def tenant_of(event: Mapping[str, Any]) -> str | None:
    """The tenant the authorizer resolved, if the route has one (webhooks have none)."""
    context = ((event.get("requestContext") or {}).get("authorizer") or {}).get("lambda") or {}
    tenant = context.get("tenantId")
    return tenant if isinstance(tenant, str) and tenant else None


def check_request_rate(event: Mapping[str, Any]) -> None:
    """The rate limit of the request's tenant, with this deployment's settings (a no-op for a
    route without a tenant or with the limit off)."""
    tenant = tenant_of(event)
    if tenant is None:
        return
    from retryproof.config import get_settings

    settings = get_settings()
    if settings.tenant_rate_limit <= 0:
        return
    from retryproof import aws
    from retryproof.dal.limits import DynamoRequestCounter

    rate = RateLimit(
        settings.tenant_rate_limit,
        settings.tenant_rate_window_seconds,
        settings.tenant_rate_shards,
    )
    check_rate(tenant, rate, DynamoRequestCounter(aws.dynamodb(), settings.rate_limit_table))


# --- daily spend ----------------------------------------------------------------------------------


def utc_day(now: datetime | None = None) -> str:
    """Today (UTC) as the daily totals name it: YYYY-MM-DD."""
    return (now or datetime.now(UTC)).strftime("%Y-%m-%d")


def seconds_to_midnight(now: datetime | None = None) -> int:
    moment = now or datetime.now(UTC)
    midnight = (moment + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return max(1, math.ceil((midnight - moment).total_seconds()))


def check_spend(
    spent_today_micro_usd: int, limit_micro_usd: int, now: datetime | None = None
) -> None:
    """Refuse new paid work once the tenant's spend today reached its daily limit (0: none)."""
    if limit_micro_usd <= 0 or spent_today_micro_usd < limit_micro_usd:
        return
    obs.count(obs.SPEND_LIMITED)
    retry_after = seconds_to_midnight(now)
    raise SpendLimitReached(
        "this tenant's LLM spend today reached its daily limit; new work can start after "
        "midnight UTC (replays of completed keys still answer)",
        headers={"Retry-After": str(retry_after)},
    )
