"""GET /webhook-events/{eventId} and GET /summaries/{documentId}: the caller tenant's view."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from retryproof import aws, http
from retryproof.config import get_settings
from retryproof.dal.events import DynamoEventRepository
from retryproof.dal.summaries import DynamoSummaryRepository
from retryproof.models.summaries import SummaryOut
from retryproof.models.webhooks import WebhookEventOut
from retryproof.observability import instrument
from retryproof.shapes import Param, Spec
from retryproof.summaries import get_summary
from retryproof.webhooks import get_event

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

app = http.Api()
ID = Spec(min_length=1, max_length=255)


@app.get(
    "/webhook-events/{eventId}",
    operation_id="getWebhookEvent",
    summary="A webhook event of the caller's tenant and its processing status",
    params=(Param("eventId", "path", spec=ID),),
    responses={200: ("The event", WebhookEventOut)},
)
def webhook_event(request: http.Request[None]) -> http.Response:
    settings = get_settings()
    repo = DynamoEventRepository(aws.dynamodb(), settings.webhook_events_table)
    out = get_event(
        repo,
        tenant_id=request.tenant_id,
        event_id=request.params["eventId"],
        now_ms=int(time.time() * 1000),
    )
    return http.json_response(200, out.to_json_dict())


@app.get(
    "/summaries/{documentId}",
    operation_id="getSummary",
    summary="The summary of a document of the caller's tenant (its latest event's)",
    params=(Param("documentId", "path", spec=ID),),
    responses={200: ("The summary", SummaryOut)},
)
def summary(request: http.Request[None]) -> http.Response:
    settings = get_settings()
    repo = DynamoSummaryRepository(aws.dynamodb(), settings.summaries_table)
    out = get_summary(repo, tenant_id=request.tenant_id, document_id=request.params["documentId"])
    return http.json_response(200, out.to_json_dict())


@instrument()
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
