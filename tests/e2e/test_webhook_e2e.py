"""Webhooks and the worker over HTTP: `python -m local` with its SQS worker loop.

The deliveries run on a stack of this module's own with the template's timeouts (the worker's
first, cold invocation has its whole timeout, as in Lambda). The dead-letter test needs five
receives soon, so it starts a stack with PARAMETER_OVERRIDES (as `sam --parameter-overrides`):
a worker timeout of 8 s, long enough for the worker to start an LLM call (it refuses to start one
it could not finish and record), and a visibility timeout of 14 s: a lease ends when its invocation
would time out, and the 6 s between them leave room for an invocation that starts late on a busy
machine (the template's defaults keep AWS's 6x).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest

from local.resources import aws_environment
from local.template import ACCOUNT_ID, physical_name
from tests.e2e.conftest import ACME_KEY, GLOBEX_KEY, ROOT, LocalApi, start_stack, stop_stack
from tests.support.client import Reply
from tests.support.webhooks import PATH, payload, signature_headers

pytestmark = pytest.mark.e2e

# Lambda refuses an SQS trigger whose queue's visibility timeout is below the function timeout.
FAST_REDELIVERY = "WorkerTimeout=8 WorkerVisibilityTimeout=14"
MARKER = "Confidential board minutes"  # document text: must never reach the logs


def seed_secret(tenant: str) -> str:
    seed = json.loads((ROOT / "local" / "seed.json").read_text())
    return str(next(t["webhookSecret"] for t in seed["tenants"] if t["id"] == tenant))


ACME_SECRET = seed_secret("acme")


def _stack(log: Any, **env: str) -> Iterator[LocalApi]:
    stack = start_stack(log, **env)
    yield stack
    assert stop_stack(stack) == 0, log.read_text()[-2000:]
    text = log.read_text()
    assert "whsec_" not in text
    assert ACME_SECRET.removeprefix("whsec_") not in text
    assert MARKER not in text
    assert ACME_KEY not in text


@pytest.fixture(scope="module")
def hooks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalApi]:
    yield from _stack(tmp_path_factory.mktemp("webhooks") / "local.log")


@pytest.fixture(scope="module")
def fast_hooks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalApi]:
    log = tmp_path_factory.mktemp("webhooks-fast") / "local.log"
    yield from _stack(log, PARAMETER_OVERRIDES=FAST_REDELIVERY)


@pytest.fixture(autouse=True)
def _clear_faults(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    for name in ("hooks", "fast_hooks"):
        if name in request.fixturenames:
            request.getfixturevalue(name).llm.clear()


def post(
    api: LocalApi,
    body: dict[str, Any],
    *,
    secret: str = ACME_SECRET,
    timestamp: int | None = None,
    raw: bytes | None = None,
) -> Reply:
    raw = raw if raw is not None else json.dumps(body).encode()
    headers = signature_headers(secret, raw, timestamp=timestamp)
    return api.call("POST", PATH, key=None, raw=raw, headers=headers)


def wait_for(check: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"not true after {timeout}s"
        time.sleep(0.1)


def event_status(api: LocalApi, event_id: str) -> dict[str, Any]:
    reply = api.call("GET", f"/webhook-events/{event_id}")
    return reply.json if reply.status == 200 else {"status": reply.status}


def completed(api: LocalApi, *event_ids: str) -> Callable[[], bool]:
    return lambda: all(event_status(api, e)["status"] == "completed" for e in event_ids)


def doc() -> str:
    return f"doc_{uuid.uuid4().hex[:10]}"


def test_a_delivery_is_accepted_once_summarised_once_and_readable(hooks: LocalApi) -> None:
    body = payload("acme", document_id=doc(), content=f"{MARKER}: the budget was approved.")
    before = hooks.llm.completions

    first = post(hooks, body)
    again = post(hooks, body)

    assert first.status == 202, first.text
    assert first.json["duplicate"] is False
    assert first.json["status"] == "queued"
    assert again.status == 200
    assert again.json == first.json | {"duplicate": True}
    assert again.header("X-Original-Request-Time") == first.header("X-Original-Request-Time")
    wait_for(completed(hooks, body["eventId"]))

    assert event_status(hooks, body["eventId"]) == {
        "eventId": body["eventId"],
        "documentId": body["documentId"],
        "jobId": first.json["jobId"],
        "status": "completed",
        "attempts": 1,
    }
    summary = hooks.call("GET", f"/summaries/{body['documentId']}")
    assert summary.status == 200
    assert summary.json["sourceEventId"] == body["eventId"]
    usage = hooks.call("GET", f"/usage?idempotencyKey={body['eventId']}").json
    assert [r["operation"] for r in usage["records"]] == ["summarize"]
    assert hooks.llm.completions == before + 1
    # Tenant-scoped: another tenant sees neither.
    assert hooks.call("GET", f"/webhook-events/{body['eventId']}", key=GLOBEX_KEY).status == 404
    assert hooks.call("GET", f"/summaries/{body['documentId']}", key=GLOBEX_KEY).status == 404


def test_ten_concurrent_deliveries_are_summarised_once(hooks: LocalApi) -> None:
    body = payload("acme", document_id=doc())
    raw = json.dumps(body).encode()
    headers = signature_headers(ACME_SECRET, raw)  # a sender retrying one message
    before = hooks.llm.completions
    barrier = threading.Barrier(10)

    def one(_: int) -> Reply:
        barrier.wait()
        return hooks.call("POST", PATH, key=None, raw=raw, headers=headers)

    with ThreadPoolExecutor(10) as pool:
        replies = list(pool.map(one, range(10)))

    assert sorted(r.status for r in replies) == [200] * 9 + [202]
    assert len({r.json["jobId"] for r in replies}) == 1
    wait_for(completed(hooks, body["eventId"]))
    time.sleep(1.5)  # a second message, had there been one, would be processed by now
    assert hooks.llm.completions == before + 1
    assert event_status(hooks, body["eventId"])["attempts"] == 1
    usage = hooks.call("GET", f"/usage?idempotencyKey={body['eventId']}").json
    assert len(usage["records"]) == 1


@pytest.mark.parametrize(
    "case",
    ["bad signature", "tampered body", "old timestamp", "unknown tenant", "no headers"],
)
def test_unauthenticated_deliveries_are_401_and_nothing_is_recorded(
    hooks: LocalApi, case: str
) -> None:
    body = payload("acme", document_id=doc())
    raw = json.dumps(body).encode()
    headers = signature_headers(ACME_SECRET, raw)
    if case == "bad signature":
        headers = signature_headers(seed_secret("globex"), raw)
    elif case == "tampered body":
        raw = json.dumps(body | {"content": "changed"}).encode()
    elif case == "old timestamp":
        headers = signature_headers(ACME_SECRET, raw, timestamp=int(time.time()) - 301)
    elif case == "unknown tenant":
        raw = json.dumps(body | {"tenantId": "nobody"}).encode()
        headers = signature_headers(ACME_SECRET, raw)
    elif case == "no headers":
        headers = {}
    before = hooks.llm.completions

    reply = hooks.call("POST", PATH, key=None, raw=raw, headers=headers)

    assert reply.status == 401
    assert reply.header("Content-Type") == "application/problem+json"
    assert reply.json["code"] == "invalid_signature"
    assert hooks.call("GET", f"/webhook-events/{body['eventId']}").status == 404
    assert hooks.llm.completions == before


def test_content_over_200000_characters_is_413(hooks: LocalApi) -> None:
    reply = post(hooks, payload("acme", content="x" * 200_001))
    assert reply.status == 413
    assert reply.json["code"] == "payload_too_large"


def test_the_newest_event_of_a_document_keeps_its_summary(hooks: LocalApi) -> None:
    document = doc()
    new = payload("acme", document_id=document, occurred_at="2026-11-27T12:00:00Z")
    old = payload("acme", document_id=document, occurred_at="2026-11-27T11:00:00Z")

    assert post(hooks, new).status == 202
    wait_for(completed(hooks, new["eventId"]))
    assert post(hooks, old).status == 202
    wait_for(completed(hooks, old["eventId"]))

    summary = hooks.call("GET", f"/summaries/{document}").json
    assert summary["sourceEventId"] == new["eventId"]


def _queue_depth(api: LocalApi, logical_id: str) -> int:
    endpoint = f"http://127.0.0.1:{api.emulator_port}"
    env = aws_environment(endpoint)
    sqs = boto3.Session(
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        region_name=env["AWS_REGION"],
    ).client("sqs", endpoint_url=endpoint)
    url = f"{endpoint}/{ACCOUNT_ID}/{physical_name(logical_id)}"
    attrs = sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]) + int(
        attrs["ApproximateNumberOfMessagesNotVisible"]
    )


def _failures(api: LocalApi, event_id: str) -> list[dict[str, Any]]:
    """The worker's "record failed" log lines of one event, in the order they were written."""
    out = []
    for line in api.log.read_text(errors="replace").splitlines():
        if line.startswith("{") and '"record failed"' in line:
            try:
                record = json.loads(line)
            except ValueError:  # a line another writer's unflushed output ran into
                continue
            if record.get("event_id") == event_id:
                out.append(record)
    return out


