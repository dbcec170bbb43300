"""Fake OpenAI-compatible LLM server (stdlib only): /v1/chat/completions, /health, /stats, /faults.

Run with ``python local/fake_llm.py [--host H] [--port P]``. Logs only method, path and status.

Billing is a real provider's: a completion counts as served (`GET /stats`: `completions`, and
`byFingerprint`, per request fingerprint) once the server has produced it, whether or not the
client is still there to read it. A client that timed out or hung up during a `delayMs` fault
has still paid for the completion the server then produces; only a request answered with an
error status (an injected 4xx/5xx) is not counted. The fingerprint of a request is the SHA-256
of its `messages` as canonical JSON (`fingerprint`), so a test can tell how many times one
prompt was paid for. `byKey` counts them per API key (the bearer token), each named by the first
12 hex digits of its SHA-256, never by the key itself: which key paid, as a provider's bill says.

A `CALL <tool> <json>` line in a user or tool message makes the fake answer with that tool call
(once per line); `CALL[<id>] <tool> <json>` gives the call that id, so a script can repeat one
tool call id in a later step, as real LLMs sometimes do. `GET /stats` `toolResultsById` counts,
per tool call id, the distinct results the LLM was told for it in `tool` messages (more than one:
the caller reported two different outcomes of one call).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import logging
import os
import re
import signal
import socketserver
import threading
import time
import uuid
from collections import Counter, deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import Any, cast

logger = logging.getLogger("fake_llm")

Json = dict[str, Any]
_CALL_LINE = re.compile(r"^\s*CALL(?:\[([A-Za-z0-9_-]{1,64})\])? (\S+)(.*)$")
# `TOKENS <n>` on a line of the last user message: a completion of n tokens (the benchmark's
# payload sizes), each a 3-letter word and a space: 4 bytes, about a real English token's size.
_TOKENS_LINE = re.compile(r"^\s*TOKENS (\d{1,5})\s*$", re.MULTILINE)
_FILLER = ("the", "and", "for", "are", "but", "not", "you", "all", "any", "can", "had", "her")


class _HTTPError(Exception):
    def __init__(self, status: int, message: str, err_type: str = "invalid_request_error") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.err_type = err_type


@dataclass
class _Fault:
    status: int | None
    delay_ms: int
    remaining: int

    def to_json(self) -> Json:
        return {"status": self.status, "delayMs": self.delay_ms, "times": self.remaining}


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _validate_fault(status: object, delay_ms: object, times: object) -> _Fault:
    if status is not None and not (_is_int(status) and 400 <= cast(int, status) <= 599):
        raise ValueError("'status' must be an integer between 400 and 599")
    if not (_is_int(delay_ms) and cast(int, delay_ms) >= 0):
        raise ValueError("'delayMs' must be a non-negative integer")
    if not (_is_int(times) and cast(int, times) >= 1):
        raise ValueError("'times' must be a positive integer")
    if status is None and delay_ms == 0:
        raise ValueError("a fault needs 'status' and/or a positive 'delayMs'")
    return _Fault(cast("int | None", status), cast(int, delay_ms), cast(int, times))


def _text(content: object) -> str:
    """Plain text of a message content (string or list of content parts)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p.get("text") for p in content if isinstance(p, dict)]
        return "\n".join(p for p in parts if isinstance(p, str))
    return ""


def _canon_args(args: object) -> str:
    """Canonical form of tool-call arguments (a JSON string or an already parsed value)."""
    with contextlib.suppress(json.JSONDecodeError):
        args = json.loads(args) if isinstance(args, str) else args
    return json.dumps(args, sort_keys=True, separators=(",", ":"))


def _next_call(messages: list[Json]) -> tuple[bool, tuple[str, str, str | None] | None]:
    """(any CALL line?, first CALL (name, json, id) not yet answered by an assistant tool call)."""
    answered: Counter[tuple[str, str]] = Counter()
    for msg in messages:
        calls = msg.get("tool_calls")
        for call in calls if msg.get("role") == "assistant" and isinstance(calls, list) else []:
            fn = call.get("function") if isinstance(call, dict) else None
            if isinstance(fn, dict):
                answered[(str(fn.get("name")), _canon_args(fn.get("arguments")))] += 1
    seen = False
    for msg in messages:
        lines = (
            _text(msg.get("content")).splitlines() if msg.get("role") in ("user", "tool") else []
        )
        for match in filter(None, map(_CALL_LINE.match, lines)):
            call_id, name, args_text = match.group(1), match.group(2), match.group(3).strip()
            args_text = args_text or "{}"
            try:
                json.loads(args_text)
            except json.JSONDecodeError:
                continue
            seen, key = True, (name, _canon_args(args_text))
            if answered[key] == 0:
                return True, (name, args_text, call_id)
            answered[key] -= 1
    return seen, None


