"""Lambda authorizer (HTTP API, payload 2.0, simple responses): API key -> tenant."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from retryproof import aws
from retryproof.auth import authorize
from retryproof.config import get_settings
from retryproof.dal.api_keys import DynamoApiKeyRepository

logger = Logger()


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    repo = DynamoApiKeyRepository(aws.dynamodb(), get_settings().api_keys_table)
    return authorize(event.get("headers") or {}, repo)
