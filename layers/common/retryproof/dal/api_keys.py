"""API keys, stored by SHA-256 hash only; the plaintext is shown once when created."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

from retryproof.dal.errors import ConditionFailed, storage_errors
from retryproof.models.keys import SCOPES, ApiKeyItem, check_scopes
from retryproof.tenants import check_tenant_id

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

KEY_PREFIX = "rp_live_"
KEY_ID_INDEX = "byKeyId"  # the keys table's index on `keyId` (revocation by key id)


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

    def create(
        self,
        tenant_id: str,
        plaintext: str | None = None,
        *,
        scopes: list[str] | tuple[str, ...] | None = None,
        expires_at: int | None = None,
    ) -> str:
        """Store a key for the tenant with `scopes` (default: all) and an optional expiry (epoch
        seconds); returns the plaintext (the only time it exists). `ValueError` for an unknown
        scope. Also `ValueError` for a tenant id that could meet the service's own keys
        (retryproof.tenants)."""
        check_tenant_id(tenant_id)
        plaintext = plaintext or new_api_key()
        item = ApiKeyItem(
            key_hash=hash_api_key(plaintext),
            tenant_id=tenant_id,
            status="active",
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
            scopes=SCOPES if scopes is None else check_scopes(scopes),
            expires_at=expires_at,
        )
        with storage_errors("api_keys.create"):
            self._client.put_item(TableName=self._table, Item=item.to_item())
        return plaintext

    def revoke(self, plaintext: str) -> bool:
        """Mark the key revoked; False when no such key exists."""
        return self.revoke_hash(hash_api_key(plaintext))

    def hashes_of(self, key_id: str) -> list[str]:
        """The hashes of the keys with this id, from the `keyId` index (eventually consistent:
        a key created a second ago may not be in it yet)."""
        with storage_errors("api_keys.find"):
            out = self._client.query(
                TableName=self._table,
                IndexName=KEY_ID_INDEX,
                KeyConditionExpression="keyId = :k",
                ExpressionAttributeValues={":k": {"S": key_id}},
            )
        return [i["keyHash"]["S"] for i in out.get("Items", [])]

    def revoke_id(self, key_id: str) -> bool:
        """Revoke the key with this id (`key_...`, as `create` printed it); False if none."""
        # Two keys sharing a 96-bit id prefix are not expected; if they did, both are revoked.
        return any([self.revoke_hash(h) for h in self.hashes_of(key_id)])

    def revoke_hash(self, key_hash: str) -> bool:
        """Revoke the key with this SHA-256 (hex); False when no such key exists."""
        try:
            with storage_errors("api_keys.revoke"):
                self._client.update_item(
                    TableName=self._table,
                    Key={"keyHash": {"S": key_hash}},
                    UpdateExpression="SET #s = :r",
                    ConditionExpression="attribute_exists(keyHash)",
                    ExpressionAttributeNames={"#s": "status"},
                    ExpressionAttributeValues={":r": {"S": "revoked"}},
                )
        except ConditionFailed:
            return False
        return True
