"""The document-uploaded webhook: authenticate a delivery, accept each event once, enqueue it.

Two levels, as everywhere in retryproof:

1. The edge: Powertools idempotency keyed on (tenant, eventId) answers redeliveries fast — the
   first accepted delivery gets 202 and enqueues one message; any later one gets 200 with the same
   `jobId` and `duplicate: true`. A redelivery is the same event, so its body is never compared.
2. The worker's processed-events table (see `retryproof.worker`) keeps the summary single however
   many messages an event ends up in (SQS delivers at least once; a redelivery after the
   idempotency record expired may enqueue again).

The `jobId` is derived from (tenant, eventId), so it is the same for every delivery, before and
after the idempotency record expires.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Final, NamedTuple

from aws_lambda_powertools import Logger

from retryproof import observability as obs
from retryproof.clock import event_time_ns, now_iso
from retryproof.dal.events import EventRepository
from retryproof.dal.queue import JobQueue
from retryproof.dal.webhook_secrets import WebhookSecretRepository
from retryproof.errors import (
    IdempotencyKeyInUse,
    InvalidSignature,
    PayloadTooLarge,
    ValidationFailed,
    WebhookEventNotFound,
    invalid_fields,
)
from retryproof.faults import crash_point
from retryproof.models.messages import SummarizeJob
from retryproof.models.outcome import StoredOutcome
from retryproof.models.webhooks import (
    MAX_DOCUMENT_CHARS,
    DocumentUploadedRequest,
    EventStatus,
    WebhookAccepted,
    WebhookEventItem,
    WebhookEventOut,
)
from retryproof.shapes import Invalid
from retryproof.signatures import (
    NO_MATCH,
    SignedHeaders,
    has_v1_signature,
    read_headers,
    verify_any,
)

logger = Logger(child=True)

OPERATION: Final = "webhook"
MAX_TENANT_ID_LENGTH = 128
# How long a delivery waits for a concurrent delivery of the same event to finish before it
# answers 409 (the sender then retries): long enough for the few writes of an acceptance.
IN_FLIGHT_WAIT_SECONDS = 3.0


class Delivery(NamedTuple):
    """An authenticated delivery: its validated body and signature headers."""

    request: DocumentUploadedRequest
    signed: SignedHeaders


def job_id_for(tenant_id: str, event_id: str) -> str:
    # JSON keeps the two apart unambiguously, whatever characters they hold.
    digest = hashlib.sha256(json.dumps([tenant_id, event_id]).encode()).hexdigest()
    return f"job_{digest[:32]}"


def authenticate(
    raw: bytes,
    headers: Mapping[str, str] | None,
    *,
    secrets: WebhookSecretRepository,
    now: float,
) -> Delivery:
    """Verify the delivery's signature with its tenant's secret, then validate its body.

    401 `invalid_signature` for missing or malformed headers, a timestamp more than 5 minutes
    off, an unknown tenant or no matching signature — checked before the body is looked at beyond
    its `tenantId`, so an unauthenticated caller learns nothing about validation. Then 413 for
    content over 200000 characters and 422 for an invalid body.

    A delivery without the headers, with a stale timestamp or without one well-formed `v1`
    signature is refused before the tenant's secret is looked up: it costs no AWS call. The
    tenant's secrets are the current one and, during a rotation's overlap, the previous one.
    """
    signed = read_headers(headers, now=now)  # the timestamp too
    if not has_v1_signature(signed):
        raise InvalidSignature(NO_MATCH)
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:  # nested too deep
        raise InvalidSignature(NO_MATCH) from exc
    tenant = body.get("tenantId") if isinstance(body, dict) else None
    if not isinstance(tenant, str) or not 0 < len(tenant) <= MAX_TENANT_ID_LENGTH:
        raise InvalidSignature(NO_MATCH)
    secret_set = secrets.get(tenant)
    if secret_set is None:
        logger.info("webhook for an unknown tenant refused")
        raise InvalidSignature(NO_MATCH)
    verify_any(secret_set.active(now), signed, raw)
    try:  # JSON text must be UTF-8 (RFC 8259 section 8.1); json.loads(bytes) also takes UTF-16/32
        raw.decode("utf-8")
        utf8 = b"\x00" not in raw  # UTF-16/32 JSON is ASCII interleaved with NULs
    except UnicodeDecodeError:
        utf8 = False
    if not utf8:
        raise ValidationFailed("the body is not valid JSON (not UTF-8)")

    content = body.get("content")
    if isinstance(content, str) and len(content) > MAX_DOCUMENT_CHARS:
        raise PayloadTooLarge(f"content is longer than {MAX_DOCUMENT_CHARS} characters")
    try:
        request = DocumentUploadedRequest.parse(body)
    except Invalid as exc:
        raise invalid_fields(exc.errors) from exc
    return Delivery(request, signed)


def _outcome(job: SummarizeJob, *, duplicate: bool, first_accepted_at: str) -> StoredOutcome:
    body = WebhookAccepted(
        job_id=job.job_id, event_id=job.event_id, status="queued", duplicate=duplicate
    )
    return StoredOutcome(
        status=200 if duplicate else 202,
        body=json.dumps(body.to_json_dict()),
        original_request_time=first_accepted_at,
    )


def accept(delivery: Delivery, *, events: EventRepository, queue: JobQueue) -> StoredOutcome:
    """The idempotent section: record the event, enqueue it (unless completed), stamp acceptance.

    The event is written before the message is sent, so the message carries the event's time as
    first recorded. A failed send raises: the idempotency claim is released and the sender's retry
    enqueues. The first delivery to get past the send is the first accepted one (202).
    """
    request = delivery.request
    job = SummarizeJob(
        tenant_id=request.tenant_id,
        event_id=request.event_id,
        document_id=request.document_id,
        job_id=job_id_for(request.tenant_id, request.event_id),
        event_time_ns=event_time_ns(request.occurred_at, delivery.signed.timestamp),
        content=request.content,
    )
    now = now_iso()
    stored = events.register(job, now=now)
    # A redelivery is the same event: keep what was recorded first.
    job = replace(job, document_id=stored.document_id, event_time_ns=stored.event_time_ns)
    if stored.status != "completed":
        queue.send(job)
        crash_point("webhook.after_send")
    first = events.mark_accepted(job.tenant_id, job.event_id, now=now)
    logger.info(
        "webhook accepted",
        extra={"tenant_id": job.tenant_id, "event_id": job.event_id, "duplicate": bool(first)},
    )
    return _outcome(job, duplicate=first is not None, first_accepted_at=first or now)


def as_duplicate(outcome: StoredOutcome) -> StoredOutcome:
    """A replayed acceptance, as any later delivery sees it: 200 and `duplicate: true`."""
    body = json.loads(outcome.body)
    body["duplicate"] = True
    return replace(outcome, status=200, body=json.dumps(body))


def receive(
    run: Callable[[], StoredOutcome],
    *,
    wait_seconds: float = IN_FLIGHT_WAIT_SECONDS,
    sleep: Callable[[float], None] = time.sleep,
) -> StoredOutcome:
    """Run the idempotent acceptance; a delivery racing another one of the same event waits.

    `run` is `accept` run by the idempotency store. While another delivery holds the event's claim
    this one waits (a few hundred milliseconds at most, in practice) and then answers as a
    duplicate; only if the other is still running after `wait_seconds` does it get 409, and the
    sender retries. Answering 200 before the first delivery is through would be unsafe: if that
    one then failed, the sender — told the event was delivered — would never retry it.
    """
    deadline = time.monotonic() + wait_seconds
    delay = 0.05
    while True:
        try:
            outcome = run()
            break
        except IdempotencyKeyInUse as exc:
            if time.monotonic() + delay > deadline:
                raise IdempotencyKeyInUse(
                    "another delivery of this event is being accepted; retry later",
                    headers=exc.headers,
                ) from exc
            sleep(delay)
            delay = min(delay * 2, 0.4)
    if outcome.replayed:
        obs.count(obs.WEBHOOK_DUPLICATE)
        return as_duplicate(outcome)
    return outcome


def public_status(event: WebhookEventItem, now_ms: int) -> EventStatus:
    """The status a reader sees. An attempt that died without any cleanup (a timeout, a crash)
    leaves `processing` with a lease that expires: its message comes back (`queued`), or, after
    its last receive, is in the dead-letter queue (`failed`)."""
    expired = event.lease_expires_at_ms is not None and event.lease_expires_at_ms < now_ms
    if event.status == "processing" and expired:
        return "failed" if event.final_attempt else "queued"
    return event.status


def get_event(
    events: EventRepository, *, tenant_id: str, event_id: str, now_ms: int
) -> WebhookEventOut:
    item = events.get(tenant_id, event_id)
    if item is None:
        raise WebhookEventNotFound(f"webhook event {event_id!r} was not found")
    return WebhookEventOut(
        event_id=item.event_id,
        document_id=item.document_id,
        job_id=item.job_id,
        status=public_status(item, now_ms),
        attempts=item.attempts,
    )
