"""The idempotency store: one Powertools persistence layer per execution environment.

Against a small in-memory DynamoDB client (the four calls Powertools makes), so the tests see what
reaches the table; the integration tier runs the same store against the moto server.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from retryproof.idempotency import Claim, IdempotencyStore, IdempotentRequest
from retryproof.models.outcome import StoredOutcome

pytestmark = pytest.mark.unit


class Events:
    def __init__(self) -> None:
        self.registered: list[str] = []

    def register(self, event_name: str, handler: Any, *args: Any, **kwargs: Any) -> None:
        self.registered.append(event_name)


class Meta:
    def __init__(self) -> None:
        self.events = Events()


class Table:
    """put (conditional on the key being absent), update, get, delete: as Powertools uses them."""

    def __init__(self) -> None:
        self.meta = Meta()
        self.items: dict[str, dict[str, Any]] = {}
        self.puts: list[dict[str, Any]] = []

    def put_item(self, **kwargs: Any) -> dict[str, Any]:
        self.puts.append(kwargs)
        key = kwargs["Item"]["id"]["S"]
        old = self.items.get(key)
        self.items[key] = kwargs["Item"]
        return {"Attributes": old} if old and kwargs.get("ReturnValues") == "ALL_OLD" else {}

    def update_item(self, **kwargs: Any) -> dict[str, Any]:
        values = kwargs["ExpressionAttributeValues"]
        item = self.items[kwargs["Key"]["id"]["S"]]
        item.update(status=values[":status"], data=values[":response_data"])
        return {}

    def get_item(self, **kwargs: Any) -> dict[str, Any]:
        item = self.items.get(kwargs["Key"]["id"]["S"])
        return {"Item": item} if item else {}

    def delete_item(self, **kwargs: Any) -> dict[str, Any]:
        self.items.pop(kwargs["Key"]["id"]["S"], None)
        return {}


class Context:
    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def run(store: IdempotencyStore, table: Table, key: str, ttl: int = 60) -> tuple[Any, list[Claim]]:
    claims: list[Claim] = []

    def execute(claim: Claim) -> StoredOutcome:
        claims.append(claim)
        return StoredOutcome(status=200, body='{"ok": true}', original_request_time="t0")

    outcome = store.run(
        IdempotentRequest(tenant_id="acme", key=key, body={"n": 1}),
        execute,
        client=table,  # type: ignore[arg-type]
        table="idempotency",
        ttl_seconds=ttl,
        payload_mismatch="reject",
        context=Context(),  # type: ignore[arg-type]
    )
    return outcome, claims


def test_one_persistence_layer_serves_every_invocation() -> None:
    table, store = Table(), IdempotencyStore("generate")
    for _ in range(5):  # five invocations of one execution environment
        outcome, claims = run(store, table, str(uuid.uuid4()))
        assert (outcome.status, outcome.replayed, claims) == (200, False, [Claim(fresh=True)])
    # Powertools registers its User-Agent hook when a layer is built: once, not once per call.
    assert table.meta.events.registered == ["request-created"]


def test_a_warm_replay_is_answered_from_the_environments_cache() -> None:
    table, store = Table(), IdempotencyStore("generate")
    key = str(uuid.uuid4())
    run(store, table, key)
    outcome, claims = run(store, table, key)
    assert (outcome.status, outcome.replayed, claims) == (200, True, [])
    assert len(table.puts) == 1  # the replay made no call


def test_a_claim_that_replaced_an_earlier_record_is_not_fresh() -> None:
    table, store = Table(), IdempotencyStore("generate")
    key = str(uuid.uuid4())
    run(store, table, key)
    # Another execution environment (a cold cache) whose claim replaces the earlier record (this
    # table does not check the claim's condition: as if the record had expired)
    outcome, claims = run(IdempotencyStore("generate"), table, key)
    assert (outcome.status, outcome.replayed, claims) == (200, False, [Claim(fresh=False)])


def test_changed_settings_build_a_layer_of_their_own() -> None:
    table, store = Table(), IdempotencyStore("generate")
    run(store, table, str(uuid.uuid4()), ttl=60)
    run(store, table, str(uuid.uuid4()), ttl=3600)
    first, second = (int(p["Item"]["expiration"]["N"]) - time.time() for p in table.puts)
    assert 50 < first <= 60
    assert 3590 < second <= 3600


class ConditionalTable(Table):
    """A claim on a completed record fails, answering the record (as DynamoDB does with
    `ReturnValuesOnConditionCheckFailure=ALL_OLD`): a replay in another execution environment."""

    def put_item(self, **kwargs: Any) -> dict[str, Any]:
        old = self.items.get(kwargs["Item"]["id"]["S"])
        if old and old.get("status", {}).get("S") == "COMPLETED":
            error = {"Error": {"Code": "ConditionalCheckFailedException"}, "Item": old}
            raise ClientError(error, "PutItem")  # type: ignore[arg-type]
        return super().put_item(**kwargs)


def _durable_run(
    store: IdempotencyStore, table: Table, key: str, reads: list[str], body: str | None
) -> StoredOutcome:
    def execute(claim: Claim) -> StoredOutcome:
        return StoredOutcome(
            status=200, body='{"content": "long"}', original_request_time="t0", durable_body=True
        )

    def read() -> str | None:
        reads.append(key)
        return body

    return store.run(
        IdempotentRequest(tenant_id="acme", key=key, body={"n": 1}),
        execute,
        client=table,  # type: ignore[arg-type]
        table="idempotency",
        ttl_seconds=60,
        payload_mismatch="reject",
        context=Context(),  # type: ignore[arg-type]
        durable_body=read,
    )


def test_a_body_kept_in_the_durable_record_is_not_stored_and_is_read_back_on_a_cold_replay() -> (
    None
):
    table, store = ConditionalTable(), IdempotencyStore("generate")
    key, reads = str(uuid.uuid4()), []
    first = _durable_run(store, table, key, reads, '{"content": "long"}')
    assert (first.body, first.replayed, reads) == ('{"content": "long"}', False, [])
    stored = table.items[next(iter(table.items))]["data"]["S"]
    assert "long" not in stored  # the idempotency record keeps status and time only
    # A warm replay: the environment's cache, no read.
    warm = _durable_run(store, table, key, reads, None)
    assert (warm.body, warm.replayed, reads) == ('{"content": "long"}', True, [])
    # Another execution environment: one read of the durable record.
    cold = _durable_run(IdempotencyStore("generate"), table, key, reads, '{"content": "long"}')
    assert (cold.body, cold.replayed, reads) == ('{"content": "long"}', True, [key])


def test_a_durable_body_that_cannot_be_read_is_a_503_not_an_empty_answer() -> None:
    from retryproof.errors import StorageUnavailable

    table = ConditionalTable()
    key = str(uuid.uuid4())
    _durable_run(IdempotencyStore("generate"), table, key, [], None)
    with pytest.raises(StorageUnavailable):
        _durable_run(IdempotencyStore("generate"), table, key, [], None)
