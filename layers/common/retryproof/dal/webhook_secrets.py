"""Webhook signing secrets: one AWS Secrets Manager secret per tenant, read through Powertools'
parameters utility (cached per execution environment for `max_age` seconds).

The secret `<prefix><tenant id>` holds a JSON object: `current` (`whsec_<base64>`) and, after a
rotation, `previous` with `previousExpiresAt` (epoch seconds): both verify until then, so a
sender can switch secrets without a failed delivery. Reading a secret needs
`secretsmanager:GetSecretValue` on that name, not read access to any DynamoDB table. A secret is
never logged (`WebhookSecretSet`'s repr hides it).

Lookups for a tenant with no secret are remembered for `max_age` too (Powertools caches values,
not failures), so a flood of deliveries naming unknown tenants costs one Secrets Manager call per
tenant id and execution environment, not one per delivery.
"""

from __future__ import annotations

import base64
import re
import secrets
import threading
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from retryproof.dal.errors import storage_errors
from retryproof.errors import StorageUnavailable
from retryproof.models.webhooks import WebhookSecretSet
from retryproof.signatures import SECRET_PREFIX, secret_key

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.parameters import SecretsProvider
    from mypy_boto3_secretsmanager import SecretsManagerClient

# Tenant ids that can name a secret (Secrets Manager's name characters, minus `/`).
TENANT_PATTERN = re.compile(r"^[A-Za-z0-9_.@+=-]{1,128}$")
DEFAULT_OVERLAP_SECONDS = 24 * 3600
NEW_SECRET_BYTES = 32
NOT_FOUND = "ResourceNotFoundException"
MAX_UNKNOWN = 4096  # unknown tenant ids remembered per execution environment


def new_webhook_secret() -> str:
    """A fresh `whsec_<base64 of 32 random bytes>` secret."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(NEW_SECRET_BYTES)).decode()


def secret_name(prefix: str, tenant_id: str) -> str:
    if not TENANT_PATTERN.match(tenant_id):
        raise ValueError("a tenant id with a webhook secret is 1-128 of A-Z a-z 0-9 _ . @ + = -")
    return prefix + tenant_id


class WebhookSecretRepository(Protocol):
    def get(self, tenant_id: str) -> WebhookSecretSet | None:
        """The tenant's secrets, or None for a tenant without any."""
        ...


def _not_found(exc: BaseException) -> bool:
    """Whether Secrets Manager answered that the secret does not exist. Powertools wraps every
    failure in `GetParameterError`, raised while handling the SDK's error: its context."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ClientError):
            return seen.response.get("Error", {}).get("Code") == NOT_FOUND
        seen = seen.__cause__ or seen.__context__
    return False


class SecretsManagerWebhookSecretRepository:
    """Reads (cached) and writes tenants' webhook secrets named `<prefix><tenant id>`."""

    def __init__(self, client: SecretsManagerClient, prefix: str, max_age: int = 60) -> None:
        self.prefix = prefix
        self.max_age = max_age
        self._client = client
        self._provider: SecretsProvider | None = None
        self._unknown: dict[str, float] = {}
        self._lock = threading.Lock()

    def _secrets(self) -> SecretsProvider:
        if self._provider is None:
            from aws_lambda_powertools.utilities.parameters import SecretsProvider

            self._provider = SecretsProvider(boto3_client=self._client)
        return self._provider

    def get(self, tenant_id: str) -> WebhookSecretSet | None:
        if not TENANT_PATTERN.match(tenant_id):
            return None  # no such secret can exist: no call
        now = time.monotonic()
        with self._lock:
            if self._unknown.get(tenant_id, 0.0) > now:
                return None
        from aws_lambda_powertools.utilities.parameters.exceptions import (
            GetParameterError,
            TransformParameterError,
        )

        try:
            value = self._secrets().get(
                self.prefix + tenant_id, max_age=self.max_age, transform="json"
            )
        except TransformParameterError as exc:
            raise StorageUnavailable("webhook_secrets.get failed (not JSON)") from exc
        except GetParameterError as exc:
            if not _not_found(exc):
                raise StorageUnavailable("webhook_secrets.get failed") from exc
            with self._lock:
                if len(self._unknown) >= MAX_UNKNOWN:
                    self._unknown.clear()
                self._unknown[tenant_id] = now + self.max_age
            return None
        try:
            return WebhookSecretSet.from_json(value)
        except ValueError as exc:
            raise StorageUnavailable("webhook_secrets.get failed (malformed)") from exc

    # --- administration (tools, the seed): uncached ----------------------------------------------

    def read(self, tenant_id: str) -> WebhookSecretSet | None:
        """The stored secrets, read now (not from the cache)."""
        try:
            with storage_errors("webhook_secrets.read"):
                out = self._client.get_secret_value(SecretId=secret_name(self.prefix, tenant_id))
        except StorageUnavailable as exc:
            if _not_found(exc):
                return None
            raise
        import json

        return WebhookSecretSet.from_json(json.loads(out["SecretString"]))

    def write(self, tenant_id: str, value: WebhookSecretSet) -> None:
        """Store `value` as the tenant's secrets (a new version), creating the secret if need be."""
        import json

        secret_key(value.current)  # refuse a malformed or short secret before storing it
        name = secret_name(self.prefix, tenant_id)
        text = json.dumps(value.to_json())
        try:
            self._client.put_secret_value(SecretId=name, SecretString=text)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != NOT_FOUND:
                raise StorageUnavailable("webhook_secrets.write failed") from exc
            with storage_errors("webhook_secrets.create"):
                self._client.create_secret(
                    Name=name,
                    SecretString=text,
                    Description="retryproof webhook signing secrets (current, previous)",
                )
        except BotoCoreError as exc:
            raise StorageUnavailable("webhook_secrets.write failed") from exc

    def put(self, tenant_id: str, secret: str | None = None) -> str:
        """Set the tenant's secret, replacing any (no overlap); returns it (new if none given)."""
        secret = secret or new_webhook_secret()
        self.write(tenant_id, WebhookSecretSet(current=secret, updated_at=_now_iso()))
        return secret

    def rotate(
        self,
        tenant_id: str,
        *,
        overlap_seconds: int = DEFAULT_OVERLAP_SECONDS,
        secret: str | None = None,
        now: float | None = None,
    ) -> WebhookSecretSet:
        """A new current secret; the old current one keeps verifying for `overlap_seconds`.
        A tenant without a secret just gets one."""
        if overlap_seconds < 0:
            raise ValueError("the overlap is zero or more seconds")
        old = self.read(tenant_id)
        new = WebhookSecretSet(
            current=secret or new_webhook_secret(),
            previous=old.current if old else None,
            previous_expires_at=int(now if now is not None else time.time()) + overlap_seconds
            if old
            else None,
            updated_at=_now_iso(),
        )
        self.write(tenant_id, new)
        return new

    def retire_previous(self, tenant_id: str) -> bool:
        """End the overlap now: only the current secret verifies. False if there is no secret."""
        old = self.read(tenant_id)
        if old is None:
            return False
        self.write(tenant_id, WebhookSecretSet(current=old.current, updated_at=_now_iso()))
        return True


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
