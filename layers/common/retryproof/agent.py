"""Agent runs, the API side: start a run as a durable execution, read it, resume it, decide its
approvals. The loop itself runs in the durable function (`retryproof.agent_run`).

A run is identified by (tenant, idempotency key): `run_id_for`. Its durable execution is started
with a name derived from the run and its attempt (`execution_name`), so a retried start — the
same request again, a crash between the header and the start, an expired idempotency record —
can never start a second execution: Lambda returns the existing one for the same name and payload.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from retryproof import observability as obs
from retryproof.clock import now_iso
from retryproof.config import Settings
from retryproof.dal.runs import (
    COMPLETED,
    FAILED,
    PENDING,
    Approval,
    RunHeader,
    RunState,
    RunStore,
)
from retryproof.dal.usage import SpendReader
from retryproof.errors import (
    ApprovalAlreadyDecided,
    IdempotencyKeyReused,
    RunNotFound,
    RunNotResumable,
    StorageUnavailable,
)
from retryproof.faults import crash_point
from retryproof.limits import check_spend, utc_day
from retryproof.models.agent import (
    AgentRunAccepted,
    AgentRunOut,
    AgentRunRequest,
    AgentStepOut,
    ApprovalOut,
    ApprovalRequest,
    PendingApprovalOut,
    RunErrorOut,
    StepApprovalOut,
    without_nulls,
)
from retryproof.models.generate import TokenUsage
from retryproof.models.outcome import StoredOutcome
from retryproof.money import cost_micro_usd, format_usd
from retryproof.tools import parse_arguments

if TYPE_CHECKING:
    from mypy_boto3_lambda import LambdaClient

OPERATION: Final = "agent_step"
AWAITING_APPROVAL: Final = "awaiting_approval"
DEFAULT_WAIT_S: Final = 20
MAX_WAIT_S: Final = 25
RETRY_AFTER_S: Final = 2
POLL_S: Final = 0.1  # the first wait between reads of a run; x1.5 each time, at most 1 s
DEADLINE_GRACE_S: Final = 60  # after AGENT_RUN_TIMEOUT, a run still "running" was ended by Lambda
WAKE_UP_ADVICE: Final = "waking the run up failed; send the decision again"


def run_id_for(tenant_id: str, idempotency_key: str) -> str:
    digest = hashlib.sha256(f"{tenant_id}\n{idempotency_key}".encode()).hexdigest()
    return f"run_{digest[:32]}"


def execution_name(run_id: str, attempt: int) -> str:
    """The durable execution's name: one execution per (run, attempt), whoever starts it."""
    return f"{run_id}-{attempt}"


def approval_id_for(run_id: str, tool_call_id: str) -> str:
    digest = hashlib.sha256(f"{run_id}\n{tool_call_id}".encode()).hexdigest()
    return f"apr_{digest[:24]}"


def status_url(run_id: str) -> str:
    return f"/agent/runs/{run_id}"


def parse_prefer_wait(header: str | None) -> int:
    """`Prefer: wait=N` (RFC 7240): N seconds, 0-25 (larger is 25); absent or unreadable: 20."""
    for preference in (header or "").split(","):
        name, _, value = preference.strip().partition("=")
        if name.strip().lower() == "wait":
            text = value.strip().strip('"')
            if text.isascii() and text.isdigit():
                return min(int(text), MAX_WAIT_S)
    return DEFAULT_WAIT_S


# --- starting a run ------------------------------------------------------------------------------


class ExecutionStarter:
    """Starts the run's durable execution: an asynchronous Invoke of the durable function's
    qualified ARN with `DurableExecutionName`."""

    def __init__(self, client: LambdaClient, function: str) -> None:
        self._client = client
        self._function = function

    def start(self, name: str, payload: dict[str, Any]) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self._client.invoke(
                FunctionName=self._function,
                InvocationType="Event",
                DurableExecutionName=name,
                Payload=json.dumps(payload).encode(),
            )
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "Unknown")
            if code == "DurableExecutionAlreadyStartedException":
                return  # started before (its payload is derived from the same stored header)
            raise StorageUnavailable(f"starting the run failed ({code})") from exc
        except BotoCoreError as exc:
            raise StorageUnavailable(f"starting the run failed ({type(exc).__name__})") from exc


@dataclass(frozen=True)
class AgentApiDeps:
    runs: RunStore
    starter: ExecutionStarter
    settings: Settings
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    spend: SpendReader | None = None  # the tenant's spend today (the daily spend limit)


def execution_payload(header: RunHeader, settings: Settings) -> dict[str, Any]:
    """What the execution runs: derived from the stored header only, so every start of one
    (run, attempt) sends the same payload (Lambda returns the existing execution for it)."""
    started = datetime.fromisoformat(header.updated_at or header.created_at)
    deadline = started + timedelta(seconds=settings.agent_run_timeout)
    return {
        "runId": header.run_id,
        "tenantId": header.tenant_id,
        "idempotencyKey": header.idempotency_key,
        "attempt": header.attempt,
        "deadline": deadline.isoformat(timespec="milliseconds"),
        "request": json.loads(header.request),
    }


