"""Webhook deliveries and the SQS worker, in-process against the moto server and the fake LLM.

The webhook and read handlers are invoked with HTTP API events; the worker through the local event
source mapping (local/worker_loop.py) over a job queue of each test's own, so SQS does the
redelivery, the visibility timeouts and the move to the dead-letter queue. Every test checks the
state: messages on the queues, LLM completions, summaries, usage records, the event's status.
"""

from __future__ import annotations

import base64
import copy
import itertools
import json
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from local.worker_loop import redrive
from retryproof.dal.summaries import DynamoSummaryRepository
from retryproof.faults import ENV as CRASH_ENV
from retryproof.llm import MIN_CALL_MS
from retryproof.models.summaries import SummaryItem
from retryproof.webhooks import job_id_for
from tests.integration.conftest import Stack, webhook_secrets
from tests.support.events import event, http_event
from tests.support.handlers import Result
from tests.support.webhooks import Jobs, delivery_event, payload, signature_headers

OTHER_SECRET = "whsec_" + base64.b64encode(b"another-secret-of-32-bytes-12345").decode()

pytestmark = pytest.mark.integration

WEBHOOK = "WebhookFunction"
READS = "WebhookReadsFunction"
WORKER = "WorkerFunction"


def _result(out: dict[str, Any]) -> Result:
    return Result(out["statusCode"], out.get("headers") or {}, out["body"])


def deliver(
    stack: Stack,
    secret: str,
    body: dict[str, Any] | None = None,
    *,
    timeout_s: int | None = None,
    **kw: Any,
) -> Result:
    return _result(stack.invoke(WEBHOOK, delivery_event(secret, body, **kw), timeout_s=timeout_s))


def get_event(stack: Stack, tenant: str, event_id: str) -> Result:
    ev = http_event("webhook_event_get.json", tenant=tenant)
    ev["rawPath"] = ev["requestContext"]["http"]["path"] = f"/webhook-events/{event_id}"
    ev["pathParameters"] = {"eventId": event_id}
    return _result(stack.invoke(READS, ev))


def get_summary(stack: Stack, tenant: str, document_id: str) -> Result:
    ev = http_event("summary_get.json", tenant=tenant)
    ev["rawPath"] = ev["requestContext"]["http"]["path"] = f"/summaries/{document_id}"
    ev["pathParameters"] = {"documentId": document_id}
    return _result(stack.invoke(READS, ev))


def status_of(stack: Stack, tenant: str, event_id: str) -> dict[str, Any]:
    reply = get_event(stack, tenant, event_id)
    assert reply.status == 200, reply.text
    body: dict[str, Any] = reply.json
    return body


def event_item(stack: Stack, tenant: str, event_id: str) -> dict[str, Any] | None:
    out = stack.dynamodb.get_item(
        TableName=stack.refs.table("WebhookEventsTable"),
        Key={"tenantId": {"S": tenant}, "eventId": {"S": event_id}},
        ConsistentRead=True,
    )
    item: dict[str, Any] | None = out.get("Item")
    return item


def summaries(stack: Stack, tenant: str) -> list[dict[str, Any]]:
    return [i for i in stack.items("SummariesTable") if i["tenantId"]["S"] == tenant]


def usage_records(stack: Stack, tenant: str) -> list[dict[str, Any]]:
    return [i for i in stack.items("UsageTable") if i["tenantId"]["S"] == tenant]


def completed(stack: Stack, tenant: str, *event_ids: str) -> bool:
    return all(status_of(stack, tenant, e)["status"] == "completed" for e in event_ids)


def sqs_event(*bodies: dict[str, Any], message_ids: list[str] | None = None) -> dict[str, Any]:
    """An SQS event (events/worker_sqs_batch.json's shape) carrying these job bodies."""
    template = event("worker_sqs_batch.json")["Records"][0]
    records = []
    for n, body in enumerate(bodies):
        record = copy.deepcopy(template)
        record["messageId"] = message_ids[n] if message_ids else str(uuid.uuid4())
        record["body"] = json.dumps(body)
        records.append(record)
    return {"Records": records}


