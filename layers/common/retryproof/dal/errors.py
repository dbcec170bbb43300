from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from retryproof.errors import StorageUnavailable


class ConditionFailed(Exception):
    """A conditional write found the condition false; `item` is the stored item (ALL_OLD) if any."""

    def __init__(self, item: dict[str, Any] | None) -> None:
        super().__init__("condition check failed")
        self.item = item


class TransactionCanceled(Exception):
    """A transaction was cancelled; `reasons` are DynamoDB's, one per item, in order."""

    def __init__(self, reasons: list[dict[str, Any]]) -> None:
        super().__init__("transaction cancelled")
        self.reasons = reasons

    def code(self, index: int) -> str:
        return str(self.reasons[index].get("Code", "None")) if index < len(self.reasons) else "None"

    def item(self, index: int) -> dict[str, Any] | None:
        if index >= len(self.reasons):
            return None
        item: dict[str, Any] | None = self.reasons[index].get("Item")
        return item

    @property
    def conflict(self) -> bool:
        """Cancelled by a concurrent transaction on the same items: safe to try again."""
        return any(r.get("Code") == "TransactionConflict" for r in self.reasons)


@contextmanager
def storage_errors(operation: str) -> Iterator[None]:
    """Map AWS failures at the repository boundary.

    A failed condition becomes `ConditionFailed`, or `TransactionCanceled` for a transaction
    (expected outcomes the caller handles);
    anything else becomes `StorageUnavailable` (503), with the AWS error code kept for the logs.
    """
    try:
        yield
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "Unknown")
        if code == "ConditionalCheckFailedException":
            raise ConditionFailed(exc.response.get("Item")) from exc  # type: ignore[arg-type]
        if code == "TransactionCanceledException":
            reasons: list[dict[str, Any]] = [
                dict(r) for r in exc.response.get("CancellationReasons", [])
            ]
            raise TransactionCanceled(reasons) from exc
        raise StorageUnavailable(f"{operation} failed ({code})") from exc
    except BotoCoreError as exc:
        raise StorageUnavailable(f"{operation} failed ({type(exc).__name__})") from exc
