"""POST /webhooks/document-uploaded: a signed delivery, accepted once per (tenant, eventId)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from retryproof import aws, http, idempotent_http, webhooks
from retryproof.config import Settings, get_settings
from retryproof.dal.events import DynamoEventRepository
from retryproof.dal.queue import SqsJobQueue
from retryproof.dal.webhook_secrets import SecretsManagerWebhookSecretRepository
from retryproof.idempotency import IdempotencyStore, IdempotentRequest
from retryproof.models.webhooks import WebhookAccepted
from retryproof.observability import instrument

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

app = http.Api()
store = IdempotencyStore(webhooks.OPERATION)  # one per execution environment
_secrets: SecretsManagerWebhookSecretRepository | None = None  # its cache: one per environment


def webhook_secrets(settings: Settings) -> SecretsManagerWebhookSecretRepository:
    global _secrets
    if _secrets is None or (_secrets.prefix, _secrets.max_age) != (
        settings.webhook_secret_prefix,
        settings.webhook_secret_cache_seconds,
    ):
        _secrets = SecretsManagerWebhookSecretRepository(
            aws.secretsmanager(),
            settings.webhook_secret_prefix,
            max_age=settings.webhook_secret_cache_seconds,
        )
    return _secrets


@app.post(
    "/webhooks/document-uploaded",
    operation_id="documentUploaded",
    summary="A signed document-uploaded webhook, enqueued once per (tenant, eventId)",
    # No body shape here: the body is validated after its signature (webhooks.authenticate).
    responses={
        202: ("The first accepted delivery of the event: one job enqueued", WebhookAccepted),
        200: ("A later delivery of the event: the same jobId, duplicate: true", WebhookAccepted),
    },
    scope=None,  # no API key: authenticated by its signature
)
def document_uploaded(request: http.Request[None]) -> http.Response:
    settings = get_settings()
    # Headers, timestamp and signature format are checked before any AWS call.
    delivery = webhooks.authenticate(
        http.raw_body(request.event),
        request.headers,
        secrets=webhook_secrets(settings),
        now=time.time(),
    )
    body = delivery.request
    events = DynamoEventRepository(aws.dynamodb(), settings.webhook_events_table)
    queue = SqsJobQueue(aws.sqs(), settings.webhook_queue_url)
    outcome = webhooks.receive(
        lambda: store.run(
            IdempotentRequest(tenant_id=body.tenant_id, key=body.event_id, body=None),
            lambda _claim: webhooks.accept(delivery, events=events, queue=queue),
            client=aws.dynamodb(),
            table=settings.idempotency_table,
            ttl_seconds=settings.idempotency_ttl_webhook,
            # A redelivery is the same event: never refused for a different body.
            payload_mismatch="replay",
            context=request.context,
        )
    )
    return idempotent_http.outcome_response(outcome)


@instrument()
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
