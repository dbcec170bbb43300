"""GET /usage (list_usage) over a fake repository, and the DynamoDB usage repository's edges."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from retryproof.dal.usage import DynamoUsageRepository, UsageTotal
from retryproof.errors import BadRequest
from retryproof.models.usage import Operation, UsageItem
from retryproof.usage import list_usage

pytestmark = pytest.mark.unit

CREATED = "2025-01-01T00:00:00.000Z"


def item(key: str, micro: int, operation: Operation = "generate", step: int = 0) -> UsageItem:
    return UsageItem(
        tenant_id="acme",
        idempotency_key=key,
        operation=operation,
        step=step,
        model="m",
        prompt_tokens=100,
        completion_tokens=micro,
        cost_micro_usd=micro,
        created_at=CREATED,
    )


def out(key: str, micro: int, usd: str, operation: str = "generate") -> dict[str, Any]:
    return {
        "idempotencyKey": key,
        "operation": operation,
        "model": "m",
        "promptTokens": 100,
        "completionTokens": micro,
        "costUsd": usd,
        "createdAt": CREATED,
    }


class FakeUsageRepository:
    """Answers `list` with fixed items and token; records the arguments it was called with."""

    def __init__(self, items: list[UsageItem], token: str | None, total: int) -> None:
        self._items, self._token, self._total = items, token, total
        self.list_calls: list[tuple[str, str | None, int, str | None]] = []

    def get(
        self, tenant_id: str, idempotency_key: str, operation: str, step: int = 0
    ) -> UsageItem | None:
        raise AssertionError("not used by list_usage")

    def put_once(self, item: UsageItem) -> UsageItem | None:
        raise AssertionError("not used by list_usage")

    def list(
        self, tenant_id: str, idempotency_key: str | None, limit: int, next_token: str | None
    ) -> tuple[list[UsageItem], str | None]:
        self.list_calls.append((tenant_id, idempotency_key, limit, next_token))
        return list(self._items), self._token

    def total(self, tenant_id: str) -> UsageTotal:
        return UsageTotal(self._total, len(self._items), "2026-11-27T10:00:00.000000Z")


def test_list_usage_maps_records_to_camel_case_with_running_total() -> None:
    repo = FakeUsageRepository([item("k1", 450), item("k2", 1)], token="tok-2", total=1_234_567)

    result = list_usage(repo, tenant_id="acme", idempotency_key=None, limit=2, next_token="tok-1")

    assert repo.list_calls == [("acme", None, 2, "tok-1")]
    assert result.to_json_dict() == {
        "records": [out("k1", 450, "0.000450"), out("k2", 1, "0.000001")],
        "totalCostUsd": "1.234567",  # the tenant's running total, not this page's sum
        "totalAsOf": "2026-11-27T10:00:00.000000Z",  # when that total last counted a record
        "nextToken": "tok-2",
    }


def test_list_usage_filtered_by_key_sums_its_records() -> None:
    # Given an agent run with two paid steps, and a stray record of another key
    steps = [item("run-1", 300, "agent_step", 0), item("run-1", 200, "agent_step", 1)]
    repo = FakeUsageRepository([*steps, item("other", 999)], token=None, total=10**9)

    result = list_usage(repo, tenant_id="acme", idempotency_key="run-1", limit=50, next_token=None)

    steps_out = [
        out("run-1", 300, "0.000300", "agent_step"),
        out("run-1", 200, "0.000200", "agent_step"),
    ]
    assert result.to_json_dict() == {
        "records": steps_out,
        "totalCostUsd": "0.000500",  # the sum of this key's records
        "totalAsOf": None,
        "nextToken": None,
    }


class FakeDynamo:
    """The DynamoDB client methods the usage repository calls; raises `error` if set."""

    def __init__(self, error: Exception | None = None, out: dict[str, Any] | None = None) -> None:
        self.error, self.out = error, out or {"Items": []}
        self.calls: list[dict[str, Any]] = []

    def query(self, **params: Any) -> dict[str, Any]:
        self.calls.append(params)
        if self.error is not None:
            raise self.error
        return self.out

    put_item = query


def client_error(code: str, **extra: Any) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "x"}, **extra}, "Op")  # type: ignore[arg-type]


def repo(client: FakeDynamo) -> DynamoUsageRepository:
    return DynamoUsageRepository(client, "usage")  # type: ignore[arg-type]


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode()


def test_next_token_round_trips_to_the_exclusive_start_key() -> None:
    last = {"tenantId": {"S": "acme"}, "recordKey": {"S": "k%23x#generate#0000"}}
    client = FakeDynamo(out={"Items": [item("k#x", 5).to_item()], "LastEvaluatedKey": last})

    items, token = repo(client).list("acme", None, 1, None)
    assert items == [item("k#x", 5)]
    assert token is not None

    repo(client).list("acme", None, 1, token)
    assert client.calls[-1]["ExclusiveStartKey"] == last


@pytest.mark.parametrize(
    "token", ["!!!", "abc", b64(b"\xff\xfe"), b64(b"[1]"), b64(b'{"x": "k"}'), b64(b'{"r": 7}')]
)
def test_garbage_next_token_is_bad_request(token: str) -> None:
    client = FakeDynamo()
    with pytest.raises(BadRequest) as info:
        repo(client).list("acme", None, 10, token)
    assert (info.value.status, info.value.code) == (400, "bad_request")
    assert client.calls == []


@pytest.mark.parametrize("record_key", ["b#generate#0000", ""])
def test_next_token_outside_the_filtered_range_is_bad_request(record_key: str) -> None:
    # Given a token from a listing of key "b" (or a forged empty one), reused with key "a";
    # DynamoDB answers "The provided starting key is outside query boundaries ..."
    client = FakeDynamo(error=client_error("ValidationException"))
    with pytest.raises(BadRequest):
        repo(client).list("acme", "a", 10, b64(json.dumps({"r": record_key}).encode()))


@pytest.mark.parametrize(("key", "prefix"), [("a", "a#"), ("a#generate", "a%23generate#")])
def test_filtered_listing_queries_the_encoded_key_prefix(key: str, prefix: str) -> None:
    client = FakeDynamo()
    repo(client).list("acme", key, 10, None)
    assert client.calls[0]["KeyConditionExpression"].endswith("begins_with(recordKey, :p)")
    assert client.calls[0]["ExpressionAttributeValues"][":p"] == {"S": prefix}


def test_put_once_returns_the_existing_record_when_the_condition_fails() -> None:
    existing = item("k1", 42)
    error = client_error("ConditionalCheckFailedException", Item=existing.to_item())
    assert repo(FakeDynamo(error=error)).put_once(item("k1", 99)) == existing
