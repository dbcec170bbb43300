"""The processed-events table: one item per (tenant, webhook event id), the worker's durable check.

Every write is one conditional `UpdateItem`, so the edge and any number of workers can race on an
event safely:

- `register` (edge): creates the event as `queued`, or leaves an existing one untouched.
- `mark_accepted` (edge): stamps the first accepted delivery, once.
- `take_lease` (worker): `processing` with a lease, unless the event is `completed` or another
  worker's lease is still live.
- `complete` / `release` (worker): only while this worker still holds the lease.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, NamedTuple, Protocol

from retryproof.dal.errors import ConditionFailed, storage_errors
from retryproof.errors import StorageUnavailable
from retryproof.faults import disabled
from retryproof.models.messages import SummarizeJob
from retryproof.models.webhooks import WebhookEventItem

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


# A new event (the message overtook the edge's write), or one that is neither completed nor
# leased by a live worker.
LIVE_LEASE_FREE = (
    "attribute_not_exists(eventId) OR (#s <> :completed AND "
    "(#s <> :processing OR attribute_not_exists(leaseExpiresAtMs) OR leaseExpiresAtMs < :now_ms))"
)


class Lease(NamedTuple):
    """The event after an attempt to lease it: `held` says whether this worker now holds it."""

    held: bool
    event: WebhookEventItem


class EventRepository(Protocol):
    def get(self, tenant_id: str, event_id: str) -> WebhookEventItem | None: ...

    def register(self, job: SummarizeJob, *, now: str) -> WebhookEventItem:
        """Create the event as `queued` unless it exists; return the stored event either way."""
        ...

    def mark_accepted(self, tenant_id: str, event_id: str, *, now: str) -> str | None:
        """Stamp the first accepted delivery. Returns None if this was it, else the first's time."""
        ...

    def take_lease(
        self,
        job: SummarizeJob,
        *,
        owner: str,
        lease_until_ms: int,
        now_ms: int,
        final_attempt: bool,
        now: str,
    ) -> Lease: ...

    def complete(self, tenant_id: str, event_id: str, *, owner: str, now: str) -> bool:
        """`completed`, if `owner` still holds the lease; False if it does not."""
        ...

    def release(
        self,
        tenant_id: str,
        event_id: str,
        *,
        owner: str,
        status: Literal["queued", "failed"],
        error: str,
        now: str,
    ) -> bool:
        """Give the lease up (status `queued`, or `failed` after the last receive)."""
        ...


def _key(tenant_id: str, event_id: str) -> dict[str, Any]:
    return {"tenantId": {"S": tenant_id}, "eventId": {"S": event_id}}


