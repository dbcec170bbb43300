"""GET /idempotency-keys/{key}?operation=…: whether a key's request is running, done or unknown."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from retryproof import aws, http
from retryproof.config import get_settings
from retryproof.dal.idempotency_records import DynamoIdempotencyRecords
from retryproof.dal.runs import DynamoRunStore
from retryproof.dal.transfers import DynamoTransferStore
from retryproof.dal.usage import DynamoUsageRepository
from retryproof.key_status import (
    DurableLookup,
    agent_run_durable,
    generate_durable,
    key_status,
    transfer_durable,
)
from retryproof.models.key_status import KeyStatusOut
from retryproof.observability import instrument
from retryproof.shapes import Param, Spec

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

app = http.Api()
# What read_idempotency_key accepts: 1-255 printable ASCII characters.
KEY = Spec(min_length=1, max_length=255, pattern=r"^[\x20-\x7e]+$")
OPERATION = Spec(
    pattern="^(generate|transfer|agent_run)$",
    description="the route the key was sent to: generate (POST /generate), transfer "
    "(POST /transfer) or agent_run (POST /agent/runs)",
)


def _durable(operation: str, tenant_id: str, key: str) -> DurableLookup:
    settings = get_settings()
    client = aws.dynamodb()
    if operation == "generate":
        return generate_durable(DynamoUsageRepository(client, settings.usage_table), tenant_id, key)
    if operation == "transfer":
        store = DynamoTransferStore(client, settings.accounts_table, settings.ledger_table)
        return transfer_durable(store, tenant_id, key)
    return agent_run_durable(DynamoRunStore(client, settings.runs_table), tenant_id, key)


@app.get(
    "/idempotency-keys/{key}",
    operation_id="getKeyStatus",
    summary="Whether a request sent with this Idempotency-Key is in progress, completed or unknown",
    params=(Param("key", "path", spec=KEY), Param("operation", "query", spec=OPERATION)),
    responses={200: ("The key's state, for the caller's tenant only", KeyStatusOut)},
)
def get_key_status(request: http.Request[None]) -> http.Response:
    settings = get_settings()
    tenant, key, operation = request.tenant_id, request.params["key"], request.params["operation"]
    out = key_status(
        tenant_id=tenant,
        key=key,
        operation=operation,
        records=DynamoIdempotencyRecords(aws.dynamodb(), settings.idempotency_table),
        durable=_durable(operation, tenant, key),
        now_ms=int(time.time() * 1000),
    )
    return http.json_response(200, out.to_json_dict())


@instrument()
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
