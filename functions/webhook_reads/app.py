"""GET /webhook-events/{eventId} and GET /summaries/{documentId}: the caller tenant's view."""

from __future__ import annotations

import time
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Path
from aws_lambda_powertools.utilities.typing import LambdaContext

from retryproof import aws, http
from retryproof.config import get_settings
from retryproof.dal.events import DynamoEventRepository
from retryproof.dal.summaries import DynamoSummaryRepository
from retryproof.models.responses import SummaryOut, WebhookEventOut
from retryproof.observability import instrument
from retryproof.summaries import get_summary
from retryproof.webhooks import get_event

app = http.api_resolver()


@app.get(
    "/webhook-events/<eventId>",
    operation_id="getWebhookEvent",
    summary="A webhook event of the caller's tenant and its processing status",
    responses={
        200: {
            "description": "The event",
            "content": {http.JSON_CONTENT_TYPE: {"model": WebhookEventOut}},
        }
    },
)
def webhook_event(eventId: Annotated[str, Path(min_length=1, max_length=255)]) -> Response[Any]:
    settings = get_settings()
    repo = DynamoEventRepository(aws.dynamodb(), settings.webhook_events_table)
    out = get_event(
        repo, tenant_id=http.tenant_id(app), event_id=eventId, now_ms=int(time.time() * 1000)
    )
    return http.json_response(200, out.to_json_dict())


@app.get(
    "/summaries/<documentId>",
    operation_id="getSummary",
    summary="The summary of a document of the caller's tenant (its latest event's)",
    responses={
        200: {
            "description": "The summary",
            "content": {http.JSON_CONTENT_TYPE: {"model": SummaryOut}},
        }
    },
)
def summary(documentId: Annotated[str, Path(min_length=1, max_length=255)]) -> Response[Any]:
    settings = get_settings()
    repo = DynamoSummaryRepository(aws.dynamodb(), settings.summaries_table)
    out = get_summary(repo, tenant_id=http.tenant_id(app), document_id=documentId)
    return http.json_response(200, out.to_json_dict())


@instrument()
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return http.precheck(event) or app.resolve(event, context)
