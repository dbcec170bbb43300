"""Stored items (DynamoDB attributes, the usage sort key), queue messages, stored outcomes."""

from __future__ import annotations

import json
from dataclasses import FrozenInstanceError, replace
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest

from retryproof.idempotency import OutcomeSerializer, _mark_replayed
from retryproof.models.messages import SummarizeJob
from retryproof.models.outcome import StoredOutcome
from retryproof.models.usage import UsageItem, usage_record_key
from retryproof.models.webhooks import WebhookEventItem, WebhookSecretSet

pytestmark = pytest.mark.unit


def usage(**overrides: Any) -> UsageItem:
    values: dict[str, Any] = {
        "tenant_id": "acme",
        "idempotency_key": "k#1 é/%",
        "operation": "agent_step",
        "step": 3,
        "model": "gpt-4o-mini",
        "prompt_tokens": 12,
        "completion_tokens": 34,
        "cost_micro_usd": 56,
        "created_at": "2025-01-02T03:04:05.678Z",
        "request_hash": "ab" * 32,
        "result": '{"id": "x"}',
    }
    return UsageItem(**(values | overrides))


def test_usage_item_maps_to_dynamodb_attributes() -> None:
    assert usage().to_item() == {
        "tenantId": {"S": "acme"},
        "recordKey": {"S": "k%231%20%C3%A9%2F%25#agent_step#0003"},
        "idempotencyKey": {"S": "k#1 é/%"},
        "operation": {"S": "agent_step"},
        "step": {"N": "3"},
        "model": {"S": "gpt-4o-mini"},
        "promptTokens": {"N": "12"},
        "completionTokens": {"N": "34"},
        "costMicroUsd": {"N": "56"},
        "createdAt": {"S": "2025-01-02T03:04:05.678Z"},
        "requestHash": {"S": "ab" * 32},
        "result": {"S": '{"id": "x"}'},
    }


@pytest.mark.parametrize("overrides", [{}, {"request_hash": "", "result": None}, {"result": ""}])
def test_usage_item_round_trips(overrides: dict[str, object]) -> None:
    original = usage(**overrides)
    assert UsageItem.from_item(original.to_item()) == original


def test_record_key_format() -> None:
    assert usage_record_key("abc-123", "generate") == "abc-123#generate#0000"
    assert usage_record_key("run", "agent_step", 12) == "run#agent_step#0012"


def begins_with_prefix(key: str) -> str:
    """The prefix the repository queries for one idempotency key (dal/usage.py)."""
    return usage_record_key(key, "", 0).split("#", 1)[0] + "#"


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("a", "a#generate"),
        ("a", "a#generate#0000"),
        ("a", "a%23generate"),
        ("x#", "x"),
        ("a b", "a%20b"),
    ],
)
def test_keys_with_hash_signs_never_collide_or_share_a_prefix(a: str, b: str) -> None:
    ka, kb = usage_record_key(a, "generate"), usage_record_key(b, "generate")
    assert ka != kb
    assert not kb.startswith(begins_with_prefix(a))
    assert not ka.startswith(begins_with_prefix(b))
    assert ka.startswith(begins_with_prefix(a))
    assert unquote(kb.split("#", 1)[0]) == b


# --- checks kept from the pydantic models -------------------------------------------------------


def test_items_are_frozen_and_compare_by_value() -> None:
    item = usage()
    with pytest.raises(FrozenInstanceError):
        item.step = 4  # type: ignore[misc]
    assert replace(item, step=4) == usage(step=4)
    assert hash(item) == hash(usage())


def test_an_unknown_operation_is_refused() -> None:
    with pytest.raises(ValueError, match="operation must be one of"):
        usage(operation="refund")
    stored = usage().to_item() | {"operation": {"S": "refund"}}
    with pytest.raises(ValueError, match="operation"):
        UsageItem.from_item(stored)


def event_item(**overrides: Any) -> WebhookEventItem:
    values: dict[str, Any] = {
        "tenant_id": "acme",
        "event_id": "evt_1",
        "document_id": "doc_1",
        "job_id": "job_1",
        "status": "queued",
        "event_time_ns": 7,
        "created_at": "t",
    }
    return WebhookEventItem(**(values | overrides))


def test_a_webhook_event_reads_its_defaults_and_refuses_an_unknown_status() -> None:
    read = WebhookEventItem.from_item(
        {
            "tenantId": {"S": "acme"},
            "eventId": {"S": "evt_1"},
            "documentId": {"S": "doc_1"},
            "jobId": {"S": "job_1"},
            "status": {"S": "queued"},
            "eventTimeNs": {"N": "7"},
            "createdAt": {"S": "t"},
        }
    )
    assert read == event_item()
    assert (read.attempts, read.final_attempt, read.lease_expires_at_ms) == (0, False, None)
    with pytest.raises(ValueError, match="status must be one of"):
        event_item(status="done")


def test_a_webhook_secret_is_not_in_its_repr() -> None:
    item = WebhookSecretSet(
        current="whsec_c2VjcmV0", previous="whsec_b2xk", previous_expires_at=100, updated_at="t"
    )
    assert "whsec_" not in repr(item)
    assert WebhookSecretSet.from_json(item.to_json()) == item


def test_a_previous_webhook_secret_is_active_until_its_expiry_only() -> None:
    item = WebhookSecretSet(current="new", previous="old", previous_expires_at=100, updated_at="t")
    assert item.active(99.9) == ("new", "old")
    assert item.active(100) == ("new",)
    assert WebhookSecretSet(current="new", updated_at="t").active(0) == ("new",)
    with pytest.raises(ValueError, match="current"):
        WebhookSecretSet.from_json({"previous": "old"})


