"""The SQS event source mappings of the template, run locally: what Lambda does for an SQS trigger.

For each function with an `SQS` event: pollers (one per unit of `ScalingConfig.MaximumConcurrency`)
long-poll the queue, gather up to `BatchSize` messages (waiting at most
`MaximumBatchingWindowInSeconds` for more), invoke the handler with an SQS event, and delete what
succeeded. With `ReportBatchItemFailures` the records listed in `batchItemFailures` stay on the
queue and come back after the visibility timeout; a response that lists an id not in the batch, or
an invocation that raises (or dies), leaves the whole batch. The queue's `RedrivePolicy` moves a
message to its dead-letter queue on the receive after its `maxReceiveCount`-th, in the emulator as
in SQS. Only ids and counts are logged, never bodies.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from local.lambda_runtime import LocalFunction
from local.resources import LocalRefs, aws_environment, local_refs
from local.template import REGION, Template

log = logging.getLogger("local.worker_loop")

SQS_MAX_MESSAGES = 10  # per ReceiveMessage call
LONG_POLL_SECONDS = 1  # short, so the loop stops promptly (Lambda uses 20)
# Without MaximumConcurrency, Lambda scales out to hundreds; one process does not need that.
DEFAULT_CONCURRENCY = 2


@dataclass(frozen=True)
class EventSource:
    """One SQS event source mapping: a queue feeding a function."""

    function: LocalFunction
    queue_url: str
    queue_arn: str
    batch_size: int
    batching_window_s: int
    report_batch_item_failures: bool
    concurrency: int


@dataclass
class PollResult:
    received: int = 0
    deleted: int = 0
    failed: list[str] = field(default_factory=list)  # message ids left on the queue
    crashed: bool = False


def event_sources(
    template: Template, refs: LocalRefs, functions: dict[str, LocalFunction]
) -> list[EventSource]:
    sources = []
    queues = template.of_type("AWS::SQS::Queue")
    for logical_id, spec in template.functions().items():
        for ev in spec.queue_events:
            # Lambda refuses the mapping (CreateEventSourceMapping: "Queue visibility timeout: X
            # seconds is less than Function timeout: Y seconds"): a message would come back while
            # the invocation that received it still runs.
            props = queues.get(ev.queue_id, {}).get("Properties", {})
            visibility = int(template.scalar(props.get("VisibilityTimeout", 30)))
            if visibility < spec.timeout:
                raise ValueError(
                    f"{ev.queue_id}: visibility timeout {visibility} s is less than "
                    f"{logical_id}'s timeout {spec.timeout} s (Lambda refuses this trigger)"
                )
            sources.append(
                EventSource(
                    function=functions[logical_id],
                    queue_url=refs.refs[ev.queue_id],
                    queue_arn=refs.atts[f"{ev.queue_id}.Arn"],
                    batch_size=ev.batch_size,
                    batching_window_s=ev.max_batching_window,
                    report_batch_item_failures=ev.report_batch_item_failures,
                    concurrency=ev.maximum_concurrency or DEFAULT_CONCURRENCY,
                )
            )
    return sources


def sqs_record(message: dict[str, Any], source: EventSource) -> dict[str, Any]:
    """A received message as a record of Lambda's SQS event."""
    attributes = {
        name: {
            "stringValue": value.get("StringValue"),
            "binaryValue": value.get("BinaryValue"),
            "stringListValues": value.get("StringListValues", []),
            "binaryListValues": value.get("BinaryListValues", []),
            "dataType": value.get("DataType"),
        }
        for name, value in (message.get("MessageAttributes") or {}).items()
    }
    body = message["Body"]
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": body,
        "attributes": dict(message.get("Attributes") or {}),
        "messageAttributes": attributes,
        "md5OfBody": message.get("MD5OfBody")
        or hashlib.md5(body.encode(), usedforsecurity=False).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": source.queue_arn,
        "awsRegion": REGION,
    }


def failed_ids(response: Any, batch_ids: list[str]) -> list[str] | None:
    """The ids a partial batch response reports; None if the response fails the whole batch."""
    if not isinstance(response, dict):
        return []  # no response (or a non-dict one): every record succeeded
    failures = response.get("batchItemFailures")
    if failures is None:
        return []
    if not isinstance(failures, list):
        return None
    ids = []
    for failure in failures:
        item = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if not isinstance(item, str) or item not in batch_ids:
            return None  # Lambda treats a malformed response as a failure of the whole batch
        ids.append(item)
    return ids


