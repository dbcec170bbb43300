"""The webhook edge without AWS: authentication, acceptance, duplicates, statuses."""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from typing import Any

import pytest

from retryproof.errors import (
    IdempotencyKeyInUse,
    InvalidSignature,
    PayloadTooLarge,
    StorageUnavailable,
    ValidationFailed,
    WebhookEventNotFound,
)
from retryproof.http import raw_body
from retryproof.models.outcome import StoredOutcome
from retryproof.models.webhooks import WebhookEventItem, WebhookSecretSet
from retryproof.webhooks import (
    Delivery,
    accept,
    authenticate,
    get_event,
    job_id_for,
    public_status,
    receive,
)
from tests.support.webhook_fakes import FakeEvents, FakeQueue, FakeSecrets
from tests.support.webhooks import signature_headers

pytestmark = pytest.mark.unit

SECRET = "whsec_Fo2K2eUCIr+F8+1khegsfssVd57kgeSQ"
NOW = 1_795_806_238
OTHER = "whsec_YW5vdGhlci1zZWNyZXQtb2YtMzItYnl0ZXMtMTIzNDU="


def body(**fields: Any) -> dict[str, Any]:
    base = {"eventId": "evt_1", "tenantId": "acme", "documentId": "doc_1", "content": "text"}
    return {k: v for k, v in (base | fields).items() if v is not None}


def delivery(
    fields: dict[str, Any] | None = None,
    *,
    secret: str = SECRET,
    timestamp: int = NOW,
    secrets: FakeSecrets | None = None,
    raw: bytes | None = None,
) -> Delivery:
    raw = raw if raw is not None else json.dumps(fields or body()).encode()
    headers = signature_headers(secret, raw, timestamp=timestamp)
    return authenticate(
        raw, headers, secrets=secrets or FakeSecrets({"acme": SECRET}), now=float(NOW)
    )


# --- authenticate ---------------------------------------------------------------------------------


def test_a_signed_delivery_is_authenticated_and_validated() -> None:
    d = delivery(body(occurredAt="2026-11-27T10:00:00.5+02:00", extra="ignored"))
    assert d.request.event_id == "evt_1"
    assert d.request.tenant_id == "acme"
    assert d.request.occurred_at == "2026-11-27T10:00:00.5+02:00"
    assert d.signed.timestamp == NOW


def test_an_unknown_tenant_is_401_with_the_same_answer_as_a_bad_signature() -> None:
    with pytest.raises(InvalidSignature) as unknown:
        delivery(body(tenantId="nobody"))
    with pytest.raises(InvalidSignature) as bad:
        delivery(secret="whsec_YW5vdGhlci1zZWNyZXQtb2YtMzItYnl0ZXMtMTIzNDU=")
    assert unknown.value.problem() == bad.value.problem()


class CountingSecrets(FakeSecrets):
    def __init__(self) -> None:
        super().__init__({"acme": SECRET})
        self.lookups = 0

    def get(self, tenant_id: str) -> WebhookSecretSet | None:
        self.lookups += 1
        return super().get(tenant_id)


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b"[1, 2]",
        b'{"tenantId": 7}',
        b'{"eventId": "e"}',
        json.dumps(body(tenantId="x" * 129)).encode(),
        b"\xff\xfe",
    ],
)
def test_a_body_without_a_usable_tenant_is_401_before_any_lookup(raw: bytes) -> None:
    secrets = CountingSecrets()
    with pytest.raises(InvalidSignature):
        delivery(raw=raw, secrets=secrets)
    assert secrets.lookups == 0


def test_a_malformed_signature_is_refused_before_any_lookup() -> None:
    secrets = CountingSecrets()
    raw = json.dumps(body()).encode()
    headers = signature_headers(SECRET, raw, timestamp=NOW) | {"webhook-signature": "v1,nope"}
    with pytest.raises(InvalidSignature):
        authenticate(raw, headers, secrets=secrets, now=float(NOW))
    assert secrets.lookups == 0


class RotatingSecrets:
    def __init__(self, expires_at: int) -> None:
        self.expires_at = expires_at

    def get(self, tenant_id: str) -> WebhookSecretSet | None:
        return WebhookSecretSet(
            current=NEW, previous=SECRET, previous_expires_at=self.expires_at, updated_at="t"
        )


NEW = "whsec_" + base64.b64encode(b"the new secret of the rotation!!").decode()


