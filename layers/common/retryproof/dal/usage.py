"""Usage (cost) records: one item per paid LLM call, written once with a conditional put.

The paid path writes the record alone (one conditional PutItem on an item of its own), so
completions of one tenant never contend for a shared item. Each tenant's running total is kept
off that path by `count_once`, which the usage-totals function runs for every new record from the
table's DynamoDB stream: a transaction that writes the record's marker (only if there is none yet)
and adds the record to the tenant's total, so a stream record delivered twice is counted once.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from retryproof.dal.errors import ConditionFailed, TransactionCanceled, storage_errors
from retryproof.errors import BadRequest, StorageUnavailable
from retryproof.models.usage import UsageItem, usage_record_key

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


TOTAL_PREFIX = "TOTAL#"
COUNTED_PREFIX = "COUNTED#"  # a record's marker once it is in its tenant's total
UNPROCESSED_ATTEMPTS = 4  # BatchGetItem calls before keys it left unprocessed are a 503


class UsageTotal(NamedTuple):
    micro_usd: int
    records: int
    as_of: str | None  # when the total last counted a record (None: nothing counted yet)


class UsageRepository(Protocol):
    def get(
        self, tenant_id: str, idempotency_key: str, operation: str, step: int = 0
    ) -> UsageItem | None: ...

    def put_once(self, item: UsageItem) -> UsageItem | None:
        """Write the record unless one exists; return the existing one in that case, else None."""
        ...

    def list(
        self, tenant_id: str, idempotency_key: str | None, limit: int, next_token: str | None
    ) -> tuple[list[UsageItem], str | None]: ...

    def total(self, tenant_id: str) -> UsageTotal: ...


class SpendReader(Protocol):
    def get_with_day_total(
        self, tenant_id: str, idempotency_key: str, operation: str, day: str
    ) -> tuple[UsageItem | None, int]:
        """The key's usage record (step 0) and the tenant's spend on `day` (micro USD)."""
        ...

    def spent_on(self, tenant_id: str, day: str) -> int:
        """The tenant's spend on `day` so far (micro USD; 0 before its first record)."""
        ...


