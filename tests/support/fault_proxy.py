"""A small fault-injecting HTTP proxy in front of the API, for the clients' retry table.

Every request is forwarded to the upstream API unchanged, unless a queued fault matches it
(FIFO, like the fake LLM's faults). Control routes, under `/__proxy/` (never forwarded):

- `POST /__proxy/faults` `{"fault": ..., "times": 1, "method"?: "POST", "path"?: "/generate"}`:
  - `drop_response`: forward, let the API answer, then close the connection without a byte —
    the response is lost on its way back (the server has acted);
  - `delay_response` (`delayMs`): forward, then hold the answer that long before sending it
    (a client with a shorter timeout has given up by then);
  - `reset`: close the connection without forwarding (the server never saw it);
  - `respond` (`status`, `headers`, `body`): answer this without forwarding (e.g. a 429).
- `DELETE /__proxy/faults`: clear the faults and the log.
- `GET /__proxy/log`: every request seen: `{"method", "path", "idempotencyKey", "fault",
  "status" (the API's or the injected answer; null for `reset`), "retryAfter", "arrived",
  "answered"}` (seconds on the proxy's monotonic clock).

    python -m tests.support.fault_proxy --upstream http://127.0.0.1:3000 --port 3100
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

FAULTS = ("drop_response", "delay_response", "reset", "respond")
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade"}


@dataclass
class Fault:
    fault: str
    times: int
    method: str | None = None
    path: str | None = None
    delay_ms: int = 0
    status: int = 500
    headers: dict[str, str] | None = None
    body: Any = None

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method) and (
            self.path is None or self.path == path.split("?", 1)[0]
        )


def parse_fault(raw: Any) -> Fault:
    if not isinstance(raw, dict) or raw.get("fault") not in FAULTS:
        raise ValueError(f"a fault is an object with 'fault' one of {FAULTS}")
    times = raw.get("times", 1)
    if not isinstance(times, int) or times < 1:
        raise ValueError("times is a positive integer")
    headers = raw.get("headers")
    return Fault(
        fault=raw["fault"],
        times=times,
        method=raw.get("method"),
        path=raw.get("path"),
        delay_ms=int(raw.get("delayMs", 0)),
        status=int(raw.get("status", 500)),
        headers={str(k): str(v) for k, v in headers.items()} if isinstance(headers, dict) else None,
        body=raw.get("body"),
    )


class FaultProxy:
    def __init__(self, upstream: str, host: str = "127.0.0.1", port: int = 0) -> None:
        parts = urlsplit(upstream)
        if parts.scheme != "http" or parts.hostname is None:
            raise ValueError("the upstream is an http:// URL")
        self.upstream_host = parts.hostname
        self.upstream_port = parts.port or 80
        self._lock = threading.Lock()
        self._faults: deque[Fault] = deque()
        self._log: list[dict[str, Any]] = []
        self._server = _Server((host, port), self)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> FaultProxy:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # --- state ---------------------------------------------------------------------------
    def add(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()
            self._log.clear()

    def log(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(entry) for entry in self._log]

    def update(self, entry: dict[str, Any], **values: Any) -> None:
        with self._lock:
            entry.update(values)

    def take(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, path):
                    fault.times -= 1
                    if fault.times == 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def record(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self._log.append(entry)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], proxy: FaultProxy) -> None:
        self.proxy = proxy
        super().__init__(address, _Handler)

    def server_bind(self) -> None:  # skip HTTPServer's slow reverse-DNS getfqdn()
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind(self.server_address)
        self.server_address = self.socket.getsockname()[:2]
        host, port = self.server_address
        self.server_name, self.server_port = str(host), int(port)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:  # quiet
        return

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_PATCH(self) -> None:
        self._handle()

    # --- control -------------------------------------------------------------------------
    def _reply(self, status: int, payload: object, headers: dict[str, str] | None = None) -> None:
        data = b"" if payload is None else json.dumps(payload).encode()
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if payload is not None and not any(h.lower() == "content-type" for h in headers or {}):
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _control(self, body: bytes) -> None:
        proxy = self.server.proxy
        route = (self.command, self.path.split("?", 1)[0])
        if route == ("GET", "/__proxy/log"):
            self._reply(200, {"requests": proxy.log()})
        elif route == ("DELETE", "/__proxy/faults"):
            proxy.clear()
            self._reply(200, {"faults": []})
        elif route == ("POST", "/__proxy/faults"):
            try:
                raw = json.loads(body or b"null")
                for item in raw if isinstance(raw, list) else [raw]:
                    proxy.add(parse_fault(item))
            except (ValueError, TypeError) as exc:
                self._reply(400, {"error": str(exc)})
                return
            self._reply(201, {"queued": True})
        else:
            self._reply(404, {"error": "unknown control route"})

    # --- proxying ------------------------------------------------------------------------
    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.path.startswith("/__proxy/"):
            self._control(body)
            return
        proxy = self.server.proxy
        entry: dict[str, Any] = {
            "method": self.command,
            "path": self.path,
            "idempotencyKey": self.headers.get("Idempotency-Key"),
            "fault": None,
            "status": None,
            "retryAfter": None,
            "arrived": time.monotonic(),
            "answered": None,
        }
        fault = proxy.take(self.command, self.path)
        entry["fault"] = fault.fault if fault else None
        proxy.record(entry)  # in order of arrival; its status and times are filled in below
        kind = fault.fault if fault else None
        try:
            if fault is not None and kind == "reset":
                self._close()
                return
            if fault is not None and kind == "respond":
                headers = fault.headers or {}
                hinted = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
                proxy.update(
                    entry, status=fault.status, retryAfter=hinted, answered=time.monotonic()
                )
                self._reply(fault.status, fault.body, headers)
                return
            status, upstream_headers, data = self._forward(body)
            hinted = next((v for k, v in upstream_headers if k.lower() == "retry-after"), None)
            proxy.update(entry, status=status, retryAfter=hinted)
            if kind == "drop_response":
                self._close()
                return
            if fault is not None and kind == "delay_response":
                time.sleep(fault.delay_ms / 1000)
            proxy.update(entry, answered=time.monotonic())
            try:
                self.send_response(status)
                for name, value in upstream_headers:
                    if name.lower() not in HOP_BY_HOP and name.lower() != "content-length":
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except OSError:  # the client gave up (its timeout)
                self.close_connection = True
        except OSError:  # the upstream failed: the client sees the connection closed
            self._close()

    def _forward(self, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        proxy = self.server.proxy
        conn = http.client.HTTPConnection(proxy.upstream_host, proxy.upstream_port, timeout=120)
        try:
            headers = {
                k: v
                for k, v in self.headers.items()
                if k.lower() not in HOP_BY_HOP and k.lower() != "host"
            }
            conn.request(self.command, self.path, body=body or None, headers=headers)
            response = conn.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            conn.close()

    def _close(self) -> None:
        """End the connection without an answer: the client sees it closed or reset."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    proxy = FaultProxy(args.upstream, port=args.port).start()
    print(f"fault proxy {proxy.url} -> {args.upstream}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        proxy.stop()


if __name__ == "__main__":
    main()
