"""POST /generate and GET /usage: handlers against the moto server and the fake LLM over HTTP."""

from __future__ import annotations

import json
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

import pytest

from local.lambda_runtime import LocalFunction
from retryproof.dal.idempotency_records import record_id
from retryproof.faults import ENV as CRASH_ENV
from retryproof.faults import SimulatedCrash
from retryproof.limits import utc_day
from tests.integration.conftest import Stack
from tests.support.handlers import (
    GENERATE,
    REPLAY_HEADERS,
    Result,
    generate,
    usage,
    usage_items,
)
from tests.support.lost_answers import first_answer_lost

pytestmark = pytest.mark.integration


def idempotency_items(stack: Stack) -> list[dict[str, Any]]:
    return stack.items("IdempotencyTable")


# --- replay -------------------------------------------------------------------------------------


def test_first_request_then_identical_replays_with_one_cost_record(
    stack: Stack, tenant: str, key: str
) -> None:
    before = stack.llm.completions
    first = generate(stack, tenant, key)
    assert first.status == 200
    body = first.json
    assert set(body) == {
        "id", "content", "tokens", "finishReason", "model", "usage", "costUsd", "createdAt",
    }  # fmt: skip
    assert body["tokens"] == body["usage"]["totalTokens"] > 0
    assert not first.replayed
    assert first.header("X-Original-Request-Time") == body["createdAt"]

    retries = [generate(stack, tenant, key) for _ in range(3)]

    for retry in retries:
        assert retry.status == 200
        assert retry.text == first.text  # byte-identical
        assert retry.replayed
        assert retry.header("X-Original-Request-Time") == first.header("X-Original-Request-Time")
    assert stack.llm.completions == before + 1
    records = usage_items(stack, tenant)
    assert len(records) == 1
    assert records[0]["idempotencyKey"]["S"] == key
    assert records[0]["operation"]["S"] == "generate"


def test_a_completion_is_stored_once_and_a_cold_replay_reads_it_from_its_usage_record(
    stack: Stack, tenant: str, key: str
) -> None:
    before = stack.llm.completions
    first = generate(stack, tenant, key)
    assert first.status == 200
    (record,) = usage_items(stack, tenant)
    assert record["result"]["S"] == first.text
    (stored,) = [
        i for i in idempotency_items(stack) if i["id"]["S"] == record_id("generate", tenant, key)
    ]
    data = json.loads(stored["data"]["S"])
    # The idempotency record keeps status and time only: the completion's bytes are written once.
    assert data == {
        "status": 200,
        "body": "",
        "original_request_time": first.header("X-Original-Request-Time"),
        "durable_body": True,
    }
    assert first.json["content"] not in stored["data"]["S"]
    # Another execution environment (no local cache): the completion comes from the usage record.
    stack.functions[GENERATE] = LocalFunction(stack.functions[GENERATE].spec)
    replay = generate(stack, tenant, key)
    assert (replay.status, replay.text, replay.replayed) == (200, first.text, True)
    assert stack.llm.completions == before + 1
    # Without it (never in this design: the record is written before the key completes), the
    # replay is a 503 that pays nothing, never a second completion.
    stack.dynamodb.update_item(
        TableName=stack.refs.table("UsageTable"),
        Key={"tenantId": record["tenantId"], "recordKey": record["recordKey"]},
        UpdateExpression="REMOVE #r",
        ExpressionAttributeNames={"#r": "result"},
    )
    stack.functions[GENERATE] = LocalFunction(stack.functions[GENERATE].spec)
    lost = generate(stack, tenant, key)
    assert lost.status == 503
    assert lost.json["code"] == "storage_unavailable"
    assert stack.llm.completions == before + 1


def test_body_compared_as_parsed_json(stack: Stack, tenant: str, key: str) -> None:
    first = generate(stack, tenant, key, raw_body='{"prompt": "x", "temperature": 0.5}')
    again = generate(stack, tenant, key, raw_body='{"temperature":0.5,\n "prompt":"x"}')
    assert first.status == again.status == 200
    assert again.replayed
    assert again.text == first.text


def test_same_key_other_body_is_rejected_and_runs_nothing(
    stack: Stack, tenant: str, key: str
) -> None:
    generate(stack, tenant, key, {"prompt": "one"})
    before = stack.llm.completions

    other = generate(stack, tenant, key, {"prompt": "two"})

    assert other.status == 422
    assert other.header("Content-Type") == "application/problem+json"
    assert other.json["code"] == "idempotency_key_reused"
    assert stack.llm.completions == before
    assert len(usage_items(stack, tenant)) == 1