# --- queue messages -----------------------------------------------------------------------------


def summarize_job(**overrides: Any) -> SummarizeJob:
    values: dict[str, Any] = {
        "tenant_id": "acme",
        "event_id": "evt_1",
        "document_id": "doc_1",
        "job_id": "job_1",
        "event_time_ns": 1_795_806_238_000_000,
        "content": "Q3 report: revenue grew 12 % — €4.2M.",
    }
    return SummarizeJob(**(values | overrides))


def test_a_summarize_job_travels_as_camel_case_json() -> None:
    job = summarize_job()
    body = job.to_json()
    assert json.loads(body) == {
        "tenantId": "acme",
        "eventId": "evt_1",
        "documentId": "doc_1",
        "jobId": "job_1",
        "eventTimeNs": 1_795_806_238_000_000,
        "content": "Q3 report: revenue grew 12 % — €4.2M.",
    }
    assert "€" in body  # UTF-8, not \\u escapes (the SQS size limit counts bytes)
    assert SummarizeJob.from_json(body) == job
    assert SummarizeJob.from_json(body.encode()) == job
    assert SummarizeJob.from_dict(job.to_dict() | {"addedLater": 1}) == job
    assert "Q3 report" not in repr(job)


def test_the_sample_worker_event_parses() -> None:
    event = json.loads((Path(__file__).parents[2] / "events/worker_sqs_batch.json").read_text())
    jobs = [SummarizeJob.from_json(r["body"]) for r in event["Records"]]
    assert [j.event_id for j in jobs] == ["evt_7f3c2a91d4e5", "evt_8a1d0b77c2f3"]
    assert jobs[0].event_time_ns == 1795806238000000000


WIRE = summarize_job().to_dict()


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ("not json", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        ("[1, 2]", "not a JSON object"),
        ("null", "not a JSON object"),
        (json.dumps({k: v for k, v in WIRE.items() if k != "eventId"}), "missing eventId"),
        (json.dumps({"content": "x"}), "missing tenantId, eventId, documentId, jobId, eventTimeNs"),
        (json.dumps(WIRE | {"tenantId": ""}), "tenantId must be a non-empty string"),
        (json.dumps(WIRE | {"jobId": 5}), "jobId must be a non-empty string"),
        (json.dumps(WIRE | {"eventTimeNs": "5"}), "eventTimeNs must be an integer"),
        (json.dumps(WIRE | {"eventTimeNs": 5.5}), "eventTimeNs must be an integer"),
        (json.dumps(WIRE | {"eventTimeNs": True}), "eventTimeNs must be an integer"),
        (json.dumps(WIRE | {"content": None}), "content must be a string"),
        (json.dumps({"tenant_id": "acme"} | WIRE | {"tenantId": None}), "tenantId"),
    ],
)
def test_a_malformed_message_raises_a_clear_value_error(body: str | bytes, problem: str) -> None:
    with pytest.raises(ValueError, match="invalid summarize job") as raised:
        SummarizeJob.from_json(body)
    assert problem in str(raised.value)


def test_an_empty_id_is_refused_on_construction() -> None:
    with pytest.raises(ValueError, match="documentId must be a non-empty string"):
        summarize_job(document_id="")
    assert summarize_job(content="").content == ""


# --- idempotency records ------------------------------------------------------------------------

OUTCOME = StoredOutcome(
    status=202,
    body='{"jobId": "job_1", "duplicate": false}',
    original_request_time="2026-11-27T10:00:00.000Z",
)


def test_a_stored_outcome_never_persists_replayed() -> None:
    serializer = OutcomeSerializer()
    stored = serializer.to_dict(replace(OUTCOME, replayed=True))
    assert stored == {
        "status": 202,
        "body": '{"jobId": "job_1", "duplicate": false}',
        "original_request_time": "2026-11-27T10:00:00.000Z",
    }
    assert "replayed" not in stored
    assert serializer.from_dict(json.loads(json.dumps(stored))) == OUTCOME


def test_an_outcome_whose_body_is_in_the_durable_record_is_stored_without_it() -> None:
    serializer = OutcomeSerializer()
    stored = serializer.to_dict(replace(OUTCOME, durable_body=True))
    assert stored == {
        "status": 202,
        "body": "",
        "original_request_time": "2026-11-27T10:00:00.000Z",
        "durable_body": True,
    }
    back = serializer.from_dict(json.loads(json.dumps(stored)))
    assert back == replace(OUTCOME, body="", durable_body=True)


def test_a_record_stored_by_the_pydantic_serializer_is_still_read() -> None:
    # PydanticSerializer stored `model_dump(mode="json")`, `replayed` excluded; Powertools keeps
    # the dict as JSON text in the record's `data` attribute.
    data = '{"status":409,"body":"{\\"type\\": \\"x\\"}","original_request_time":"2026-01-01T00:00:00.000Z"}'  # noqa: E501
    outcome = OutcomeSerializer().from_dict(json.loads(data))
    assert outcome == StoredOutcome(
        status=409, body='{"type": "x"}', original_request_time="2026-01-01T00:00:00.000Z"
    )
    assert outcome.replayed is False


def test_a_replay_is_marked_on_the_way_out_of_the_store() -> None:
    replayed = _mark_replayed(OUTCOME, None)  # type: ignore[arg-type]
    assert replayed == replace(OUTCOME, replayed=True)
    assert OUTCOME.replayed is False