def job(tenant: str, event_id: str, document_id: str = "doc_1", time_ns: int = 1) -> dict[str, Any]:
    return {
        "tenantId": tenant,
        "eventId": event_id,
        "documentId": document_id,
        "jobId": job_id_for(tenant, event_id),
        "eventTimeNs": time_ns,
        "content": "A document to summarise.",
    }


# --- the edge: one message per event --------------------------------------------------------------


def test_first_delivery_is_accepted_once_and_later_ones_are_duplicates(
    stack: Stack, jobs: Jobs, tenant: str, webhook_secret: str
) -> None:
    body = payload(tenant)
    before = stack.llm.completions

    first = deliver(stack, webhook_secret, body)
    later = [deliver(stack, webhook_secret, body) for _ in range(3)]

    assert first.status == 202, first.text
    job_id = job_id_for(tenant, body["eventId"])
    assert first.json == {
        "jobId": job_id,
        "eventId": body["eventId"],
        "status": "queued",
        "duplicate": False,
    }
    for reply in later:
        assert reply.status == 200
        assert reply.json == first.json | {"duplicate": True}
    assert jobs.depth() == 1
    assert status_of(stack, tenant, body["eventId"]) == {
        "eventId": body["eventId"],
        "documentId": "doc_1",
        "jobId": job_id,
        "status": "queued",
        "attempts": 0,
    }

    jobs.run_until(lambda: completed(stack, tenant, body["eventId"]))
    again = deliver(stack, webhook_secret, body)

    assert again.status == 200
    assert again.json["duplicate"] is True
    assert jobs.depth() == 0
    assert stack.llm.completions == before + 1
    assert len(summaries(stack, tenant)) == 1
    (record,) = usage_records(stack, tenant)
    assert record["operation"]["S"] == "summarize"
    assert record["idempotencyKey"]["S"] == body["eventId"]
    assert status_of(stack, tenant, body["eventId"])["attempts"] == 1


def test_ten_concurrent_deliveries_enqueue_one_message_and_summarise_once(
    stack: Stack, jobs: Jobs, tenant: str, webhook_secret: str
) -> None:
    body = payload(tenant)
    delivery = delivery_event(webhook_secret, body)  # a sender's retries: the same message
    before = stack.llm.completions
    barrier = threading.Barrier(10)

    def one(_: int) -> Result:
        barrier.wait()
        return _result(stack.invoke(WEBHOOK, copy.deepcopy(delivery)))

    with ThreadPoolExecutor(10) as pool:
        replies = list(pool.map(one, range(10)))

    assert sorted(r.status for r in replies) == [200] * 9 + [202]
    assert {r.json["jobId"] for r in replies} == {job_id_for(tenant, body["eventId"])}
    assert sum(r.json["duplicate"] for r in replies) == 9
    assert jobs.depth() == 1

    jobs.run_until(lambda: completed(stack, tenant, body["eventId"]))

    assert stack.llm.completions == before + 1
    assert len(summaries(stack, tenant)) == 1
    assert len(usage_records(stack, tenant)) == 1


def test_after_the_idempotency_window_a_redelivery_may_enqueue_again_and_is_summarised_once(
    stack: Stack,
    jobs: Jobs,
    settings_env: pytest.MonkeyPatch,
    tenant: str,
    webhook_secret: str,
) -> None:
    # A window of 1 s; the record lives at least a lease (the 2 s timeout + 1: 3 s).
    settings_env.setenv("IDEMPOTENCY_TTL_WEBHOOK", "1")
    body = payload(tenant)  # no occurredAt: the event's time is its first delivery's timestamp
    first_ts = int(time.time()) - 60
    first = deliver(stack, webhook_secret, body, timestamp=first_ts, timeout_s=2)
    time.sleep(4.1)  # the edge's record expires (whole seconds)
    before = stack.llm.completions

    redelivery = deliver(stack, webhook_secret, body, timeout_s=2)

    assert (first.status, redelivery.status) == (202, 200)
    assert redelivery.json == first.json | {"duplicate": True}
    assert jobs.depth() == 2  # the event's record was still queued: enqueued again
    jobs.run_until(lambda: jobs.depth() == 0)
    assert stack.llm.completions == before + 1
    (summary,) = summaries(stack, tenant)
    assert int(summary["eventTimeNs"]["N"]) == first_ts * 1_000_000_000
    assert len(usage_records(stack, tenant)) == 1
    assert status_of(stack, tenant, body["eventId"])["attempts"] == 1

    time.sleep(4.1)
    late = deliver(stack, webhook_secret, body, timeout_s=2)

    assert late.status == 200
    assert late.json["duplicate"] is True
    assert jobs.depth() == 0  # completed: not enqueued again


