"""Helpers for the webhook and worker tests: signed deliveries, and a job queue with its pollers."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from local.worker_loop import EventSource, PollResult, WorkerLoop
from retryproof.signatures import sign
from tests.support.events import event

FIXTURE = "webhook_document_uploaded.json"
PATH = "/webhooks/document-uploaded"


def payload(
    tenant: str,
    *,
    event_id: str | None = None,
    document_id: str = "doc_1",
    content: str = "The quarterly report: revenue grew, costs fell.",
    occurred_at: str | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "eventId": event_id or f"evt_{uuid.uuid4().hex[:16]}",
        "tenantId": tenant,
        "documentId": document_id,
        "content": content,
    }
    if occurred_at is not None:
        body["occurredAt"] = occurred_at
    return body


def signature_headers(
    secret: str,
    raw: bytes,
    *,
    timestamp: int | None = None,
    message_id: str | None = None,
) -> dict[str, str]:
    message_id = message_id or f"msg_{uuid.uuid4().hex}"
    ts = int(time.time()) if timestamp is None else timestamp
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(ts),
        "webhook-signature": sign(secret, message_id, ts, raw),
    }


def delivery_event(
    secret: str,
    body: dict[str, Any] | None = None,
    *,
    raw: bytes | None = None,
    timestamp: int | None = None,
    headers: dict[str, str] | None = None,
    drop_headers: tuple[str, ...] = (),
) -> dict[str, Any]:
    """The HTTP API event of a delivery, signed with `secret` (then `headers` applied on top)."""
    raw = raw if raw is not None else json.dumps(body).encode()
    ev = event(FIXTURE)
    ev["body"] = raw.decode()
    ev["headers"].update(signature_headers(secret, raw, timestamp=timestamp))
    ev["headers"].update(headers or {})
    for name in drop_headers:
        ev["headers"].pop(name, None)
    return ev


@dataclass
class Jobs:
    """A summarize-job queue and its dead-letter queue, with one local event source mapping."""

    sqs: Any
    queue_url: str
    dlq_url: str
    loop: WorkerLoop
    source: EventSource
    polls: list[PollResult] = field(default_factory=list)

    def depth(self, url: str | None = None) -> int:
        """Messages on the queue (visible and in flight)."""
        attrs = self.sqs.get_queue_attributes(
            QueueUrl=url or self.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attrs["ApproximateNumberOfMessages"]) + int(
            attrs["ApproximateNumberOfMessagesNotVisible"]
        )

    @property
    def dead_letters(self) -> int:
        return self.depth(self.dlq_url)

    def poll(self) -> PollResult:
        result = self.loop.poll_once(self.source, wait_seconds=0)
        if result.received:
            self.polls.append(result)
        return result

    def run_until(self, done: Callable[[], bool], timeout: float = 20) -> None:
        """Poll (as the event source mapping would) until `done()`; fail after `timeout`."""
        deadline = time.monotonic() + timeout
        while not done():
            assert time.monotonic() < deadline, f"not done after {timeout}s: {self.polls}"
            if not self.poll().received:
                time.sleep(0.05)
