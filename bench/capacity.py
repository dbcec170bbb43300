"""DynamoDB capacity units of a request, from the items it really reads and writes.

moto answers `ReturnConsumedCapacity` with a constant (1.0 or 0.5 whatever the item's size), so
the units are computed here, by DynamoDB's published rules, from what crosses the wire:

- an item's size is the sum of its attribute names and values (UTF-8 strings, raw binary, numbers
  at one byte per two significant digits plus one, 1 byte for a boolean or null, 3 bytes for a
  list or map plus one per element) — "DynamoDB item sizes and formats",
  https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html;
- a write costs one unit per started KB of the larger of the item before and after (a put that
  replaces, an update), of the deleted item for a delete, and still costs when its condition
  fails (the larger of the existing and the new item, at least one unit); a read costs one unit
  per started 4 KB of the whole item (projections do not make it cheaper), half for an eventually
  consistent read, at least one (or half) even when there is no item; a query adds up the items it
  returns before rounding; inside a transaction every item costs twice —
  https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/read-write-operations.html and
  .../transaction-apis.html#transaction-capacity-handling.

`CapacityMeter` hooks a botocore client's `before-call`/`after-call` events (public hooks, as
bench/calls.py does): the request's JSON body and the parsed answer give the keys and items; the
size of an item before and after a write is read with a client of its own (consistent `GetItem`,
not metered). Writes of a global secondary index are not counted (the measured tables have none
on the paths measured).
"""

from __future__ import annotations

import base64
import json
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import boto3
from botocore.exceptions import ClientError

Json = dict[str, Any]
WRITE_UNIT = 1024
READ_UNIT = 4096


def attribute_value_size(value: Json) -> int:
    """Bytes of one attribute value (wire form: `{"S": ...}`), without its name."""
    ((kind, v),) = value.items()
    if kind == "S":
        return len(str(v).encode())
    if kind == "N":
        return _number_size(str(v))
    if kind == "B":
        return len(_raw_bytes(v))
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(str(s).encode()) for s in v)
    if kind == "NS":
        return sum(_number_size(str(n)) for n in v)
    if kind == "BS":
        return sum(len(_raw_bytes(b)) for b in v)
    if kind == "L":
        return 3 + sum(attribute_value_size(e) + 1 for e in v)
    if kind == "M":
        return 3 + sum(len(k.encode()) + attribute_value_size(e) + 1 for k, e in v.items())
    raise ValueError(f"unknown attribute type {kind!r}")


def _raw_bytes(v: Any) -> bytes:
    return v if isinstance(v, bytes) else base64.b64decode(v)


def _number_size(text: str) -> int:
    digits = format(abs(Decimal(text)), "f").replace(".", "").strip("0")
    return max(1, math.ceil(len(digits) / 2)) + 1


def item_size(item: Json | None) -> int:
    """Bytes of an item: its attribute names and values."""
    if not item:
        return 0
    return sum(len(name.encode()) + attribute_value_size(v) for name, v in item.items())


def write_units(before: int, after: int, transactional: bool = False) -> float:
    units = max(1, math.ceil(max(before, after) / WRITE_UNIT))
    return float(units * (2 if transactional else 1))


def read_units(size: int, consistent: bool, transactional: bool = False) -> float:
    units = max(1, math.ceil(size / READ_UNIT))
    if transactional:
        return float(units * 2)
    return float(units) if consistent else units / 2


@dataclass
class Access:
    """One request's units."""

    operation: str
    table: str
    rcu: float = 0.0
    wcu: float = 0.0
    items_bytes: list[int] = field(default_factory=list)

    def describe(self) -> str:
        units = " + ".join(
            f"{u:g} {kind}" for u, kind in ((self.rcu, "RCU"), (self.wcu, "WCU")) if u
        )
        sizes = ", ".join(f"{b} B" for b in self.items_bytes)
        return f"{self.operation} {self.table.split('-')[-1]} [{sizes}] {units or '0'}"


