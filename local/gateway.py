"""The HTTP front: API Gateway (HTTP API, payload 2.0) built from the template's routes.

For each request: match a route, run the route's Lambda authorizer (REQUEST type, simple
responses, result cached by identity source for `ReauthorizeEvery` seconds), then invoke the
function in-process with an HTTP API v2 event and turn its result into the HTTP response. Missing
identity → 401, denied → 403, as API Gateway answers. Requests are served concurrently.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from local.console import Console
from local.hosts import MISDIRECTED, host_allowed, refuse_misdirected
from local.lambda_runtime import FunctionTimedOut, LocalFunction
from local.template import ACCOUNT_ID, REGION, ROOT, Authorizer, Route

log = logging.getLogger("local.gateway")

MAX_PAYLOAD = 10 * 1024 * 1024  # API Gateway's own limit
API_ID = "local"


class Gateway:
    def __init__(
        self,
        routes: list[Route],
        authorizers: dict[str, Authorizer],
        functions: dict[str, LocalFunction],
        host: str = "127.0.0.1",
        port: int = 3000,
        console: Console | None = None,
    ) -> None:
        self.routes = routes
        self.console = console  # GET /console (local only): local/console.py
        self.authorizers = authorizers
        self.functions = functions
        self._auth_cache: dict[tuple[str, tuple[str, ...]], tuple[float, dict[str, Any]]] = {}
        self._cache_lock = threading.Lock()
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            server_version = "retryproof-local"

            def _serve(self) -> None:
                gateway.handle(self)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = _serve

            def __getattr__(self, name: str) -> Any:
                # Any other method (TRACE, QUERY, …) is a method without a route: 404, as API
                # Gateway answers, rather than http.server's 501.
                if name.startswith("do_"):
                    return self._serve
                raise AttributeError(name)

            def log_message(self, format: str, *args: Any) -> None:
                return  # one line per request is logged by `handle`, without headers or bodies

        self.server = _Server((host, port), Handler)
        self.server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def start(self) -> Gateway:
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # --- one request ---------------------------------------------------------------------
    def handle(self, req: BaseHTTPRequestHandler) -> None:
        started = time.monotonic()
        request_id = str(uuid.uuid4())
        split = urlsplit(req.path)
        if not host_allowed(req.headers.get("Host"), self.port):
            # Another name for 127.0.0.1 (DNS rebinding): nothing runs (local/hosts.py).
            refuse_misdirected(req)
            log.info("%s %s %s (Host refused)", req.command, split.path, MISDIRECTED)
            return
        status, headers, body = self._dispatch(req, split.path, split.query, request_id)
        headers.setdefault("Content-Type", "application/json")
        headers["apigw-requestid"] = request_id
        req.send_response(status)
        for name, value in headers.items():
            if name.lower() not in ("content-length", "connection"):
                req.send_header(name, value)
        req.send_header("Content-Length", str(len(body)))
        req.end_headers()
        if req.command != "HEAD":
            req.wfile.write(body)
        log.info(
            "%s %s %s %.0fms", req.command, split.path, status, (time.monotonic() - started) * 1000
        )

    def _dispatch(
        self, req: BaseHTTPRequestHandler, path: str, query: str, request_id: str
    ) -> tuple[int, dict[str, str], bytes]:
        if path == "/health" and req.command in ("GET", "HEAD"):
            return 200, {}, b'{"status":"ok"}'
        if req.command in ("GET", "HEAD") and (docs := api_docs(path, query, req.headers)):
            return docs
        if self.console is not None and (page := self.console.page(req.command, path, query)):
            return page
        length = int(req.headers.get("Content-Length") or 0)
        if length > MAX_PAYLOAD:
            return _message(413, "Request Entity Too Large")
        raw_body = req.rfile.read(length) if length else b""
        for route in self.routes:
            params = route.match(req.command, path)
            if params is not None:
                break
        else:
            return _message(404, "Not Found")

        event = build_event(req, route, path, query, params, raw_body, request_id)
        if route.authorizer is not None:
            denied, context = self._authorize(self.authorizers[route.authorizer], event)
            if denied is not None:
                return denied
            event["requestContext"]["authorizer"] = {"lambda": context}
        if self.console is not None:
            self.console.observe(route.route_key, event)
        try:
            result = self.functions[route.function_id].invoke(event)
        except FunctionTimedOut:
            log.warning("function %s timed out", route.function_id)
            return _message(503, "Service Unavailable")  # what HTTP API answers for a timeout
        except BaseException:  # a crashed invocation (even a simulated death) is a 500
            log.exception("function %s failed", route.function_id)
            return _message(500, "Internal Server Error")
        answer = to_http(result)
        if self.console is not None:
            self.console.observe(route.route_key, event, answer[0], answer[1])
        return answer

    def _authorize(
        self, authorizer: Authorizer, event: dict[str, Any]
    ) -> tuple[tuple[int, dict[str, str], bytes] | None, dict[str, Any]]:
        headers = event["headers"]
        identity = tuple(headers.get(h, "") for h in authorizer.identity_headers)
        if not all(identity):
            return _message(401, "Unauthorized"), {}
        cache_key = (authorizer.name, identity)
        now = time.monotonic()
        with self._cache_lock:
            cached = self._auth_cache.get(cache_key)
        if cached is not None and cached[0] > now:
            result = cached[1]
        else:
            auth_event = {
                "version": "2.0",
                "type": "REQUEST",
                "routeArn": f"arn:aws:execute-api:{REGION}:{ACCOUNT_ID}:{API_ID}/$default/"
                f"{event['requestContext']['http']['method']}{event['rawPath']}",
                "identitySource": list(identity),
                "routeKey": event["routeKey"],
                "rawPath": event["rawPath"],
                "rawQueryString": event["rawQueryString"],
                "headers": headers,
                "queryStringParameters": event.get("queryStringParameters"),
                "requestContext": event["requestContext"],
                "pathParameters": event.get("pathParameters"),
            }
            try:
                result = self.functions[authorizer.function_id].invoke(auth_event)
            except Exception:
                log.exception("authorizer %s failed", authorizer.name)
                return _message(500, "Internal Server Error"), {}
            if authorizer.ttl_seconds > 0:
                with self._cache_lock:
                    self._auth_cache[cache_key] = (now + authorizer.ttl_seconds, result)
        if not (isinstance(result, dict) and result.get("isAuthorized") is True):
            return _message(403, "Forbidden"), {}
        return None, dict(result.get("context") or {})


# --- API documentation (local stack only): the checked-in openapi.json and Swagger UI ----------
OPENAPI_FILE = ROOT / "openapi.json"
DOCS_ASSETS = {"swagger-ui-bundle.min.js": "text/javascript", "swagger-ui.min.css": "text/css"}


def api_docs(path: str, query: str, headers: Any) -> tuple[int, dict[str, str], bytes] | None:
    """`GET /openapi.json` (with this stack as its first server) and `GET /docs` (Swagger UI, from
    the assets Powertools ships: no CDN needed). None for any other path."""
    if path == "/openapi.json" or (path == "/docs" and query == "format=json"):
        body = json.dumps(_local_document(headers), indent=2).encode()
        return 200, {"Content-Type": "application/json"}, body
    if path in ("/docs", "/docs/"):
        from aws_lambda_powertools.event_handler.openapi.swagger_ui import generate_swagger_html

        html = generate_swagger_html(
            spec=json.dumps(_local_document(headers)).replace("</", "<\\/"),
            swagger_js="/docs/swagger-ui-bundle.min.js",
            swagger_css="/docs/swagger-ui.min.css",
            swagger_base_url="/docs",
            oauth2_config=None,
            persist_authorization=True,
        )
        return 200, {"Content-Type": "text/html; charset=utf-8"}, html.encode()
    name = path.removeprefix("/docs/")
    if path.startswith("/docs/") and name in DOCS_ASSETS:
        from aws_lambda_powertools.event_handler.openapi import swagger_ui

        asset = (Path(swagger_ui.__file__).parent / name).read_bytes()
        return 200, {"Content-Type": DOCS_ASSETS[name], "Cache-Control": "max-age=3600"}, asset
    return None


def _local_document(headers: Any) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(OPENAPI_FILE.read_text())
    here = f"http://{headers.get('Host') or '127.0.0.1'}"
    others = [s for s in document.get("servers", []) if s.get("url") != here]
    document["servers"] = [{"url": here, "description": "this local stack"}, *others]
    return document


class _Server(ThreadingHTTPServer):
    # A burst of concurrent clients (16 retries of one key) must not overflow the listen backlog
    # (socketserver's default is 5): API Gateway accepts them all.
    request_queue_size = 128
    daemon_threads = True


def _message(status: int, message: str) -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": "application/json"}, json.dumps({"message": message}).encode()


def build_event(
    req: BaseHTTPRequestHandler,
    route: Route,
    path: str,
    query: str,
    params: dict[str, str],
    raw_body: bytes,
    request_id: str,
) -> dict[str, Any]:
    """An HTTP API payload 2.0 event, as API Gateway builds it."""
    headers: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in req.headers.items():
        lname = name.lower()
        if lname == "cookie":
            cookies.extend(c.strip() for c in value.split(";") if c.strip())
            continue
        headers[lname] = f"{headers[lname]},{value}" if lname in headers else value
    query_params: dict[str, str] = {}
    for k, v in parse_qsl(query, keep_blank_values=True):
        query_params[k] = f"{query_params[k]},{v}" if k in query_params else v
    now = datetime.now(UTC)
    try:
        body: str | None = raw_body.decode("utf-8") if raw_body else None
        is_b64 = False
    except UnicodeDecodeError:
        body, is_b64 = base64.b64encode(raw_body).decode(), True
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route.route_key,
        "rawPath": path,
        "rawQueryString": query,
        "headers": headers,
        "requestContext": {
            "accountId": ACCOUNT_ID,
            "apiId": API_ID,
            "domainName": headers.get("host", "127.0.0.1"),
            "domainPrefix": API_ID,
            "http": {
                "method": req.command,
                "path": path,
                "protocol": req.request_version,
                "sourceIp": req.client_address[0],
                "userAgent": headers.get("user-agent", ""),
            },
            "requestId": request_id,
            "routeKey": route.route_key,
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        },
        "isBase64Encoded": is_b64,
    }
    if cookies:
        event["cookies"] = cookies
    if query_params:
        event["queryStringParameters"] = query_params
    if params:
        event["pathParameters"] = params
    if body is not None:
        event["body"] = body
    return event


def to_http(result: Any) -> tuple[int, dict[str, str], bytes]:
    """A Lambda result as HTTP, with HTTP API's format 2.0 rules."""
    if isinstance(result, dict) and "statusCode" in result:
        headers = {str(k): str(v) for k, v in (result.get("headers") or {}).items()}
        for k, values in (result.get("multiValueHeaders") or {}).items():
            headers[str(k)] = ",".join(str(v) for v in values)
        raw = result.get("body") or ""
        body = base64.b64decode(raw) if result.get("isBase64Encoded") else str(raw).encode()
        if result.get("cookies"):
            headers["Set-Cookie"] = "; ".join(result["cookies"])
        return int(result["statusCode"]), headers, body
    # Without a statusCode, API Gateway assumes 200 and a JSON body.
    return 200, {"Content-Type": "application/json"}, json.dumps(result).encode()