def start_run(
    request: AgentRunRequest,
    *,
    tenant_id: str,
    idempotency_key: str,
    request_hash: str,
    wait_s: int,
    deps: AgentApiDeps,
) -> StoredOutcome:
    """Write the run's header (once), start its execution (once, by name), wait up to `wait_s`."""
    run_id = run_id_for(tenant_id, idempotency_key)
    limit = deps.settings.tenant_daily_spend_limit_micro_usd
    if deps.spend is not None and limit > 0:
        # A new run is new paid work: refused once today's spend reached the limit (one read);
        # a run of this key that exists already is answered as before (docs/limits.md).
        spent = deps.spend.spent_on(tenant_id, utc_day())
        if spent >= limit and deps.runs.get_header(run_id) is None:
            check_spend(spent, limit)
    created = now_iso()
    header = deps.runs.start(
        RunHeader(
            run_id=run_id,
            tenant_id=tenant_id,
            idempotency_key=idempotency_key,
            request_hash=request_hash,
            created_at=created,
            request=json.dumps(request.to_json_dict()),
            updated_at=created,
        )
    )
    if header.request_hash != request_hash and deps.settings.payload_mismatch == "reject":
        raise IdempotencyKeyReused("this Idempotency-Key started another run; use a new key")
    if header.status not in (COMPLETED, FAILED):
        deps.starter.start(
            execution_name(run_id, header.attempt), execution_payload(header, deps.settings)
        )
    crash_point("agent.after_start")
    return _answer(run_id, header.created_at, wait_s, deps)


def _answer(run_id: str, created_at: str, wait_s: int, deps: AgentApiDeps) -> StoredOutcome:
    state = wait_for_run(deps.runs, run_id, wait_s, sleep=deps.sleep, clock=deps.clock)
    view = run_view(state, deps.settings)
    if view.status in (COMPLETED, FAILED):
        body = json.dumps(without_nulls(view.to_json_dict()))
        return StoredOutcome(status=200, body=body, original_request_time=created_at)
    accepted = AgentRunAccepted(run_id=run_id, status=view.status, status_url=status_url(run_id))
    return StoredOutcome(
        status=202, body=json.dumps(accepted.to_json_dict()), original_request_time=created_at
    )


