"""Per-tenant limits (retryproof.limits): the sharded window counter and the daily spend check."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from retryproof.config import Settings
from retryproof.errors import RateLimited, SpendLimitReached, StorageUnavailable
from retryproof.generate import generate
from retryproof.idempotency import body_hash
from retryproof.limits import (
    RateLimit,
    check_rate,
    check_spend,
    counter_id,
    seconds_to_midnight,
    utc_day,
)
from retryproof.models.generate import GenerateRequest
from retryproof.models.usage import UsageItem, usage_record_key
from retryproof.usage_totals import count_new_record
from tests.unit.test_unit_generate import FakeLlm, FakeUsageRepository, stored

pytestmark = pytest.mark.unit

NOW = 1_800_000_005.25  # 5.25 s into a 10 s window


class Counters:
    """A `RequestCounter` over a dict: the counts DynamoDB's ADD would return."""

    def __init__(self, fail: bool = False) -> None:
        self.counts: dict[str, int] = {}
        self.expiries: dict[str, int] = {}
        self.fail = fail

    def add(self, counter_id: str, expires_at: int) -> int:
        if self.fail:
            raise StorageUnavailable("limits.count failed (ProvisionedThroughputExceededException)")
        self.counts[counter_id] = self.counts.get(counter_id, 0) + 1
        self.expiries.setdefault(counter_id, expires_at)
        return self.counts[counter_id]


def admitted(tenant: str, rate: RateLimit, counters: Counters, n: int, **kw: Any) -> int:
    ok = 0
    for _ in range(n):
        try:
            check_rate(tenant, rate, counters, now_s=NOW, **kw)
            ok += 1
        except RateLimited:
            pass
    return ok


def test_a_tenant_over_its_limit_is_refused_with_retry_after_until_the_window_ends() -> None:
    counters = Counters()
    rate = RateLimit(limit=3, window_s=10, shards=1)
    assert admitted("acme", rate, counters, 3) == 3
    with pytest.raises(RateLimited) as refused:
        check_rate("acme", rate, counters, now_s=NOW)
    assert refused.value.status == 429
    assert refused.value.code == "rate_limited"
    assert refused.value.headers == {"Retry-After": "5"}  # 4.75 s left, rounded up
    problem = refused.value.problem()
    assert problem["status"] == 429
    assert problem["code"] == "rate_limited"
    # One counter item: expires (TTL) after its window, with a grace period.
    ((item, expires),) = counters.expiries.items()
    assert item == counter_id("acme", 10, 180_000_000, 0)
    assert expires == 1_800_000_010 + 60


def test_a_flood_from_one_tenant_leaves_another_tenants_count_untouched() -> None:
    counters = Counters()
    rate = RateLimit(limit=5, window_s=10, shards=2)
    assert admitted("flooder", rate, counters, 500) <= 6  # shards * ceil(5 / 2)
    assert admitted("quiet", rate, counters, 3, pick=lambda n: 0) == 3
    assert all(k.startswith(("flooder#", "quiet#")) for k in counters.counts)


def test_the_next_window_counts_afresh() -> None:
    counters = Counters()
    rate = RateLimit(limit=2, window_s=10, shards=1)
    assert admitted("acme", rate, counters, 5) == 2
    check_rate("acme", rate, counters, now_s=NOW + 10)  # the next window: admitted


def test_a_flood_spread_over_the_shards_gets_exactly_the_limit() -> None:
    """Under a flood every shard fills: the tenant gets shards * ceil(limit / shards)."""
    counters = Counters()
    pick = random.Random(7).randrange
    rate = RateLimit(limit=200, window_s=10, shards=4)
    assert admitted("acme", rate, counters, 2000, pick=pick) == 200
    assert len(counters.counts) == 4  # no single item took every request
    assert max(counters.counts.values()) < 2000
    uneven = RateLimit(limit=7, window_s=10, shards=3)
    assert admitted("globex", uneven, Counters(), 100, pick=pick) == 9  # 3 * ceil(7 / 3)


def test_the_limit_off_counts_nothing() -> None:
    counters = Counters()
    assert admitted("acme", RateLimit(limit=0, window_s=10, shards=2), counters, 50) == 50
    assert counters.counts == {}


def test_a_counter_that_cannot_be_written_lets_the_request_through() -> None:
    check_rate("acme", RateLimit(3, 10, 2), Counters(fail=True), now_s=NOW)


def test_tenant_ids_cannot_name_another_tenants_counter() -> None:
    assert counter_id("a#10", 10, 5, 0) != counter_id("a", 10, 10, 5)
    assert counter_id("a#10", 10, 5, 0).count("#") == 3


def test_per_shard_share_rounds_up() -> None:
    assert RateLimit(200, 10, 2).per_shard == 100
    assert RateLimit(5, 10, 2).per_shard == 3
    assert RateLimit(1, 10, 4).per_shard == 1


