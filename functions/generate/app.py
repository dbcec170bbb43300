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
    model = resolve_model(request, settings)  # a validation failure: before anything is claimed
    return http.idempotent_post(
        app,
        OPERATION,
        settings.idempotency_ttl_generate,
        lambda post: generate(
            request,
            tenant_id=post.tenant_id,
            idempotency_key=post.key,
            body_hash=post.body_hash,
            model=model,
            settings=settings,
            llm=llm_client(settings),
            usage=DynamoUsageRepository(aws.dynamodb(), settings.usage_table),
            remaining_ms=post.remaining_ms(),
            claim=post.claim,
        ),
    )


@instrument()
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return http.precheck(event) or app.resolve(event, context)