class DynamoUsageRepository:
    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._client = client
        self._table = table

    def get(
        self, tenant_id: str, idempotency_key: str, operation: str, step: int = 0
    ) -> UsageItem | None:
        with storage_errors("usage.get"):
            out = self._client.get_item(
                TableName=self._table,
                Key={
                    "tenantId": {"S": tenant_id},
                    "recordKey": {"S": usage_record_key(idempotency_key, operation, step)},
                },
                ConsistentRead=True,
            )
        item = out.get("Item")
        return UsageItem.from_item(item) if item else None

    def put_once(self, item: UsageItem) -> UsageItem | None:
        try:
            with storage_errors("usage.put"):
                self._client.put_item(
                    TableName=self._table,
                    Item=item.to_item(),
                    ConditionExpression="attribute_not_exists(recordKey)",
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
        except ConditionFailed as exc:
            return UsageItem.from_item(exc.item) if exc.item else item
        return None

    def count_once(
        self, tenant_id: str, record_key: str, cost_micro_usd: int, now: str, day: str
    ) -> bool:
        """Add a record to its tenant's total unless it was counted already; True if added.

        One transaction: a marker item of the record (only if absent; in a partition of its own,
        so the record itself, which the paid path writes, is never inside a transaction), the
        addition to the total and to the total of the record's day (UTC, YYYY-MM-DD: what the
        daily spend limit reads). A `TransactionConflict` (another consumer adding to the same
        total) or any other failure raises `StorageUnavailable`: the stream record is delivered
        again.
        """
        try:
            with storage_errors("usage.count"):
                self._client.transact_write_items(
                    TransactItems=[
                        {
                            "Put": {
                                "TableName": self._table,
                                "Item": {
                                    "tenantId": {"S": f"{COUNTED_PREFIX}{tenant_id}"},
                                    "recordKey": {"S": record_key},
                                    "countedAt": {"S": now},
                                },
                                "ConditionExpression": "attribute_not_exists(recordKey)",
                            }
                        },
                        {
                            "Update": {
                                "TableName": self._table,
                                "Key": _total_key(tenant_id),
                                "UpdateExpression": (
                                    "ADD costMicroUsd :c, records :one SET updatedAt = :now"
                                ),
                                "ExpressionAttributeValues": {
                                    ":c": {"N": str(cost_micro_usd)},
                                    ":one": {"N": "1"},
                                    ":now": {"S": now},
                                },
                            }
                        },
                        {
                            "Update": {
                                "TableName": self._table,
                                "Key": _day_key(tenant_id, day),
                                "UpdateExpression": (
                                    "ADD costMicroUsd :c, records :one SET updatedAt = :now"
                                ),
                                "ExpressionAttributeValues": {
                                    ":c": {"N": str(cost_micro_usd)},
                                    ":one": {"N": "1"},
                                    ":now": {"S": now},
                                },
                            }
                        },
                    ]
                )
        except TransactionCanceled as exc:
            if exc.code(0) == "ConditionalCheckFailed":
                return False  # counted already
            raise StorageUnavailable("usage.count was cancelled") from exc
        return True

    def total(self, tenant_id: str) -> UsageTotal:
        with storage_errors("usage.total"):
            out = self._client.get_item(
                TableName=self._table, Key=_total_key(tenant_id), ConsistentRead=True
            )
        item = out.get("Item")
        if not item:
            return UsageTotal(0, 0, None)
        return UsageTotal(
            int(item["costMicroUsd"]["N"]), int(item["records"]["N"]), item["updatedAt"]["S"]
        )

    def get_with_day_total(
        self, tenant_id: str, idempotency_key: str, operation: str, day: str
    ) -> tuple[UsageItem | None, int]:
        """The key's usage record (as `get`) and the tenant's spend on `day` so far (micro USD),
        in one call: the daily spend limit costs the paid path no extra request."""
        record_key = {
            "tenantId": {"S": tenant_id},
            "recordKey": {"S": usage_record_key(idempotency_key, operation, 0)},
        }
        day_key = _day_key(tenant_id, day)
        request: dict[str, Any] = {
            self._table: {"Keys": [record_key, day_key], "ConsistentRead": True}
        }
        found: list[dict[str, Any]] = []
        for attempt in range(UNPROCESSED_ATTEMPTS):
            if attempt:
                time.sleep(0.02 * 2**attempt)  # DynamoDB's advice for unprocessed keys: back off
            with storage_errors("usage.get"):
                out = self._client.batch_get_item(RequestItems=request)
            found += out.get("Responses", {}).get(self._table, [])
            request = dict(out.get("UnprocessedKeys") or {})
            if not request:
                break
        else:
            raise StorageUnavailable("usage.get left keys unprocessed")
        record, spent = None, 0
        for item in found:
            if (
                item["tenantId"] == day_key["tenantId"]
                and item["recordKey"] == day_key["recordKey"]
            ):
                spent = int(item["costMicroUsd"]["N"])
            else:
                record = UsageItem.from_item(item)
        return record, spent

    def spent_on(self, tenant_id: str, day: str) -> int:
        with storage_errors("usage.get"):
            out = self._client.get_item(
                TableName=self._table, Key=_day_key(tenant_id, day), ConsistentRead=True
            )
        item = out.get("Item")
        return int(item["costMicroUsd"]["N"]) if item else 0

    def list(
        self, tenant_id: str, idempotency_key: str | None, limit: int, next_token: str | None
    ) -> tuple[list[UsageItem], str | None]:
        params: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "tenantId = :t",
            "ExpressionAttributeValues": {":t": {"S": tenant_id}},
            "Limit": limit,
            "ConsistentRead": True,  # a record written a moment ago is listed
        }
        prefix = ""
        if idempotency_key is not None:
            prefix = usage_record_key(idempotency_key, "", 0).split("#", 1)[0] + "#"
            params["KeyConditionExpression"] += " AND begins_with(recordKey, :p)"
            params["ExpressionAttributeValues"][":p"] = {"S": prefix}
        if next_token:
            params["ExclusiveStartKey"] = _decode_token(next_token, tenant_id, prefix)
        with storage_errors("usage.list"):
            out = self._client.query(**params)
        items = [UsageItem.from_item(i) for i in out.get("Items", [])]
        last = out.get("LastEvaluatedKey")
        return items, _encode_token(last) if last else None


def _total_key(tenant_id: str) -> dict[str, Any]:
    # A partition of its own, so listing a tenant's records never meets it.
    return {"tenantId": {"S": f"{TOTAL_PREFIX}{tenant_id}"}, "recordKey": {"S": "total"}}


def _day_key(tenant_id: str, day: str) -> dict[str, Any]:
    # Next to the tenant's total; `day#...` has one '#', a record's key two: never a record's.
    return {"tenantId": {"S": f"{TOTAL_PREFIX}{tenant_id}"}, "recordKey": {"S": f"day#{day}"}}


def _encode_token(key: dict[str, Any]) -> str:
    raw = json.dumps({"r": key["recordKey"]["S"]}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_token(token: str, tenant_id: str, prefix: str) -> dict[str, Any]:
    """The start key from a token; it must lie inside this query's key range."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        record_key = json.loads(raw)["r"]
        if not isinstance(record_key, str) or not record_key.startswith(prefix):
            raise TypeError
        if record_key.count("#") != 2:
            raise ValueError
    except (binascii.Error, ValueError, KeyError, TypeError) as exc:
        raise BadRequest("nextToken is not valid") from exc
    return {"tenantId": {"S": tenant_id}, "recordKey": {"S": record_key}}