def _build_completion(body: Json, messages: list[Json]) -> Json:
    tools = body.get("tools")
    offered = {
        t["function"].get("name")
        for t in (tools if isinstance(tools, list) else [])
        if isinstance(t, dict) and isinstance(t.get("function"), dict)
    }
    texts = [(m.get("role"), _text(m.get("content"))) for m in messages]
    last_user = next((text for role, text in reversed(texts) if role == "user"), "")
    prompt_tokens = max(1, sum(len(text.split()) for _, text in texts))
    has_calls, pending = _next_call(messages) if offered else (False, None)
    message: Json
    if pending is not None and pending[0] in offered:
        name, args_text, call_id = pending
        function = {"name": name, "arguments": args_text}
        tool_call = {
            "id": call_id or f"call_{uuid.uuid4().hex[:24]}",
            "type": "function",
            "function": function,
        }
        message = {"role": "assistant", "content": None, "tool_calls": [tool_call]}
        finish, completion_tokens = "tool_calls", max(1, len(f"{name} {args_text}".split()))
    else:
        done = has_calls and pending is None
        sized = _TOKENS_LINE.search(last_user)
        if sized is not None and not done:
            words = [_FILLER[i % len(_FILLER)] for i in range(int(sized.group(1)))] or ["."]
        else:
            words = ("Done: " + last_user[:100] if done else "Echo: " + last_user[:200]).split()
        limit = body.get("max_tokens", body.get("max_completion_tokens"))
        finish = "stop"
        if isinstance(limit, int) and not isinstance(limit, bool) and 0 < limit < len(words):
            words, finish = words[:limit], "length"
        message = {"role": "assistant", "content": " ".join(words)}
        completion_tokens = max(1, len(words))
    model = body.get("model")
    usage = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens}
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model if isinstance(model, str) else "fake-model",
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {**usage, "total_tokens": prompt_tokens + completion_tokens},
    }


def key_name(authorization: str | None) -> str:
    """An API key's name in `/stats`: the first 12 hex digits of the SHA-256 of the bearer token
    (`none` when the request had none)."""
    token = (authorization or "").removeprefix("Bearer ").strip()
    return hashlib.sha256(token.encode()).hexdigest()[:12] if token else "none"


def fingerprint(messages: object) -> str:
    """SHA-256 (hex) of the messages as canonical JSON: sorted keys, no spaces, UTF-8."""
    canonical = json.dumps(messages, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


_LOCAL_NAMES = frozenset({"127.0.0.1", "localhost", "[::1]"})


def host_allowed(host: str | None, port: int) -> bool:
    """The rule of local/hosts.py (this file runs alone, stdlib only; a unit test keeps the two
    equal): 127.0.0.1, localhost or [::1], with no port or this server's port."""
    if host is None:
        return True
    value = host.strip().lower()
    if value.startswith("["):
        name, bracket, rest = value.partition("]")
        name += bracket
        if rest and not rest.startswith(":"):
            return False
        port_part = rest[1:] if rest else None
    else:
        name, colon, after = value.partition(":")
        port_part = after if colon else None
    return name in _LOCAL_NAMES and (port_part is None or port_part == str(port))


def _parse_json(raw: bytes) -> object:
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise _HTTPError(400, "Request body is not valid JSON") from None


class _Server(ThreadingHTTPServer):
    request_queue_size = 128

    daemon_threads = True

    def __init__(self, address: tuple[str, int], app: FakeLLM) -> None:
        self.app = app
        super().__init__(address, _Handler)

    def server_bind(self) -> None:  # skip HTTPServer's slow reverse-DNS getfqdn()
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self.server_address[0]), self.server_address[1]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeLLM/1.0"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        path, status = self.path.split("?", 1)[0], getattr(code, "value", code)
        logger.info("%s %s %s", self.command, path, status)

    def _send_json(self, status: int, payload: object) -> None:
        data = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up (its timeout): the completion was served all the same.
            logger.info("client went away before the answer")

    def _handle(self) -> None:
        app = cast(_Server, self.server).app
        path = self.path.split("?", 1)[0].rstrip("/") or "/"
        if not host_allowed(self.headers.get("Host"), self.server.server_address[1]):
            # Another name for 127.0.0.1 (DNS rebinding, local/hosts.py): 421, nothing runs.
            self.close_connection = True
            error = {"message": "this server answers only to 127.0.0.1 and localhost"}
            self._send_json(421, {"error": error})
            return
        try:
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                self.close_connection = True
                raise _HTTPError(400, "Invalid Content-Length") from None
            raw = self.rfile.read(length) if length > 0 else b""
            route = (self.command, path)
            if route == ("GET", "/health"):
                self._send_json(200, {"status": "ok"})
            elif route == ("GET", "/stats"):
                self._send_json(
                    200,
                    {
                        "completions": app.completions,
                        "byFingerprint": app.by_fingerprint,
                        "toolResultsById": app.tool_results_by_id,
                        "byKey": app.by_key,
                    },
                )
            elif route == ("POST", "/faults"):
                body = _parse_json(raw)
                if not isinstance(body, dict):
                    raise _HTTPError(400, "Fault body must be a JSON object")
                try:
                    app.add_fault(body.get("status"), body.get("delayMs", 0), body.get("times", 1))
                except ValueError as exc:
                    raise _HTTPError(400, str(exc)) from None
                self._send_json(201, {"faults": app.faults})
            elif route == ("DELETE", "/faults"):
                app.clear_faults()
                self._send_json(200, {"faults": []})
            elif route == ("POST", "/v1/chat/completions"):
                self._send_json(200, app._complete(raw, self.headers.get("Authorization")))
            else:
                raise _HTTPError(404, f"Unknown route: {self.command} {path}")
        except _HTTPError as exc:
            error = {"message": exc.message, "type": exc.err_type, "code": None}
            self._send_json(exc.status, {"error": error})

    do_GET = do_POST = do_DELETE = _handle


