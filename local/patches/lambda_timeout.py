"""Lambda ends an invocation at its timeout: locally, at its next AWS call.

AWS behaviour restored: an invocation that runs past its timeout is stopped by Lambda ("Task timed
out after N seconds") and writes nothing more. Locally a thread cannot be stopped, so botocore's
`BaseClient._make_api_call` is wrapped: an AWS call made past the invocation's deadline raises
`Ended`, which nothing in the handler catches. What matters for retries is that a timed-out
invocation writes nothing more: the next attempt may already own its lease or claim.
"""

from __future__ import annotations

import threading
import time
from contextvars import ContextVar
from typing import Any

from botocore.client import BaseClient


class Ended(BaseException):
    """Raised inside an invocation past its deadline: like Lambda's end of the process, nothing
    in the handler (Powertools' idempotency included) catches or cleans up after it."""


# The running invocation's deadline (time.monotonic()), set by the local runtime around it.
deadline: ContextVar[float | None] = ContextVar("retryproof_local_deadline", default=None)
_lock = threading.Lock()
_patched = False


def end_invocations_at_their_timeout() -> None:
    """Install the wrapper (once per process)."""
    global _patched
    with _lock:
        if _patched:
            return
        original = BaseClient._make_api_call

        def guarded(self: BaseClient, operation_name: str, api_params: Any) -> Any:
            ends = deadline.get()
            if ends is not None and time.monotonic() > ends:
                raise Ended(operation_name)
            return original(self, operation_name, api_params)

        BaseClient._make_api_call = guarded  # type: ignore[method-assign]
        _patched = True