def test_replay_mode_returns_the_stored_result_for_another_body(
    stack: Stack, settings_env: pytest.MonkeyPatch, tenant: str, key: str
) -> None:
    settings_env.setenv("IDEMPOTENCY_PAYLOAD_MISMATCH", "replay")
    first = generate(stack, tenant, key, {"prompt": "one"})
    before = stack.llm.completions

    other = generate(stack, tenant, key, {"prompt": "two"})

    assert other.status == 200
    assert other.replayed
    assert other.text == first.text
    assert stack.llm.completions == before


def test_same_key_two_tenants_are_two_completions(stack: Stack, key: str) -> None:
    a, b = f"ta-{uuid.uuid4().hex[:8]}", f"tb-{uuid.uuid4().hex[:8]}"
    before = stack.llm.completions

    first_a = generate(stack, a, key)
    first_b = generate(stack, b, key)

    assert first_a.status == first_b.status == 200
    assert not first_b.replayed
    assert first_a.json["id"] != first_b.json["id"]
    assert stack.llm.completions == before + 2
    assert len(usage_items(stack, a)) == len(usage_items(stack, b)) == 1


# --- concurrency --------------------------------------------------------------------------------


def test_sixteen_concurrent_requests_make_one_completion(
    stack: Stack, tenant: str, key: str
) -> None:
    stack.llm.fault(delay_ms=800)  # the winner holds the key while the others arrive
    before = stack.llm.completions
    start = threading.Barrier(16)

    def one(_: int) -> Result:
        start.wait()
        return generate(stack, tenant, key)

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(one, range(16)))

    statuses = sorted(r.status for r in results)
    assert set(statuses) <= {200, 409}, statuses
    fresh = [r for r in results if r.status == 200 and not r.replayed]
    assert len(fresh) == 1
    for r in results:
        if r.status == 409:
            assert r.json["code"] == "idempotency_key_in_use"
            assert r.header("Retry-After") is not None
        else:
            assert r.text == fresh[0].text
    assert stack.llm.completions == before + 1
    assert len(usage_items(stack, tenant)) == 1


@pytest.mark.parametrize(("timeout_s", "retry_after"), [(20, {5}), (6, {2, 3, 4})])
def test_a_key_in_flight_says_when_its_lease_ends(
    stack: Stack, tenant: str, key: str, timeout_s: int, retry_after: set[int]
) -> None:
    assert generate(stack, tenant, "warm-up").status == 200  # no cold start inside the lease
    stack.llm.fault(delay_ms=4000)
    with ThreadPoolExecutor(1) as pool:
        started = time.time()
        first = pool.submit(generate, stack, tenant, key, timeout_s=timeout_s)
        time.sleep(2.5)  # the first request holds the key (its lease: its function's timeout)
        in_flight = generate(stack, tenant, key)
        if first.result().status == 504:  # its LLM call outlasted a 6 s budget ...
            time.sleep(2)  # ... and the provider finishes (and bills) it: not in the next test

    assert in_flight.status == 409
    # Until the lease ends, at most 5 s (the execution usually ends sooner), at least 1 s.
    assert int(in_flight.header("Retry-After") or 0) in retry_after
    lease_end = datetime.fromisoformat(in_flight.json["leaseExpiresAt"]).timestamp()
    assert started + timeout_s - 2 <= lease_end <= started + timeout_s + 1


def test_an_idempotency_window_shorter_than_the_lease_never_lets_a_live_execution_be_taken_over(
    stack: Stack, settings_env: pytest.MonkeyPatch, tenant: str, key: str
) -> None:
    settings_env.setenv("IDEMPOTENCY_TTL_GENERATE", "1")  # shorter than the function's timeout
    generate(stack, tenant, "warm-up", timeout_s=10)  # the SDK imported, the store built
    stack.llm.fault(delay_ms=3000)
    before = stack.llm.completions
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(generate, stack, tenant, key, timeout_s=10)
        time.sleep(2)  # past the 1 s window, well inside the first execution's lease
        second = generate(stack, tenant, key)
        assert first.result().status == 200

    assert second.status == 409
    assert stack.llm.completions == before + 1


