"""Idempotent POSTs over the HTTP edge: tenant, key, the idempotency store, the stored outcome.

Apart from `retryproof.http` so that the read routes do not import the idempotency utility.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

from aws_lambda_powertools import Logger

from retryproof import aws
from retryproof import observability as obs
from retryproof.config import get_settings
from retryproof.errors import PROBLEM_CONTENT_TYPE
from retryproof.http import JSON_CONTENT_TYPE, Request, Response
from retryproof.idempotency import (
    REPLAY_HEADERS,
    Claim,
    IdempotencyStore,
    IdempotentRequest,
    body_hash,
    read_idempotency_key,
    same_numbers,
)
from retryproof.models.outcome import StoredOutcome

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

logger = Logger(child=True)


def outcome_response(outcome: StoredOutcome) -> Response:
    """The stored outcome as HTTP: same status and body, plus the idempotency headers."""
    headers = {"X-Original-Request-Time": outcome.original_request_time}
    if outcome.replayed:
        headers.update(REPLAY_HEADERS)
        obs.count(obs.IDEMPOTENT_REPLAY)
    logger.info("answered", extra={"status": outcome.status, "replayed": outcome.replayed})
    is_problem = outcome.status >= 400
    content_type = PROBLEM_CONTENT_TYPE if is_problem else JSON_CONTENT_TYPE
    return Response(outcome.status, outcome.body, content_type, headers)


class IdempotentPost(NamedTuple):
    """What an idempotent POST's operation gets: who asked, with which key, which body."""

    tenant_id: str
    key: str
    body: Any
    body_hash: str
    claim: Claim
    context: LambdaContext | None

    def get_remaining_ms(self) -> int | None:
        return self.context.get_remaining_time_in_millis() if self.context else None


def idempotent_post(
    request: Request[Any],
    store: IdempotencyStore,
    ttl_seconds: int,
    execute: Callable[[IdempotentPost], StoredOutcome],
    durable_body: Callable[[str, str], str | None] | None = None,
) -> Response:
    """The shape of every idempotent POST, after its body was validated: tenant, key, the
    idempotency store around `execute`, and the stored outcome as HTTP. `durable_body(tenant,
    key)` reads the body of an outcome kept in the operation's durable record."""
    settings = get_settings()
    tenant = request.tenant_id
    key = read_idempotency_key(request.headers)
    body = same_numbers(request.json_body)  # `1` and `1.0` are one request
    digest = body_hash(body)
    context = request.context
    outcome = store.run(
        IdempotentRequest(tenant_id=tenant, key=key, body=body),
        lambda claim: execute(IdempotentPost(tenant, key, body, digest, claim, context)),
        client=aws.dynamodb(),
        table=settings.idempotency_table,
        ttl_seconds=ttl_seconds,
        payload_mismatch=settings.payload_mismatch,
        context=context,
        durable_body=(lambda: durable_body(tenant, key)) if durable_body else None,
    )
    return outcome_response(outcome)