def test_a_failed_send_releases_the_claim_so_the_retry_enqueues(
    stack: Stack,
    jobs: Jobs,
    settings_env: pytest.MonkeyPatch,
    tenant: str,
    webhook_secret: str,
) -> None:
    from retryproof.config import get_settings

    body = payload(tenant)
    settings_env.setenv("WEBHOOK_QUEUE_URL", jobs.queue_url + "-missing")
    get_settings.cache_clear()

    failed = deliver(stack, webhook_secret, body)

    assert failed.status == 503
    assert failed.json["code"] == "storage_unavailable"
    settings_env.setenv("WEBHOOK_QUEUE_URL", jobs.queue_url)
    get_settings.cache_clear()

    retry = deliver(stack, webhook_secret, body)

    assert retry.status == 202
    assert retry.json["duplicate"] is False
    assert jobs.depth() == 1


# --- authentication and validation -------------------------------------------------------------


def _tamper(ev: dict[str, Any]) -> None:
    ev["body"] = ev["body"].replace("revenue grew", "revenue fell")


@pytest.mark.parametrize(
    ("case", "mutate"),
    [
        ("another secret", lambda ev, other: ev["headers"].update(signature_headers(other, b"x"))),
        ("tampered body", lambda ev, other: _tamper(ev)),
        ("no webhook-id", lambda ev, other: ev["headers"].pop("webhook-id")),
        ("no webhook-timestamp", lambda ev, other: ev["headers"].pop("webhook-timestamp")),
        ("no webhook-signature", lambda ev, other: ev["headers"].pop("webhook-signature")),
        (
            "timestamp not a number",
            lambda ev, other: ev["headers"].update({"webhook-timestamp": "soon"}),
        ),
        (
            "signature of another id",
            lambda ev, other: ev["headers"].update({"webhook-id": "msg_x"}),
        ),
        (
            "unknown version",
            lambda ev, other: ev["headers"].update(
                {"webhook-signature": ev["headers"]["webhook-signature"].replace("v1,", "v2,")}
            ),
        ),
    ],
)
def test_unauthenticated_deliveries_get_401_and_enqueue_nothing(
    stack: Stack, jobs: Jobs, tenant: str, webhook_secret: str, case: str, mutate: Any
) -> None:
    body = payload(tenant)
    ev = delivery_event(webhook_secret, body)
    mutate(ev, OTHER_SECRET)

    reply = _result(stack.invoke(WEBHOOK, ev))

    assert reply.status == 401, case
    assert reply.headers["Content-Type"] == "application/problem+json"
    assert reply.json["code"] == "invalid_signature"
    assert jobs.depth() == 0
    assert event_item(stack, tenant, body["eventId"]) is None


@pytest.mark.parametrize("skew", [-301, 301, -3600])
def test_a_timestamp_more_than_5_minutes_off_gets_401(
    stack: Stack, jobs: Jobs, tenant: str, webhook_secret: str, skew: int
) -> None:
    body = payload(tenant)
    reply = deliver(stack, webhook_secret, body, timestamp=int(time.time()) + skew)
    assert reply.status == 401
    assert reply.json["code"] == "invalid_signature"
    assert jobs.depth() == 0
    assert event_item(stack, tenant, body["eventId"]) is None


def test_a_timestamp_within_5_minutes_is_accepted(
    stack: Stack, jobs: Jobs, tenant: str, webhook_secret: str
) -> None:
    assert (
        deliver(stack, webhook_secret, payload(tenant), timestamp=int(time.time()) - 290).status
        == 202
    )
    assert (
        deliver(stack, webhook_secret, payload(tenant), timestamp=int(time.time()) + 290).status
        == 202
    )


