"""key_status over a fake idempotency table: which record answers, at which moment."""

from __future__ import annotations

import pytest

from retryproof.dal.idempotency_records import (
    COMPLETED,
    IN_PROGRESS,
    IdempotencyRecord,
    _record,
    record_id,
)
from retryproof.key_status import Durable, iso_ms, key_status

pytestmark = pytest.mark.unit

NOW_MS = 1_800_000_000_000
TENANT, KEY = "acme", "k-1"


class FakeRecords:
    def __init__(self, record: IdempotencyRecord | None) -> None:
        self.record = record
        self.asked: list[str] = []

    def get(self, record_id: str) -> IdempotencyRecord | None:
        self.asked.append(record_id)
        return self.record


class FakeDurable:
    def __init__(self, answer: Durable | None) -> None:
        self.answer = answer
        self.reads = 0

    def __call__(self) -> Durable | None:
        self.reads += 1
        return self.answer


def status(record: IdempotencyRecord | None, durable: Durable | None = None) -> tuple[dict, int]:  # type: ignore[type-arg]
    lookup = FakeDurable(durable)
    records = FakeRecords(record)
    out = key_status(tenant_id=TENANT, key=KEY, operation="agent_run", records=records,
                     durable=lookup, now_ms=NOW_MS)  # fmt: skip
    assert records.asked == [record_id("agent", TENANT, KEY)]  # the store's name: "agent"
    return out.to_json_dict(), lookup.reads


def leased(lease_ms: int | None, expires_s: int = NOW_MS // 1000 + 3600) -> IdempotencyRecord:
    return IdempotencyRecord(IN_PROGRESS, expires_s, lease_ms, None, None)


def test_a_live_lease_is_in_progress_without_reading_the_durable_record() -> None:
    out, reads = status(leased(NOW_MS + 5_000), Durable("t", 200))
    assert out == {"key": KEY, "operation": "agent_run", "status": "in_progress",
                   "leaseExpiresAt": iso_ms(NOW_MS + 5_000)}  # fmt: skip
    assert reads == 0


def test_without_a_lease_the_claim_holds_until_the_record_expires() -> None:
    out, _ = status(leased(None, expires_s=NOW_MS // 1000 + 60))
    assert out["leaseExpiresAt"] == iso_ms((NOW_MS // 1000 + 60) * 1000)


def test_a_lapsed_lease_asks_the_durable_record() -> None:
    out, reads = status(leased(NOW_MS - 1), Durable("2026-01-01T00:00:00.000Z", 200))
    assert reads == 1
    assert out == {"key": KEY, "operation": "agent_run", "status": "completed",
                   "originalRequestTime": "2026-01-01T00:00:00.000Z",
                   "responseStatus": 200}  # fmt: skip


def test_a_lapsed_lease_without_a_durable_record_says_retry_now() -> None:
    out, _ = status(leased(NOW_MS - 1))
    assert (out["status"], out["leaseExpiresAt"]) == ("in_progress", iso_ms(NOW_MS - 1))


def test_a_completed_record_answers_alone() -> None:
    record = IdempotencyRecord(COMPLETED, NOW_MS // 1000 + 10, None, 202, "2026-01-01T00:00:00Z")
    out, reads = status(record, Durable("other", 200))
    assert reads == 0
    assert out == {"key": KEY, "operation": "agent_run", "status": "completed",
                   "originalRequestTime": "2026-01-01T00:00:00Z", "responseStatus": 202,
                   "expiresAt": iso_ms((NOW_MS // 1000 + 10) * 1000)}  # fmt: skip


@pytest.mark.parametrize("kind", [COMPLETED, IN_PROGRESS])
def test_an_expired_record_counts_as_none(kind: str) -> None:
    record = IdempotencyRecord(kind, NOW_MS // 1000 - 1, NOW_MS + 9_000, 200, "t")
    assert status(record) == ({"key": KEY, "operation": "agent_run", "status": "unknown"}, 1)
    assert status(record, Durable("d", 200))[0]["originalRequestTime"] == "d"


def test_no_record_and_no_durable_record_is_unknown() -> None:
    assert status(None) == ({"key": KEY, "operation": "agent_run", "status": "unknown"}, 1)


def test_the_stored_item_as_powertools_writes_it() -> None:
    item = {
        "id": {"S": "retryproof.transfer#abc"},
        "status": {"S": COMPLETED},
        "expiration": {"N": "1800003600"},
        "in_progress_expiration": {"N": "1800000015000"},
        "data": {"S": '{"body": "{}", "original_request_time": "T", "status": 400}'},
    }
    assert _record(item) == IdempotencyRecord(COMPLETED, 1800003600, 1800000015000, 400, "T")
    del item["data"], item["in_progress_expiration"]
    assert _record(item) == IdempotencyRecord(COMPLETED, 1800003600, None, None, None)


def test_record_ids_are_scoped_by_tenant_and_operation() -> None:
    ids = {record_id(op, t, KEY) for op in ("generate", "agent") for t in ("acme", "globex")}
    assert len(ids) == 4
    assert all(KEY not in i and "acme" not in i for i in ids)  # hashed: nothing in clear


def test_the_python_client_turns_a_status_into_when_to_retry() -> None:
    from datetime import UTC, datetime

    from retryproof_client import KeyStatus

    now = datetime(2026, 12, 1, 12, 0, 0, tzinfo=UTC)
    running = KeyStatus.from_json({"key": "k", "operation": "transfer", "status": "in_progress",
                                   "leaseExpiresAt": "2026-12-01T12:00:07.500Z"})  # fmt: skip
    died = KeyStatus.from_json({"key": "k", "operation": "transfer", "status": "in_progress",
                                "leaseExpiresAt": "2026-12-01T11:59:00.000Z"})  # fmt: skip
    done = KeyStatus.from_json({"key": "k", "operation": "transfer", "status": "completed",
                                "originalRequestTime": "t", "responseStatus": 400})  # fmt: skip
    unknown = KeyStatus.from_json({"key": "k", "operation": "transfer", "status": "unknown"})
    assert running.retry_in(now) == 7.5
    assert died.retry_in(now) == 0.0
    assert (done.retry_in(now), done.response_status) == (None, 400)
    assert unknown.retry_in(now) == 0.0
