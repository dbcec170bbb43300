"""The HTTP edge: routes of an HTTP API (payload 2.0), validation, problem details.

Handlers stay thin: they build an `Api`, declare typed routes and call one library function per
route (an idempotent POST through `retryproof.idempotent_http`). A route declares its body shape,
its path and query parameters and its responses; `Api` validates them before the handler runs (so
a rejected request is never claimed or stored), maps every error to RFC 9457 problem details in
one place, and describes its routes for the OpenAPI document (`tools/openapi.py`).

    app = http.Api()

    @app.post("/transfer", operation_id="createTransfer", summary="...", body=TransferRequest,
              responses={200: ("The transfer", TransferOut)})
    def transfer(request: http.Request[TransferRequest]) -> http.Response: ...

    def lambda_handler(event, context):
        return app.resolve(event, context)

This is not Powertools' event handler on purpose: its package and pydantic cost a cold start
about 90 ms, more than everything else a route that does not call the LLM imports
(README, "Performance"). The idempotency utility, Logger and Metrics are still Powertools'.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, NamedTuple, cast, overload
from urllib.parse import unquote

from aws_lambda_powertools import Logger

from retryproof import observability as obs
from retryproof.auth import check_key
from retryproof.errors import (
    PROBLEM_CONTENT_TYPE,
    InternalError,
    NotFound,
    PayloadTooLarge,
    ProblemError,
    Unauthorized,
    UnsupportedMediaType,
    ValidationFailed,
    invalid_fields,
)
from retryproof.limits import check_request_rate
from retryproof.shapes import Invalid, Param, Shape, nested_shapes

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

logger = Logger(child=True)

MAX_BODY_BYTES = 256 * 1024
JSON_CONTENT_TYPE = "application/json"


# --- responses -----------------------------------------------------------------------------------


# Records of the edge are NamedTuples, not frozen dataclasses: as immutable, and ~6x cheaper to
# create at a cold start (a frozen dataclass compiles its methods with exec: ~0.4 ms each).


class Response(NamedTuple):
    status: int
    body: str
    content_type: str = JSON_CONTENT_TYPE
    headers: Mapping[str, str] = MappingProxyType({})

    def to_event(self) -> dict[str, Any]:
        """The HTTP API (payload 2.0) result."""
        return {
            "statusCode": self.status,
            "headers": {"Content-Type": self.content_type, **self.headers},
            "body": self.body,
            "isBase64Encoded": False,
        }


def problem_response(error: ProblemError) -> Response:
    return Response(error.status, json.dumps(error.problem()), PROBLEM_CONTENT_TYPE, error.headers)


def json_response(status: int, body: Any, headers: Mapping[str, str] | None = None) -> Response:
    return Response(status, json.dumps(body), JSON_CONTENT_TYPE, headers or {})


# --- requests ------------------------------------------------------------------------------------


class Request[B](NamedTuple):
    """One validated request: `body` is the route's body shape (None without one)."""

    event: Mapping[str, Any]
    context: LambdaContext | None
    headers: Mapping[str, str]  # names lowercased
    params: Mapping[str, Any]  # the route's path and query parameters, parsed
    body: B
    json_body: Any  # the decoded JSON, as sent (what the idempotency key's body hash covers)

    @property
    def tenant_id(self) -> str:
        """The tenant resolved by the Lambda authorizer (simple response context)."""
        request_context = self.event.get("requestContext") or {}
        context = (request_context.get("authorizer") or {}).get("lambda") or {}
        tenant = context.get("tenantId")
        if not isinstance(tenant, str) or not tenant:
            raise Unauthorized("no tenant in the authorizer context")
        obs.annotate(tenant_id=tenant)
        return tenant


type RouteHandler[B] = Callable[[Request[B]], Response]
Handler = RouteHandler[Any]
Responses = Mapping[int, tuple[str, type[Shape] | None]]


