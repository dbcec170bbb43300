"""Agent runs over HTTP: start a run (a durable execution), read it, resume it, decide approvals.

The run itself goes on in the durable function (functions/agent_run); this function answers
within API Gateway's limit: 200 when the run ended within `Prefer: wait=N`, else 202.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from retryproof import aws, http, idempotent_http
from retryproof.agent import (
    RETRY_AFTER_S,
    AgentApiDeps,
    CallbackSender,
    ExecutionStarter,
    decide_approval,
    get_run,
    parse_prefer_wait,
    resume_run,
    start_run,
)
from retryproof.config import get_settings
from retryproof.dal.runs import DynamoRunStore
from retryproof.dal.usage import DynamoUsageRepository
from retryproof.idempotency import IdempotencyStore
from retryproof.models.agent import (
    AgentRunAccepted,
    AgentRunOut,
    AgentRunRequest,
    ApprovalOut,
    ApprovalRequest,
)
from retryproof.observability import instrument
from retryproof.shapes import Param, Spec

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

app = http.Api()
run_store = IdempotencyStore("agent")  # one per operation per execution environment
resume_store = IdempotencyStore("agent_resume")
RUN_ID = Param("runId", "path", spec=Spec(min_length=1, max_length=64))
APPROVAL_ID = Param("approvalId", "path", spec=Spec(min_length=1, max_length=64))
# Time kept back from the wait so the answer is stored before the function's timeout.
ANSWER_MS = 3_000
RUN_RESPONSES: http.Responses = {
    200: ("The run ended within the wait (completed or failed)", AgentRunOut),
    202: ("The run goes on: poll statusUrl (Location) after Retry-After seconds", AgentRunAccepted),
}


def _deps() -> AgentApiDeps:
    settings = get_settings()
    return AgentApiDeps(
        runs=DynamoRunStore(aws.dynamodb(), settings.runs_table),
        starter=ExecutionStarter(aws.lambda_(), settings.agent_run_function),
        settings=settings,
        spend=DynamoUsageRepository(aws.dynamodb(), settings.usage_table),
    )


def _wait_s(request: http.Request[Any]) -> int:
    wait = parse_prefer_wait(request.headers.get("prefer"))
    remaining = request.context.get_remaining_time_in_millis() if request.context else None
    if remaining is not None:
        wait = max(0, min(wait, (remaining - ANSWER_MS) // 1000))
    return wait


def _with_location(response: http.Response) -> http.Response:
    """202 answers (first or replayed) carry `Location` and `Retry-After`."""
    if response.status != 202:
        return response
    url = json.loads(response.body)["statusUrl"]
    headers = {**response.headers, "Location": url, "Retry-After": str(RETRY_AFTER_S)}
    return response._replace(headers=headers)


@app.post(
    "/agent/runs",
    operation_id="createAgentRun",
    summary="Start a tool-calling run (a durable execution); a retry never starts a second one",
    body=AgentRunRequest,
    responses=RUN_RESPONSES,
)
def create_run(request: http.Request[AgentRunRequest]) -> http.Response:
    settings = get_settings()
    wait_s = _wait_s(request)
    deps = _deps()
    return _with_location(
        idempotent_http.idempotent_post(
            request,
            run_store,
            settings.idempotency_ttl_agent,
            lambda post: start_run(
                request.body,
                tenant_id=post.tenant_id,
                idempotency_key=post.key,
                request_hash=post.body_hash,
                wait_s=wait_s,
                deps=deps,
            ),
        )
    )


@app.get(
    "/agent/runs/{runId}",
    operation_id="getAgentRun",
    summary="A run of the caller's tenant: status, steps, pending approvals, output or error",
    params=(RUN_ID,),
    responses={200: ("The run", AgentRunOut)},
)
def read_run(request: http.Request[None]) -> http.Response:
    settings = get_settings()
    runs = DynamoRunStore(aws.dynamodb(), settings.runs_table)
    view = get_run(runs, tenant_id=request.tenant_id, run_id=request.params["runId"],
                   settings=settings)  # fmt: skip
    return http.json_response(200, view)


@app.post(
    "/agent/runs/{runId}/resume",
    operation_id="resumeAgentRun",
    summary="Continue a failed run after its last completed step (Idempotency-Key required)",
    params=(RUN_ID,),
    responses=RUN_RESPONSES,
)
def resume(request: http.Request[None]) -> http.Response:
    settings = get_settings()
    run_id = request.params["runId"]
    wait_s = _wait_s(request)
    deps = _deps()
    # The key is scoped to the run: the same key for another run is 422 idempotency_key_reused.
    scoped = request._replace(json_body={"runId": run_id})
    return _with_location(
        idempotent_http.idempotent_post(
            scoped,
            resume_store,
            settings.idempotency_ttl_agent,
            lambda post: resume_run(
                tenant_id=post.tenant_id, run_id=run_id, wait_s=wait_s, deps=deps
            ),
        )
    )


@app.post(
    "/agent/runs/{runId}/approvals/{approvalId}",
    operation_id="decideAgentApproval",
    summary="Approve or reject a tool call that waits for a person (the same decision again: 200)",
    params=(RUN_ID, APPROVAL_ID),
    body=ApprovalRequest,
    responses={200: ("The decision, recorded once", ApprovalOut)},
)
def decide(request: http.Request[ApprovalRequest]) -> http.Response:
    settings = get_settings()
    out = decide_approval(
        request.body,
        tenant_id=request.tenant_id,
        run_id=request.params["runId"],
        approval_id=request.params["approvalId"],
        runs=DynamoRunStore(aws.dynamodb(), settings.runs_table),
        callbacks=CallbackSender(aws.lambda_()),
    )
    return http.json_response(200, out.to_json_dict())


@instrument()
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