# --- daily spend -------------------------------------------------------------------------------


def test_spend_under_the_limit_passes_and_at_the_limit_is_refused_until_midnight_utc() -> None:
    late = datetime(2026, 12, 1, 23, 0, 0, tzinfo=UTC)
    check_spend(9_999, 10_000, late)
    with pytest.raises(SpendLimitReached) as refused:
        check_spend(10_000, 10_000, late)
    assert refused.value.status == 429
    assert refused.value.code == "spend_limit_reached"
    assert refused.value.headers == {"Retry-After": "3600"}
    check_spend(10**12, 0, late)  # 0: no limit


def test_seconds_to_midnight_and_the_day() -> None:
    assert seconds_to_midnight(datetime(2026, 12, 1, 23, 59, 59, 500_000, tzinfo=UTC)) == 1
    assert seconds_to_midnight(datetime(2026, 12, 1, 0, 0, 0, tzinfo=UTC)) == 86_400
    assert utc_day(datetime(2026, 12, 31, 23, 59, tzinfo=UTC)) == "2026-12-31"


class SpendingRepository(FakeUsageRepository):
    """The fake usage repository plus today's spend (what the stream consumer counted)."""

    def __init__(self, spent: int) -> None:
        super().__init__()
        self.spent = spent
        self.reads: list[str] = []

    def get_with_day_total(
        self, tenant_id: str, idempotency_key: str, operation: str, day: str
    ) -> tuple[UsageItem | None, int]:
        self.reads.append(day)
        return self.get(tenant_id, idempotency_key, operation), self.spent

    def spent_on(self, tenant_id: str, day: str) -> int:
        self.reads.append(day)
        return self.spent


BODY = {"prompt": "Say hello."}


def run(usage: SpendingRepository, llm: FakeLlm, limit: int) -> Any:
    return generate(
        GenerateRequest.parse(BODY),
        tenant_id="acme",
        idempotency_key="k1",
        body_hash=body_hash(BODY),
        model="gpt-4o-mini",
        settings=Settings(tenant_daily_spend_limit_micro_usd=limit),
        llm=llm,
        usage=usage,
        remaining_ms=25_000,
        spend=usage,
    )


def test_generate_refuses_new_work_at_the_limit_without_calling_the_llm() -> None:
    usage, llm = SpendingRepository(spent=5_000), FakeLlm()
    with pytest.raises(SpendLimitReached):
        run(usage, llm, limit=5_000)
    assert llm.calls == []
    assert usage.items == {}
    assert usage.reads == [utc_day()]


def test_generate_under_the_limit_pays_once() -> None:
    usage, llm = SpendingRepository(spent=4_999), FakeLlm()
    assert run(usage, llm, limit=5_000).status == 200
    assert len(llm.calls) == 1


def test_a_completed_key_replays_whatever_the_spend() -> None:
    usage, llm = SpendingRepository(spent=10**9), FakeLlm()
    done = stored(json.dumps({"content": "Hello!"}), body_hash(BODY))
    usage.items[("acme", usage_record_key("k1", "generate"))] = done
    outcome = run(usage, llm, limit=1)
    assert outcome.replayed
    assert outcome.body == done.result
    assert llm.calls == []


def test_the_stream_consumer_counts_a_record_into_its_own_day() -> None:
    counted: list[tuple[str, str, int, str, str]] = []

    class Totals:
        def count_once(
            self, tenant_id: str, record_key: str, cost_micro_usd: int, now: str, day: str
        ) -> bool:
            counted.append((tenant_id, record_key, cost_micro_usd, now, day))
            return True

    image = {
        "tenantId": {"S": "acme"},
        "recordKey": {"S": "k1#generate#0000"},
        "costMicroUsd": {"N": "42"},
        "createdAt": {"S": "2026-11-30T23:59:59.999Z"},
    }
    assert count_new_record(image, Totals(), now="2026-12-01T00:00:03.000Z")
    assert counted == [("acme", "k1#generate#0000", 42, "2026-12-01T00:00:03.000Z", "2026-11-30")]


def test_the_openapi_document_names_the_429s_with_retry_after() -> None:
    document = json.loads((Path(__file__).resolve().parents[2] / "openapi.json").read_text())
    paths = document["paths"]

    def codes_429(operation: dict[str, Any]) -> set[str]:
        answer = operation["responses"].get("429")
        if answer is None:
            return set()
        assert answer["headers"]["Retry-After"]
        return set(answer["content"]["application/problem+json"]["examples"])

    assert codes_429(paths["/generate"]["post"]) == {"rate_limited", "spend_limit_reached"}
    assert codes_429(paths["/usage"]["get"]) == {"rate_limited"}
    assert codes_429(paths["/transfer"]["post"]) == {"rate_limited"}
    # The webhook has no tenant before its signature: no per-tenant limit.
    assert codes_429(paths["/webhooks/document-uploaded"]["post"]) == set()
