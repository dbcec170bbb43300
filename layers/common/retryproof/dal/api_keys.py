"""API keys, stored by SHA-256 hash only; the plaintext is shown once when created."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

from retryproof.dal.errors import ConditionFailed, storage_errors
from retryproof.models.keys import ApiKeyItem
from retryproof.tenants import check_tenant_id

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

KEY_PREFIX = "rp_live_"


def hash_api_key(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def new_api_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


class ApiKeyRepository(Protocol):
    def get(self, key_hash: str) -> ApiKeyItem | None: ...


class DynamoApiKeyRepository:
    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._client = client
        self._table = table

    def get(self, key_hash: str) -> ApiKeyItem | None:
        with storage_errors("api_keys.get"):
            # Consistent: a key revoked (or created) a moment ago is seen as it is now.
            out = self._client.get_item(
                TableName=self._table, Key={"keyHash": {"S": key_hash}}, ConsistentRead=True
            )
        item = out.get("Item")
        return ApiKeyItem.from_item(item) if item else None

    def create(self, tenant_id: str, plaintext: str | None = None) -> str:
        """Store a key for the tenant; returns the plaintext (the only time it exists).
        ValueError for a tenant id that could meet the service's own keys (retryproof.tenants)."""
        check_tenant_id(tenant_id)
        plaintext = plaintext or new_api_key()
        item = ApiKeyItem(
            key_hash=hash_api_key(plaintext),
            tenant_id=tenant_id,
            status="active",
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        )
        with storage_errors("api_keys.create"):
            self._client.put_item(TableName=self._table, Item=item.to_item())
        return plaintext

    def revoke(self, plaintext: str) -> bool:
        """Mark the key revoked; False when no such key exists."""
        try:
            with storage_errors("api_keys.revoke"):
                self._client.update_item(
                    TableName=self._table,
                    Key={"keyHash": {"S": hash_api_key(plaintext)}},
                    UpdateExpression="SET #s = :r",
                    ConditionExpression="attribute_exists(keyHash)",
                    ExpressionAttributeNames={"#s": "status"},
                    ExpressionAttributeValues={":r": {"S": "revoked"}},
                )
        except ConditionFailed:
            return False
        return True
