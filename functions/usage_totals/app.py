"""The usage table's stream → each tenant's running total (partial batch responses)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from retryproof import aws
from retryproof.clock import now_iso
from retryproof.config import get_settings
from retryproof.dal.usage import DynamoUsageRepository
from retryproof.observability import instrument
from retryproof.usage_totals import count_new_record


@instrument(correlation_id_path=None)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    usage = DynamoUsageRepository(aws.dynamodb(), get_settings().usage_table)

    def record_handler(record: DynamoDBRecord) -> bool:
        image = record.raw_event.get("dynamodb", {}).get("NewImage")
        if record.raw_event.get("eventName") != "INSERT" or not image:
            return False  # the trigger's filter passes only inserts; anything else is ignored
        return count_new_record(image, usage, now=now_iso())

    # Per invocation: the processor keeps per-batch state (the local stack runs batches on threads).
    processor = BatchProcessor(
        event_type=EventType.DynamoDBStreams, raise_on_entire_batch_failure=False
    )
    return dict(process_partial_response(event, record_handler, processor, context))
