"""Per-tenant request counters: one item per (tenant, window, shard), deleted by TTL after it.

Each request adds 1 to one counter with an unconditional `ADD` (no condition, no transaction: two
requests on one item never conflict) and reads the new count back in the same call.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from retryproof.dal.errors import storage_errors

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


class DynamoRequestCounter:
    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._client = client
        self._table = table

    def add(self, counter_id: str, expires_at: int) -> int:
        """Add one request to the counter; its count after that."""
        with storage_errors("limits.count"):
            out = self._client.update_item(
                TableName=self._table,
                Key={"id": {"S": counter_id}},
                UpdateExpression="ADD requests :one SET expiresAt = if_not_exists(expiresAt, :exp)",
                ExpressionAttributeValues={":one": {"N": "1"}, ":exp": {"N": str(expires_at)}},
                ReturnValues="UPDATED_NEW",
            )
        return int(out["Attributes"]["requests"]["N"])
