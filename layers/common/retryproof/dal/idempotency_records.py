"""The idempotency table, read directly: one key's record, as Powertools wrote it.

Powertools keys a record `<key prefix>#<sha256 of the JSON of what event_key_jmespath selected>`:
here the prefix is `retryproof.<operation>` and the selection `[tenant, key]`
(`retryproof.idempotency.run_idempotent`), so the id is scoped by tenant and route and holds
neither in clear. The item: `status` (`INPROGRESS` | `COMPLETED`), `expiration` (epoch seconds:
the record's end), `in_progress_expiration` (epoch milliseconds: the lease of the execution that
claimed it, absent without a Lambda context) and `data` (the stored outcome as JSON text).

No Powertools import here: the read route that uses this stays light.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from retryproof.dal.errors import storage_errors

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

KEY_PREFIX = "retryproof"
IN_PROGRESS = "INPROGRESS"
COMPLETED = "COMPLETED"


def record_id(operation: str, tenant_id: str, key: str) -> str:
    """The id Powertools gives (tenant, key)'s record for `operation` (its `_generate_hash` of
    `json.dumps([tenant, key], sort_keys=True)`, sha256)."""
    selected = json.dumps([tenant_id, key], sort_keys=True)
    return f"{KEY_PREFIX}.{operation}#{hashlib.sha256(selected.encode()).hexdigest()}"


class IdempotencyRecord(NamedTuple):
    status: str  # IN_PROGRESS or COMPLETED
    expires_at_s: int  # the record's end (epoch seconds)
    lease_expires_at_ms: int | None  # an in-progress record's lease (epoch milliseconds)
    response_status: int | None  # a completed record's stored HTTP status
    original_request_time: str | None  # a completed record's first execution time


class IdempotencyRecords(Protocol):
    def get(self, record_id: str) -> IdempotencyRecord | None: ...


class DynamoIdempotencyRecords:
    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._client = client
        self._table = table

    def get(self, record_id: str) -> IdempotencyRecord | None:
        with storage_errors("idempotency.get"):
            out = self._client.get_item(
                TableName=self._table, Key={"id": {"S": record_id}}, ConsistentRead=True
            )
        item = out.get("Item")
        return _record(item) if item else None


def _record(item: dict[str, Any]) -> IdempotencyRecord:
    lease = item.get("in_progress_expiration", {}).get("N")
    status: int | None = None
    original: str | None = None
    data = item.get("data", {}).get("S")
    if data:
        stored = json.loads(data)
        status = int(stored["status"])
        original = str(stored["original_request_time"])
    return IdempotencyRecord(
        status=item["status"]["S"],
        expires_at_s=int(item["expiration"]["N"]),
        lease_expires_at_ms=int(lease) if lease is not None else None,
        response_status=status,
        original_request_time=original,
    )
