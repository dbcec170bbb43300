"""TransactionConflict: a transaction holds its items while it runs, as in DynamoDB.

AWS behaviour restored ("Amazon DynamoDB Transactions: How it works", section "Transaction
conflict handling in DynamoDB",
https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis.html#transaction-conflict-handling):

- "A PutItem, UpdateItem, or DeleteItem request for an item conflicts with an ongoing
  TransactWriteItems request that includes the same item": the single write fails with
  `TransactionConflictException` ("Operation was rejected because there is an ongoing transaction
  for the item", API reference of PutItem/UpdateItem/DeleteItem);
- "An item within a TransactWriteItems request is part of another ongoing TransactWriteItems
  request": the transaction fails with `TransactionCanceledException`, and its
  `CancellationReasons` say `TransactionConflict` for that item (`None` for the others);
- "An item within a TransactGetItems request is part of an ongoing TransactWriteItems ...
  request": the same cancellation for the read transaction.

moto runs a transaction in an instant, and the emulator serialises requests, so two transactions
never overlap there. Here a TransactWriteItems first claims its items, then waits `window_s`
(LOCAL_TXN_INFLIGHT_MS: the time a real transaction spends between its prepare and commit
phases), then runs. Requests arriving in that window on a claimed item conflict: conflicts come
from real concurrency, not dice. AWS SDKs do not retry either exception (botocore does not).
Not emulated: BatchWriteItem against an in-flight transaction (this project does not use it).

Every method except `hold` runs under the emulator's lock.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from local.behaviours.dynamo_request import WRITES, DynamoCall, ItemRef, error_response

ONGOING = "Transaction is ongoing for the item"


class TransactionConflicts:
    def __init__(self, inflight_ms: float) -> None:
        self.window_s = max(0.0, inflight_ms) / 1000
        self._held: Counter[ItemRef] = Counter()
        self.raised: Counter[str] = Counter()  # conflicts answered, by operation

    @property
    def enabled(self) -> bool:
        return self.window_s > 0

    @property
    def in_flight(self) -> int:
        """Items held by transactions in flight now."""
        return sum(1 for n in self._held.values() if n > 0)

    def claim(
        self, call: DynamoCall, start_response: Callable[..., Any]
    ) -> tuple[list[bytes] | None, list[ItemRef]]:
        """A TransactWriteItems: (its cancellation if an item is in flight, else None; the refs
        it now holds, to release after it ran)."""
        refs = call.transacted()
        if any(ref is not None and self._held[ref] for ref in refs):
            return self._cancel(call, refs, start_response), []
        held = [ref for ref in refs if ref is not None]
        self._held.update(held)
        return None, held

    def hold(self) -> None:
        """The transaction's time in flight (outside the lock: other requests run meanwhile).
        Short sleeps, so that a test can end a long window by shortening `window_s`."""
        started = time.monotonic()
        while (left := started + self.window_s - time.monotonic()) > 0:
            time.sleep(min(left, 0.01))

    def release(self, refs: list[ItemRef]) -> None:
        self._held.subtract(refs)
        for ref in refs:
            if self._held[ref] <= 0:
                del self._held[ref]

    def refuse(self, call: DynamoCall, start_response: Callable[..., Any]) -> list[bytes] | None:
        """A single write or a TransactGetItems on an item in flight: its conflict answer."""
        if not self._held:
            return None
        if call.operation in WRITES:
            written = call.written()
            if written and self._held[written[0][0]]:
                self.raised[call.operation] += 1
                return error_response(start_response, "TransactionConflictException", ONGOING)
        elif call.operation == "TransactGetItems":
            refs = call.transacted()
            if any(ref is not None and self._held[ref] for ref in refs):
                return self._cancel(call, refs, start_response)
        return None

    def _cancel(
        self, call: DynamoCall, refs: list[ItemRef | None], start_response: Callable[..., Any]
    ) -> list[bytes]:
        self.raised[call.operation] += 1
        reasons: list[dict[str, str]] = [
            {"Code": "TransactionConflict", "Message": ONGOING}
            if ref is not None and self._held[ref]
            else {"Code": "None"}
            for ref in refs
        ]
        codes = ", ".join(r["Code"] for r in reasons)
        message = (
            "Transaction cancelled, please refer cancellation reasons for specific reasons "
            f"[{codes}]"
        )
        return error_response(
            start_response,
            "TransactionCanceledException",
            message,
            CancellationReasons=reasons,
        )
