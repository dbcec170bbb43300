"""The local event source mapping (local/worker_loop.py) with a fake SQS client and function."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from local.lambda_runtime import LocalFunction
from local.resources import local_refs
from local.template import Template, parse_parameter_overrides
from local.worker_loop import EventSource, WorkerLoop, dead_letter_pairs, event_sources, failed_ids
from tests.support.events import event

pytestmark = pytest.mark.unit


@dataclass
class FakeSqs:
    waiting: list[dict[str, Any]]
    deleted: list[str] = field(default_factory=list)
    receives: list[dict[str, Any]] = field(default_factory=list)

    def receive_message(self, **params: Any) -> dict[str, Any]:
        self.receives.append(params)
        count = params["MaxNumberOfMessages"]
        got, self.waiting = self.waiting[:count], self.waiting[count:]
        return {"Messages": got}

    def delete_message_batch(self, QueueUrl: str, Entries: list[dict[str, str]]) -> Any:
        self.deleted.extend(e["ReceiptHandle"] for e in Entries)
        return {"Successful": [{"Id": e["Id"]} for e in Entries]}


class FakeFunction:
    def __init__(self, answer: Any = None, crash: bool = False) -> None:
        self.events: list[dict[str, Any]] = []
        self.answer = answer
        self.crash = crash
        self.name = "fn"

    def invoke(self, ev: dict[str, Any]) -> Any:
        self.events.append(ev)
        if self.crash:
            raise SystemExit("the function died")
        return self.answer(ev) if callable(self.answer) else self.answer


def message(n: int, receive_count: int = 1) -> dict[str, Any]:
    return {
        "MessageId": f"m{n}",
        "ReceiptHandle": f"r{n}",
        "Body": f'{{"n": {n}}}',
        "MD5OfBody": "md5",
        "Attributes": {"ApproximateReceiveCount": str(receive_count), "SentTimestamp": "1"},
    }


def source(function: Any, batch_size: int = 10, report: bool = True, window: int = 0) -> Any:
    return EventSource(
        function=function,
        queue_url="http://q",
        queue_arn="arn:aws:sqs:us-east-1:123456789012:q",
        batch_size=batch_size,
        batching_window_s=window,
        report_batch_item_failures=report,
        concurrency=1,
    )


def test_a_batch_is_invoked_as_an_sqs_event_and_its_successes_deleted() -> None:
    sqs = FakeSqs([message(1), message(2, receive_count=3), message(3)])
    fn = FakeFunction({"batchItemFailures": [{"itemIdentifier": "m2"}]})

    result = WorkerLoop([], sqs).poll_once(source(fn), wait_seconds=0)

    assert (result.received, result.deleted, result.failed) == (3, 2, ["m2"])
    assert sqs.deleted == ["r1", "r3"]
    (ev,) = fn.events
    fixture = event("worker_sqs_batch.json")["Records"][0]
    record = ev["Records"][1]
    assert set(record) == set(fixture)
    assert record["attributes"]["ApproximateReceiveCount"] == "3"
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == "arn:aws:sqs:us-east-1:123456789012:q"
    assert sqs.receives[0]["MessageSystemAttributeNames"] == ["All"]
    assert "VisibilityTimeout" not in sqs.receives[0]  # the queue's own


def test_a_crashed_invocation_leaves_the_whole_batch() -> None:
    sqs = FakeSqs([message(1), message(2)])
    result = WorkerLoop([], sqs).poll_once(source(FakeFunction(crash=True)), wait_seconds=0)
    assert result.crashed
    assert result.failed == ["m1", "m2"]
    assert sqs.deleted == []


def test_an_invalid_partial_response_fails_the_whole_batch() -> None:
    sqs = FakeSqs([message(1), message(2)])
    fn = FakeFunction({"batchItemFailures": [{"itemIdentifier": "unknown"}]})
    result = WorkerLoop([], sqs).poll_once(source(fn), wait_seconds=0)
    assert result.failed == ["m1", "m2"]
    assert sqs.deleted == []


def test_without_report_batch_item_failures_a_returning_invocation_deletes_all() -> None:
    sqs = FakeSqs([message(1), message(2)])
    fn = FakeFunction({"batchItemFailures": [{"itemIdentifier": "m1"}]})
    WorkerLoop([], sqs).poll_once(source(fn, report=False), wait_seconds=0)
    assert sqs.deleted == ["r1", "r2"]


def test_batches_respect_the_batch_size_and_gather_within_the_window() -> None:
    sqs = FakeSqs([message(n) for n in range(25)])
    fn = FakeFunction()
    loop = WorkerLoop([], sqs, visibility_timeout=7)

    loop.poll_once(source(fn, batch_size=3), wait_seconds=0)
    loop.poll_once(source(fn, batch_size=15, window=1), wait_seconds=0)

    assert [len(e["Records"]) for e in fn.events] == [3, 15]
    assert [r["MaxNumberOfMessages"] for r in sqs.receives] == [3, 10, 5]
    assert {r["VisibilityTimeout"] for r in sqs.receives} == {7}


def test_an_empty_queue_invokes_nothing() -> None:
    fn = FakeFunction()
    assert WorkerLoop([], FakeSqs([])).poll_once(source(fn), wait_seconds=0).received == 0
    assert fn.events == []


@pytest.mark.parametrize(
    ("response", "failed"),
    [
        (None, []),
        ({}, []),
        ({"batchItemFailures": []}, []),
        ({"batchItemFailures": [{"itemIdentifier": "a"}]}, ["a"]),
        ({"batchItemFailures": [{"itemIdentifier": ""}]}, None),
        ({"batchItemFailures": [{"itemIdentifier": None}]}, None),
        ({"batchItemFailures": [{}]}, None),
        ({"batchItemFailures": "a"}, None),
    ],
)
def test_failed_ids(response: Any, failed: list[str] | None) -> None:
    assert failed_ids(response, ["a", "b"]) == failed


# --- the template, with parameter overrides -------------------------------------------------------


def test_parameter_overrides_are_parsed_like_sam() -> None:
    assert parse_parameter_overrides("A=1 B='x y' C=") == {"A": "1", "B": "x y", "C": ""}
    assert parse_parameter_overrides("") == {}
    with pytest.raises(ValueError, match="Name=Value"):
        parse_parameter_overrides("A")


def test_overrides_reach_timeouts_batch_sizes_queues_and_variables() -> None:
    template = Template(
        parameter_overrides={
            "WorkerTimeout": "2",
            "WorkerBatchSize": "4",
            "WorkerMaxConcurrency": "3",
            "WorkerVisibilityTimeout": "5",
            "IdempotencyTtlWebhook": "60",
        }
    )
    worker = template.functions()["WorkerFunction"]
    (mapping,) = worker.queue_events
    assert worker.timeout == 2
    assert (mapping.queue_id, mapping.batch_size, mapping.maximum_concurrency) == (
        "WebhookJobsQueue",
        4,
        3,
    )
    assert mapping.report_batch_item_failures
    queue = template.resources["WebhookJobsQueue"]["Properties"]
    assert template.resolve(queue["VisibilityTimeout"], {}, {}) == "5"
    env = worker.environment["IDEMPOTENCY_TTL_WEBHOOK"]
    assert template.resolve(env, {}, {}) == "60"
    with pytest.raises(ValueError, match="unknown template parameters: Nope"):
        Template(parameter_overrides={"Nope": "1"})


def test_the_event_sources_and_dead_letter_queues_of_the_template() -> None:
    template = Template()
    refs = local_refs(template, "http://emulator")
    functions = {k: LocalFunction(v) for k, v in template.functions().items()}

    (mapping,) = event_sources(template, refs, functions)

    assert mapping.function is functions["WorkerFunction"]
    assert mapping.queue_url == refs.refs["WebhookJobsQueue"]
    assert mapping.queue_arn == refs.atts["WebhookJobsQueue.Arn"]
    assert (mapping.batch_size, mapping.concurrency) == (10, 5)
    assert dead_letter_pairs(template, refs) == [
        (
            "WebhookJobsQueue",
            refs.refs["WebhookJobsDeadLetterQueue"],
            refs.refs["WebhookJobsQueue"],
        )
    ]
