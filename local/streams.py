"""The DynamoDB stream event source mappings of the template, run locally.

What Lambda does for a `DynamoDB` event (AWS Lambda Developer Guide, "Using AWS Lambda with Amazon
DynamoDB" and "Configuring partial batch response with DynamoDB and Lambda"): it reads each shard of
the table's stream in order from `StartingPosition`, invokes the function with batches of up to
`BatchSize` records, and with `ReportBatchItemFailures` retries from the lowest sequence number the
response lists (records after it are delivered again: consumers must be idempotent); an invocation
that fails retries the whole batch. Filter criteria are applied before invoking (the subset of
EventBridge patterns the template uses: exact values and `exists`). Records of one shard are
processed one batch at a time, never concurrently.

`drain()` reads every shard to its end once, for tests that want the consumer's effect now.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from local.lambda_runtime import LocalFunction
from local.template import REGION, Template

log = logging.getLogger("local.streams")

POLL_SECONDS = 0.2


@dataclass(frozen=True)
class StreamSource:
    function: LocalFunction
    table_id: str
    batch_size: int
    report_batch_item_failures: bool
    patterns: tuple[dict[str, Any], ...]


def stream_sources(template: Template, functions: dict[str, LocalFunction]) -> list[StreamSource]:
    sources = []
    for logical_id, res in template.of_type("AWS::Serverless::Function").items():
        for ev in (res.get("Properties", {}).get("Events") or {}).values():
            if ev.get("Type") != "DynamoDB":
                continue
            p = ev.get("Properties", {})
            stream = p["Stream"]
            table_id = stream["Fn::GetAtt"][0] if isinstance(stream, dict) else stream
            filters = (p.get("FilterCriteria") or {}).get("Filters") or []
            sources.append(
                StreamSource(
                    function=functions[logical_id],
                    table_id=table_id,
                    batch_size=int(template.scalar(p.get("BatchSize", 100))),
                    report_batch_item_failures="ReportBatchItemFailures"
                    in (p.get("FunctionResponseTypes") or []),
                    patterns=tuple(json.loads(f["Pattern"]) for f in filters),
                )
            )
    return sources


def matches(pattern: Any, value: Any) -> bool:
    """An EventBridge-style pattern (exact values, `{"exists": bool}`) against a record."""
    if isinstance(pattern, dict):
        if not isinstance(value, dict):
            return False
        for key, sub in pattern.items():
            if isinstance(sub, list) and sub and isinstance(sub[0], dict) and "exists" in sub[0]:
                if (key in value) != bool(sub[0]["exists"]):
                    return False
            elif key not in value or not matches(sub, value[key]):
                return False
        return True
    if isinstance(pattern, list):
        return value in pattern
    return bool(pattern == value)


def lambda_record(record: dict[str, Any], stream_arn: str) -> dict[str, Any]:
    """A GetRecords record as Lambda's DynamoDB event carries it (numeric creation time)."""
    out = dict(record)
    data = dict(record["dynamodb"])
    created = data.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        data["ApproximateCreationDateTime"] = int(created.timestamp())
    out["dynamodb"] = data
    out["eventSourceARN"] = stream_arn
    out.setdefault("awsRegion", REGION)
    return out


class _Shard:
    def __init__(self, streams: Any, stream_arn: str, shard_id: str) -> None:
        self._streams = streams
        self.arn = stream_arn
        self.shard_id = shard_id
        self.pending: list[dict[str, Any]] = []
        self._iterator: str | None = streams.get_shard_iterator(
            StreamArn=stream_arn, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]

    def fetch(self) -> None:
        if self._iterator is None:
            return
        out = self._streams.get_records(ShardIterator=self._iterator, Limit=1000)
        self.pending.extend(out.get("Records", []))
        self._iterator = out.get("NextShardIterator")


class StreamPoller:
    def __init__(self, sources: list[StreamSource], dynamodb: Any, streams: Any, tables: Any):
        """`tables`: logical id → physical table name."""
        self.sources = sources
        self._dynamodb = dynamodb
        self._streams = streams
        self._tables = tables
        self._shards: dict[int, list[_Shard]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _shards_of(self, index: int) -> list[_Shard]:
        source = self.sources[index]
        known = self._shards.setdefault(index, [])
        table = self._dynamodb.describe_table(TableName=self._tables(source.table_id))["Table"]
        arn = table["LatestStreamArn"]
        described = self._streams.describe_stream(StreamArn=arn)["StreamDescription"]
        ids = {s.shard_id for s in known}
        for shard in described.get("Shards", []):
            if shard["ShardId"] not in ids:
                known.append(_Shard(self._streams, arn, shard["ShardId"]))
        return known

    def poll_once(self) -> int:
        """Read every shard once and deliver what it holds; the records delivered."""
        delivered = 0
        with self._lock:  # one batch at a time per shard (and, locally, per stack)
            for index, source in enumerate(self.sources):
                for shard in self._shards_of(index):
                    shard.fetch()
                    while shard.pending and not self._stop.is_set():
                        done = self._deliver(source, shard)
                        delivered += done
                        if done == 0:
                            break  # failed: the same records again on the next poll
        return delivered

    def drain(self) -> int:
        return self.poll_once()

    def _deliver(self, source: StreamSource, shard: _Shard) -> int:
        """One batch from the head of the shard; the records it consumed (0 if none)."""
        batch = shard.pending[: source.batch_size]
        wanted = [
            r for r in batch if not source.patterns or any(matches(p, r) for p in source.patterns)
        ]
        if not wanted:
            del shard.pending[: len(batch)]
            return len(batch)
        records = [lambda_record(r, shard.arn) for r in wanted]
        try:
            response = source.function.invoke({"Records": records})
        except BaseException:  # noqa: BLE001 - a failed invocation (even a simulated death): retry
            log.warning("%s failed on a batch of %d", source.function.name, len(records))
            return 0
        failed = _first_failure(response, records) if source.report_batch_item_failures else None
        if failed is None:
            del shard.pending[: len(batch)]
            return len(batch)
        # Retry from the lowest failed sequence number: everything before it is done.
        cut = next(i for i, r in enumerate(batch) if r["dynamodb"]["SequenceNumber"] == failed)
        del shard.pending[:cut]
        return cut

    def start(self) -> StreamPoller:
        self._thread = threading.Thread(target=self._run, name="dynamodb-streams", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(POLL_SECONDS):
            try:
                self.poll_once()
            except Exception:  # the emulator stopping, a passing error: poll again
                if self._stop.is_set():
                    return
                log.warning("reading the DynamoDB streams failed; retrying", exc_info=True)

    def stop(self, timeout: float = 5) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)


def _passes(patterns: tuple[dict[str, Any], ...], record: dict[str, Any]) -> bool:
    return any(matches(p, record) for p in patterns)


def _first_failure(response: Any, records: list[dict[str, Any]]) -> str | None:
    """The lowest failed sequence number of a partial batch response; None: all succeeded."""
    if not isinstance(response, dict):
        return None
    failures = response.get("batchItemFailures") or []
    numbers = {r["dynamodb"]["SequenceNumber"] for r in records}
    failed = [f.get("itemIdentifier") for f in failures if isinstance(f, dict)]
    if any(f not in numbers for f in failed):
        return records[0]["dynamodb"]["SequenceNumber"]  # malformed: the whole batch again
    return min(failed, key=int) if failed else None
