"""The Lambda API of the local stack: `Invoke` served here, durable-execution APIs forwarded to
AWS's local runner (`local.durable_runner`), so functions see one Lambda endpoint, as in AWS.

- `POST /2015-03-31/functions/{name}/invocations` from the runner (header `X-Dex-Handler-Invoke`)
  runs the durable function's handler in-process with the runner's payload and answers its JSON
  result, as Lambda does (an unhandled error → `X-Amz-Function-Error: Unhandled`).
- The same route from anyone else (a function's boto3 `invoke`) of a durable function starts an
  execution on the runner. `DurableExecutionName` is honoured as Lambda documents it: the same
  name with the same payload returns the existing execution, another payload is
  `DurableExecutionAlreadyStartedException` (the runner itself does not check names). The names
  are kept in the state folder next to the runner's store. Other functions are invoked directly
  (`RequestResponse` answers the result; `Event` runs it in a thread).
- Everything else (`CheckpointDurableExecution`, `GetDurableExecutionState`, `GetDurableExecution`,
  callbacks, …) is forwarded to the runner unchanged.

The stack points `AWS_ENDPOINT_URL_LAMBDA` here and the runner's `--lambda-endpoint` too.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from local.hosts import host_allowed, refuse_misdirected
from local.lambda_runtime import FunctionTimedOut, LocalFunction
from local.template import ACCOUNT_ID

log = logging.getLogger("local.lambda")

INVOKE_PREFIX = "/2015-03-31/functions/"
HANDLER_INVOKE_HEADER = "X-Dex-Handler-Invoke"  # set by the runner on handler invocations
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


def split_function(identifier: str, qualifier: str | None) -> tuple[str, str]:
    """(name, qualifier) from a name, a partial or a full ARN, with or without `:qualifier`."""
    parts = identifier.split(":")
    if identifier.startswith("arn:"):
        name = parts[6]
        found = parts[7] if len(parts) > 7 else None
    elif len(parts) > 1:
        name, found = parts[0], parts[1]
    else:
        name, found = identifier, None
    return name, qualifier or found or "$LATEST"


class LambdaService:
    def __init__(
        self,
        functions: dict[str, LocalFunction],
        runner_url: str,
        state_dir: Path,
        *,
        port: int = 0,
    ) -> None:
        self.functions = {f.name: f for f in functions.values()}
        self.runner_url = runner_url.rstrip("/")
        self.names_file = state_dir / "durable-execution-names.json"
        self._names: dict[str, dict[str, str]] = (
            json.loads(self.names_file.read_text()) if self.names_file.exists() else {}
        )
        self._names_lock = threading.Lock()
        # Told each forwarded call (its operation: the path's last segment, e.g. `checkpoint`,
        # `state`) and each handler invocation (`invoke`): its seconds and request body (bench).
        self.observer: Callable[[str, float, bytes], None] | None = None
        service = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                service.handle(self)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LambdaService:
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # --- one request -------------------------------------------------------------------------
    def handle(self, req: BaseHTTPRequestHandler) -> None:
        if not host_allowed(req.headers.get("Host"), self.port):
            refuse_misdirected(req)  # another name for 127.0.0.1 (local/hosts.py)
            return
        length = int(req.headers.get("Content-Length") or 0)
        body = req.rfile.read(length) if length else b""
        split = urlsplit(req.path)
        try:
            if req.command == "POST" and split.path.startswith(INVOKE_PREFIX):
                status, headers, out = self._invoke(req, split.path, split.query, body)
            else:
                status, headers, out = self._forward(req, body)
        except Exception:  # the boundary of this local service: answer 500, keep serving
            log.exception("lambda service: %s %s failed", req.command, split.path)
            status, headers, out = _error(500, "ServiceException", "the local Lambda failed")
        req.send_response(status)
        for name, value in headers.items():
            req.send_header(name, value)
        req.send_header("Content-Length", str(len(out)))
        req.end_headers()
        req.wfile.write(out)

    def _invoke(
        self, req: BaseHTTPRequestHandler, path: str, query: str, body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        identifier = unquote(path[len(INVOKE_PREFIX) :].removesuffix("/invocations"))
        qualifier = (parse_qs(query).get("Qualifier") or [None])[0]
        name, qualifier = split_function(identifier, qualifier)
        function = self.functions.get(name)
        if function is None:
            return _error(404, "ResourceNotFoundException", f"Function not found: {name}")
        if req.headers.get(HANDLER_INVOKE_HEADER) == "true":
            started = time.perf_counter()
            try:
                return self._run(function, body)
            finally:
                self._observe("invoke", started, body)
        if function.spec.durable is not None:
            execution_name = req.headers.get("X-Amz-Durable-Execution-Name") or ""
            return self._start(function, qualifier, execution_name, body)
        if req.headers.get("X-Amz-Invocation-Type") == "Event":
            threading.Thread(target=self._run, args=(function, body), daemon=True).start()
            return 202, {}, b""
        return self._run(function, body)

    def _run(self, function: LocalFunction, body: bytes) -> tuple[int, dict[str, str], bytes]:
        event = json.loads(body) if body else {}
        try:
            result = function.invoke(event)
        except FunctionTimedOut as exc:
            payload = {"errorType": "Sandbox.Timedout", "errorMessage": str(exc)}
            return 200, {"X-Amz-Function-Error": "Unhandled"}, json.dumps(payload).encode()
        except BaseException as exc:  # noqa: BLE001 - a crash (even a simulated death) is the function's error
            log.warning("function %s failed: %s", function.name, type(exc).__name__)
            payload = {"errorType": type(exc).__name__, "errorMessage": "the function failed"}
            return 200, {"X-Amz-Function-Error": "Unhandled"}, json.dumps(payload).encode()
        return 200, {"Content-Type": "application/json"}, json.dumps(result).encode()

    def _start(
        self, function: LocalFunction, qualifier: str, execution_name: str, body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        durable = function.spec.durable
        assert durable is not None
        digest = hashlib.sha256(body).hexdigest()
        with self._names_lock:
            known = self._names.get(f"{function.name}/{execution_name}") if execution_name else None
            if known is not None:
                if known["payload"] != digest:
                    return _error(
                        409,
                        "DurableExecutionAlreadyStartedException",
                        f"durable execution {execution_name} already started with another payload",
                    )
                arn = known["arn"]
            else:
                request = {
                    "AccountId": ACCOUNT_ID,
                    "FunctionName": function.name,
                    "FunctionQualifier": qualifier,
                    "ExecutionName": execution_name or digest[:32],
                    "ExecutionTimeoutSeconds": durable.execution_timeout,
                    "ExecutionRetentionPeriodDays": durable.retention_days,
                    "Input": body.decode("utf-8") if body else "{}",
                }
                started = urllib.request.Request(
                    f"{self.runner_url}/start-durable-execution",
                    data=json.dumps(request).encode(),
                    method="POST",
                    headers={"Content-Type": "application/json"},
                )
                with urllib.request.urlopen(started, timeout=30) as response:
                    arn = json.loads(response.read())["ExecutionArn"]
                if execution_name:
                    self._names[f"{function.name}/{execution_name}"] = {
                        "arn": arn,
                        "payload": digest,
                    }
                    self.names_file.write_text(json.dumps(self._names))
        return 202, {"X-Amz-Durable-Execution-Arn": arn}, b""

    def _forward(
        self, req: BaseHTTPRequestHandler, body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        headers = {k: v for k, v in req.headers.items() if k.lower() not in HOP_BY_HOP}
        forwarded = urllib.request.Request(
            f"{self.runner_url}{req.path}", data=body or None, method=req.command, headers=headers
        )
        started = time.perf_counter()
        try:
            with urllib.request.urlopen(forwarded, timeout=120) as response:
                status, answer, out = response.status, response.headers, response.read()
        except urllib.error.HTTPError as error:
            status, answer, out = error.code, error.headers, error.read()
        except urllib.error.URLError as error:  # the runner is gone (the stack is stopping)
            log.warning("lambda service: the durable runner did not answer: %s", error.reason)
            return _error(503, "ServiceException", "the local durable runner is unavailable")
        operation = unquote(urlsplit(req.path).path).rstrip("/").rpartition("/")[2]
        self._observe(operation, started, body)
        kept = {k: v for k, v in answer.items() if k.lower() not in HOP_BY_HOP}
        return status, kept, out

    def _observe(self, operation: str, started: float, body: bytes) -> None:
        if self.observer is not None:
            self.observer(operation, time.perf_counter() - started, body)


def _error(status: int, code: str, message: str) -> tuple[int, dict[str, str], bytes]:
    body = json.dumps({"__type": code, "Type": "User", "message": message}).encode()
    return status, {"Content-Type": "application/json", "X-Amzn-ErrorType": code}, body