def test_an_unknown_tenant_gets_401_like_a_bad_signature(
    stack: Stack, jobs: Jobs, webhook_secret: str
) -> None:
    stranger = f"t-{uuid.uuid4().hex[:12]}"  # no secret stored
    reply = deliver(stack, webhook_secret, payload(stranger))
    bad = deliver(stack, OTHER_SECRET, payload(stranger))
    assert reply.status == bad.status == 401
    assert reply.json == bad.json
    assert jobs.depth() == 0


def test_a_body_naming_another_tenant_does_not_verify(
    stack: Stack, jobs: Jobs, tenant: str, webhook_secret: str
) -> None:
    other = f"t-{uuid.uuid4().hex[:12]}"
    webhook_secrets().put(other)
    # Signed with this tenant's secret, but claiming to be the other tenant's event.
    reply = deliver(stack, webhook_secret, payload(other))
    assert reply.status == 401
    assert jobs.depth() == 0


def test_a_rotated_secret_verifies_with_one_of_several_signatures(
    stack: Stack, jobs: Jobs, tenant: str, webhook_secret: str
) -> None:
    body = payload(tenant)
    raw = json.dumps(body).encode()
    good = signature_headers(webhook_secret, raw)
    old = signature_headers(OTHER_SECRET, raw)
    headers = good | {
        "webhook-signature": f"v1a,xyz {old['webhook-signature']} {good['webhook-signature']}"
    }
    reply = deliver(stack, webhook_secret, raw=raw, headers=headers)
    assert reply.status == 202, reply.text
    assert jobs.depth() == 1


def test_content_limits(stack: Stack, jobs: Jobs, tenant: str, webhook_secret: str) -> None:
    at_limit = payload(tenant, content="x" * 200_000)
    over = payload(tenant, content="x" * 200_001)
    huge = payload(tenant, content="x" * 300_000)

    assert deliver(stack, webhook_secret, at_limit).status == 202
    too_long = deliver(stack, webhook_secret, over)
    too_large = deliver(stack, webhook_secret, huge)

    assert too_long.status == too_large.status == 413
    assert too_long.json["code"] == too_large.json["code"] == "payload_too_large"
    assert jobs.depth() == 1
    assert event_item(stack, tenant, over["eventId"]) is None


def test_an_invalid_signed_body_is_422_and_enqueues_nothing(
    stack: Stack, jobs: Jobs, tenant: str, webhook_secret: str
) -> None:
    body = payload(tenant, occurred_at="2026-13-01T00:00:00Z")
    del body["documentId"]
    reply = deliver(stack, webhook_secret, body)
    assert reply.status == 422
    assert reply.json["code"] == "validation_error"
    assert {e["field"] for e in reply.json["errors"]} == {"documentId", "occurredAt"}
    assert jobs.depth() == 0


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-32"])
def test_a_signed_body_that_is_not_utf8_is_422_and_enqueues_nothing(
    stack: Stack, jobs: Jobs, tenant: str, webhook_secret: str, encoding: str
) -> None:
    body = payload(tenant)
    raw = json.dumps(body).encode(encoding)  # valid JSON that json.loads(bytes) would accept
    ev = delivery_event(webhook_secret, body)
    ev["headers"].update(signature_headers(webhook_secret, raw))
    ev["body"], ev["isBase64Encoded"] = base64.b64encode(raw).decode(), True  # as HTTP API sends it

    reply = _result(stack.invoke(WEBHOOK, ev))

    assert reply.status == 422
    assert reply.json["code"] == "validation_error"
    assert jobs.depth() == 0
    assert event_item(stack, tenant, body["eventId"]) is None


# --- the worker: once per event ------------------------------------------------------------------


def test_the_same_message_twice_and_two_messages_of_one_event_call_the_llm_once(
    stack: Stack, tenant: str
) -> None:
    event_id = f"evt_{uuid.uuid4().hex[:12]}"
    body = job(tenant, event_id)
    before = stack.llm.completions

    both = stack.invoke(WORKER, sqs_event(body, body))  # two messages of one event, one batch
    same = sqs_event(body, message_ids=["m-1"])
    again = [stack.invoke(WORKER, same), stack.invoke(WORKER, same)]  # one message, twice

    assert both == {"batchItemFailures": []}
    assert again == [{"batchItemFailures": []}] * 2
    assert stack.llm.completions == before + 1
    assert status_of(stack, tenant, event_id)["attempts"] == 1
    assert len(usage_records(stack, tenant)) == 1


