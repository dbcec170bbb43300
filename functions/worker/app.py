"""SQS worker: summarise each webhook event once (partial batch responses, one record at a time)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from retryproof import aws, worker
from retryproof.config import get_settings
from retryproof.dal.events import DynamoEventRepository
from retryproof.dal.summaries import DynamoSummaryRepository
from retryproof.dal.usage import DynamoUsageRepository
from retryproof.llm import import_sdk, llm_client
from retryproof.observability import instrument

# Every first delivery calls the LLM: import its SDK in the init phase, not in the first invocation
# (whose timeout it would eat into; see `import_sdk`).
import_sdk()


@instrument(correlation_id_path=None)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = get_settings()
    deps = worker.WorkerDeps(
        settings=settings,
        events=DynamoEventRepository(aws.dynamodb(), settings.webhook_events_table),
        summaries=DynamoSummaryRepository(aws.dynamodb(), settings.summaries_table),
        usage=DynamoUsageRepository(aws.dynamodb(), settings.usage_table),
        llm=lambda: llm_client(settings),
    )

    def record_handler(record: SQSRecord) -> str:
        return worker.process_record(
            record.body,
            message_id=record.message_id,
            receive_count=int(record.attributes.approximate_receive_count or 1),
            deps=deps,
            get_remaining_ms=context.get_remaining_time_in_millis,
        )

    # Per invocation: the processor keeps per-batch state (the local stack runs batches on threads).
    # A batch whose every record failed is answered with every record listed, not an exception.
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    return dict(process_partial_response(event, record_handler, processor, context))
