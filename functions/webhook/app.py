"""POST /webhooks/document-uploaded: a signed delivery, accepted once per (tenant, eventId)."""

from __future__ import annotations

import time
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.utilities.typing import LambdaContext

from retryproof import aws, http, webhooks
from retryproof.config import get_settings
from retryproof.dal.events import DynamoEventRepository
from retryproof.dal.queue import SqsJobQueue
from retryproof.dal.webhook_secrets import DynamoWebhookSecretRepository
from retryproof.idempotency import IdempotentRequest, run_idempotent
from retryproof.models.responses import WebhookAccepted
from retryproof.observability import instrument

app = http.api_resolver()


@app.post(
    "/webhooks/document-uploaded",
    operation_id="documentUploaded",
    summary="A signed document-uploaded webhook, enqueued once per (tenant, eventId)",
    responses={
        202: {
            "description": "The first accepted delivery of the event: one job enqueued",
            "content": {http.JSON_CONTENT_TYPE: {"model": WebhookAccepted}},
        },
        200: {
            "description": "A later delivery of the event: the same jobId, duplicate: true",
            "content": {http.JSON_CONTENT_TYPE: {"model": WebhookAccepted}},
        },
    },
)
def document_uploaded() -> Response[Any]:
    settings = get_settings()
    event = app.current_event
    delivery = webhooks.authenticate(
        webhooks.raw_body(event.raw_event),
        event.headers,
        secrets=DynamoWebhookSecretRepository(aws.dynamodb(), settings.webhook_secrets_table),
        now=time.time(),
    )
    request = delivery.request
    events = DynamoEventRepository(aws.dynamodb(), settings.webhook_events_table)
    queue = SqsJobQueue(aws.sqs(), settings.webhook_queue_url)
    outcome = webhooks.receive(
        lambda: run_idempotent(
            webhooks.OPERATION,
            IdempotentRequest(tenant_id=request.tenant_id, key=request.event_id, body=None),
            lambda _claim: webhooks.accept(delivery, events=events, queue=queue),
            client=aws.dynamodb(),
            table=settings.idempotency_table,
            ttl_seconds=settings.idempotency_ttl_webhook,
            # A redelivery is the same event: never refused for a different body.
            payload_mismatch="replay",
            context=app.lambda_context,
        )
    )
    return http.outcome_response(outcome)


@instrument()
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return http.precheck(event) or app.resolve(event, context)
