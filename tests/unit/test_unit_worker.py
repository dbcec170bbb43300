"""The worker's logic with in-memory repositories: leases, once-only LLM calls, order."""

from __future__ import annotations

from typing import Any

import pytest

from retryproof.clock import event_time_ns
from retryproof.config import Settings
from retryproof.errors import LlmError
from retryproof.models.messages import SummarizeJob
from retryproof.models.usage import UsageItem
from retryproof.webhooks import job_id_for
from retryproof.worker import (
    MAX_RECEIVES,
    BadMessage,
    EventBusy,
    LeaseLost,
    SummaryResult,
    WorkerDeps,
    process_job,
    process_record,
)
from tests.support.webhook_fakes import FakeEvents, FakeLlm, FakeSummaries, FakeUsage

pytestmark = pytest.mark.unit


class World:
    def __init__(self, llm: FakeLlm | None = None) -> None:
        self.events = FakeEvents()
        self.summaries = FakeSummaries()
        self.usage = FakeUsage()
        self.llm = llm or FakeLlm()
        self.llm_built = 0

    def _llm(self) -> FakeLlm:
        self.llm_built += 1
        return self.llm

    @property
    def deps(self) -> WorkerDeps:
        return WorkerDeps(
            settings=Settings(),
            events=self.events,
            summaries=self.summaries,
            usage=self.usage,
            llm=self._llm,
        )

    def run(self, job: SummarizeJob, receive_count: int = 1, **kw: Any) -> str:
        return process_job(job, receive_count=receive_count, deps=self.deps, **kw)


def job(event_id: str = "evt_1", time_ns: int = 1_000, document_id: str = "doc_1") -> SummarizeJob:
    return SummarizeJob(
        tenant_id="acme",
        event_id=event_id,
        document_id=document_id,
        job_id=job_id_for("acme", event_id),
        event_time_ns=time_ns,
        content=f"the document of {event_id}",
    )


def test_an_event_is_leased_summarised_recorded_and_completed() -> None:
    world = World()
    assert world.run(job()) == "completed"

    event = world.events.get("acme", "evt_1")
    assert event is not None
    assert (event.status, event.attempts, event.lease_owner) == ("completed", 1, None)
    assert world.llm.calls == 1
    assert world.llm.prompts == ["the document of evt_1"]
    summary = world.summaries.get("acme", "doc_1")
    assert summary is not None
    assert (summary.summary, summary.source_event_id) == ("summary 1", "evt_1")
    usage = world.usage.get("acme", "evt_1", "summarize")
    assert usage is not None
    assert usage.cost_micro_usd > 0
    assert usage.result is not None
    assert SummaryResult.from_record(usage.result).summary == "summary 1"


def test_a_completed_event_is_acknowledged_without_the_llm() -> None:
    world = World()
    world.run(job())
    assert world.run(job()) == "already_completed"
    assert world.run(job(), receive_count=3) == "already_completed"
    assert world.llm_built == 1  # the client is not even built
    event = world.events.get("acme", "evt_1")
    assert event is not None
    assert event.attempts == 1


def test_an_event_leased_by_a_live_worker_fails_this_record() -> None:
    world = World()
    world.events.take_lease(
        job(), owner="other", lease_until_ms=10**15, now_ms=0, final_attempt=False, now="t"
    )
    with pytest.raises(EventBusy):
        world.run(job())
    event = world.events.get("acme", "evt_1")
    assert event is not None
    assert (event.lease_owner, event.attempts) == ("other", 1)
    assert world.llm_built == 0


def test_an_expired_lease_is_taken_over() -> None:
    world = World()
    world.events.take_lease(
        job(), owner="dead", lease_until_ms=1, now_ms=0, final_attempt=False, now="t"
    )
    assert world.run(job()) == "completed"
    event = world.events.get("acme", "evt_1")
    assert event is not None
    assert event.attempts == 2


def test_an_llm_failure_releases_the_claim_and_a_later_delivery_completes() -> None:
    world = World(FakeLlm(fail=1))
    with pytest.raises(LlmError):
        world.run(job())
    event = world.events.get("acme", "evt_1")
    assert event is not None
    assert (event.status, event.last_error, event.lease_owner) == ("queued", "llm_error", None)
    assert world.usage.items == {}

    assert world.run(job(), receive_count=2) == "completed"
    assert world.llm.calls == 1


@pytest.mark.parametrize(
    ("receive_count", "status"), [(MAX_RECEIVES - 1, "queued"), (MAX_RECEIVES, "failed")]
)
def test_a_failure_on_the_last_receive_marks_the_event_failed(
    receive_count: int, status: str
) -> None:
    world = World(FakeLlm(fail=1))
    with pytest.raises(LlmError):
        world.run(job(), receive_count=receive_count)
    event = world.events.get("acme", "evt_1")
    assert event is not None
    assert event.status == status