def test_during_a_rotation_both_secrets_verify_and_the_old_one_stops_at_its_expiry() -> None:
    during = RotatingSecrets(expires_at=NOW + 1)
    assert delivery(secret=SECRET, secrets=during).request.event_id == "evt_1"
    assert delivery(secret=NEW, secrets=during).request.event_id == "evt_1"
    after = RotatingSecrets(expires_at=NOW)
    assert delivery(secret=NEW, secrets=after).request.event_id == "evt_1"
    with pytest.raises(InvalidSignature):
        delivery(secret=SECRET, secrets=after)


def test_an_old_timestamp_is_refused_before_any_lookup() -> None:
    secrets = CountingSecrets()
    with pytest.raises(InvalidSignature, match="5 minutes"):
        delivery(timestamp=NOW - 301, secrets=secrets)
    assert secrets.lookups == 0


def test_content_over_200000_characters_is_413_but_only_once_authenticated() -> None:
    delivery(body(content="é" * 200_000))  # characters, not bytes
    with pytest.raises(PayloadTooLarge):
        delivery(body(content="x" * 200_001))
    with pytest.raises(InvalidSignature):
        delivery(body(content="x" * 200_001), secret=OTHER)


@pytest.mark.parametrize(
    ("fields", "invalid"),
    [
        (body(documentId=None), {"documentId"}),
        (body(eventId=""), {"eventId"}),
        (body(eventId="has space"), {"eventId"}),
        (body(documentId="a/b"), {"documentId"}),
        (body(content=5), {"content"}),
        (body(occurredAt="2026-11-27"), {"occurredAt"}),
        (body(occurredAt="2026-11-27T10:00:00"), {"occurredAt"}),  # RFC 3339 needs an offset
        (body(occurredAt="2026-02-30T10:00:00Z"), {"occurredAt"}),
        (body(occurredAt=1795806238), {"occurredAt"}),
    ],
)
def test_an_invalid_signed_body_is_a_validation_error(
    fields: dict[str, Any], invalid: set[str]
) -> None:
    with pytest.raises(ValidationFailed) as raised:
        delivery(fields)
    assert raised.value.status == 422
    assert {e["field"] for e in raised.value.extra["errors"]} == invalid


def test_a_base64_encoded_body_is_verified_as_sent() -> None:
    raw = json.dumps(body(content="ünïcode")).encode()
    event = {"body": base64.b64encode(raw).decode(), "isBase64Encoded": True}
    assert raw_body(event) == raw
    assert raw_body({"body": raw.decode()}) == raw
    assert raw_body({}) == b""


# --- accept: the idempotent section ------------------------------------------------------------


def test_the_first_acceptance_enqueues_and_answers_202() -> None:
    events, queue = FakeEvents(), FakeQueue()
    outcome = accept(delivery(), events=events, queue=queue)

    assert outcome.status == 202
    assert json.loads(outcome.body) == {
        "jobId": job_id_for("acme", "evt_1"),
        "eventId": "evt_1",
        "status": "queued",
        "duplicate": False,
    }
    (sent,) = queue.sent
    assert (sent.tenant_id, sent.event_id, sent.content) == ("acme", "evt_1", "text")
    assert sent.event_time_ns == NOW * 1_000_000_000  # no occurredAt: the delivery's timestamp
    item = events.get("acme", "evt_1")
    assert item is not None
    assert (item.status, item.attempts, item.accepted_at) == (
        "queued",
        0,
        outcome.original_request_time,
    )


def test_a_later_acceptance_is_a_duplicate_with_the_first_time_of_the_event() -> None:
    events, queue = FakeEvents(), FakeQueue()
    first = accept(delivery(timestamp=NOW - 100), events=events, queue=queue)
    again = accept(delivery(body(documentId="doc_other")), events=events, queue=queue)

    assert again.status == 200
    assert json.loads(again.body) == json.loads(first.body) | {"duplicate": True}
    assert again.original_request_time == first.original_request_time
    assert len(queue.sent) == 2  # still queued: enqueued again, the worker deduplicates
    assert queue.sent[1].event_time_ns == (NOW - 100) * 1_000_000_000  # the first delivery's time
    assert queue.sent[1].document_id == "doc_1"  # a redelivery is the same event


def test_a_completed_event_is_not_enqueued_again() -> None:
    events, queue = FakeEvents(), FakeQueue()
    accept(delivery(), events=events, queue=queue)
    item = events.get("acme", "evt_1")
    assert item is not None
    events.items[("acme", "evt_1")] = replace(item, status="completed")

    again = accept(delivery(), events=events, queue=queue)

    assert again.status == 200
    assert len(queue.sent) == 1


