"""GET /usage: the caller's cost records."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from retryproof import aws, http
from retryproof.config import get_settings
from retryproof.dal.usage import DynamoUsageRepository
from retryproof.models.usage import UsageList
from retryproof.observability import instrument
from retryproof.shapes import Param, Spec
from retryproof.usage import DEFAULT_LIMIT, MAX_LIMIT, list_usage

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

app = http.Api()
LIMIT = Spec(ge=1, le=MAX_LIMIT)


@app.get(
    "/usage",
    operation_id="listUsage",
    summary="The tenant's LLM cost records",
    params=(
        Param("idempotencyKey", "query", spec=Spec(max_length=255), required=False),
        Param("limit", "query", int, LIMIT, required=False, default=DEFAULT_LIMIT),
        Param("nextToken", "query", spec=Spec(max_length=2048), required=False),
    ),
    responses={200: ("A page of cost records", UsageList)},
)
def get_usage(request: http.Request[None]) -> http.Response:
    settings = get_settings()
    result = list_usage(
        DynamoUsageRepository(aws.dynamodb(), settings.usage_table),
        tenant_id=request.tenant_id,
        idempotency_key=request.params["idempotencyKey"],
        limit=request.params["limit"],
        next_token=request.params["nextToken"],
    )
    return http.json_response(200, result.to_json_dict())


@instrument()
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
