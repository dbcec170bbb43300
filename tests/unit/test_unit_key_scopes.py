"""API key scopes on every route, and the template's second (short-cached) authorizer for the
routes that move money (docs/security-keys.md)."""

from __future__ import annotations

import json

import pytest

from local.template import Template
from retryproof.models.keys import SCOPES
from tests.support.events import http_event
from tools.openapi import function_apis

pytestmark = pytest.mark.unit

MONEY_ROUTES = {
    "POST /transfer",
    "POST /agent/runs",
    "POST /agent/runs/{runId}/resume",
    "POST /agent/runs/{runId}/approvals/{approvalId}",
}


def route_scopes() -> dict[str, str | None]:
    return {
        route.key: route.scope
        for api in function_apis(Template())
        for route in api.resolver.routes.values()
    }


def test_every_route_needs_the_scope_of_what_it_does() -> None:
    scopes = route_scopes()
    assert {k for k, s in scopes.items() if s == "money"} == MONEY_ROUTES
    assert scopes["POST /generate"] == "generate"
    assert scopes["POST /webhooks/document-uploaded"] is None  # signed, no API key
    for key, scope in scopes.items():
        if key.startswith("GET "):
            assert scope == "read", key
        assert scope is None or scope in SCOPES, key


def test_the_money_routes_use_the_short_cached_authorizer() -> None:
    template = Template()
    routes = {r.route_key: r for r in template.routes()}
    for key, route in routes.items():
        if key in MONEY_ROUTES:
            assert route.authorizer == "MoneyKeyAuthorizer", key
        elif route.authorizer is not None:
            assert route.authorizer == "ApiKeyAuthorizer", key
    authorizers = template.authorizers()
    money, default = authorizers["MoneyKeyAuthorizer"], authorizers["ApiKeyAuthorizer"]
    assert money.function_id == default.function_id == "AuthorizerFunction"
    assert money.identity_headers == default.identity_headers == ("authorization",)
    assert money.ttl_seconds == 10 < default.ttl_seconds
    params = template.doc["Parameters"]["MoneyAuthorizerCacheSeconds"]
    assert params["MaxValue"] <= 60


def test_api_gateway_may_invoke_the_authorizer_of_both_authorizers() -> None:
    """SAM adds the `AWS::Lambda::Permission` for an HTTP API Lambda authorizer only with
    `EnableFunctionDefaultPermissions` (its default is false): without it, every authorized
    request of a deployed stack fails (checked by rendering with SAM's translator: one
    permission per authorizer)."""
    api = Template().resources["HttpApi"]["Properties"]["Auth"]["Authorizers"]
    assert set(api) == {"ApiKeyAuthorizer", "MoneyKeyAuthorizer"}
    for name, authorizer in api.items():
        assert authorizer["EnableFunctionDefaultPermissions"] is True, name


def test_the_keys_table_is_indexed_by_key_id_for_revocation() -> None:
    props = Template().resources["ApiKeysTable"]["Properties"]
    (index,) = props["GlobalSecondaryIndexes"]
    assert index["IndexName"] == "byKeyId"
    assert index["KeySchema"] == [{"AttributeName": "keyId", "KeyType": "HASH"}]


def invoke(function: str, ev: dict[str, object]) -> dict[str, object]:
    (api,) = [a for a in function_apis(Template()) if a.spec.logical_id == function]
    return api.resolver.resolve(ev, None)


@pytest.mark.parametrize(
    ("function", "fixture"),
    [("TransferFunction", "transfer_post.json"), ("AgentFunction", "agent_run_post.json"),
     ("GenerateFunction", "generate_post.json")],
)  # fmt: skip
def test_a_read_only_key_is_refused_before_the_handler_runs(function: str, fixture: str) -> None:
    ev = http_event(fixture, tenant="acme", headers={"idempotency-key": "k-1"})
    ev["requestContext"]["authorizer"]["lambda"]["scopes"] = "read"
    # No AWS here (sockets are blocked in unit tests): a 403 means nothing was claimed or read.
    out = invoke(function, ev)
    assert out["statusCode"] == 403
    problem = json.loads(str(out["body"]))
    assert problem["code"] == "insufficient_scope"
    assert out["headers"]["Content-Type"] == "application/problem+json"  # type: ignore[index]


def test_an_expired_key_under_a_cached_authorization_is_401() -> None:
    ev = http_event("usage_get.json", tenant="acme")
    ev["requestContext"]["authorizer"]["lambda"] |= {"scopes": "read", "expiresAt": 1}
    out = invoke("UsageFunction", ev)
    assert out["statusCode"] == 401
    assert json.loads(str(out["body"]))["code"] == "api_key_expired"
