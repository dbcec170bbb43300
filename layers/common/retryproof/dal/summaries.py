"""Summaries: the current summary of each (tenant, document); a newer event replaces an older one.

The order is decided inside DynamoDB by a condition on the stored event time, so two workers
finishing in either order leave the same summary: a later event time wins; at equal times the
greater event id wins; an event never replaces itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from retryproof.dal.errors import ConditionFailed, storage_errors
from retryproof.models.summaries import SummaryItem

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


class SummaryRepository(Protocol):
    def get(self, tenant_id: str, document_id: str) -> SummaryItem | None: ...

    def put_if_newer(self, summary: SummaryItem) -> bool:
        """Write the summary unless the stored one is from a later (or the same) event."""
        ...


class DynamoSummaryRepository:
    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._client = client
        self._table = table

    def get(self, tenant_id: str, document_id: str) -> SummaryItem | None:
        with storage_errors("summaries.get"):
            out = self._client.get_item(
                TableName=self._table,
                Key={"tenantId": {"S": tenant_id}, "documentId": {"S": document_id}},
                ConsistentRead=True,
            )
        item = out.get("Item")
        return SummaryItem.from_item(item) if item else None

    def put_if_newer(self, summary: SummaryItem) -> bool:
        try:
            with storage_errors("summaries.put"):
                self._client.put_item(
                    TableName=self._table,
                    Item=summary.to_item(),
                    # (eventTimeNs, sourceEventId) orders events; equal times fall back to the id,
                    # so the outcome never depends on the order of arrival.
                    ConditionExpression="attribute_not_exists(documentId) OR eventTimeNs < :t "
                    "OR (eventTimeNs = :t AND sourceEventId < :e)",
                    ExpressionAttributeValues={
                        ":t": {"N": str(summary.event_time_ns)},
                        ":e": {"S": summary.source_event_id},
                    },
                )
        except ConditionFailed:
            return False
        return True
