"""Stored items: DynamoDB attribute mapping and the usage sort key."""

from __future__ import annotations

from urllib.parse import unquote

import pytest

from retryproof.models.items import UsageItem, usage_record_key

pytestmark = pytest.mark.unit


def usage(**overrides: object) -> UsageItem:
    values: dict[str, object] = {
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
    return UsageItem.model_validate(values | overrides)


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
