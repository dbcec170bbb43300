"""A DynamoDB write whose answer is lost on the way back, then resent by botocore's retries.

The request reaches the emulator (the write is done), the caller sees a 500 instead of the answer,
and botocore sends the same request again, as it does after any retryable error. Installed on a
botocore client's event hooks (its public extension point), for one operation on one table, once.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from botocore.awsrequest import AWSResponse


class _Body:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: Any) -> Any:
        yield self.body


@contextmanager
def first_answer_lost(client: Any, operation: str, table: str) -> Iterator[list[int]]:
    """Yields a list that records the status of each write sent on (to assert it happened)."""
    sent: list[int] = []

    def before_send(request: Any, **_: Any) -> AWSResponse | None:
        body = request.body.decode() if isinstance(request.body, bytes) else str(request.body)
        if sent or table not in body:
            return None
        forwarded = urllib.request.Request(
            request.url, data=body.encode(), headers=dict(request.headers), method="POST"
        )
        with urllib.request.urlopen(forwarded, timeout=10) as response:
            sent.append(response.status)
        error = json.dumps({"__type": "InternalServerError", "message": "answer lost"}).encode()
        return AWSResponse(request.url, 500, {"x-amzn-requestid": "lost"}, _Body(error))

    event = f"before-send.dynamodb.{operation}"
    client.meta.events.register(event, before_send, unique_id="first-answer-lost")
    try:
        yield sent
    finally:
        client.meta.events.unregister(event, unique_id="first-answer-lost")
