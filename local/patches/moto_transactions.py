"""A DynamoDB transaction costs the same however large its tables are: in moto too.

AWS behaviour restored: TransactWriteItems' latency does not grow with the size of the tables it
touches. moto backs up every table a transaction touches with `copy.deepcopy` (to roll back a
cancelled one), O(table size) per transaction, so a long run (`make chaos`) got slower and slower.
`DynamoDBBackend.transact_write_items` is wrapped to back up the touched items instead and restore
them on failure. Safe because the emulator serialises DynamoDB requests (local/emulator.py: one
transaction at a time).
"""

from __future__ import annotations

import copy
from typing import Any

from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table


def cheap_transaction_backups() -> None:
    """moto backs up every table a transaction touches with `copy.deepcopy` (to roll back a
    cancelled one): O(table size) per transaction, which makes a long run slower and slower. Back
    up the touched items instead, and restore them on failure. Safe because DynamoDB requests are
    serialised here (one transaction at a time)."""
    original = DynamoDBBackend.transact_write_items
    if getattr(original, "_retryproof", False):
        return

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        backups: list[tuple[str, dict[str, Any], Any]] = []
        for entry in transact_items:
            _, op = next(iter(entry.items()))
            table = self.tables.get(op.get("TableName"))
            if table is None:
                continue
            key = op.get("Key")
            if key is None:
                names = [n for n in (table.hash_key_attr, table.range_key_attr) if n]
                key = {n: op["Item"][n] for n in names if n in op.get("Item", {})}
            try:
                current = self.get_item(op["TableName"], key)
            except Exception:  # noqa: BLE001, S112  # nosec B112 - an invalid key: moto reports it
                continue
            backups.append((op["TableName"], key, copy.deepcopy(current)))
        Table.__deepcopy__ = lambda table, memo: table  # type: ignore[attr-defined]
        try:
            original(self, transact_items)
        except BaseException:
            for table_name, key, item in reversed(backups):
                if item is None:
                    self.tables[table_name].delete_item(*_key_values(self.tables[table_name], key))
                else:
                    self.tables[table_name].put_item(item.to_json()["Attributes"])
            raise
        finally:
            del Table.__deepcopy__  # type: ignore[attr-defined]

    transact_write_items._retryproof = True  # type: ignore[attr-defined]
    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


def _key_values(table: Any, key: dict[str, Any]) -> tuple[Any, Any]:
    hash_value = DynamoType(key[table.hash_key_attr])
    range_value = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
    return hash_value, range_value
