"""TTL deletion: a sweeper deletes the items whose time to live has passed, as DynamoDB does.

AWS behaviour restored ("Time to Live (TTL)",
https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/TTL.html, and the
UpdateTimeToLive API reference,
https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_UpdateTimeToLive.html):
"TTL compares the current time in epoch time format to the time stored in the TTL attribute of
an item. If the epoch time value stored in the attribute is less than the current time, the item
is marked as expired and subsequently deleted." "DynamoDB typically deletes expired items within
two days of expiration ... Items that have expired and not been deleted will still show up in
reads, queries, and scans." Only a Number attribute counts ("Working with expired items",
https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ttl-expired-items.html).

moto stores the TTL setting but never deletes anything. This sweeper does, for every table whose
TTL is enabled (the local stack enables it from each table's `TimeToLiveSpecification` in
template.yaml): every `interval_s` it scans (strongly consistent) for items whose TTL attribute
is a Number more than `lag_s` (LOCAL_TTL_SWEEP_LAG_SECONDS) in the past, and deletes each one with
a DeleteItem whose condition says it is still expired then: an item rewritten with a later TTL
in the meantime is kept. Until swept, expired items are returned by every read, as in DynamoDB.
Its requests go over HTTP through the emulator's front, so they are serialised with the others,
meet in-flight transactions (a conflict: swept next time) and leave a stale read behind them like
any delete ("removed ... in the same eventually consistent way as a standard delete operation").
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

log = logging.getLogger("local.ttl_sweeper")

EXPIRED = "attribute_type(#ttl, :number) AND #ttl < :cutoff"
SKIPPED = (
    "ConditionalCheckFailedException",
    "TransactionConflictException",
    "ResourceNotFoundException",
)


class TtlSweeper:
    def __init__(self, endpoint: str, region: str, lag_s: float, interval_s: float) -> None:
        self.endpoint = endpoint
        self.region = region
        self.lag_s = lag_s
        self.interval_s = interval_s
        self.deleted = 0  # items deleted so far
        self.sweeps = 0  # passes finished so far
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._client: Any = None

    def start(self) -> TtlSweeper:
        self._client = boto3.session.Session().client(
            "dynamodb",
            endpoint_url=self.endpoint,
            region_name=self.region,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",  # noqa: S106  # nosec B106 - the emulator's own
            config=Config(retries={"max_attempts": 1}, connect_timeout=2, read_timeout=10),
        )
        self._thread = threading.Thread(target=self._run, name="ttl-sweeper", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.sweep()
                self.sweeps += 1
            except (BotoCoreError, ClientError, OSError) as exc:  # the emulator stopping, a reset
                log.debug("TTL sweep skipped: %s", type(exc).__name__)

    def sweep(self) -> int:
        """One pass over every table with TTL enabled; returns the items deleted."""
        deleted = 0
        for page in self._client.get_paginator("list_tables").paginate():
            for name in page["TableNames"]:
                if self._stop.is_set():
                    return deleted
                deleted += self._sweep_table(name)
        return deleted

    def _sweep_table(self, name: str) -> int:
        client = self._client
        try:
            ttl = client.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
            if ttl.get("TimeToLiveStatus") != "ENABLED":
                return 0
            schema = client.describe_table(TableName=name)["Table"]["KeySchema"]
        except ClientError:
            return 0  # deleted meanwhile
        keys = [k["AttributeName"] for k in schema]
        names = {"#ttl": ttl["AttributeName"], **{f"#k{i}": k for i, k in enumerate(keys)}}
        deleted = 0
        pages = client.get_paginator("scan").paginate(
            TableName=name,
            ConsistentRead=True,
            ProjectionExpression=", ".join(n for n in names if n != "#ttl"),
            FilterExpression=EXPIRED,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=self._values(),
        )
        for page in pages:
            for item in page["Items"]:
                key = {k: item[k] for k in keys}
                deleted += self.delete_if_expired(name, key, ttl["AttributeName"])
        return deleted

    def delete_if_expired(self, table: str, key: dict[str, Any], attribute: str) -> int:
        """Delete the item if its TTL is still more than the lag in the past now: 1, else 0."""
        try:
            self._client.delete_item(
                TableName=table,
                Key=key,
                ConditionExpression=EXPIRED,
                ExpressionAttributeNames={"#ttl": attribute},
                ExpressionAttributeValues=self._values(),  # the cutoff of now
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in SKIPPED:
                return 0  # rewritten with a later TTL, or in a transaction: not now
            raise
        self.deleted += 1
        return 1

    def _values(self) -> dict[str, Any]:
        cutoff = time.time() - self.lag_s
        return {":number": {"S": "N"}, ":cutoff": {"N": f"{cutoff:.3f}"}}