def test_a_worker_without_time_to_finish_an_llm_call_does_not_start_it(
    stack: Stack, tenant: str
) -> None:
    # Lambda would end the function after the provider billed the call, before it was recorded,
    # and the redelivery would pay again. Below `MIN_CALL_MS` the record fails unpaid instead.
    event_id = f"evt_{uuid.uuid4().hex[:12]}"
    before = stack.llm.completions

    short = stack.invoke(
        WORKER, sqs_event(job(tenant, event_id), message_ids=["m"]), timeout_s=MIN_CALL_MS // 1000
    )

    assert short == {"batchItemFailures": [{"itemIdentifier": "m"}]}
    assert stack.llm.completions == before
    assert usage_records(stack, tenant) == []
    assert status_of(stack, tenant, event_id)["status"] == "queued"  # released for the redelivery
    # With the function's whole timeout, the redelivery summarises it.
    assert stack.invoke(WORKER, sqs_event(job(tenant, event_id))) == {"batchItemFailures": []}
    assert stack.llm.completions == before + 1
    assert status_of(stack, tenant, event_id)["attempts"] == 2


def test_a_live_lease_fails_only_that_record(stack: Stack, tenant: str) -> None:
    slow, other = f"evt_slow_{uuid.uuid4().hex[:8]}", f"evt_other_{uuid.uuid4().hex[:8]}"
    stack.llm.fault(delay_ms=1500)  # the first completion (the slow event's) takes 1.5 s
    before = stack.llm.completions
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(stack.invoke, WORKER, sqs_event(job(tenant, slow)))
        deadline = time.monotonic() + 5
        while (event_item(stack, tenant, slow) or {}).get("status") != {"S": "processing"}:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        batch = sqs_event(job(tenant, slow), job(tenant, other, "doc_2"), message_ids=["a", "b"])
        second = stack.invoke(WORKER, batch)
        assert first.result() == {"batchItemFailures": []}

    assert second == {"batchItemFailures": [{"itemIdentifier": "a"}]}
    assert completed(stack, tenant, slow, other)
    assert stack.llm.completions == before + 2
    assert status_of(stack, tenant, slow)["attempts"] == 1


@pytest.mark.parametrize("point", ["worker.after_llm", "worker.after_summary"])
def test_a_worker_that_dies_is_finished_by_the_redelivery_without_a_second_llm_call(
    stack: Stack,
    jobs: Jobs,
    settings_env: pytest.MonkeyPatch,
    tenant: str,
    webhook_secret: str,
    point: str,
) -> None:
    body = payload(tenant)
    event_id = body["eventId"]
    assert deliver(stack, webhook_secret, body).status == 202
    before = stack.llm.completions
    settings_env.setenv(CRASH_ENV, point)

    crashed = jobs.poll()

    assert crashed.crashed
    assert crashed.received == 1
    assert status_of(stack, tenant, event_id)["status"] == "processing"
    assert stack.llm.completions == before + 1  # paid for, and recorded with its result
    assert len(usage_records(stack, tenant)) == 1
    summary_then = summaries(stack, tenant)
    assert len(summary_then) == (1 if point == "worker.after_summary" else 0)
    settings_env.delenv(CRASH_ENV)

    # The message comes back after the visibility timeout; the dead worker's lease has expired.
    jobs.run_until(lambda: completed(stack, tenant, event_id))

    assert stack.llm.completions == before + 1
    assert len(usage_records(stack, tenant)) == 1
    (summary,) = summaries(stack, tenant)
    if summary_then:
        assert summary == summary_then[0]  # written once: the redelivery left it as it was
    assert summary["sourceEventId"]["S"] == event_id
    assert status_of(stack, tenant, event_id)["attempts"] == 2
    assert jobs.depth() == 0


