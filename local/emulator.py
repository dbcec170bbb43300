"""The AWS emulator: moto's server over HTTP, with DynamoDB requests serialised.

DynamoDB promises that a conditional write is atomic; moto's in-memory backend does not keep that
promise under concurrent threads (two `attribute_not_exists` puts can both pass). One lock around
every DynamoDB request makes the emulator keep it, so a concurrency test can only fail because of
this project's code.
"""

from __future__ import annotations

import copy
import threading
import urllib.request
from collections.abc import Callable, Iterable
from typing import Any

from moto.moto_server.threaded_moto_server import MotoRequestHandler
from moto.server import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import BaseWSGIServer, make_server

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def cheap_transaction_backups() -> None:
    """moto backs up every table a transaction touches with `copy.deepcopy` (to roll back a
    cancelled one): O(table size) per transaction, which makes a long run slower and slower. Back
    up the touched items instead, and restore them on failure. Safe because DynamoDB requests are
    serialised here (one transaction at a time)."""
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import Table

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
    from moto.dynamodb.models.dynamo_type import DynamoType

    hash_value = DynamoType(key[table.hash_key_attr])
    range_value = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
    return hash_value, range_value


def serialise_dynamodb(app: WSGIApp) -> WSGIApp:
    lock = threading.Lock()

    def wrapped(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
            with lock:
                return list(app(environ, start_response))
        return app(environ, start_response)

    return wrapped


class Emulator:
    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._host = host
        self._port = port
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> Emulator:
        cheap_transaction_backups()
        app = serialise_dynamodb(DomainDispatcherApplication(create_backend_app))
        self._server = make_server(
            self._host, self._port, app, threaded=True, request_handler=MotoRequestHandler
        )
        # A short poll interval: `stop()` waits up to one (the stack stops within a second).
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )
        self._thread.start()
        return self

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.server_address[1])

    @property
    def endpoint(self) -> str:
        return f"http://{self._host}:{self.port}"

    def reset(self) -> None:
        """Forget every resource (moto's backends live as long as the process)."""
        request = urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST")
        urllib.request.urlopen(request, timeout=10).close()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
