"""The agent run as a Lambda durable execution (started by functions/agent, never by a client).

Each LLM request and each tool call is a durable step; approvals are durable callbacks. The loop
is `retryproof.agent_run.execute_run`; this module only builds its dependencies.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from aws_durable_execution_sdk_python import DurableContext, durable_execution

from retryproof import aws
from retryproof.agent_run import RunDeps, execute_run
from retryproof.config import get_settings
from retryproof.dal.accounts import DynamoAccountRepository
from retryproof.dal.agent_policy import DynamoTenantPolicyRepository
from retryproof.dal.runs import DynamoRunStore
from retryproof.dal.transfers import DynamoTransferStore
from retryproof.dal.usage import DynamoUsageRepository
from retryproof.llm import import_sdk, llm_client
from retryproof.observability import instrument

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

# Every invocation of a run calls the LLM or replays: the SDK is imported in Lambda's init phase,
# not in the first invocation, whose timeout it would eat into (see `import_sdk`).
import_sdk()


def _deps(context: Any) -> RunDeps:
    settings = get_settings()
    client = aws.dynamodb()
    lambda_context = getattr(context, "lambda_context", None)
    return RunDeps(
        runs=DynamoRunStore(client, settings.runs_table),
        usage=DynamoUsageRepository(client, settings.usage_table),
        llm=lambda: llm_client(settings),
        transfers=DynamoTransferStore(client, settings.accounts_table, settings.ledger_table),
        accounts=DynamoAccountRepository(client, settings.accounts_table),
        settings=settings,
        policies=DynamoTenantPolicyRepository(client, settings.runs_table),
        remaining_ms=lambda: (
            lambda_context.get_remaining_time_in_millis() if lambda_context else None
        ),
    )


def run(event: dict[str, Any], context: DurableContext) -> dict[str, Any]:
    return execute_run(event, context, _deps(context))


@functools.lru_cache(maxsize=1)
def _durable(client: Any) -> Callable[[Any, Any], Any]:
    """The durable handler checkpointing with `client`, built on first use; only the newest is
    kept (a process that starts a second local stack gets new clients, see `aws.durable_lambda`)."""
    return durable_execution(run, boto3_client=client)


@instrument(correlation_id_path=None)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # Our Lambda client, not the SDK's process-wide one (see aws.durable_lambda). The SDK types
    # the context with its own protocol; Lambda's context is what it reads.
    result: dict[str, Any] = _durable(aws.durable_lambda())(event, cast(Any, context))
    return result