def test_an_llm_failure_fails_its_record_alone_and_a_later_delivery_completes_it(
    stack: Stack, jobs: Jobs, tenant: str, webhook_secret: str
) -> None:
    bodies = [payload(tenant, document_id=f"doc_{n}") for n in range(3)]
    for body in bodies:
        assert deliver(stack, webhook_secret, body).status == 202
    ids = [b["eventId"] for b in bodies]
    before = stack.llm.completions
    # The first record's call fails (a 400 is not retried by the client, whatever its budget).
    stack.llm.fault(status=400, times=1)

    batch = jobs.poll()

    assert batch.received == 3
    assert len(batch.failed) == 1
    statuses = {e: status_of(stack, tenant, e) for e in ids}
    failed = [e for e, s in statuses.items() if s["status"] == "queued"]
    assert len(failed) == 1
    assert statuses[failed[0]]["attempts"] == 1
    assert event_item(stack, tenant, failed[0])["lastError"]["S"] == "llm_error"  # type: ignore[index]
    assert stack.llm.completions == before + 2  # failed calls are not counted
    assert len(usage_records(stack, tenant)) == 2

    jobs.run_until(lambda: completed(stack, tenant, *ids))

    assert stack.llm.completions == before + 3
    assert len(usage_records(stack, tenant)) == 3
    assert len(summaries(stack, tenant)) == 3
    assert status_of(stack, tenant, failed[0])["attempts"] == 2


def test_a_poison_message_goes_to_the_dlq_after_5_receives_and_its_event_is_failed(
    stack: Stack, jobs: Jobs, tenant: str, webhook_secret: str
) -> None:
    jobs.sqs.set_queue_attributes(QueueUrl=jobs.queue_url, Attributes={"VisibilityTimeout": "1"})
    body = payload(tenant)
    event_id = body["eventId"]
    assert deliver(stack, webhook_secret, body).status == 202
    jobs.sqs.send_message(QueueUrl=jobs.queue_url, MessageBody="not a job")
    before = stack.llm.completions
    stack.llm.fault(status=500, times=1000)

    jobs.run_until(lambda: jobs.dead_letters == 2)

    assert jobs.depth() == 0
    assert sum(p.received for p in jobs.polls) == 10  # 5 receives each
    assert status_of(stack, tenant, event_id) == {
        "eventId": event_id,
        "documentId": "doc_1",
        "jobId": job_id_for(tenant, event_id),
        "status": "failed",
        "attempts": 5,
    }
    assert summaries(stack, tenant) == []
    assert usage_records(stack, tenant) == []
    assert stack.llm.completions == before

    # After the cause is fixed, redriving the dead letters completes the event.
    stack.llm.clear()
    assert redrive(jobs.sqs, jobs.dlq_url, jobs.queue_url) == 2
    jobs.run_until(lambda: completed(stack, tenant, event_id))
    assert stack.llm.completions == before + 1
    assert status_of(stack, tenant, event_id)["attempts"] == 6


# --- ordering: the newest event's summary stays --------------------------------------------------


@pytest.mark.parametrize(
    ("old_at", "new_at"),
    [
        ("2026-11-27T10:00:00Z", "2026-11-27T10:05:00+00:00"),
        # 800 ns apart, within one microsecond: RFC 3339 times order to the nanosecond. The older
        # event's id sorts last, so a comparison that lost the nanoseconds would keep it.
        ("2026-11-27T10:00:00.000000100Z", "2026-11-27T10:00:00.000000900Z"),
    ],
    ids=["minutes apart", "800 ns apart"],
)
def test_an_older_event_arriving_late_does_not_replace_the_newer_summary(
    stack: Stack, jobs: Jobs, tenant: str, webhook_secret: str, old_at: str, new_at: str
) -> None:
    stamp = uuid.uuid4().hex[:12]
    old = payload(tenant, event_id=f"evt_z_{stamp}", content="old version", occurred_at=old_at)
    new = payload(tenant, event_id=f"evt_a_{stamp}", content="new version", occurred_at=new_at)
    before = stack.llm.completions

    deliver(stack, webhook_secret, new)
    jobs.run_until(lambda: completed(stack, tenant, new["eventId"]))
    deliver(stack, webhook_secret, old)
    jobs.run_until(lambda: completed(stack, tenant, old["eventId"]))

    summary = get_summary(stack, tenant, "doc_1").json
    assert summary["sourceEventId"] == new["eventId"]
    assert "new version" in summary["summary"]
    assert stack.llm.completions == before + 2  # the late one is still summarised and completed


