"""POST /generate: an LLM completion that a retry never pays for twice."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.utilities.typing import LambdaContext

from retryproof import aws, http
from retryproof.config import get_settings
from retryproof.dal.usage import DynamoUsageRepository
from retryproof.generate import OPERATION, generate, resolve_model
from retryproof.idempotency import (
    IdempotentRequest,
    body_hash,
    read_idempotency_key,
    run_idempotent,
)
from retryproof.llm import llm_client
from retryproof.models.requests import GenerateRequest
from retryproof.models.responses import GenerateResponse
from retryproof.observability import instrument

app = http.api_resolver()


@app.post(
    "/generate",
    operation_id="generate",
    summary="Generate a completion, paid for once per Idempotency-Key",
    responses={
        200: {
            "description": "The completion (the first execution or its replay)",
            "content": {http.JSON_CONTENT_TYPE: {"model": GenerateResponse}},
        }
    },
)
def post_generate(request: Annotated[GenerateRequest, Body()]) -> Response[Any]:
    settings = get_settings()
    model = resolve_model(request, settings)
    event = app.current_event
    tenant = http.tenant_id(app)
    key = read_idempotency_key(event.headers)
    body = event.json_body
    context: LambdaContext = app.lambda_context
    usage = DynamoUsageRepository(aws.dynamodb(), settings.usage_table)
    outcome = run_idempotent(
        OPERATION,
        IdempotentRequest(tenant_id=tenant, key=key, body=body),
        lambda claim: generate(
            request,
            tenant_id=tenant,
            idempotency_key=key,
            body_hash=body_hash(body),
            model=model,
            settings=settings,
            llm=llm_client(settings),
            usage=usage,
            remaining_ms=context.get_remaining_time_in_millis() if context else None,
            claim=claim,
        ),
        client=aws.dynamodb(),
        table=settings.idempotency_table,
        ttl_seconds=settings.idempotency_ttl_generate,
        payload_mismatch=settings.payload_mismatch,
        context=context,
    )
    return http.outcome_response(outcome)


@instrument()
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return http.precheck(event) or app.resolve(event, context)