def test_bodies_that_differ_only_in_how_a_number_is_written_are_one_request(
    stack: Stack, tenant: str, key: str
) -> None:
    first = generate(stack, tenant, key, raw_body='{"prompt": "numbers", "temperature": 1}')
    before = stack.llm.completions

    same = generate(stack, tenant, key, raw_body='{"temperature": 1.0, "prompt": "numbers"}')
    also = generate(stack, tenant, key, raw_body='{"prompt": "numbers", "temperature": 10e-1}')
    other = generate(stack, tenant, key, raw_body='{"prompt": "numbers", "temperature": 1.5}')

    assert first.status == 200
    assert (same.status, same.replayed, same.text) == (200, True, first.text)
    assert (also.status, also.replayed) == (200, True)
    assert other.status == 422  # a different value is a different request
    assert stack.llm.completions == before


# --- failures are not stored --------------------------------------------------------------------


def test_llm_failure_is_502_not_stored_not_charged_and_the_retry_completes(
    stack: Stack, tenant: str, key: str
) -> None:
    stack.llm.fault(status=500, times=2)  # the first attempt and the client's one retry
    before = stack.llm.completions

    failed = generate(stack, tenant, key)

    assert failed.status == 502
    assert failed.json["code"] == "llm_error"
    assert "Traceback" not in failed.text
    assert usage_items(stack, tenant) == []
    assert stack.llm.completions == before

    retry = generate(stack, tenant, key)

    assert retry.status == 200
    assert not retry.replayed
    assert stack.llm.completions == before + 1
    assert len(usage_items(stack, tenant)) == 1


def test_llm_timeout_is_504_and_not_stored(
    stack: Stack, settings_env: pytest.MonkeyPatch, tenant: str, key: str
) -> None:
    settings_env.setenv("LLM_TIMEOUT_SECONDS", "0.5")
    settings_env.setenv("LLM_MAX_RETRIES", "0")
    stack.llm.fault(delay_ms=1500)

    timed_out = generate(stack, tenant, key)

    assert timed_out.status == 504
    assert timed_out.json["code"] == "llm_timeout"
    assert usage_items(stack, tenant) == []
    time.sleep(1.2)  # let the fake finish the slow answer before the retry
    assert generate(stack, tenant, key).status == 200


def test_validation_failure_is_not_stored_and_the_fixed_request_completes(
    stack: Stack, tenant: str, key: str
) -> None:
    invalid = generate(stack, tenant, key, {"prompt": "", "temperature": 3, "colour": "red"})

    assert invalid.status == 422
    assert invalid.json["code"] == "validation_error"
    fields = {e["field"] for e in invalid.json["errors"]}
    assert {"prompt", "temperature", "colour"} <= fields

    fixed = generate(stack, tenant, key, {"prompt": "now valid"})

    assert fixed.status == 200
    assert not fixed.replayed


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"prompt": "x", "model": "gpt-3"}, "model_not_allowed"),
        ({"prompt": "x", "maxTokens": 4097}, "validation_error"),
        ({"prompt": "x", "maxTokens": "64"}, "validation_error"),
        ({"prompt": "x" * 32001}, "validation_error"),
        ({"prompt": 5}, "validation_error"),
        ([], "validation_error"),
    ],
)
def test_invalid_requests_are_422_and_change_nothing(
    stack: Stack, tenant: str, key: str, body: Any, code: str
) -> None:
    before = stack.llm.completions
    result = generate(stack, tenant, key, body)
    assert result.status == 422
    assert result.json["code"] == code
    assert stack.llm.completions == before
    assert usage_items(stack, tenant) == []


def test_malformed_json_is_422(stack: Stack, tenant: str, key: str) -> None:
    result = generate(stack, tenant, key, raw_body='{"prompt": ')
    assert result.status == 422
    assert result.json["code"] == "validation_error"


@pytest.mark.parametrize(
    ("key", "status", "code"),
    [
        (None, 400, "idempotency_key_required"),
        ("", 400, "idempotency_key_invalid"),
        ("k" * 256, 400, "idempotency_key_invalid"),
        ("caf\u00e9", 400, "idempotency_key_invalid"),
    ],
)
def test_bad_idempotency_keys(
    stack: Stack, tenant: str, key: str | None, status: int, code: str
) -> None:
    before = stack.llm.completions
    result = generate(stack, tenant, key)
    assert (result.status, result.json["code"]) == (status, code)
    assert stack.llm.completions == before


def test_key_of_255_characters_and_quoted_keys_work(stack: Stack, tenant: str) -> None:
    long_key = "k" * 255
    assert generate(stack, tenant, long_key).status == 200
    plain = generate(stack, tenant, "order-42")
    quoted = generate(stack, tenant, '"order-42"')
    assert quoted.replayed
    assert quoted.text == plain.text


