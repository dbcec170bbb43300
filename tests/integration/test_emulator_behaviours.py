"""The emulator's restored DynamoDB behaviours, over HTTP, and their switches (local/behaviours/).

Each test starts an emulator of its own (moto's server on a free port) with the behaviours built
from the LOCAL_* variables, as `make dev` and the tests' stacks build them, and talks to it with
boto3 over HTTP. moto keeps one state per process, so each test uses tables of its own, in a
region of its own (the tests' stack sweeps another region's tables).

No assertion depends on speed: a window is either long enough for the test to act inside it
(seconds or minutes), or the test waits, with a generous deadline, for its end.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from local.behaviours import Behaviours
from local.emulator import STATS_PATH, Emulator
from tests.support.client import call

pytestmark = pytest.mark.integration

REGION = "eu-west-3"  # not the stack's: its TTL sweeper never meets these tables
ALL_OFF = {
    "LOCAL_TTL_SWEEP_LAG_SECONDS": "off",
    "LOCAL_TXN_INFLIGHT_MS": "off",
    "LOCAL_STALE_READ_MS": "off",
}


def only(**settings: str) -> dict[str, str]:
    """The variables with every behaviour off but these: only(stale_read_ms="300")."""
    return {**ALL_OFF, **{f"LOCAL_{name.upper()}": value for name, value in settings.items()}}


class Running:
    def __init__(self, environ: Mapping[str, str]) -> None:
        self.emulator = Emulator(behaviours=Behaviours.from_env(environ), region=REGION).start()
        self.client = boto3.session.Session().client(
            "dynamodb",
            endpoint_url=self.emulator.endpoint,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",  # the emulator's
            config=Config(retries={"max_attempts": 1}),
        )

    def stats(self) -> dict[str, Any]:
        reply = call("GET", f"{self.emulator.endpoint}{STATS_PATH}")
        assert reply.status == 200, reply.text
        return dict(reply.json)

    def table(self, *, ttl: str | None = None) -> str:
        name = f"t-{uuid.uuid4().hex[:10]}"
        self.client.create_table(
            TableName=name,
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        if ttl:
            self.client.update_time_to_live(
                TableName=name, TimeToLiveSpecification={"AttributeName": ttl, "Enabled": True}
            )
        return name

    def get(self, table: str, item_id: str, *, consistent: bool) -> dict[str, Any] | None:
        out = self.client.get_item(
            TableName=table, Key={"id": {"S": item_id}}, ConsistentRead=consistent
        )
        item: dict[str, Any] | None = out.get("Item")
        return item


@pytest.fixture
def emulator_with() -> Iterator[Callable[[dict[str, str]], Running]]:
    started: list[Running] = []

    def start(environ: dict[str, str]) -> Running:
        started.append(Running(environ))
        return started[-1]

    yield start
    for running in started:
        running.emulator.stop()


def wait_until(check: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def item(item_id: str, **numbers: int) -> dict[str, Any]:
    return {"id": {"S": item_id}, **{k: {"N": str(v)} for k, v in numbers.items()}}


def increment(item_id: str, table: str) -> dict[str, Any]:
    return {
        "Update": {
            "TableName": table,
            "Key": {"id": {"S": item_id}},
            "UpdateExpression": "ADD n :one",
            "ExpressionAttributeValues": {":one": {"N": "1"}},
        }
    }


def error_code(exc: ClientError) -> str:
    return str(exc.response["Error"]["Code"])


# --- defaults -------------------------------------------------------------------------------


def test_every_behaviour_is_on_by_default() -> None:
    assert Behaviours.from_env({}) == Behaviours()
    on = Behaviours()
    assert on.ttl_sweep_lag_s is not None
    assert on.txn_inflight_ms > 0
    assert on.stale_read_ms > 0
    assert on.stale_read_probability == 1.0


@pytest.mark.parametrize(
    "environ",
    [
        {"LOCAL_TTL_SWEEP_LAG_SECONDS": "soon"},
        {"LOCAL_TXN_INFLIGHT_MS": "-1"},
        {"LOCAL_STALE_READ_PROBABILITY": "2"},
    ],
)
def test_a_bad_setting_is_refused(environ: dict[str, str]) -> None:
    with pytest.raises(ValueError, match=next(iter(environ))):
        Behaviours.from_env(environ)


# --- TTL deletion ----------------------------------------------------------------------------


def test_the_sweeper_deletes_expired_items_and_keeps_the_others(
    emulator_with: Callable[[dict[str, str]], Running],
) -> None:
    emu = emulator_with(only(ttl_sweep_lag_seconds="1", ttl_sweep_interval_seconds="0.2"))
    table = emu.table(ttl="expiration")
    now = int(time.time())
    emu.client.put_item(TableName=table, Item=item("expired", expiration=now - 60))
    emu.client.put_item(TableName=table, Item=item("alive", expiration=now + 3600))
    emu.client.put_item(TableName=table, Item=item("no-ttl"))
    text_ttl = {"id": {"S": "text"}, "expiration": {"S": str(now - 60)}}
    emu.client.put_item(TableName=table, Item=text_ttl)  # not a Number: ignored by TTL

    wait_until(lambda: emu.get(table, "expired", consistent=True) is None, "the sweep")
    sweeps = emu.stats()["ttlSweeps"]
    wait_until(lambda: emu.stats()["ttlSweeps"] >= sweeps + 2, "two more sweeps")
    for kept in ("alive", "no-ttl", "text"):
        assert emu.get(table, kept, consistent=True) is not None, kept
    assert emu.stats()["ttlDeleted"] == 1


def test_an_expired_item_is_still_read_until_swept_after_the_lag(
    emulator_with: Callable[[dict[str, str]], Running],
) -> None:
    emu = emulator_with(only(ttl_sweep_lag_seconds="3600", ttl_sweep_interval_seconds="0.2"))
    table = emu.table(ttl="expiration")
    emu.client.put_item(TableName=table, Item=item("expired", expiration=int(time.time()) - 60))
    expired_at = int(time.time()) - 60
    emu.client.put_item(TableName=table, Item=item("expired", expiration=expired_at))
    wait_until(lambda: emu.stats()["ttlSweeps"] >= 2, "two sweeps")
    assert emu.get(table, "expired", consistent=True) == item("expired", expiration=expired_at)
    scanned = emu.client.scan(TableName=table, ConsistentRead=True)["Items"]
    assert [i["id"]["S"] for i in scanned] == ["expired"]


def test_an_item_rewritten_with_a_later_ttl_is_not_deleted(
    emulator_with: Callable[[dict[str, str]], Running],
) -> None:
    emu = emulator_with(only(ttl_sweep_lag_seconds="0", ttl_sweep_interval_seconds="3600"))
    sweeper = emu.emulator.front.sweeper  # type: ignore[union-attr]
    assert sweeper is not None
    table = emu.table(ttl="expiration")
    now = int(time.time())
    # The sweep found it expired; before its delete, the item is written again with a later TTL.
    emu.client.put_item(TableName=table, Item=item("renewed", expiration=now + 3600))
    assert sweeper.delete_if_expired(table, {"id": {"S": "renewed"}}, "expiration") == 0
    assert emu.get(table, "renewed", consistent=True) is not None
    emu.client.put_item(TableName=table, Item=item("expired", expiration=now - 1))
    assert sweeper.delete_if_expired(table, {"id": {"S": "expired"}}, "expiration") == 1
    assert emu.get(table, "expired", consistent=True) is None


def test_ttl_deletion_off(emulator_with: Callable[[dict[str, str]], Running]) -> None:
    emu = emulator_with({"LOCAL_TTL_SWEEP_LAG_SECONDS": "off"})  # the others: on
    assert emu.emulator.front.sweeper is None  # type: ignore[union-attr]
    table = emu.table(ttl="expiration")
    emu.client.put_item(TableName=table, Item=item("expired", expiration=int(time.time()) - 60))
    time.sleep(1.5)  # longer than a default sweep interval
    assert emu.get(table, "expired", consistent=True) is not None
    assert emu.stats()["ttlSweepLagSeconds"] is None


# --- transaction conflicts -------------------------------------------------------------------


def start_transaction(emu: Running, items: list[dict[str, Any]]) -> threading.Thread:
    """A TransactWriteItems in a thread; returns once its items are in flight."""
    before = emu.stats()["itemsInFlight"]
    errors: list[Exception] = []

    def run() -> None:
        try:
            emu.client.transact_write_items(TransactItems=items)
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    wait_until(lambda: emu.stats()["itemsInFlight"] > before or errors, "the transaction")
    assert not errors, errors
    return thread


def test_overlapping_transactions_and_writes_conflict(
    emulator_with: Callable[[dict[str, str]], Running],
) -> None:
    # A window much longer than the test needs to act inside it.
    emu = emulator_with(only(txn_inflight_ms="60000"))
    table = emu.table()
    for name in ("hot", "other", "free"):
        emu.client.put_item(TableName=table, Item=item(name, n=0))
    first = start_transaction(emu, [increment("hot", table)])

    # Another transaction on the hot item (and one more): cancelled, the reason on its item.
    with pytest.raises(ClientError) as cancelled:
        emu.client.transact_write_items(
            TransactItems=[increment("other", table), increment("hot", table)]
        )
    assert error_code(cancelled.value) == "TransactionCanceledException"
    reasons = [r["Code"] for r in cancelled.value.response["CancellationReasons"]]
    assert reasons == ["None", "TransactionConflict"]
    # A single write on it: TransactionConflictException, nothing written.
    for write in (
        lambda: emu.client.put_item(TableName=table, Item=item("hot", n=100)),
        lambda: emu.client.update_item(
            TableName=table,
            Key={"id": {"S": "hot"}},
            UpdateExpression="SET n = :x",
            ExpressionAttributeValues={":x": {"N": "100"}},
        ),
        lambda: emu.client.delete_item(TableName=table, Key={"id": {"S": "hot"}}),
    ):
        with pytest.raises(ClientError) as conflict:
            write()
        assert error_code(conflict.value) == "TransactionConflictException"
    # A transactional read of it: cancelled too.
    with pytest.raises(ClientError) as read:
        emu.client.transact_get_items(
            TransactItems=[{"Get": {"TableName": table, "Key": {"id": {"S": "hot"}}}}]
        )
    assert read.value.response["CancellationReasons"] == [
        {"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"}
    ]
    # Other items are free; a plain read is not refused (read-committed: the value before).
    emu.client.put_item(TableName=table, Item=item("free", n=1))
    assert emu.get(table, "hot", consistent=True) == item("hot", n=0)

    emu.emulator.front.conflicts.window_s = 0.0  # type: ignore[union-attr]  # let it finish
    first.join(timeout=90)
    assert emu.get(table, "hot", consistent=True) == item("hot", n=1)
    assert emu.get(table, "other", consistent=True) == item("other", n=0)
    emu.client.put_item(TableName=table, Item=item("hot", n=5))  # free again
    assert emu.stats()["transactionConflicts"] == {
        "TransactWriteItems": 1,
        "PutItem": 1,
        "UpdateItem": 1,
        "DeleteItem": 1,
        "TransactGetItems": 1,
    }


def test_concurrent_transactions_on_one_item_conflict_without_dice(
    emulator_with: Callable[[dict[str, str]], Running],
) -> None:
    """Eight clients at once, one counter: the first holds it (a window that lasts until the
    other seven have answered), the others are cancelled; the counter counts the successes."""
    emu = emulator_with(only(txn_inflight_ms="600000"))
    table = emu.table()
    emu.client.put_item(TableName=table, Item=item("counter", n=0))
    barrier = threading.Barrier(8)
    outcomes: list[str] = []

    def client() -> None:
        barrier.wait()
        try:
            emu.client.transact_write_items(TransactItems=[increment("counter", table)])
            outcomes.append("ok")
        except ClientError as exc:
            outcomes.append(exc.response["CancellationReasons"][0]["Code"])

    threads = [threading.Thread(target=client) for _ in range(8)]
    for t in threads:
        t.start()
    wait_until(lambda: len(outcomes) == 7, "seven answers")
    emu.emulator.front.conflicts.window_s = 0.0  # type: ignore[union-attr]  # the first commits
    for t in threads:
        t.join(timeout=60)
    assert sorted(outcomes) == ["TransactionConflict"] * 7 + ["ok"], outcomes
    counter = emu.get(table, "counter", consistent=True)
    assert counter == item("counter", n=outcomes.count("ok"))


def test_transaction_conflicts_off(emulator_with: Callable[[dict[str, str]], Running]) -> None:
    emu = emulator_with({"LOCAL_TXN_INFLIGHT_MS": "off"})  # the others: on
    assert not emu.emulator.front.conflicts.enabled  # type: ignore[union-attr]
    table = emu.table()
    emu.client.put_item(TableName=table, Item=item("counter", n=0))
    barrier = threading.Barrier(8)
    outcomes: list[str] = []

    def client() -> None:
        barrier.wait()
        emu.client.transact_write_items(TransactItems=[increment("counter", table)])
        outcomes.append("ok")

    threads = [threading.Thread(target=client) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert outcomes == ["ok"] * 8
    assert emu.get(table, "counter", consistent=True) == item("counter", n=8)
    assert emu.stats()["transactionConflicts"] == {}


# --- stale reads -----------------------------------------------------------------------------


def test_an_eventually_consistent_read_sees_the_previous_version(
    emulator_with: Callable[[dict[str, str]], Running],
) -> None:
    emu = emulator_with(only(stale_read_ms="600000"))
    table = emu.table()
    emu.client.put_item(TableName=table, Item=item("a", v=1))
    emu.client.put_item(TableName=table, Item=item("b", v=1))
    emu.client.transact_write_items(TransactItems=[increment("b", table)])
    emu.client.delete_item(TableName=table, Key={"id": {"S": "a"}})
    emu.client.put_item(TableName=table, Item=item("a", v=2))
    emu.client.put_item(TableName=table, Item=item("c", v=1))

    # Within the window every eventually consistent read sees the table before these writes.
    assert emu.get(table, "a", consistent=False) is None
    assert emu.get(table, "c", consistent=False) is None
    assert emu.client.scan(TableName=table)["Items"] == []
    keys = {"Keys": [{"id": {"S": "a"}}, {"id": {"S": "b"}}]}
    batch = emu.client.batch_get_item(RequestItems={table: keys})
    assert batch["Responses"][table] == []
    query = emu.client.query(
        TableName=table,
        KeyConditionExpression="id = :a",
        ExpressionAttributeValues={":a": {"S": "a"}},
    )
    assert query["Items"] == []
    # A strongly consistent read always sees the newest; so does a transactional read.
    assert emu.get(table, "a", consistent=True) == item("a", v=2)
    assert emu.get(table, "b", consistent=True) == {**item("b", v=1), "n": {"N": "1"}}
    consistent = emu.client.scan(TableName=table, ConsistentRead=True)["Items"]
    assert sorted(i["id"]["S"] for i in consistent) == ["a", "b", "c"]
    batch = emu.client.batch_get_item(RequestItems={table: {**keys, "ConsistentRead": True}})
    assert len(batch["Responses"][table]) == 2
    got = emu.client.transact_get_items(
        TransactItems=[{"Get": {"TableName": table, "Key": {"id": {"S": "c"}}}}]
    )
    assert got["Responses"] == [{"Item": item("c", v=1)}]
    # The stale read left the table as it was.
    assert emu.get(table, "a", consistent=True) == item("a", v=2)
    assert emu.stats()["staleReads"] == {"GetItem": 2, "Scan": 1, "BatchGetItem": 1, "Query": 1}


def test_a_stale_read_catches_up_after_the_window(
    emulator_with: Callable[[dict[str, str]], Running],
) -> None:
    emu = emulator_with(only(stale_read_ms="300"))
    table = emu.table()
    emu.client.put_item(TableName=table, Item=item("a", v=1))
    wait_until(lambda: emu.get(table, "a", consistent=False) == item("a", v=1), "the write")
    emu.client.put_item(TableName=table, Item=item("a", v=2))
    wait_until(lambda: emu.get(table, "a", consistent=False) == item("a", v=2), "the update")


def test_a_global_index_is_always_read_eventually_consistent(
    emulator_with: Callable[[dict[str, str]], Running],
) -> None:
    emu = emulator_with(only(stale_read_ms="600000"))
    table = f"g-{uuid.uuid4().hex[:10]}"
    emu.client.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[
            {"AttributeName": "id", "AttributeType": "S"},
            {"AttributeName": "owner", "AttributeType": "S"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "byOwner",
                "KeySchema": [{"AttributeName": "owner", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    emu.client.put_item(TableName=table, Item={"id": {"S": "a"}, "owner": {"S": "ann"}})
    query = {
        "TableName": table,
        "IndexName": "byOwner",
        "KeyConditionExpression": "#o = :o",
        "ExpressionAttributeNames": {"#o": "owner"},
        "ExpressionAttributeValues": {":o": {"S": "ann"}},
    }
    assert emu.client.query(**query)["Items"] == []
    with pytest.raises(ClientError) as refused:  # as DynamoDB: no strong reads of a GSI
        emu.client.query(**query, ConsistentRead=True)
    assert error_code(refused.value) == "ValidationException"
    assert (
        len(
            emu.client.query(
                TableName=table,
                KeyConditionExpression="id = :a",
                ExpressionAttributeValues={":a": {"S": "a"}},
                ConsistentRead=True,
            )["Items"]
        )
        == 1
    )


def test_stale_reads_off(emulator_with: Callable[[dict[str, str]], Running]) -> None:
    emu = emulator_with({"LOCAL_STALE_READ_MS": "off"})  # the others: on
    table = emu.table()
    emu.client.put_item(TableName=table, Item=item("a", v=1))
    assert emu.get(table, "a", consistent=False) == item("a", v=1)
    assert emu.client.scan(TableName=table)["Items"] == [item("a", v=1)]
    assert emu.stats()["staleReads"] == {}


def test_stale_read_probability_zero_is_off(
    emulator_with: Callable[[dict[str, str]], Running],
) -> None:
    emu = emulator_with(only(stale_read_ms="600000", stale_read_probability="0"))
    table = emu.table()
    emu.client.put_item(TableName=table, Item=item("a", v=1))
    assert emu.get(table, "a", consistent=False) == item("a", v=1)


def test_settle_makes_earlier_writes_visible_to_every_read(
    emulator_with: Callable[[dict[str, str]], Running],
) -> None:
    """What the local stack does after loading its seed: the seed predates the stack."""
    emu = emulator_with(only(stale_read_ms="600000"))
    table = emu.table()
    emu.client.put_item(TableName=table, Item=item("seeded", v=1))
    assert emu.get(table, "seeded", consistent=False) is None
    emu.emulator.settle()
    assert emu.get(table, "seeded", consistent=False) == item("seeded", v=1)
    emu.client.put_item(TableName=table, Item=item("seeded", v=2))  # later writes: stale again
    assert emu.get(table, "seeded", consistent=False) == item("seeded", v=1)