class WorkerLoop:
    def __init__(
        self,
        sources: list[EventSource],
        sqs: Any,
        *,
        wait_seconds: int = LONG_POLL_SECONDS,
        visibility_timeout: int | None = None,
    ) -> None:
        """`visibility_timeout` overrides the queue's own on each receive (tests); None keeps it."""
        self.sources = sources
        self._sqs = sqs
        self._wait = wait_seconds
        self._visibility = visibility_timeout
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # --- one batch ----------------------------------------------------------------------------
    def poll_once(self, source: EventSource, wait_seconds: int | None = None) -> PollResult:
        """Receive one batch, invoke the function with it, delete what succeeded."""
        messages = self._receive(source, self._wait if wait_seconds is None else wait_seconds)
        if not messages:
            return PollResult()
        records = [sqs_record(m, source) for m in messages]
        ids = [r["messageId"] for r in records]
        result = PollResult(received=len(records))
        try:
            response = source.function.invoke({"Records": records})
        except BaseException:  # a crashed invocation (even a simulated death) fails the batch
            log.exception("%s failed on a batch of %d", source.function.name, len(records))
            result.crashed, result.failed = True, ids
            return result
        failed = failed_ids(response, ids) if source.report_batch_item_failures else []
        if failed is None:
            log.warning("%s: invalid batchItemFailures; the batch fails", source.function.name)
            failed = ids
        result.failed = failed
        done = [r for r in records if r["messageId"] not in failed]
        result.deleted = self._delete(source, done)
        log.info(
            "%s: batch of %d, %d failed", source.function.name, len(records), len(result.failed)
        )
        return result

    def _receive(self, source: EventSource, wait_seconds: int) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = []
        window_ends = time.monotonic() + source.batching_window_s
        wait = wait_seconds
        while len(messages) < source.batch_size and not self._stop.is_set():
            params: dict[str, Any] = {
                "QueueUrl": source.queue_url,
                "MaxNumberOfMessages": min(SQS_MAX_MESSAGES, source.batch_size - len(messages)),
                "WaitTimeSeconds": wait,
                "MessageSystemAttributeNames": ["All"],
                "MessageAttributeNames": ["All"],
            }
            if self._visibility is not None:
                params["VisibilityTimeout"] = self._visibility
            got = self._sqs.receive_message(**params).get("Messages", [])
            messages.extend(got)
            remaining = window_ends - time.monotonic()
            if not got or remaining <= 0:
                break
            wait = min(wait, max(1, int(remaining)))  # keep gathering within the batching window
        return messages

    def _delete(self, source: EventSource, records: list[dict[str, Any]]) -> int:
        deleted = 0
        for start in range(0, len(records), SQS_MAX_MESSAGES):
            chunk = records[start : start + SQS_MAX_MESSAGES]
            out = self._sqs.delete_message_batch(
                QueueUrl=source.queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": r["receiptHandle"]} for i, r in enumerate(chunk)
                ],
            )
            deleted += len(out.get("Successful", []))
        return deleted

    # --- the pollers --------------------------------------------------------------------------
    def start(self) -> WorkerLoop:
        for source in self.sources:
            for n in range(source.concurrency):
                thread = threading.Thread(
                    target=self._poll_forever,
                    args=(source,),
                    name=f"sqs-{source.function.spec.logical_id}-{n}",
                    daemon=True,
                )
                thread.start()
                self._threads.append(thread)
        return self

    def _poll_forever(self, source: EventSource) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once(source)
            except (BotoCoreError, ClientError):
                if self._stop.is_set():
                    return
                log.warning("polling %s failed; retrying", source.queue_arn, exc_info=True)
                self._stop.wait(1)

    def stop(self, timeout: float = 10) -> None:
        """Stop polling; a batch being processed finishes first."""
        self._stop.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        self._threads.clear()


def sqs_client(session: Any, wait_seconds: int = LONG_POLL_SECONDS) -> Any:
    """An SQS client whose read timeout outlasts a long poll."""
    return session.client(
        "sqs", config=Config(read_timeout=wait_seconds + 10, retries={"max_attempts": 2})
    )


def redrive(sqs: Any, dead_letter_url: str, source_url: str) -> int:
    """Move every message of a dead-letter queue back to its source queue (new messages, receive
    count 0): the local stand-in for `aws sqs start-message-move-task`, which the emulator lacks."""
    moved = 0
    while True:
        got = sqs.receive_message(
            QueueUrl=dead_letter_url,
            MaxNumberOfMessages=SQS_MAX_MESSAGES,
            WaitTimeSeconds=0,
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not got:
            return moved
        for message in got:
            params: dict[str, Any] = {"QueueUrl": source_url, "MessageBody": message["Body"]}
            if message.get("MessageAttributes"):
                params["MessageAttributes"] = message["MessageAttributes"]
            sqs.send_message(**params)
            sqs.delete_message(QueueUrl=dead_letter_url, ReceiptHandle=message["ReceiptHandle"])
            moved += 1


def dead_letter_pairs(template: Template, refs: LocalRefs) -> list[tuple[str, str, str]]:
    """(source queue id, dead-letter queue URL, source queue URL) for each RedrivePolicy."""
    pairs = []
    by_arn = {refs.atts[f"{q}.Arn"]: q for q in template.of_type("AWS::SQS::Queue")}
    for queue_id, res in template.of_type("AWS::SQS::Queue").items():
        props = template.resolve(res.get("Properties", {}), refs.refs, refs.atts)
        policy = props.get("RedrivePolicy")
        if isinstance(policy, dict) and policy.get("deadLetterTargetArn") in by_arn:
            dlq_id = by_arn[policy["deadLetterTargetArn"]]
            pairs.append((queue_id, refs.refs[dlq_id], refs.refs[queue_id]))
    return pairs


def main(argv: list[str] | None = None) -> int:
    """`python -m local.worker_loop redrive`: move the running stack's dead letters back."""
    parser = argparse.ArgumentParser(prog="python -m local.worker_loop")
    parser.add_argument("command", choices=["redrive"])
    parser.parse_args(argv)
    endpoint = f"http://127.0.0.1:{os.environ.get('AWS_EMULATOR_PORT') or 3005}"
    os.environ.update(aws_environment(endpoint))
    template = Template()
    sqs = boto3.Session().client("sqs")
    for queue_id, dead_letter_url, source_url in dead_letter_pairs(
        template, local_refs(template, endpoint)
    ):
        print(f"{queue_id}: {redrive(sqs, dead_letter_url, source_url)} message(s) moved back")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