def test_storage_unavailable_is_503_and_nothing_runs(
    stack: Stack, settings_env: pytest.MonkeyPatch, tenant: str, key: str
) -> None:
    settings_env.setenv("IDEMPOTENCY_TABLE", "no-such-table")
    before = stack.llm.completions

    result = generate(stack, tenant, key)

    assert result.status == 503
    assert result.json["code"] == "storage_unavailable"
    assert stack.llm.completions == before


# --- expiry and crashes: the durable record ------------------------------------------------------


def test_a_record_past_its_ttl_counts_as_absent_although_still_in_the_table(
    stack: Stack, settings_env: pytest.MonkeyPatch, tenant: str, key: str
) -> None:
    settings_env.setenv("IDEMPOTENCY_TTL_GENERATE", "1")  # a record lives as long as a lease, 7 s
    generate(stack, tenant, "warm-up", timeout_s=LEASE_S)  # the SDK imported, the store built
    existing = {i["id"]["S"] for i in idempotency_items(stack)}
    first = generate(stack, tenant, key, timeout_s=LEASE_S)
    (record_id,) = {i["id"]["S"] for i in idempotency_items(stack)} - existing
    expires = {i["id"]["S"]: int(i["expiration"]["N"]) for i in idempotency_items(stack)}
    time.sleep(max(0.0, expires[record_id] + 1.1 - time.time()))  # at least as long as a lease
    now = int(time.time())
    expiry = {i["id"]["S"]: int(i["expiration"]["N"]) for i in idempotency_items(stack)}
    assert expiry[record_id] < now, "moto keeps the expired record, as DynamoDB may"
    before = stack.llm.completions

    again = generate(stack, tenant, key, timeout_s=LEASE_S)

    # The store treated the expired record as absent (a new claim was written) ...
    expiry = {i["id"]["S"]: int(i["expiration"]["N"]) for i in idempotency_items(stack)}
    assert expiry[record_id] >= now
    # ... and the durable usage record answered: same result, no new completion, no new cost.
    assert again.status == 200
    assert again.replayed
    assert again.text == first.text
    assert stack.llm.completions == before
    assert [i["idempotencyKey"]["S"] for i in usage_items(stack, tenant)].count(key) == 1


def test_crash_after_paying_replays_from_the_usage_record_after_the_lease(
    stack: Stack, settings_env: pytest.MonkeyPatch, tenant: str, key: str
) -> None:
    settings_env.setenv(CRASH_ENV, "generate.after_usage_record")
    before = stack.llm.completions
    with pytest.raises(SimulatedCrash):
        generate(stack, tenant, key, timeout_s=6)  # a lease of ~6 s (an LLM call needs 5)
    settings_env.delenv(CRASH_ENV)
    assert stack.llm.completions == before + 1

    in_flight = generate(stack, tenant, key)
    assert in_flight.status == 409  # the dead invocation's lease still holds the key
    time.sleep(6.5)

    retry = generate(stack, tenant, key)

    assert retry.status == 200
    assert retry.replayed
    assert stack.llm.completions == before + 1
    assert len(usage_items(stack, tenant)) == 1


# --- after DynamoDB's TTL sweeper ---------------------------------------------------------------


# A short idempotency window; the lease (and so the record, see `run_idempotent`) lasts ~6 s.
SHORT_TTL = {"IDEMPOTENCY_TTL_GENERATE": "2"}
LEASE_S = 6


def idempotency_ids(stack: Stack) -> set[str]:
    return {item["id"]["S"] for item in stack.items("IdempotencyTable")}


def wait_until_swept(stack: Stack, ids: set[str], timeout: float = 60) -> None:
    """Wait for the emulator's TTL sweeper (local/behaviours/ttl_sweeper.py: DynamoDB deletes an
    item "typically within a few days" after its TTL has passed) to delete these records."""
    deadline = time.monotonic() + timeout
    while ids & idempotency_ids(stack):
        assert time.monotonic() < deadline, "the TTL sweeper did not delete the records"
        time.sleep(0.5)


