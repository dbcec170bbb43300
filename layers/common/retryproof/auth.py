"""API key authorization: `Authorization: Bearer <key>` -> the key's tenant.

Keys are looked up by SHA-256 hash; neither the key nor its hash is logged (only a short hash
prefix, enough to correlate with the keys table).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools import Logger

from retryproof.dal.api_keys import ApiKeyRepository, hash_api_key
from retryproof.tenants import valid_tenant_id

logger = Logger(child=True)

DENY: dict[str, Any] = {"isAuthorized": False}


def bearer_token(headers: Mapping[str, str]) -> str | None:
    value = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
    scheme, _, token = value.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(token) > 512:
        return None
    return token


def authorize(headers: Mapping[str, str], keys: ApiKeyRepository) -> dict[str, Any]:
    """A simple authorizer response: allowed with `{"tenantId"}` in the context, or denied."""
    token = bearer_token(headers)
    if token is None:
        logger.info("denied: malformed authorization header")
        return DENY
    key_hash = hash_api_key(token)
    # A storage failure raises: API Gateway answers 500 and, unlike a denial, does not cache it.
    item = keys.get(key_hash)
    # A tenant id that could meet the service's own keys (TOTAL#…) is never let in.
    if item is None or item.status != "active" or not valid_tenant_id(item.tenant_id):
        logger.info("denied", extra={"key_hash_prefix": key_hash[:8]})
        return DENY
    logger.info("authorized", extra={"tenant_id": item.tenant_id})
    return {"isAuthorized": True, "context": {"tenantId": item.tenant_id}}
