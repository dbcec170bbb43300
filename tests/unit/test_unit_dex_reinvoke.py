"""local/patches/dex_reinvoke.py: after an invocation ends, an execution whose step retry came
due (READY, unseen by the handler) is invoked again — the local runner's timer that should have
done it can be cancelled by that very invocation's end (docs/chaos.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from aws_durable_execution_sdk_python.lambda_service import OperationStatus, OperationType
from aws_durable_execution_sdk_python_testing.worker.status import InvocationState

from local.patches.dex_reinvoke import needs_invocation, reinvoke_ready_steps

pytestmark = pytest.mark.unit


@dataclass
class Op:
    operation_type: OperationType
    status: OperationStatus


@dataclass
class Execution:
    operations: list[Op]
    unseen: bool = True
    is_complete: bool = False

    def has_unseen_changes(self) -> bool:
        return self.unseen


@dataclass
class Store:
    execution: Execution

    def load(self, arn: str) -> Execution:
        return self.execution


@dataclass
class FakeExecutor:
    """The runner's Executor as far as the patch sees it: the gate, the store, the invoke."""

    _store: Store
    gate: InvocationState = InvocationState.PRE_INVOKE
    invoked: list[str] = field(default_factory=list)
    finished: list[str] = field(default_factory=list)

    def _finish_invocation(self, execution_arn: str, *args: Any) -> None:
        self.finished.append(execution_arn)

    def _invocation_gate(self, arn: str) -> InvocationState:
        return self.gate

    def _invoke_execution(self, arn: str) -> None:
        self.invoked.append(arn)


def step(status: OperationStatus) -> Op:
    return Op(OperationType.STEP, status)


@pytest.fixture(scope="module", autouse=True)
def _patched() -> None:
    reinvoke_ready_steps(FakeExecutor)
    reinvoke_ready_steps(FakeExecutor)  # idempotent: one wrapper


def test_a_ready_step_the_handler_has_not_seen_is_invoked_after_the_invocation_ends() -> None:
    executor = FakeExecutor(Store(Execution([step(OperationStatus.READY)])))

    executor._finish_invocation("arn-1", "response")

    assert executor.finished == ["arn-1"]  # the runner's own work first
    assert executor.invoked == ["arn-1"]


@pytest.mark.parametrize(
    ("execution", "gate"),
    [
        (Execution([step(OperationStatus.PENDING)]), InvocationState.PRE_INVOKE),  # timer armed
        (Execution([step(OperationStatus.SUCCEEDED)]), InvocationState.PRE_INVOKE),
        (Execution([step(OperationStatus.READY)], unseen=False), InvocationState.PRE_INVOKE),
        (Execution([step(OperationStatus.READY)], is_complete=True), InvocationState.COMPLETED),
        (Execution([step(OperationStatus.READY)]), InvocationState.INVOKING),  # one at a time
    ],
)
def test_nothing_else_is_invoked(execution: Execution, gate: InvocationState) -> None:
    executor = FakeExecutor(Store(execution), gate)

    executor._finish_invocation("arn-1")

    assert executor.invoked == []
    assert not needs_invocation(execution, gate is InvocationState.PRE_INVOKE)