def test_a_retry_after_the_ttl_sweeper_deleted_the_record_is_answered_unpaid(
    stack: Stack, settings_env: pytest.MonkeyPatch, tenant: str, key: str
) -> None:
    for name, value in SHORT_TTL.items():
        settings_env.setenv(name, value)
    generate(stack, tenant, "warm-up", timeout_s=LEASE_S)  # the SDK imported, the store built
    earlier = idempotency_ids(stack)
    started = time.monotonic()
    first = generate(stack, tenant, key, timeout_s=LEASE_S)
    assert first.status == 200
    before = stack.llm.completions
    wait_until_swept(stack, idempotency_ids(stack) - earlier)
    time.sleep(max(0.0, LEASE_S + 1 - (time.monotonic() - started)))  # the cached copy expired

    retry = generate(stack, tenant, key, timeout_s=LEASE_S)

    assert retry.status == 200
    assert retry.replayed
    assert retry.json == first.json
    assert stack.llm.completions == before  # answered from the usage record, not paid again
    assert [i["idempotencyKey"]["S"] for i in usage_items(stack, tenant)].count(key) == 1


def test_another_body_after_the_ttl_sweeper_is_refused_before_paying(
    stack: Stack, settings_env: pytest.MonkeyPatch, tenant: str, key: str
) -> None:
    for name, value in SHORT_TTL.items():
        settings_env.setenv(name, value)
    generate(stack, tenant, "warm-up", timeout_s=LEASE_S)  # the SDK imported, the store built
    earlier = idempotency_ids(stack)
    assert generate(stack, tenant, key, timeout_s=LEASE_S).status == 200
    before = stack.llm.completions
    wait_until_swept(stack, idempotency_ids(stack) - earlier)

    other = generate(stack, tenant, key, {"prompt": "Something else entirely."}, timeout_s=LEASE_S)

    assert other.status == 422
    assert other.json["code"] == "idempotency_key_reused"
    assert stack.llm.completions == before
    assert [i["idempotencyKey"]["S"] for i in usage_items(stack, tenant)].count(key) == 1


def test_a_first_execution_whose_record_write_answer_was_lost_is_no_replay(
    stack: Stack, tenant: str, key: str
) -> None:
    from retryproof import aws

    before = stack.llm.completions
    with first_answer_lost(aws.dynamodb(), "PutItem", stack.refs.table("UsageTable")) as sent:
        first = generate(stack, tenant, key)

    assert sent == [200]  # the record was written; its answer lost; botocore sent it again
    assert first.status == 200
    assert not any(first.header(h) for h in REPLAY_HEADERS)  # the first execution's own answer
    assert stack.llm.completions == before + 1
    assert len(usage_items(stack, tenant)) == 1
    assert generate(stack, tenant, key, timeout_s=LEASE_S).replayed  # its replays are replays


# --- the running total, off the paid path --------------------------------------------------------


def test_concurrent_completions_of_one_tenant_write_no_shared_item(
    stack: Stack, tenant: str
) -> None:
    # Each paid completion is one conditional put on its own record: no transaction with a hot
    # per-tenant item (in DynamoDB, overlapping transactions on one item cancel each other).
    calls: list[str] = []

    def count(model: Any, params: Any, **_: Any) -> None:
        calls.append(model.name)

    from retryproof import aws

    events = aws.dynamodb().meta.events
    events.register("before-call.dynamodb", count, unique_id="count-usage-writes")
    try:
        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(lambda n: generate(stack, tenant, f"k-{n}"), range(16)))
    finally:
        events.unregister("before-call.dynamodb", unique_id="count-usage-writes")

    assert [r.status for r in results] == [200] * 16
    assert "TransactWriteItems" not in calls
    records = usage_items(stack, tenant)
    assert len(records) == 16
    assert not [i for i in stack.items("UsageTable") if i["tenantId"]["S"] == f"TOTAL#{tenant}"]

    stack.drain_streams()

    # The running total (and next to it today's, for the daily spend limit: docs/limits.md).
    totals = [i for i in stack.items("UsageTable") if i["tenantId"]["S"] == f"TOTAL#{tenant}"]
    (total,) = [i for i in totals if i["recordKey"]["S"] == "total"]
    assert {i["recordKey"]["S"] for i in totals} == {"total", f"day#{utc_day()}"}
    assert int(total["records"]["N"]) == 16
    assert int(total["costMicroUsd"]["N"]) == sum(int(r["costMicroUsd"]["N"]) for r in records)