class DynamoEventRepository:
    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._client = client
        self._table = table

    def get(self, tenant_id: str, event_id: str) -> WebhookEventItem | None:
        with storage_errors("events.get"):
            out = self._client.get_item(
                TableName=self._table, Key=_key(tenant_id, event_id), ConsistentRead=True
            )
        item = out.get("Item")
        return WebhookEventItem.from_item(item) if item else None

    def register(self, job: SummarizeJob, *, now: str) -> WebhookEventItem:
        with storage_errors("events.register"):
            out = self._client.update_item(
                TableName=self._table,
                Key=_key(job.tenant_id, job.event_id),
                UpdateExpression="SET documentId = if_not_exists(documentId, :doc), "
                "jobId = if_not_exists(jobId, :job), #s = if_not_exists(#s, :queued), "
                "attempts = if_not_exists(attempts, :zero), "
                "eventTimeNs = if_not_exists(eventTimeNs, :t), "
                "createdAt = if_not_exists(createdAt, :now)",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={
                    ":doc": {"S": job.document_id},
                    ":job": {"S": job.job_id},
                    ":queued": {"S": "queued"},
                    ":zero": {"N": "0"},
                    ":t": {"N": str(job.event_time_ns)},
                    ":now": {"S": now},
                },
                ReturnValues="ALL_NEW",
            )
        return WebhookEventItem.from_item(out["Attributes"])

    def mark_accepted(self, tenant_id: str, event_id: str, *, now: str) -> str | None:
        try:
            with storage_errors("events.accept"):
                self._client.update_item(
                    TableName=self._table,
                    Key=_key(tenant_id, event_id),
                    UpdateExpression="SET acceptedAt = :now",
                    ConditionExpression="attribute_exists(eventId) AND "
                    "attribute_not_exists(acceptedAt)",
                    ExpressionAttributeValues={":now": {"S": now}},
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
        except ConditionFailed as exc:
            if exc.item is None:  # `register` wrote it first; it is never deleted
                raise StorageUnavailable("the webhook event vanished") from exc
            return str(exc.item["acceptedAt"]["S"])
        return None

    def take_lease(
        self,
        job: SummarizeJob,
        *,
        owner: str,
        lease_until_ms: int,
        now_ms: int,
        final_attempt: bool,
        now: str,
    ) -> Lease:
        try:
            with storage_errors("events.take_lease"):
                out = self._client.update_item(
                    TableName=self._table,
                    Key=_key(job.tenant_id, job.event_id),
                    UpdateExpression="SET #s = :processing, leaseOwner = :owner, "
                    "leaseExpiresAtMs = :until, finalAttempt = :final, "
                    "attempts = if_not_exists(attempts, :zero) + :one, updatedAt = :now, "
                    "documentId = if_not_exists(documentId, :doc), "
                    "jobId = if_not_exists(jobId, :job), "
                    "eventTimeNs = if_not_exists(eventTimeNs, :t), "
                    "createdAt = if_not_exists(createdAt, :now) "
                    "REMOVE lastError",
                    # A new event (the message overtook the edge's write), or one that is neither
                    # completed nor leased by a live worker.
                    ConditionExpression=LIVE_LEASE_FREE
                    if not disabled("worker_lease")
                    else "attribute_not_exists(eventId) OR #s <> :completed OR #s = :processing "
                    "OR leaseExpiresAtMs < :now_ms",
                    ExpressionAttributeNames={"#s": "status"},
                    ExpressionAttributeValues={
                        ":processing": {"S": "processing"},
                        ":completed": {"S": "completed"},
                        ":owner": {"S": owner},
                        ":until": {"N": str(lease_until_ms)},
                        ":now_ms": {"N": str(now_ms)},
                        ":final": {"BOOL": final_attempt},
                        ":zero": {"N": "0"},
                        ":one": {"N": "1"},
                        ":now": {"S": now},
                        ":doc": {"S": job.document_id},
                        ":job": {"S": job.job_id},
                        ":t": {"N": str(job.event_time_ns)},
                    },
                    ReturnValues="ALL_NEW",
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
        except ConditionFailed as exc:
            if exc.item is None:  # cannot happen: the condition admits a missing item
                raise
            return Lease(held=False, event=WebhookEventItem.from_item(exc.item))
        return Lease(held=True, event=WebhookEventItem.from_item(out["Attributes"]))

    def complete(self, tenant_id: str, event_id: str, *, owner: str, now: str) -> bool:
        return self._finish(
            tenant_id,
            event_id,
            owner,
            "SET #s = :completed, completedAt = :now, updatedAt = :now "
            "REMOVE leaseOwner, leaseExpiresAtMs",
            {":completed": {"S": "completed"}, ":now": {"S": now}},
            "events.complete",
        )

    def release(
        self,
        tenant_id: str,
        event_id: str,
        *,
        owner: str,
        status: Literal["queued", "failed"],
        error: str,
        now: str,
    ) -> bool:
        return self._finish(
            tenant_id,
            event_id,
            owner,
            "SET #s = :status, lastError = :error, updatedAt = :now "
            "REMOVE leaseOwner, leaseExpiresAtMs",
            {":status": {"S": status}, ":error": {"S": error}, ":now": {"S": now}},
            "events.release",
        )

    def _finish(
        self,
        tenant_id: str,
        event_id: str,
        owner: str,
        update: str,
        values: dict[str, Any],
        operation: str,
    ) -> bool:
        try:
            with storage_errors(operation):
                self._client.update_item(
                    TableName=self._table,
                    Key=_key(tenant_id, event_id),
                    UpdateExpression=update,
                    ConditionExpression="#s = :processing AND leaseOwner = :owner",
                    ExpressionAttributeNames={"#s": "status"},
                    ExpressionAttributeValues={
                        **values,
                        ":processing": {"S": "processing"},
                        ":owner": {"S": owner},
                    },
                )
        except ConditionFailed:
            return False
        return True
