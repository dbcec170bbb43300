"""GET /usage: the caller's cost records."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.utilities.typing import LambdaContext

from retryproof import aws, http
from retryproof.config import get_settings
from retryproof.dal.usage import DynamoUsageRepository
from retryproof.models.responses import UsageList
from retryproof.observability import instrument
from retryproof.usage import DEFAULT_LIMIT, MAX_LIMIT, list_usage

app = http.api_resolver()


@app.get(
    "/usage",
    operation_id="listUsage",
    summary="The tenant's LLM cost records",
    responses={
        200: {
            "description": "A page of cost records",
            "content": {http.JSON_CONTENT_TYPE: {"model": UsageList}},
        }
    },
)
def get_usage(
    idempotency_key: Annotated[str | None, Query(alias="idempotencyKey", max_length=255)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    next_token: Annotated[str | None, Query(alias="nextToken", max_length=2048)] = None,
) -> Response[Any]:
    settings = get_settings()
    result = list_usage(
        DynamoUsageRepository(aws.dynamodb(), settings.usage_table),
        tenant_id=http.tenant_id(app),
        idempotency_key=idempotency_key,
        limit=limit,
        next_token=next_token,
    )
    return http.json_response(200, result.to_json_dict())


@instrument()
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return http.precheck(event) or app.resolve(event, context)