def test_a_failed_send_raises_and_the_retry_is_the_first_accepted_delivery() -> None:
    events = FakeEvents()
    with pytest.raises(StorageUnavailable):
        accept(delivery(), events=events, queue=FakeQueue(fail=True))
    item = events.get("acme", "evt_1")
    assert item is not None
    assert item.accepted_at is None

    queue = FakeQueue()
    retry = accept(delivery(), events=events, queue=queue)
    assert retry.status == 202
    assert len(queue.sent) == 1


def test_the_job_id_is_derived_from_tenant_and_event() -> None:
    assert job_id_for("acme", "evt_1") == job_id_for("acme", "evt_1")
    assert job_id_for("acme", "evt_1") != job_id_for("globex", "evt_1")
    assert job_id_for("a\nb", "c") != job_id_for("a", "b\nc")


# --- receive: replays and in-flight deliveries --------------------------------------------------

ACCEPTED = StoredOutcome(
    status=202,
    body=json.dumps({"jobId": "job_1", "eventId": "e", "status": "queued", "duplicate": False}),
    original_request_time="2026-11-27T10:00:00.000Z",
)


def test_a_replayed_acceptance_is_answered_as_a_duplicate() -> None:
    out = receive(lambda: replace(ACCEPTED, replayed=True))
    assert out.status == 200
    assert json.loads(out.body)["duplicate"] is True
    assert out.replayed
    assert out.original_request_time == ACCEPTED.original_request_time
    assert receive(lambda: ACCEPTED) == ACCEPTED


def test_a_delivery_racing_another_waits_for_it_then_answers_as_a_duplicate() -> None:
    attempts: list[int] = []
    sleeps: list[float] = []

    def run() -> StoredOutcome:
        attempts.append(1)
        if len(attempts) < 3:
            raise IdempotencyKeyInUse("in flight", headers={"Retry-After": "1"})
        return replace(ACCEPTED, replayed=True)

    out = receive(run, sleep=sleeps.append)
    assert out.status == 200
    assert len(attempts) == 3
    assert sleeps == [0.05, 0.1]


def test_a_delivery_still_racing_after_the_wait_gets_409() -> None:
    def run() -> StoredOutcome:
        raise IdempotencyKeyInUse("in flight", headers={"Retry-After": "1"})

    with pytest.raises(IdempotencyKeyInUse) as raised:
        receive(run, wait_seconds=0.0, sleep=lambda _: None)
    assert raised.value.status == 409
    assert raised.value.headers == {"Retry-After": "1"}
    assert "delivery" in raised.value.detail


# --- statuses -----------------------------------------------------------------------------------


def item(**update: Any) -> WebhookEventItem:
    base = WebhookEventItem(
        tenant_id="acme",
        event_id="evt_1",
        document_id="doc_1",
        job_id="job_1",
        status="processing",
        attempts=1,
        event_time_ns=0,
        created_at="t",
        lease_expires_at_ms=1_000,
    )
    return replace(base, **update)


@pytest.mark.parametrize(
    ("event", "now_ms", "status"),
    [
        (item(), 999, "processing"),  # a live lease
        (item(), 1_001, "queued"),  # the attempt died: its message comes back
        (item(final_attempt=True), 1_001, "failed"),  # ... after its last receive: in the DLQ
        (item(final_attempt=True), 999, "processing"),
        (item(status="completed", lease_expires_at_ms=None), 5_000, "completed"),
        (item(status="failed", lease_expires_at_ms=None), 5_000, "failed"),
        (item(status="queued", lease_expires_at_ms=None), 5_000, "queued"),
    ],
)
def test_the_status_a_reader_sees(event: WebhookEventItem, now_ms: int, status: str) -> None:
    assert public_status(event, now_ms) == status


def test_get_event_is_404_for_an_unknown_or_foreign_event() -> None:
    events = FakeEvents()
    accept(delivery(), events=events, queue=FakeQueue())
    assert get_event(events, tenant_id="acme", event_id="evt_1", now_ms=0).status == "queued"
    with pytest.raises(WebhookEventNotFound):
        get_event(events, tenant_id="globex", event_id="evt_1", now_ms=0)


def test_a_body_nested_too_deep_is_an_invalid_signature_not_a_crash() -> None:
    with pytest.raises(InvalidSignature):
        delivery(raw=b"[" * 100_000)
