"""Stale reads: a read without ConsistentRead may miss the latest writes, as in DynamoDB.

AWS behaviour restored ("DynamoDB read consistency",
https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/HowItWorks.ReadConsistency.html):
"When issuing eventually consistent reads to a DynamoDB table or an index, the responses may not
reflect the results of a recently completed write operation"; eventually consistent is "the
default read consistent model for all read operations"; "All reads from GSIs and streams are
eventually consistent". With `ConsistentRead` true, a GetItem, Query or Scan of the table (or of
a local index) "returns a response with the most up-to-date data". TransactGetItems is
serializable: never stale.

moto always answers with the newest item. Here each successful write remembers the item's
previous version for `lag_s` (LOCAL_STALE_READ_MS). An eventually consistent GetItem,
BatchGetItem, Query or Scan is answered from the table as it was `lag_s` ago: under the
emulator's lock, the items written since are put back to their version of then, the read runs,
and the newest versions are restored (no stream record is emitted for either). A replica that
lags by `lag_s` is what such a read meets; with LOCAL_STALE_READ_PROBABILITY below 1 only that
share of eventually consistent reads is stale (a read that lands on an up-to-date replica).
With the default (1) the behaviour is deterministic: within the window, always the old version.

Every method runs under the emulator's lock.
"""

from __future__ import annotations

import copy
import random
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from local.behaviours.dynamo_request import WRITES, DynamoCall, ItemRef, Json, TableRef

Version = Json | None  # an item's attributes, or None: no item
Write = tuple[ItemRef, Any, Json, Version]  # item, moto table, key, version before the write
PRUNE_EVERY = 1000


class StaleReads:
    def __init__(self, lag_ms: float, probability: float = 1.0, seed: int | None = None) -> None:
        self.lag_s = max(0.0, lag_ms) / 1000
        self.probability = probability
        self._rng = random.Random(seed)
        # table -> item key -> [(when written, key, version before that write)], oldest first
        self._history: dict[TableRef, dict[str, list[tuple[float, Json, Version]]]] = {}
        self._writes = 0
        self.served: Counter[str] = Counter()  # stale answers, by operation

    @property
    def enabled(self) -> bool:
        return self.lag_s > 0 and self.probability > 0

    # --- writes -----------------------------------------------------------------------------
    def before_write(self, call: DynamoCall) -> list[Write]:
        """The versions a write is about to replace (kept only if it succeeds)."""
        if not self.enabled or call.operation not in (
            *WRITES,
            "TransactWriteItems",
            "BatchWriteItem",
        ):
            return []
        return [(ref, table, key, _version(table, key)) for ref, table, key in call.written()]

    def after_write(self, writes: list[Write]) -> None:
        now = time.monotonic()
        for (account, region, table_name, key_text), _, key, before in writes:
            entries = self._history.setdefault((account, region, table_name), {})
            entries.setdefault(key_text, []).append((now, key, before))
        self._writes += 1
        if self._writes % PRUNE_EVERY == 0:
            for table_ref in list(self._history):
                self._prune(table_ref, now - self.lag_s)

    def forget(self) -> None:
        """Every write so far counts as old (seen by every read)."""
        self._history.clear()

    # --- reads ------------------------------------------------------------------------------
    def read(self, call: DynamoCall, run: Callable[[], list[bytes]]) -> list[bytes]:
        """Run the read; if eventually consistent, against the tables as of `lag_s` ago."""
        if not self.enabled:
            return run()
        tables = call.eventually_consistent_tables()
        if not tables or self._rng.random() >= self.probability:
            return run()
        cutoff = time.monotonic() - self.lag_s
        newest: list[tuple[Any, Json, Version]] = []
        for table in tables:
            table_ref = call.table_ref(table)
            self._prune(table_ref, cutoff)
            for entries in self._history.get(table_ref, {}).values():
                _, key, then = entries[0]  # the version before the first write since the cutoff
                newest.append((table, key, _version(table, key)))
                _set(table, key, then)
        if newest:
            self.served[call.operation] += 1
        try:
            return run()
        finally:
            for table, key, version in reversed(newest):
                _set(table, key, version)

    def _prune(self, table_ref: TableRef, cutoff: float) -> None:
        entries = self._history.get(table_ref)
        if not entries:
            return
        for key_text in list(entries):
            kept = [e for e in entries[key_text] if e[0] > cutoff]
            if kept:
                entries[key_text] = kept
            else:
                del entries[key_text]


def _key_values(table: Any, key: Json) -> tuple[Any, Any]:
    from moto.dynamodb.models.dynamo_type import DynamoType

    hash_value = DynamoType(key[table.hash_key_attr])
    range_value = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
    return hash_value, range_value


def _version(table: Any, key: Json) -> Version:
    item = table.get_item(*_key_values(table, key))
    return copy.deepcopy(item.to_json()["Attributes"]) if item is not None else None


def _set(table: Any, key: Json, version: Version) -> None:
    """Put an item's version back in place, without a stream record (not a write)."""
    shard, table.stream_shard = table.stream_shard, None
    try:
        if version is None:
            table.delete_item(*_key_values(table, key))
        else:
            table.put_item(copy.deepcopy(version), overwrite=True)
    finally:
        table.stream_shard = shard
