"""HTTP edge for Powertools' API Gateway resolver: problem details, replay headers, tenant.

Handlers stay thin: they build the resolver with `api_resolver()`, declare typed routes and call one
library function per route.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError

from retryproof import aws
from retryproof import observability as obs
from retryproof.config import get_settings
from retryproof.errors import (
    PROBLEM_CONTENT_TYPE,
    InternalError,
    PayloadTooLarge,
    ProblemError,
    Unauthorized,
    UnsupportedMediaType,
    ValidationFailed,
)
from retryproof.idempotency import (
    REPLAY_HEADERS,
    Claim,
    IdempotentRequest,
    body_hash,
    read_idempotency_key,
    run_idempotent,
)
from retryproof.models.outcome import StoredOutcome

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

logger = Logger(child=True)

MAX_BODY_BYTES = 256 * 1024
JSON_CONTENT_TYPE = "application/json"


def problem_response(error: ProblemError) -> Response[Any]:
    return Response(
        status_code=error.status,
        content_type=PROBLEM_CONTENT_TYPE,
        body=json.dumps(error.problem()),
        headers=dict(error.headers),
    )


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response[Any]:
    return Response(
        status_code=status,
        content_type=JSON_CONTENT_TYPE,
        body=json.dumps(body),
        headers=headers or {},
    )


def outcome_response(outcome: StoredOutcome) -> Response[Any]:
    """The stored outcome as HTTP: same status and body, plus the idempotency headers."""
    headers = {"X-Original-Request-Time": outcome.original_request_time}
    if outcome.replayed:
        headers.update(REPLAY_HEADERS)
        obs.count(obs.IDEMPOTENT_REPLAY)
    logger.info("answered", extra={"status": outcome.status, "replayed": outcome.replayed})
    is_problem = outcome.status >= 400
    return Response(
        status_code=outcome.status,
        content_type=PROBLEM_CONTENT_TYPE if is_problem else JSON_CONTENT_TYPE,
        body=outcome.body,
        headers=headers,
    )


def _field_path(loc: Any) -> str:
    parts = [str(p) for p in loc if p not in ("body",)]
    return ".".join(parts) or "body"


def _validation_problem(exc: RequestValidationError) -> Response[Any]:
    if any(e.get("type") == "json_invalid" for e in exc.errors()):
        return problem_response(ValidationFailed("the body is not valid JSON"))
    errors = [
        {"field": _field_path(e.get("loc", ())), "message": e.get("msg", "invalid")}
        for e in exc.errors()
    ]
    fields = sorted({e["field"] for e in errors})
    detail = "invalid fields: " + ", ".join(fields) if fields else "the body is not valid JSON"
    return problem_response(ValidationFailed(detail, extra={"errors": errors}))


def api_resolver() -> APIGatewayHttpResolver:
    """A resolver with request validation and the one error map of the API."""
    app = APIGatewayHttpResolver(enable_validation=True)

    @app.exception_handler(RequestValidationError)  # type: ignore[untyped-decorator]
    def _invalid(exc: RequestValidationError) -> Response[Any]:
        return _validation_problem(exc)

    @app.exception_handler(ProblemError)  # type: ignore[untyped-decorator]
    def _problem(exc: ProblemError) -> Response[Any]:
        if exc.status >= 500:
            logger.warning("request failed", extra={"code": exc.code, "detail": exc.detail})
        return problem_response(exc)

    @app.exception_handler(Exception)  # type: ignore[untyped-decorator]
    def _unexpected(exc: Exception) -> Response[Any]:
        # The outermost boundary: log it with its trace, show the client nothing internal.
        logger.exception("unhandled error")
        return problem_response(InternalError("an unexpected error occurred"))

    return app


def _header(event: dict[str, Any], name: str) -> str:
    headers = event.get("headers") or {}
    return next((str(v) for k, v in headers.items() if k.lower() == name), "")


def _is_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media in ("", "application/json") or media.endswith("+json")


def tenant_id(app: APIGatewayHttpResolver) -> str:
    """The tenant resolved by the Lambda authorizer (simple response context)."""
    tenant = app.current_event.request_context.authorizer.get_lambda.get("tenantId")
    if not isinstance(tenant, str) or not tenant:
        raise Unauthorized("no tenant in the authorizer context")
    obs.annotate(tenant_id=tenant)
    return tenant


def precheck(event: dict[str, Any]) -> dict[str, Any] | None:
    """A response for a body that is too large or not JSON, before anything else runs."""
    body = event.get("body") or ""
    try:
        raw = base64.b64decode(body) if event.get("isBase64Encoded") else body.encode("utf-8")
    except binascii.Error:
        raw = body.encode("utf-8")
    size = len(raw)
    error: ProblemError
    if size > MAX_BODY_BYTES:
        error = PayloadTooLarge(f"the request body exceeds {MAX_BODY_BYTES} bytes")
    elif body and not _is_json(_header(event, "content-type")):
        error = UnsupportedMediaType("send the body as JSON with Content-Type: application/json")
    elif not _is_utf8(raw):
        error = ValidationFailed("the body is not valid JSON (not UTF-8)")
    else:
        return None
    return {
        "statusCode": error.status,
        "headers": {"Content-Type": PROBLEM_CONTENT_TYPE},
        "body": json.dumps(error.problem()),
        "isBase64Encoded": False,
    }


@dataclass(frozen=True)
class IdempotentPost:
    """What an idempotent POST's operation gets: who asked, with which key, which body."""

    tenant_id: str
    key: str
    body: Any
    body_hash: str
    claim: Claim
    context: LambdaContext | None

    def remaining_ms(self) -> int | None:
        return self.context.get_remaining_time_in_millis() if self.context else None


def idempotent_post(
    app: APIGatewayHttpResolver,
    operation: str,
    ttl_seconds: int,
    execute: Callable[[IdempotentPost], StoredOutcome],
) -> Response[Any]:
    """The shape of every idempotent POST, after its body was validated: tenant, key, the
    idempotency store around `execute`, and the stored outcome as HTTP."""
    settings = get_settings()
    event = app.current_event
    tenant = tenant_id(app)
    key = read_idempotency_key(event.headers)
    body = event.json_body
    context: LambdaContext | None = app.lambda_context
    digest = body_hash(body)
    outcome = run_idempotent(
        operation,
        IdempotentRequest(tenant_id=tenant, key=key, body=body),
        lambda claim: execute(IdempotentPost(tenant, key, body, digest, claim, context)),
        client=aws.dynamodb(),
        table=settings.idempotency_table,
        ttl_seconds=ttl_seconds,
        payload_mismatch=settings.payload_mismatch,
        context=context,
    )
    return outcome_response(outcome)
