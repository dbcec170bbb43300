"""Webhook signing secrets, one per tenant, in a table encrypted at rest (KMS).

The secret never leaves this repository except to the signature check; it is never logged (the
item's repr hides it).
"""

from __future__ import annotations

import base64
import secrets
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

from retryproof.dal.errors import storage_errors
from retryproof.models.webhooks import WebhookSecretItem
from retryproof.signatures import SECRET_PREFIX, secret_key

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


def new_webhook_secret() -> str:
    """A fresh `whsec_<base64 of 24 random bytes>` secret."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


class WebhookSecretRepository(Protocol):
    def get(self, tenant_id: str) -> str | None:
        """The tenant's secret, or None for an unknown tenant."""
        ...


class DynamoWebhookSecretRepository:
    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._client = client
        self._table = table

    def get(self, tenant_id: str) -> str | None:
        with storage_errors("webhook_secrets.get"):
            # Consistent: a secret rotated a moment ago verifies (and the old one no longer does).
            out = self._client.get_item(
                TableName=self._table, Key={"tenantId": {"S": tenant_id}}, ConsistentRead=True
            )
        item = out.get("Item")
        return WebhookSecretItem.from_item(item).secret if item else None

    def put(self, tenant_id: str, secret: str | None = None) -> str:
        """Set (or replace) the tenant's secret; returns it (a new one if none is given)."""
        secret = secret or new_webhook_secret()
        secret_key(secret)  # refuse a malformed secret before storing it
        item = WebhookSecretItem(
            tenant_id=tenant_id,
            secret=secret,
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        )
        with storage_errors("webhook_secrets.put"):
            self._client.put_item(TableName=self._table, Item=item.to_item())
        return secret
