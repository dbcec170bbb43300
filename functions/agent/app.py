"""POST /agent/runs: a tool-calling run, idempotent, checkpointed, resumable."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from retryproof import aws, http, idempotent_http
from retryproof.agent import AgentDeps, run_agent
from retryproof.config import get_settings
from retryproof.dal.accounts import DynamoAccountRepository
from retryproof.dal.runs import DynamoRunStore
from retryproof.dal.transfers import DynamoTransferStore
from retryproof.dal.usage import DynamoUsageRepository
from retryproof.idempotency import IdempotencyStore
from retryproof.llm import llm_client
from retryproof.models.agent import AgentRunOut, AgentRunRequest
from retryproof.observability import instrument

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

app = http.Api()
store = IdempotencyStore("agent")  # one per execution environment


@app.post(
    "/agent/runs",
    operation_id="createAgentRun",
    summary="Run a tool-calling agent; a retry with the same key resumes it",
    body=AgentRunRequest,
    responses={
        200: ("The finished run (the first execution, its resumption or its replay)", AgentRunOut)
    },
)
def agent_run(request: http.Request[AgentRunRequest]) -> http.Response:
    settings = get_settings()
    client = aws.dynamodb()
    return idempotent_http.idempotent_post(
        request,
        store,
        settings.idempotency_ttl_agent,
        lambda post: run_agent(
            request.body,
            tenant_id=post.tenant_id,
            idempotency_key=post.key,
            request_hash=post.body_hash,
            deps=AgentDeps(
                runs=DynamoRunStore(client, settings.runs_table),
                usage=DynamoUsageRepository(client, settings.usage_table),
                llm=llm_client(settings),
                transfers=DynamoTransferStore(
                    client, settings.accounts_table, settings.ledger_table
                ),
                accounts=DynamoAccountRepository(client, settings.accounts_table),
                settings=settings,
                get_remaining_ms=post.get_remaining_ms,
            ),
        ),
    )


@instrument()
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
