"""`make dev` runs its emulator with the real DynamoDB behaviours on, and each switch turns one off
(docs/local-stack.md)."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import boto3
import pytest

from local.emulator import STATS_PATH
from local.template import physical_name
from tests.e2e.conftest import LocalApi, start_stack
from tests.support.client import call

pytestmark = pytest.mark.e2e


def behaviours(api: LocalApi) -> dict[str, Any]:
    reply = call("GET", f"http://127.0.0.1:{api.emulator_port}{STATS_PATH}")
    assert reply.status == 200, reply.text
    return dict(reply.json)


def test_make_dev_emulates_ttl_deletion_conflicts_and_stale_reads(api: LocalApi) -> None:
    on = behaviours(api)
    assert on["ttlSweepLagSeconds"] == 5
    assert on["txnInflightMs"] > 0
    assert on["staleReadMs"] > 0
    assert on["staleReadProbability"] == 1

    # The sweeper deletes an expired idempotency record of make dev's table (TTL from
    # template.yaml's TimeToLiveSpecification), and leaves a live one alone.
    dynamodb = boto3.client(
        "dynamodb",
        endpoint_url=f"http://127.0.0.1:{api.emulator_port}",
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
    )
    table = physical_name("IdempotencyTable")
    now = int(time.time())
    for item_id, expiration in (("e2e#expired", now - 60), ("e2e#alive", now + 3600)):
        item = {"id": {"S": item_id}, "expiration": {"N": str(expiration)}}
        dynamodb.put_item(TableName=table, Item=item)

    def exists(item_id: str) -> bool:
        key = {"id": {"S": item_id}}
        return "Item" in dynamodb.get_item(TableName=table, Key=key, ConsistentRead=True)

    deadline = time.monotonic() + 60
    while exists("e2e#expired"):
        assert time.monotonic() < deadline, "the TTL sweeper did not delete the expired record"
        time.sleep(0.2)
    assert exists("e2e#alive")
    assert behaviours(api)["ttlDeleted"] >= 1


def test_each_behaviour_switches_off(tmp_path: Path) -> None:
    api = start_stack(
        tmp_path / "log",
        LOCAL_TTL_SWEEP_LAG_SECONDS="off",
        LOCAL_TXN_INFLIGHT_MS="off",
        LOCAL_STALE_READ_MS="off",
    )
    try:
        off = behaviours(api)
        assert off["ttlSweepLagSeconds"] is None
        assert off["txnInflightMs"] == 0
        assert off["staleReadMs"] == 0
        assert off["ttlSweeps"] == 0
    finally:
        api.process.send_signal(signal.SIGINT)
        assert api.process.wait(timeout=60) == 0