def test_a_newer_event_replaces_the_summary(
    stack: Stack, jobs: Jobs, tenant: str, webhook_secret: str
) -> None:
    now = int(time.time())
    # Without occurredAt, the event's time is the webhook-timestamp of its first delivery.
    old, new = payload(tenant, content="first"), payload(tenant, content="second")
    deliver(stack, webhook_secret, old, timestamp=now - 100)
    jobs.run_until(lambda: completed(stack, tenant, old["eventId"]))
    assert get_summary(stack, tenant, "doc_1").json["sourceEventId"] == old["eventId"]

    deliver(stack, webhook_secret, new, timestamp=now - 50)
    jobs.run_until(lambda: completed(stack, tenant, new["eventId"]))

    assert get_summary(stack, tenant, "doc_1").json["sourceEventId"] == new["eventId"]


def test_events_of_one_document_in_one_batch_in_reverse_order(
    stack: Stack, jobs: Jobs, tenant: str, webhook_secret: str
) -> None:
    times = ["2026-11-27T10:00:03Z", "2026-11-27T10:00:02Z", "2026-11-27T10:00:01Z"]
    bodies = [payload(tenant, occurred_at=t, content=t) for t in times]  # newest first
    for body in bodies:
        deliver(stack, webhook_secret, body)

    jobs.run_until(lambda: completed(stack, tenant, *(b["eventId"] for b in bodies)))

    assert get_summary(stack, tenant, "doc_1").json["sourceEventId"] == bodies[0]["eventId"]
    assert len(summaries(stack, tenant)) == 1


# --- reads -------------------------------------------------------------------------------------


def test_reads_are_tenant_scoped_and_404_until_there_is_something(
    stack: Stack, jobs: Jobs, tenant: str, webhook_secret: str
) -> None:
    body = payload(tenant, document_id="doc_reads")
    event_id = body["eventId"]
    assert get_event(stack, tenant, event_id).json["code"] == "webhook_event_not_found"
    assert get_summary(stack, tenant, "doc_reads").json["code"] == "summary_not_found"

    deliver(stack, webhook_secret, body)
    assert get_summary(stack, tenant, "doc_reads").status == 404  # not processed yet
    jobs.run_until(lambda: completed(stack, tenant, event_id))

    summary = get_summary(stack, tenant, "doc_reads")
    assert summary.status == 200
    assert set(summary.json) == {
        "documentId",
        "summary",
        "model",
        "tokens",
        "sourceEventId",
        "generatedAt",
    }
    assert summary.json["documentId"] == "doc_reads"
    assert summary.json["tokens"] > 0
    stranger = f"t-{uuid.uuid4().hex[:12]}"
    assert get_event(stack, stranger, event_id).status == 404
    assert get_summary(stack, stranger, "doc_reads").status == 404


def test_the_newest_summary_stays_whatever_the_order_of_arrival(stack: Stack, tenant: str) -> None:
    """put_if_newer's condition, in DynamoDB: a later event time wins, equal times fall to the
    greater event id, and an event never replaces itself."""
    repo = DynamoSummaryRepository(stack.dynamodb, stack.refs.table("SummariesTable"))

    def summary(document_id: str, event_id: str, time_ns: int) -> SummaryItem:
        return SummaryItem(
            tenant_id=tenant,
            document_id=document_id,
            summary=f"of {event_id}",
            model="m",
            tokens=1,
            source_event_id=event_id,
            event_time_ns=time_ns,
            generated_at="t",
        )

    events = [("evt_a", 10), ("evt_b", 30), ("evt_c", 20), ("evt_d", 30)]
    for n, order in enumerate(itertools.permutations(events)):
        document_id = f"doc_{n}"
        written = [repo.put_if_newer(summary(document_id, *e)) for e in order]
        # each write lands exactly when its event is the newest so far
        newest = [e == max(order[: i + 1], key=lambda x: (x[1], x[0])) for i, e in enumerate(order)]
        assert written == newest, order
        stored = repo.get(tenant, document_id)
        assert stored is not None
        assert (stored.source_event_id, stored.summary) == ("evt_d", "of evt_d")
        assert repo.put_if_newer(summary(document_id, "evt_d", 30)) is False
