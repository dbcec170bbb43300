"""The summarize-job queue (SQS). A failed send raises, so the caller's claim is released."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from retryproof.dal.errors import storage_errors
from retryproof.models.messages import SummarizeJob

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient


class JobQueue(Protocol):
    def send(self, job: SummarizeJob) -> str:
        """Enqueue the job; returns the SQS message id. Raises `StorageUnavailable`."""
        ...


class SqsJobQueue:
    def __init__(self, client: SQSClient, queue_url: str) -> None:
        self._client = client
        self._url = queue_url

    def send(self, job: SummarizeJob) -> str:
        with storage_errors("jobs.send"):
            out = self._client.send_message(QueueUrl=self._url, MessageBody=job.to_json())
        return out["MessageId"]
