"""Lambda authorizer (HTTP API, payload 2.0, simple responses): API key -> tenant.

It runs before every request whose answer is not cached, so it stays light: no pydantic, no
event handler, one DynamoDB read.
"""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from retryproof import aws
from retryproof.auth import authorize
from retryproof.dal.api_keys import DynamoApiKeyRepository
from retryproof.observability import instrument


@instrument()
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # The one setting it needs, read per call (not at import), without the pydantic settings.
    repo = DynamoApiKeyRepository(aws.dynamodb(), os.environ["API_KEYS_TABLE"])
    return authorize(event.get("headers") or {}, repo)
