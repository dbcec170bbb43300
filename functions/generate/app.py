"""POST /generate: an LLM completion that a retry never pays for twice."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from retryproof import aws, http, idempotent_http
from retryproof.config import get_settings
from retryproof.dal.usage import DynamoUsageRepository
from retryproof.generate import OPERATION, generate, resolve_model, stored_completion
from retryproof.idempotency import IdempotencyStore
from retryproof.llm import llm_client
from retryproof.models.generate import GenerateRequest, GenerateResponse
from retryproof.observability import instrument

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

app = http.Api()
store = IdempotencyStore(OPERATION)  # one per execution environment


@app.post(
    "/generate",
    operation_id="generate",
    summary="Generate a completion, paid for once per Idempotency-Key",
    body=GenerateRequest,
    responses={200: ("The completion (the first execution or its replay)", GenerateResponse)},
    scope="generate",  # LLM spend, not money movement (docs/security-keys.md)
)
def post_generate(request: http.Request[GenerateRequest]) -> http.Response:
    settings = get_settings()
    model = resolve_model(
        request.body, settings
    )  # a validation failure: before anything is claimed
    usage = DynamoUsageRepository(aws.dynamodb(), settings.usage_table)
    return idempotent_http.idempotent_post(
        request,
        store,
        settings.idempotency_ttl_generate,
        lambda post: generate(
            request.body,
            tenant_id=post.tenant_id,
            idempotency_key=post.key,
            body_hash=post.body_hash,
            model=model,
            settings=settings,
            llm=llm_client(settings),
            usage=usage,
            remaining_ms=post.get_remaining_ms(),
            spend=usage,  # the daily spend limit's read (docs/limits.md)
        ),
        # A replay's completion: the idempotency record keeps no copy of it.
        durable_body=lambda tenant, key: stored_completion(
            DynamoUsageRepository(aws.dynamodb(), settings.usage_table), tenant, key
        ),
    )


@instrument()
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