def test_a_paid_completion_is_never_paid_again() -> None:
    """A worker died after recording the completion: the next one reuses it."""
    world = World()
    stored = SummaryResult(summary="kept", model="gpt-4o-mini", tokens=9, generated_at="t0")
    world.usage.put_once(
        UsageItem(
            tenant_id="acme",
            idempotency_key="evt_1",
            operation="summarize",
            model="gpt-4o-mini",
            prompt_tokens=5,
            completion_tokens=4,
            cost_micro_usd=3,
            created_at="t0",
            result=stored.to_record(),
        )
    )
    assert world.run(job()) == "completed"
    assert world.llm_built == 0
    summary = world.summaries.get("acme", "doc_1")
    assert summary is not None
    assert (summary.summary, summary.generated_at, summary.tokens) == ("kept", "t0", 9)


def test_losing_the_lease_fails_the_record_unless_the_event_completed() -> None:
    class Stolen(FakeEvents):
        def complete(self, tenant_id: str, event_id: str, *, owner: str, now: str) -> bool:
            # Another worker took the expired lease over just before this one finished.
            self.take_lease(
                job(),
                owner="thief",
                lease_until_ms=10**15,
                now_ms=10**15,
                final_attempt=False,
                now="t",
            )
            return False

    world = World()
    world.events = Stolen()
    with pytest.raises(LeaseLost):
        world.run(job())
    event = world.events.get("acme", "evt_1")
    assert event is not None
    assert (event.status, event.lease_owner) == ("processing", "thief")  # not released


def test_an_older_event_is_summarised_and_completed_but_does_not_replace_the_newer() -> None:
    world = World()
    assert world.run(job("evt_new", time_ns=2_000)) == "completed"
    assert world.run(job("evt_old", time_ns=1_000)) == "superseded"
    summary = world.summaries.get("acme", "doc_1")
    assert summary is not None
    assert summary.source_event_id == "evt_new"
    old = world.events.get("acme", "evt_old")
    assert old is not None
    assert old.status == "completed"


def test_the_summary_is_written_once_per_event() -> None:
    world = World()
    world.run(job())
    world.events.items.clear()  # as if the event were processed again from scratch
    world.run(job())
    assert world.summaries.writes == 1


# --- the ordering rule ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("occurred_at", "expected"),
    [
        ("1970-01-01T00:00:01Z", 1_000_000_000),
        ("1970-01-01T00:00:01.5z", 1_500_000_000),
        ("1970-01-01T01:00:01+01:00", 1_000_000_000),
        ("1970-01-01T01:00:01.000000001+01:00", 1_000_000_001),
        ("1970-01-01t00:00:01.123456789Z", 1_123_456_789),  # nanoseconds: kept
        ("2026-11-27T19:03:58Z", 1_795_806_238_000_000_000),
        ("2026-11-27 19:03:58.000000800Z", 1_795_806_238_000_000_800),
    ],
)
def test_event_time_of_occurred_at(occurred_at: str, expected: int) -> None:
    assert event_time_ns(occurred_at, 999) == expected


def test_event_time_without_occurred_at_is_the_webhook_timestamp() -> None:
    assert event_time_ns(None, 1_795_806_238) == 1_795_806_238_000_000_000


# --- records ------------------------------------------------------------------------------------


def logged(caplog: pytest.LogCaptureFixture) -> str:
    """Every captured log record with its extra fields, as text."""
    return "\n".join(str(vars(r)) for r in caplog.records)


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        "[]",
        '{"tenantId": "acme", "eventId": "evt_1"}',
        job().to_json().replace('"eventTimeNs":1000', '"eventTimeNs":"soon"'),
        job().to_json().replace('"tenantId":"acme"', '"tenantId":""'),
    ],
)
def test_a_message_that_is_not_a_job_fails_its_record(
    caplog: pytest.LogCaptureFixture, body: str
) -> None:
    world = World()
    with pytest.raises(BadMessage) as raised:
        process_record(body, message_id="m1", receive_count=1, deps=world.deps)
    assert isinstance(raised.value.__cause__, ValueError)
    assert "'message_id': 'm1'" in logged(caplog)
    assert world.events.items == {}
    assert world.llm_built == 0


def test_records_log_ids_never_contents(caplog: pytest.LogCaptureFixture) -> None:
    world = World(FakeLlm(fail=1))
    body = job().to_json()
    with pytest.raises(LlmError):
        process_record(body, message_id="m1", receive_count=1, deps=world.deps)
    process_record(body, message_id="m2", receive_count=2, deps=world.deps)
    text = logged(caplog)
    assert "'event_id': 'evt_1'" in text
    assert "'error': 'llm_error'" in text
    assert "the document of" not in text
    assert "summary 1" not in text


def test_a_summary_result_keeps_the_stored_format() -> None:
    # The format the first (pydantic) version stored, and reads back what it wrote.
    stored = '{"summary":"s ü","model":"gpt-4o-mini","tokens":3,"generated_at":"t0"}'
    result = SummaryResult.from_record(stored)
    assert result == SummaryResult(summary="s ü", model="gpt-4o-mini", tokens=3, generated_at="t0")
    assert result.to_record() == stored
