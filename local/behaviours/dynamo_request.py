"""One DynamoDB request as the emulator's front sees it: operation, body, the items it names.

The behaviours need to know which items a request reads or writes, which needs each table's key
schema: it comes from moto's backend (the emulator runs moto in this process).
"""

from __future__ import annotations

import io
import json
import os
import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from moto.core.models import DEFAULT_ACCOUNT_ID

Json = dict[str, Any]
# (account, region, table name): one table of moto's; with a key's canonical JSON: one item.
TableRef = tuple[str, str, str]
ItemRef = tuple[str, str, str, str]

_REGION = re.compile(r"Credential=[^/]+/\d{8}/([^/]+)/")
WRITES = ("PutItem", "UpdateItem", "DeleteItem")
JSON_TYPE = "application/x-amz-json-1.0"


def key_json(key: Json) -> str:
    return json.dumps(key, sort_keys=True, separators=(",", ":"))


@dataclass
class DynamoCall:
    operation: str
    body: Json
    account: str
    region: str
    _tables: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def read(cls, environ: dict[str, Any]) -> DynamoCall:
        """Parse the request; its body is put back for moto to read."""
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length > 0 else b""
        environ["wsgi.input"] = io.BytesIO(raw)
        try:
            body = json.loads(raw or b"{}")
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = {}
        match = _REGION.search(environ.get("HTTP_AUTHORIZATION", ""))
        # moto's own choice of account (core/responses.py): variable, header, default.
        account = (
            os.environ.get("MOTO_ACCOUNT_ID")
            or environ.get("HTTP_X_MOTO_ACCOUNT_ID")
            or DEFAULT_ACCOUNT_ID
        )
        operation = environ.get("HTTP_X_AMZ_TARGET", "").split(".", 1)[-1]
        return cls(
            operation,
            body if isinstance(body, dict) else {},
            account,
            match.group(1) if match else "us-east-1",
        )

    # --- tables and items -------------------------------------------------------------------
    def table(self, name: object) -> Any | None:
        """moto's table (None when it does not exist: moto answers the request with its error)."""
        if not isinstance(name, str):
            return None
        if name not in self._tables:
            from moto.dynamodb.models import dynamodb_backends

            try:
                self._tables[name] = dynamodb_backends[self.account][self.region].get_table(name)
            except Exception:  # noqa: BLE001 - any lookup failure: moto reports it
                self._tables[name] = None
        return self._tables[name]

    def item_ref(self, table_name: object, key_or_item: object) -> tuple[ItemRef, Any, Json] | None:
        """The item a key (or a whole item, for a put) names: (ref, moto table, key)."""
        table = self.table(table_name)
        if table is None or not isinstance(key_or_item, dict):
            return None
        names = [n for n in (table.hash_key_attr, table.range_key_attr) if n]
        if not all(n in key_or_item for n in names):
            return None
        key = {n: key_or_item[n] for n in names}
        return (self.account, self.region, table.name, key_json(key)), table, key

    def table_ref(self, table: Any) -> TableRef:
        return (self.account, self.region, table.name)

    def written(self) -> list[tuple[ItemRef, Any, Json]]:
        """The items this request writes if it succeeds."""
        body, out = self.body, []
        if self.operation == "PutItem":
            out.append(self.item_ref(body.get("TableName"), body.get("Item")))
        elif self.operation in ("UpdateItem", "DeleteItem"):
            out.append(self.item_ref(body.get("TableName"), body.get("Key")))
        elif self.operation == "TransactWriteItems":
            for entry in self._transact_items():
                kind, op = entry
                if kind == "Put":
                    out.append(self.item_ref(op.get("TableName"), op.get("Item")))
                elif kind in ("Update", "Delete"):
                    out.append(self.item_ref(op.get("TableName"), op.get("Key")))
        elif self.operation == "BatchWriteItem":
            for table_name, requests in (body.get("RequestItems") or {}).items():
                for request in requests if isinstance(requests, list) else []:
                    put = (request or {}).get("PutRequest") or {}
                    delete = (request or {}).get("DeleteRequest") or {}
                    if put:
                        out.append(self.item_ref(table_name, put.get("Item")))
                    elif delete:
                        out.append(self.item_ref(table_name, delete.get("Key")))
        return [ref for ref in out if ref is not None]

    def transacted(self) -> list[ItemRef | None]:
        """Every item of a TransactWriteItems / TransactGetItems, in request order."""
        refs: list[ItemRef | None] = []
        for kind, op in self._transact_items():
            named = self.item_ref(
                op.get("TableName"), op.get("Item") if kind == "Put" else op.get("Key")
            )
            refs.append(named[0] if named else None)
        return refs

    def _transact_items(self) -> Iterable[tuple[str, Json]]:
        for entry in self.body.get("TransactItems") or []:
            if isinstance(entry, dict) and len(entry) == 1:
                kind, op = next(iter(entry.items()))
                if isinstance(op, dict):
                    yield kind, op

    def eventually_consistent_tables(self) -> list[Any]:
        """The tables this read reads without ConsistentRead (a global index: always)."""
        body, names = self.body, []
        if self.operation in ("GetItem", "Query", "Scan"):
            table = self.table(body.get("TableName"))
            index = body.get("IndexName")
            global_index = table is not None and any(
                i.name == index for i in getattr(table, "global_indexes", [])
            )
            if global_index or not body.get("ConsistentRead"):
                names.append(body.get("TableName"))
        elif self.operation == "BatchGetItem":
            for name, request in (body.get("RequestItems") or {}).items():
                if isinstance(request, dict) and not request.get("ConsistentRead"):
                    names.append(name)
        tables = [self.table(n) for n in names]
        return [t for t in tables if t is not None]


def error_response(
    start_response: Callable[..., Any], kind: str, message: str, **extra: Any
) -> list[bytes]:
    """A DynamoDB error answer (HTTP 400, JSON 1.0 protocol), as botocore parses it."""
    payload = {"__type": f"com.amazonaws.dynamodb.v20120810#{kind}", "message": message, **extra}
    data = json.dumps(payload).encode()
    start_response(
        "400 Bad Request",
        [
            ("Content-Type", JSON_TYPE),
            ("Content-Length", str(len(data))),
            ("x-amzn-RequestId", uuid.uuid4().hex),
        ],
    )
    return [data]
