"""The AWS emulator: moto's server over HTTP, with DynamoDB requests serialised.

DynamoDB promises that a conditional write is atomic; moto's in-memory backend does not keep that
promise under concurrent threads (two `attribute_not_exists` puts can both pass). One lock around
every DynamoDB request makes the emulator keep it, so a concurrency test can only fail because of
this project's code.

In front of moto, the DynamoDB behaviours that break idempotency and moto lacks are restored
(local/behaviours/, docs/local-stack.md): TTL deletion, transaction conflicts and stale
eventually consistent reads. They are on unless switched off by their variables.
"""

from __future__ import annotations

import json
import os
import threading
import urllib.request
from collections.abc import Callable, Iterable
from typing import Any

from moto.moto_server.threaded_moto_server import MotoRequestHandler
from moto.server import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import BaseWSGIServer, make_server

from local.behaviours import Behaviours
from local.behaviours.dynamo_request import DynamoCall
from local.behaviours.stale_reads import StaleReads
from local.behaviours.transaction_conflicts import TransactionConflicts
from local.behaviours.ttl_sweeper import TtlSweeper
from local.hosts import MISDIRECTED, host_allowed, misdirected_body
from local.patches.moto_transactions import cheap_transaction_backups
from local.template import REGION

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


STATS_PATH = "/_local/behaviours"


class DynamoFront:
    """The WSGI front of moto's server: DynamoDB requests one at a time, and the behaviours.

    A TransactWriteItems claims its items, stays in flight for the conflict window (outside the
    lock, so that other requests can meet it), then runs. Every other DynamoDB request runs
    under the lock: refused if it meets an in-flight transaction, else a write remembers the
    versions it replaces and an eventually consistent read sees the table of a moment ago.
    `GET /_local/behaviours` answers the settings and what the behaviours did so far.
    """

    def __init__(self, app: WSGIApp, behaviours: Behaviours) -> None:
        self.app = app
        self.behaviours = behaviours
        self.lock = threading.Lock()
        self.conflicts = TransactionConflicts(behaviours.txn_inflight_ms)
        self.stale = StaleReads(behaviours.stale_read_ms, behaviours.stale_read_probability)
        self.sweeper: TtlSweeper | None = None

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        if not host_allowed(environ.get("HTTP_HOST"), int(environ.get("SERVER_PORT") or 0)):
            # Another name for 127.0.0.1 (DNS rebinding, local/hosts.py): the emulator holds
            # the OpenAI key's secret. Nothing reaches moto.
            body = misdirected_body()
            start_response(
                f"{MISDIRECTED} Misdirected Request",
                [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
            )
            return [body]
        if environ.get("PATH_INFO") == STATS_PATH:
            return self._stats(start_response)
        if not environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
            return self.app(environ, start_response)
        call = DynamoCall.read(environ)
        if call.operation == "TransactWriteItems" and self.conflicts.enabled:
            with self.lock:
                refused, held = self.conflicts.claim(call, start_response)
            if refused is not None:
                return refused
            try:
                self.conflicts.hold()
                with self.lock:
                    return self._run(call, environ, start_response)
            finally:
                with self.lock:
                    self.conflicts.release(held)
        with self.lock:
            refused = self.conflicts.refuse(call, start_response)
            if refused is not None:
                return refused
            return self._run(call, environ, start_response)

    def _run(
        self, call: DynamoCall, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> list[bytes]:
        statuses: list[str] = []

        def capture(status: str, headers: Any, exc_info: Any = None) -> Any:
            statuses.append(status)
            return start_response(status, headers, exc_info)

        replaced = self.stale.before_write(call)
        out = self.stale.read(call, lambda: list(self.app(environ, capture)))
        if replaced and statuses and statuses[0].startswith("200"):
            self.stale.after_write(replaced)
        return out

    def stats(self) -> dict[str, Any]:
        b = self.behaviours
        return {
            "ttlSweepLagSeconds": b.ttl_sweep_lag_s,
            "ttlSweepIntervalSeconds": b.ttl_sweep_interval_s,
            "txnInflightMs": b.txn_inflight_ms,
            "staleReadMs": b.stale_read_ms,
            "staleReadProbability": b.stale_read_probability,
            "ttlSweeps": self.sweeper.sweeps if self.sweeper else 0,
            "ttlDeleted": self.sweeper.deleted if self.sweeper else 0,
            "itemsInFlight": self.conflicts.in_flight,
            "transactionConflicts": dict(self.conflicts.raised),
            "staleReads": dict(self.stale.served),
        }

    def _stats(self, start_response: Callable[..., Any]) -> list[bytes]:
        with self.lock:
            data = json.dumps(self.stats()).encode()
        start_response(
            "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(data)))]
        )
        return [data]


def serialise_dynamodb(app: WSGIApp, behaviours: Behaviours | None = None) -> DynamoFront:
    """moto's app behind the front; without `behaviours`, moto's own (serialised only)."""
    return DynamoFront(app, behaviours or Behaviours.none())


class Emulator:
    """moto's server on `host:port`; `behaviours` default to the LOCAL_* variables' (all on).

    moto's state is one per process: two emulators in one process share their tables. The TTL
    sweeper sweeps the tables of `region`.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        behaviours: Behaviours | None = None,
        region: str = REGION,
    ) -> None:
        self._host = host
        self._port = port
        self.behaviours = behaviours if behaviours is not None else Behaviours.from_env(os.environ)
        self.region = region
        self.front: DynamoFront | None = None
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> Emulator:
        cheap_transaction_backups()
        self.front = serialise_dynamodb(
            DomainDispatcherApplication(create_backend_app), self.behaviours
        )
        self._server = make_server(
            self._host, self._port, self.front, threaded=True, request_handler=MotoRequestHandler
        )
        # A short poll interval: `stop()` waits up to one (the stack stops within a second).
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )
        self._thread.start()
        lag = self.behaviours.ttl_sweep_lag_s
        if lag is not None:
            interval = self.behaviours.ttl_sweep_interval_s
            self.front.sweeper = TtlSweeper(self.endpoint, self.region, lag, interval).start()
        return self

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.server_address[1])

    @property
    def endpoint(self) -> str:
        return f"http://{self._host}:{self.port}"

    def settle(self) -> None:
        """Make everything written so far old: visible to every read, as data written long
        before (the seed, written before the stack is ready)."""
        if self.front is not None:
            with self.front.lock:
                self.front.stale.forget()

    def reset(self) -> None:
        """Forget every resource (moto's backends live as long as the process)."""
        request = urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST")
        urllib.request.urlopen(request, timeout=10).close()

    def stop(self) -> None:
        if self.front is not None and self.front.sweeper is not None:
            self.front.sweeper.stop()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