def wait_for_run(
    runs: RunStore,
    run_id: str,
    wait_s: float,
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> RunState:
    """The run once it ended or waits for a person, or as it is after `wait_s` seconds."""
    deadline = clock() + wait_s
    pause = POLL_S
    while True:
        state = runs.load(run_id)
        header = state.header
        ended = header is not None and header.status in (COMPLETED, FAILED)
        waiting = any(a.status == PENDING for a in state.approvals.values())
        if ended or waiting or clock() >= deadline:
            return state
        sleep(min(pause, max(0.0, deadline - clock())))
        pause = min(pause * 1.5, 1.0)


# --- reading a run -------------------------------------------------------------------------------


def get_run(runs: RunStore, *, tenant_id: str, run_id: str, settings: Settings) -> dict[str, Any]:
    state = runs.load(run_id)
    header = state.header
    if header is None or header.tenant_id != tenant_id:
        raise RunNotFound(f"run {run_id!r} was not found")
    if header.status not in (COMPLETED, FAILED) and _past_deadline(header, settings):
        # Its execution reached AGENT_RUN_TIMEOUT (Lambda ended it: it could not record that).
        detail = "the run did not end within AGENT_RUN_TIMEOUT; resume it"
        runs.finish(run_id, header.attempt, FAILED, now_iso(), error_code="run_timeout",
                    error_detail=detail)  # fmt: skip
        state = runs.load(run_id)
    return without_nulls(run_view(state, settings).to_json_dict())  # type: ignore[no-any-return]


def _past_deadline(header: RunHeader, settings: Settings) -> bool:
    started = datetime.fromisoformat(header.updated_at or header.created_at)
    deadline = started + timedelta(seconds=settings.agent_run_timeout + DEADLINE_GRACE_S)
    return datetime.now(UTC) > deadline


def run_view(state: RunState, settings: Settings) -> AgentRunOut:
    header = state.header
    assert header is not None
    steps: list[AgentStepOut] = []
    seen: set[str] = set()
    for step in state.steps:
        for call in step.tool_calls:
            tool = state.tools.get(call["id"])
            if tool is None:
                continue  # not run yet (or waiting for its approval)
            approval = state.approvals.get(tool.approval_id) if tool.approval_id else None
            steps.append(
                AgentStepOut(
                    tool_call_id=call["id"],
                    name=call["name"],
                    arguments=parse_arguments(call["arguments"]),
                    result=tool.result,
                    replayed=tool.replayed or call["id"] in seen,
                    refused=True if tool.refused else None,
                    approval=_approval_out(approval) if approval else None,
                )
            )
            seen.add(call["id"])
    pending = [
        PendingApprovalOut(
            approval_id=a.approval_id,
            tool_call_id=a.tool_call_id,
            name=a.name,
            arguments=parse_arguments(a.arguments),
            expires_at=a.expires_at,
        )
        for a in sorted(state.approvals.values(), key=lambda a: a.created_at)
        if a.status == PENDING and header.status not in (COMPLETED, FAILED)
    ]
    status = header.status
    if status not in (COMPLETED, FAILED) and pending:
        status = AWAITING_APPROVAL
    prompt = sum(s.prompt_tokens for s in state.steps)
    completion = sum(s.completion_tokens for s in state.steps)
    error = None
    if status == FAILED and header.error_code:
        error = RunErrorOut(code=header.error_code, detail=header.error_detail or "")
    return AgentRunOut(
        run_id=header.run_id,
        status=status,
        output=header.output if status == COMPLETED else None,
        steps=steps,
        pending_approvals=pending,
        usage=TokenUsage(
            prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion
        ),
        cost_usd=format_usd(
            sum(
                step_cost(s.model, s.prompt_tokens, s.completion_tokens, settings)
                for s in state.steps
            )
        ),
        error=error,
        created_at=header.created_at,
        updated_at=header.updated_at,
    )


def step_cost(model: str, prompt_tokens: int, completion_tokens: int, settings: Settings) -> int:
    price = settings.model_prices.get(model) or settings.model_prices[settings.default_model]
    return cost_micro_usd(price, prompt_tokens, completion_tokens)


def _approval_out(approval: Approval) -> StepApprovalOut:
    return StepApprovalOut(
        approval_id=approval.approval_id,
        decision=None if approval.status == PENDING else approval.status,
        decided_at=approval.decided_at,
        decided_by=approval.decided_by,
        comment=approval.comment,
    )


# --- resuming a failed run -----------------------------------------------------------------------


def resume_run(*, tenant_id: str, run_id: str, wait_s: int, deps: AgentApiDeps) -> StoredOutcome:
    """Continue a failed run as a new execution (attempt + 1) that finds every completed LLM
    step and tool call in the runs table: none is requested or executed again."""
    header = deps.runs.get_header(run_id)
    if header is None or header.tenant_id != tenant_id:
        raise RunNotFound(f"run {run_id!r} was not found")
    if header.status != FAILED:
        raise RunNotResumable(f"the run is {header.status}; only a failed run can be resumed")
    if not deps.runs.resume(run_id, header.attempt, now_iso()):
        raise RunNotResumable("the run is no longer failed (resumed or ended meanwhile)")
    resumed = deps.runs.get_header(run_id)
    assert resumed is not None
    deps.starter.start(
        execution_name(run_id, resumed.attempt), execution_payload(resumed, deps.settings)
    )
    obs.count(obs.AGENT_RUN_RESUMED)
    return _answer(run_id, header.created_at, wait_s, deps)


# --- approvals -----------------------------------------------------------------------------------


class CallbackSender:
    """Wakes the run's execution up once a decision is recorded (`SendDurableExecutionCallback
    Success`). The recorded decision is what the run acts on: a wake-up that is lost leaves the
    run waiting until the approval's timeout, when it reads the decision anyway."""

    def __init__(self, client: LambdaClient) -> None:
        self._client = client

    def send(self, callback_id: str, decision: str) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self._client.send_durable_execution_callback_success(
                CallbackId=callback_id, Result=json.dumps({"decision": decision}).encode()
            )
        except ClientError as exc:
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 500)
            if status >= 500 or status == 429:
                raise StorageUnavailable(
                    f"waking the run up failed (HTTP {status})", advice=WAKE_UP_ADVICE
                ) from exc
            # 4xx: the callback already completed (or timed out): the decision stands recorded.
        except BotoCoreError as exc:
            raise StorageUnavailable(
                f"waking the run up failed ({type(exc).__name__})", advice=WAKE_UP_ADVICE
            ) from exc


def decide_approval(
    request: ApprovalRequest,
    *,
    tenant_id: str,
    run_id: str,
    approval_id: str,
    runs: RunStore,
    callbacks: CallbackSender,
) -> ApprovalOut:
    header = runs.get_header(run_id)
    approval = runs.get_approval(run_id, approval_id) if header else None
    if header is None or header.tenant_id != tenant_id or approval is None:
        raise RunNotFound(f"approval {approval_id!r} was not found")
    if approval.status == PENDING:
        approval = runs.decide(run_id, approval_id, request.decision, now_iso(), request.comment,
                               "person")  # fmt: skip
    if approval.status != request.decision or approval.decided_by != "person":
        raise ApprovalAlreadyDecided(
            f"this approval was already decided: {approval.status}"
            + (" (no decision in time)" if approval.decided_by == "timeout" else "")
        )
    callbacks.send(approval.callback_id, approval.status)
    assert approval.decided_at is not None
    return ApprovalOut(
        approval_id=approval_id, decision=request.decision, decided_at=approval.decided_at
    )