def test_a_poison_message_is_dead_lettered_its_event_failed_and_redrive_completes_it(
    fast_hooks: LocalApi,
) -> None:
    hooks = fast_hooks
    body = payload("acme", document_id=doc())
    hooks.llm.fault(status=500, times=1000)

    assert post(hooks, body).status == 202
    wait_for(lambda: event_status(hooks, body["eventId"])["status"] == "failed", timeout=180)
    # SQS moves it on the receive after the 5th, one visibility timeout (14 s) later.
    wait_for(lambda: _queue_depth(hooks, "WebhookJobsDeadLetterQueue") == 1, timeout=60)

    # Five receives (the dead-letter queue has the message), each one an attempt — a lease, and
    # an LLM call — unless it found the previous receive's lease still live (its invocation started
    # late, so its lease, ending at its own timeout, outlived the visibility timeout): that receive
    # fails the record with `EventBusy` and leases nothing. (A receive whose invocation timed out
    # took its lease but logs no line: the count below does not rely on every receive's line.)
    busy = sum(r["error"] == "EventBusy" for r in _failures(hooks, body["eventId"]))
    attempts = event_status(hooks, body["eventId"])["attempts"]
    assert attempts == 5 - busy
    assert _queue_depth(hooks, "WebhookJobsQueue") == 0
    assert hooks.call("GET", f"/summaries/{body['documentId']}").status == 404

    hooks.llm.clear()
    before = hooks.llm.completions
    redriven = subprocess.run(
        [sys.executable, "-m", "local.worker_loop", "redrive"],
        cwd=ROOT,
        env=os.environ | {"AWS_EMULATOR_PORT": str(hooks.emulator_port)},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "WebhookJobsQueue: 1 message(s) moved back" in redriven.stdout
    wait_for(completed(hooks, body["eventId"]))
    assert hooks.llm.completions == before + 1
    assert event_status(hooks, body["eventId"])["attempts"] == attempts + 1


def test_the_signing_command_posts_a_delivery(hooks: LocalApi) -> None:
    event_id = f"evt_{uuid.uuid4().hex[:12]}"
    command = [
        sys.executable,
        "-m",
        "tools.sign_webhook",
        "send",
        "--tenant",
        "acme",
        "--doc",
        doc(),
        "--event-id",
        event_id,
        "--url",
        hooks.url,
    ]
    env = os.environ | {"PYTHONPATH": f"{ROOT / 'layers' / 'common'}{os.pathsep}{ROOT}"}

    first = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    again = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)

    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("HTTP/1.1 202")
    assert '"duplicate": true' in again.stdout
    wait_for(completed(hooks, event_id))