def test_a_stream_record_delivered_twice_is_counted_once(stack: Stack, tenant: str) -> None:
    assert generate(stack, tenant, "k-1").status == 200
    (record,) = usage_items(stack, tenant)
    new_record = {
        "eventID": "1",
        "eventName": "INSERT",
        "eventSource": "aws:dynamodb",
        "dynamodb": {"NewImage": record, "SequenceNumber": "100", "Keys": {}},
    }
    for _ in range(3):  # at-least-once delivery: the same stream record, three times
        out = stack.invoke("UsageTotalsFunction", {"Records": [new_record]})
        assert out == {"batchItemFailures": []}
    stack.drain_streams()  # and the stream's own delivery of it

    listing = usage(stack, tenant).json
    assert listing["totalCostUsd"] == listing["records"][0]["costUsd"]
    totals = [i for i in stack.items("UsageTable") if i["tenantId"]["S"] == f"TOTAL#{tenant}"]
    assert [i["records"] for i in totals] == [{"N": "1"}] * 2  # the running total and today's


# --- GET /usage ---------------------------------------------------------------------------------


def test_usage_lists_records_totals_and_pages(stack: Stack, tenant: str) -> None:
    keys = [f"k-{i}" for i in range(3)]
    costs = [generate(stack, tenant, k).json["costUsd"] for k in keys]

    listing = usage(stack, tenant)
    assert listing.status == 200
    records = listing.json["records"]
    assert sorted(r["idempotencyKey"] for r in records) == keys
    assert {r["operation"] for r in records} == {"generate"}
    # The running total counts new records from the usage table's stream, off the paid path.
    assert listing.json["totalCostUsd"] == "0.000000"
    assert listing.json["totalAsOf"] is None
    stack.drain_streams()
    listing = usage(stack, tenant)
    assert listing.json["totalCostUsd"] == f"{sum(float(c) for c in costs):.6f}"
    assert listing.json["totalAsOf"] is not None

    seen, token, pages = [], None, 0
    while True:
        query = {"limit": "1"} | ({"nextToken": token} if token else {})
        page = usage(stack, tenant, **query).json
        seen += [r["idempotencyKey"] for r in page["records"]]
        token, pages = page["nextToken"], pages + 1
        if not token:
            break
    assert sorted(seen) == keys
    assert pages >= 3

    one = usage(stack, tenant, idempotencyKey="k-1").json
    assert [r["idempotencyKey"] for r in one["records"]] == ["k-1"]


def test_usage_is_tenant_scoped(stack: Stack, tenant: str) -> None:
    generate(stack, tenant, "mine")
    other = usage(stack, f"other-{tenant}").json
    assert other["records"] == []
    assert other["totalCostUsd"] == "0.000000"


@pytest.mark.parametrize("query", [{"limit": "0"}, {"limit": "101"}, {"nextToken": "%%%"}])
def test_usage_rejects_bad_queries(stack: Stack, tenant: str, query: dict[str, str]) -> None:
    result = usage(stack, tenant, **query)
    assert result.status in (400, 422)
    assert result.header("Content-Type") == "application/problem+json"


def test_a_lost_response_after_paying_keeps_the_key_leased_and_never_pays_twice(
    stack: Stack, tenant: str, key: str
) -> None:
    from botocore.exceptions import EndpointConnectionError

    from retryproof import aws

    usage_table = stack.refs.table("UsageTable")

    def mark(params: dict[str, Any], context: dict[str, Any], **_: object) -> None:
        context["lose"] = usage_table in str(params.get("body", ""))

    def lose_response(context: dict[str, Any], **_: object) -> None:
        if context.get("lose"):
            raise EndpointConnectionError(endpoint_url="http://dynamodb")  # the write happened

    events = aws.dynamodb().meta.events
    events.register("before-call.dynamodb.PutItem", mark, unique_id="mark")
    events.register("after-call.dynamodb.PutItem", lose_response, unique_id="lose")
    before = stack.llm.completions
    try:
        failed = generate(stack, tenant, key, timeout_s=6)
    finally:
        events.unregister("after-call.dynamodb.PutItem", unique_id="lose")
        events.unregister("before-call.dynamodb.PutItem", unique_id="mark")

    assert failed.status == 503
    assert failed.json["code"] == "storage_unavailable"
    assert 1 <= int(failed.header("Retry-After") or 0) <= 6
    assert len(usage_items(stack, tenant)) == 1  # the write did happen
    assert generate(stack, tenant, key).status == 409  # still leased, as after a crash
    time.sleep(6.2)

    retry = generate(stack, tenant, key)

    assert retry.status == 200
    assert retry.replayed  # from the usage record
    assert stack.llm.completions == before + 1
    assert len(usage_items(stack, tenant)) == 1
