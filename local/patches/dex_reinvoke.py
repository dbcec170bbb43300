"""A step whose retry came due is run again: in AWS's local durable runner too.

AWS behaviour restored: when a durable step's retry delay has passed, the service invokes the
execution again to run it. `aws-durable-execution-sdk-python-testing` 1.4.0's runner does it with
a timer whose coroutine (`_fire_due_and_invoke_handler`) first moves the step to `READY` on the
execution's serial lane, then awaits that lane task, then invokes. If the invocation that
checkpointed the retry ends in between (a slow invocation on a loaded machine), its
`_finish_invocation` finds no deferred re-invoke yet and, through `_schedule_earliest_pending`
(no `PENDING` step left: it is `READY`), cancels the timer's coroutine before it invokes. Nothing
re-arms for a `READY` step: the execution waits until its own timeout (seen in `make chaos`;
docs/chaos.md).

The patch: after `_finish_invocation`, an execution that is not complete, whose invocation gate is
free, with a `READY` step its handler has not seen, is invoked (the runner's own
`_invoke_execution`, whose gate keeps one invocation at a time). It changes nothing when no step
is `READY` — every run without a step retry.
"""

from __future__ import annotations

import threading
from typing import Any

_lock = threading.Lock()
_patched: set[type] = set()


def needs_invocation(execution: Any, gate_free: bool) -> bool:
    """A READY step the handler has not seen, no invocation in flight, the execution going on."""
    from aws_durable_execution_sdk_python.lambda_service import OperationStatus, OperationType

    if execution.is_complete or not gate_free:
        return False
    ready = any(
        op.operation_type == OperationType.STEP and op.status == OperationStatus.READY
        for op in execution.operations
    )
    return ready and bool(execution.has_unseen_changes())


def reinvoke_ready_steps(executor: type | None = None) -> None:
    """Install the wrapper on the runner's Executor (once per class and process)."""
    from aws_durable_execution_sdk_python_testing.worker.status import InvocationState

    if executor is None:
        from aws_durable_execution_sdk_python_testing.executor import Executor

        executor = Executor
    with _lock:
        if executor in _patched:
            return
        original = executor._finish_invocation

        def finish(self: Any, execution_arn: str, *args: Any, **kwargs: Any) -> None:
            original(self, execution_arn, *args, **kwargs)
            try:
                execution = self._store.load(execution_arn)
            except Exception:  # noqa: BLE001 - as the runner's own timers: the store may be gone
                return
            gate_free = self._invocation_gate(execution_arn) is InvocationState.PRE_INVOKE
            if needs_invocation(execution, gate_free):
                self._invoke_execution(execution_arn)

        executor._finish_invocation = finish
        _patched.add(executor)