class FakeLLM:
    """Fake OpenAI-compatible server; ``FakeLLM(port=0).start()`` picks a free port."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self._requested_port = port
        self._lock = threading.Lock()
        self._faults: deque[_Fault] = deque()
        self._completions = 0
        self._by_fingerprint: Counter[str] = Counter()
        self._by_key: Counter[str] = Counter()
        self._told: dict[str, set[str]] = {}
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> FakeLLM:
        if self._server is not None:
            raise RuntimeError("FakeLLM already started")
        self._stopping.clear()
        self._server = _Server((self.host, self._requested_port), self)
        serve, kwargs = self._server.serve_forever, {"poll_interval": 0.1}
        self._thread = threading.Thread(target=serve, kwargs=kwargs, name="fake-llm", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()  # interrupts pending fault delays
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1]) if self._server else self._requested_port

    @property
    def base_url(self) -> str:
        host = "127.0.0.1" if self.host in ("", "0.0.0.0", "localhost") else self.host
        return f"http://{host}:{self.port}/v1"

    @property
    def completions(self) -> int:
        with self._lock:
            return self._completions

    @property
    def by_fingerprint(self) -> dict[str, int]:
        """Completions served per request fingerprint (`fingerprint(messages)`)."""
        with self._lock:
            return dict(self._by_fingerprint)

    @property
    def by_key(self) -> dict[str, int]:
        """Completions served per API key, named by `key_name` (a hash: never the key)."""
        with self._lock:
            return dict(self._by_key)

    @property
    def tool_results_by_id(self) -> dict[str, int]:
        """Per tool call id, how many distinct results the LLM was told (in `tool` messages)."""
        with self._lock:
            return {call_id: len(results) for call_id, results in self._told.items()}

    @property
    def faults(self) -> list[Json]:
        """Pending faults (FIFO), as ``{"status", "delayMs", "times"}`` dicts."""
        with self._lock:
            return [f.to_json() for f in self._faults]

    def add_fault(self, status: int | None = None, delay_ms: int = 0, times: int = 1) -> None:
        fault = _validate_fault(status, delay_ms, times)
        with self._lock:
            self._faults.append(fault)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def _take_fault(self) -> _Fault | None:
        with self._lock:
            if not self._faults:
                return None
            head = self._faults[0]
            head.remaining -= 1
            if head.remaining <= 0:
                self._faults.popleft()
            return _Fault(head.status, head.delay_ms, 1)

    def _complete(self, raw: bytes, authorization: str | None = None) -> Json:
        body = _parse_json(raw)
        if not isinstance(body, dict):
            raise _HTTPError(400, "Request body must be a JSON object")
        messages = body.get("messages")
        if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages or [0]):
            raise _HTTPError(400, "'messages' is required and must be a non-empty array of objects")
        if body.get("stream"):
            raise _HTTPError(400, "stream=true is not supported by the fake LLM")
        fault = self._take_fault()
        if fault is not None:
            if fault.delay_ms and self._stopping.wait(fault.delay_ms / 1000):
                raise _HTTPError(503, "Fake LLM is shutting down", "server_error")
            if fault.status is not None:
                kind = "server_error" if fault.status >= 500 else "invalid_request_error"
                kind = "rate_limit_error" if fault.status == 429 else kind
                raise _HTTPError(fault.status, f"Injected fault: HTTP {fault.status}", kind)
        response = _build_completion(body, messages)
        # Served, hence billed: counted before the answer is sent, whether or not the client
        # is still connected to read it (a provider bills a completion its client gave up on).
        with self._lock:
            self._completions += 1
            self._by_fingerprint[fingerprint(messages)] += 1
            self._by_key[key_name(authorization)] += 1
            for msg in messages:
                if msg.get("role") == "tool" and isinstance(msg.get("tool_call_id"), str):
                    told = fingerprint(msg.get("content"))
                    self._told.setdefault(msg["tool_call_id"], set()).add(told)
        return response


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Fake OpenAI-compatible LLM server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("FAKE_LLM_PORT", "3001")))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    done = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    llm = FakeLLM(args.host, args.port).start()
    logger.info("listening on %s", llm.base_url)
    try:
        while not done.wait(0.5):
            pass
    finally:
        llm.stop()
        logger.info("stopped")


if __name__ == "__main__":
    main()