class CapacityMeter:
    """Units of the DynamoDB requests a client makes in the measuring thread."""

    def __init__(self, client: Any, snapshot: Any | None = None) -> None:
        # A client of its own for the sizes of items before and after a write: not metered.
        self._raw = snapshot or boto3.session.Session().client("dynamodb")
        self._keys: dict[str, list[str]] = {}
        self._thread = threading.get_ident()
        self._pending: list[tuple[str, Json, Any]] = []
        self.accesses: list[Access] = []
        self._client = client
        client.meta.events.register("before-call.dynamodb", self._before)
        client.meta.events.register("after-call.dynamodb", self._after)

    def close(self) -> None:
        self._client.meta.events.unregister("before-call.dynamodb", self._before)
        self._client.meta.events.unregister("after-call.dynamodb", self._after)

    # --- measuring ------------------------------------------------------------------------------
    def measure(self, action: Callable[[], Any]) -> tuple[list[Access], Any]:
        self._thread = threading.get_ident()
        self.accesses = []
        result = action()
        return self.accesses, result

    @property
    def rcu(self) -> float:
        return sum(a.rcu for a in self.accesses)

    @property
    def wcu(self) -> float:
        return sum(a.wcu for a in self.accesses)

    # --- hooks ----------------------------------------------------------------------------------
    def _before(self, model: Any, params: Any, **_: Any) -> None:
        if threading.get_ident() != self._thread:
            return
        body = json.loads(params.get("body") or b"{}")
        self._pending.append((model.name, body, self._sizes_before(model.name, body)))

    def _after(self, model: Any, parsed: Any, **_: Any) -> None:
        if threading.get_ident() != self._thread or not self._pending:
            return
        operation, body, before = self._pending.pop()
        failed = "Error" in (parsed or {})
        self.accesses.append(self._units(operation, body, before, parsed or {}, failed))

    # --- sizes ----------------------------------------------------------------------------------
    def _key_names(self, table: str) -> list[str]:
        if table not in self._keys:
            schema = self._raw.describe_table(TableName=table)["Table"]["KeySchema"]
            self._keys[table] = [k["AttributeName"] for k in schema]
        return self._keys[table]

    def _stored(self, table: str, key_or_item: Json) -> int:
        key = {n: key_or_item[n] for n in self._key_names(table)}
        for _ in range(50):
            try:
                found = self._raw.get_item(TableName=table, Key=key, ConsistentRead=True)
                return item_size(found.get("Item"))
            except ClientError as exc:  # an item in a transaction in flight: ask again
                if exc.response["Error"]["Code"] != "TransactionConflictException":
                    raise
        raise RuntimeError(f"could not read {key} of {table}")

    def _written(self, operation: str, body: Json) -> list[tuple[str, Json]]:
        if operation == "PutItem":
            return [(body["TableName"], body["Item"])]
        if operation in ("UpdateItem", "DeleteItem"):
            return [(body["TableName"], body["Key"])]
        if operation == "TransactWriteItems":
            out = []
            for entry in body["TransactItems"]:
                ((kind, op),) = entry.items()
                out.append((op["TableName"], op["Item"] if kind == "Put" else op["Key"]))
            return out
        return []

    def _sizes_before(self, operation: str, body: Json) -> list[int]:
        return [self._stored(t, k) for t, k in self._written(operation, body)]

    def _units(
        self, operation: str, body: Json, before: list[int], parsed: Json, failed: bool
    ) -> Access:
        access = Access(operation, str(body.get("TableName", "")))
        if operation in ("PutItem", "UpdateItem", "DeleteItem"):
            ((table, key),) = self._written(operation, body)
            if operation == "DeleteItem":
                size = before[0]
            elif failed:  # the condition failed: the existing and the new item, the larger
                size = max(before[0], item_size(body["Item"]) if operation == "PutItem" else 0)
            else:
                size = max(before[0], self._stored(table, key))
            access.items_bytes.append(size)
            access.wcu = write_units(size, 0)
        elif operation == "TransactWriteItems":
            access.table = ",".join(sorted({t for t, _ in self._written(operation, body)}))
            for (table, key), old in zip(self._written(operation, body), before, strict=True):
                size = old if failed else max(old, self._stored(table, key))
                access.items_bytes.append(size)
                access.wcu += write_units(size, 0, transactional=True)
        elif operation == "GetItem":
            key = body["Key"]
            size = self._stored(access.table, key) if parsed.get("Item") else 0
            access.items_bytes.append(size)
            access.rcu = read_units(size, bool(body.get("ConsistentRead")))
        elif operation in ("Query", "Scan"):
            sizes = [self._stored(access.table, i) for i in parsed.get("Items", [])]
            access.items_bytes.extend(sizes)
            access.rcu = read_units(sum(sizes), bool(body.get("ConsistentRead")))
        elif operation == "BatchGetItem":
            for table, request in body["RequestItems"].items():
                got = {
                    json.dumps({n: i[n] for n in self._key_names(table)}, sort_keys=True): i
                    for i in parsed.get("Responses", {}).get(table, [])
                }
                for key in request["Keys"]:
                    found = got.get(json.dumps(key, sort_keys=True))
                    size = self._stored(table, key) if found else 0
                    access.items_bytes.append(size)
                    access.rcu += read_units(size, bool(request.get("ConsistentRead")))
        elif operation == "TransactGetItems":
            for entry, response in zip(
                body["TransactItems"], parsed.get("Responses", []), strict=False
            ):
                op = entry["Get"]
                size = self._stored(op["TableName"], op["Key"]) if response.get("Item") else 0
                access.items_bytes.append(size)
                access.rcu += read_units(size, True, transactional=True)
        return access
