"""API key authorization: `Authorization: Bearer <key>` -> the key's tenant, id and scopes.

Keys are looked up by SHA-256 hash; neither the key nor its hash is logged (only a short hash
prefix, enough to correlate with the keys table).

Two checks, two places (docs/security-keys.md):
- the Lambda authorizer (`authorize`) denies an unknown, revoked or expired key (API Gateway
  answers 403) and puts the key's scopes and expiry in the request context;
- every route then checks that context (`check_key`, run by `http.Api` before the handler): a key
  without the route's scope gets 403 `insufficient_scope`, and a key that expired while API
  Gateway still held a cached authorization gets 401 `api_key_expired`, so an expiry holds to the
  second whatever the authorizer cache.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools import Logger

from retryproof.dal.api_keys import ApiKeyRepository, hash_api_key
from retryproof.errors import ApiKeyExpired, InsufficientScope
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


def authorize(
    headers: Mapping[str, str], keys: ApiKeyRepository, now: float | None = None
) -> dict[str, Any]:
    """A simple authorizer response: allowed with `{"tenantId", "keyId", "scopes"}` (and
    `"expiresAt"` for a key that expires) in the context, or denied."""
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
    if item.expired(time.time() if now is None else now):
        logger.info("denied: expired", extra={"key_id": item.key_id})
        return DENY
    logger.info("authorized", extra={"tenant_id": item.tenant_id, "key_id": item.key_id})
    context: dict[str, Any] = {
        "tenantId": item.tenant_id,
        "keyId": item.key_id,
        "scopes": " ".join(item.scopes),
    }
    if item.expires_at is not None:
        context["expiresAt"] = item.expires_at
    return {"isAuthorized": True, "context": context}


def check_key(event: Mapping[str, Any], scope: str, now: float | None = None) -> None:
    """Refuse a request whose authorized key lacks `scope` (403 `insufficient_scope`) or has
    expired since it was authorized (401 `api_key_expired`).

    A context without `scopes` comes from an authorization made before scopes existed (a result
    API Gateway still caches during a deployment) and is not restricted, as keys stored before
    scopes existed are not.
    """
    request_context = event.get("requestContext") or {}
    context = (request_context.get("authorizer") or {}).get("lambda") or {}
    expires = context.get("expiresAt")
    if expires is not None and (time.time() if now is None else now) >= float(expires):
        raise ApiKeyExpired("the API key has expired; use another one")
    scopes = context.get("scopes")
    if scopes is not None and scope not in str(scopes).split():
        raise InsufficientScope(f"this route needs an API key with the {scope!r} scope")