class Route(NamedTuple):
    method: str
    path: str  # as in the template: /accounts/{accountId}
    handler: Handler
    operation_id: str
    summary: str
    body: type[Shape] | None
    params: tuple[Param, ...]
    responses: Responses
    scope: str | None = "money"  # the API key scope it needs (auth.check_key); None: no key

    @property
    def key(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def pattern(self) -> re.Pattern[str]:
        return re.compile(
            "^" + re.sub(r"\\{(\w+)\\}", r"(?P<\1>[^/]+)", re.escape(self.path)) + "$"
        )


class Api:
    """The routes of one function, resolved from HTTP API events."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}

    def _register(
        self,
        method: str,
        path: str,
        operation_id: str,
        summary: str,
        responses: Responses,
        body: type[Shape] | None,
        params: tuple[Param, ...],
        scope: str | None,
    ) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            route = Route(
                method, path, handler, operation_id, summary, body, params, responses, scope
            )
            if route.key in self.routes:
                raise ValueError(f"{route.key} is declared twice")
            self.routes[route.key] = route
            return handler

        return register

    def get(
        self,
        path: str,
        *,
        operation_id: str,
        summary: str,
        responses: Responses,
        params: tuple[Param, ...] = (),
        scope: str | None = "read",
    ) -> Callable[[RouteHandler[None]], RouteHandler[None]]:
        """Register a GET route: its handler takes a `Request[None]` (no body). It needs an API
        key with `scope` (`read` unless given)."""
        return self._register("GET", path, operation_id, summary, responses, None, params, scope)

    @overload
    def post[B: Shape](
        self,
        path: str,
        *,
        operation_id: str,
        summary: str,
        responses: Responses,
        body: type[B],
        params: tuple[Param, ...] = (),
        scope: str | None = "money",
    ) -> Callable[[RouteHandler[B]], RouteHandler[B]]: ...

    @overload
    def post(
        self,
        path: str,
        *,
        operation_id: str,
        summary: str,
        responses: Responses,
        body: None = None,
        params: tuple[Param, ...] = (),
        scope: str | None = "money",
    ) -> Callable[[RouteHandler[None]], RouteHandler[None]]: ...

    def post(
        self,
        path: str,
        *,
        operation_id: str,
        summary: str,
        responses: Responses,
        body: type[Shape] | None = None,
        params: tuple[Param, ...] = (),
        scope: str | None = "money",
    ) -> Callable[[Handler], Handler]:
        """Register a POST route: its handler's `Request[B]` is typed by `body` (None without).
        It needs an API key with `scope`: `money` unless given (the most a key can hold, so a
        route that forgets to say is never opened to a narrower key); None for a route without
        an API key (the signed webhook)."""
        return self._register("POST", path, operation_id, summary, responses, body, params, scope)

    # --- resolving -------------------------------------------------------------------------------

    def resolve(self, event: dict[str, Any], context: LambdaContext | None) -> dict[str, Any]:
        """The response for one HTTP API event; every error becomes problem details here."""
        try:
            rejected = precheck(event)
            if rejected is not None:
                return rejected.to_event()
            route, path_params = self._match(event)
            if route.scope is not None:
                check_key(event, route.scope)  # before any AWS call, the body or any claim
            # The tenant's request rate, before any work (docs/limits.md): a refusal claims,
            # stores and pays for nothing.
            check_request_rate(event)
            return route.handler(_request(route, path_params, event, context)).to_event()
        except ProblemError as exc:
            if exc.status >= 500:
                logger.warning("request failed", extra={"code": exc.code, "detail": exc.log_detail})
            return problem_response(exc).to_event()
        except Exception:
            # The outermost boundary: log it with its trace, show the client nothing internal.
            logger.exception("unhandled error")
            return problem_response(InternalError("an unexpected error occurred")).to_event()

    def _match(self, event: Mapping[str, Any]) -> tuple[Route, dict[str, str]]:
        route = self.routes.get(str(event.get("routeKey", "")))
        if route is not None:
            return route, dict(event.get("pathParameters") or {})
        http = (event.get("requestContext") or {}).get("http") or {}
        method = str(http.get("method", "")).upper()
        path = str(event.get("rawPath", ""))
        for candidate in self.routes.values():
            found = candidate.pattern.match(path)
            if candidate.method == method and found:
                return candidate, {k: unquote(v) for k, v in found.groupdict().items()}
        raise NotFound("no such route")

    # --- the OpenAPI description -----------------------------------------------------------------

    def openapi(self) -> dict[str, Any]:
        """`paths` and `components.schemas` of these routes (tools/openapi.py completes them)."""
        paths: dict[str, Any] = {}
        shapes: list[type] = []  # what is sent
        parsed: list[type] = []  # what is parsed: unknown fields refused
        for route in self.routes.values():
            operation: dict[str, Any] = {
                "summary": route.summary,
                "operationId": route.operation_id,
            }
            if route.params:
                operation["parameters"] = [p.openapi() for p in route.params]
            if route.body is not None:
                parsed += nested_shapes(route.body)
                operation["requestBody"] = {
                    "required": True,
                    "content": {JSON_CONTENT_TYPE: {"schema": _ref(route.body)}},
                }
            responses: dict[str, Any] = {}
            for status, (description, model) in route.responses.items():
                response: dict[str, Any] = {"description": description}
                if model is not None:
                    shapes += nested_shapes(model)
                    response["content"] = {JSON_CONTENT_TYPE: {"schema": _ref(model)}}
                responses[str(status)] = response
            operation["responses"] = responses
            paths.setdefault(route.path, {})[route.method.lower()] = operation
        schemas = {
            s.__name__: cast(type[Shape], s).json_schema(closed=s in parsed)
            for s in dict.fromkeys(parsed + shapes)
        }
        return {"paths": paths, "components": {"schemas": schemas}}


def _ref(shape: type) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{shape.__name__}"}


def _request(
    route: Route, path_params: Mapping[str, str], event: Mapping[str, Any], context: Any
) -> Request[Any]:
    headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
    query = event.get("queryStringParameters") or {}
    errors: list[tuple[str, str]] = []
    params = {}
    for param in route.params:
        source = path_params if param.location == "path" else query
        params[param.name] = param.parse(source.get(param.name), errors)
    json_body: Any = None
    body: Any = None
    if route.body is not None:
        raw = event.get("body")
        if not raw:
            errors.append(("body", "Field required"))
        else:
            try:
                # UTF-8 (precheck refused anything else); json.loads(bytes) would guess UTF-16.
                json_body = json.loads(raw_body(event).decode("utf-8"))
            except (ValueError, RecursionError) as exc:  # RecursionError: nested too deep
                raise ValidationFailed("the body is not valid JSON") from exc
            try:
                body = route.body.parse(json_body)
            except Invalid as exc:
                errors += exc.errors
    if errors:
        raise invalid_fields(errors)
    return Request(event, context, headers, params, body, json_body)


# --- before routing: size and media type ---------------------------------------------------------


def raw_body(event: Mapping[str, Any]) -> bytes:
    """The request body as sent (HTTP API base64-encodes bodies that are not UTF-8 text)."""
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        try:
            return base64.b64decode(body)
        except binascii.Error:
            return str(body).encode("utf-8")
    return str(body).encode("utf-8")


def _is_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media in ("", "application/json") or media.endswith("+json")


def _header(event: Mapping[str, Any], name: str) -> str:
    headers = event.get("headers") or {}
    return next((str(v) for k, v in headers.items() if k.lower() == name), "")


def precheck(event: Mapping[str, Any]) -> Response | None:
    """A response for a body that is too large or not JSON, before anything else runs."""
    raw = raw_body(event)
    error: ProblemError
    if len(raw) > MAX_BODY_BYTES:
        error = PayloadTooLarge(f"the request body exceeds {MAX_BODY_BYTES} bytes")
    elif event.get("body") and not _is_json(_header(event, "content-type")):
        error = UnsupportedMediaType("send the body as JSON with Content-Type: application/json")
    elif not _is_utf8(raw):
        error = ValidationFailed("the body is not valid JSON (not UTF-8)")
    else:
        return None
    return problem_response(error)
