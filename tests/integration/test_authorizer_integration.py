"""The authorizer against the keys table on the moto server."""

from __future__ import annotations

import uuid

import pytest

from retryproof import aws
from retryproof.dal.api_keys import DynamoApiKeyRepository, hash_api_key
from tests.integration.conftest import Stack
from tests.support.events import event

pytestmark = pytest.mark.integration


def authorize(stack: Stack, header: str | None) -> dict[str, object]:
    ev = event("authorizer_valid_key.json")
    ev["headers"].pop("authorization")
    if header is not None:
        ev["headers"]["authorization"] = header
        ev["identitySource"] = [header]
    result: dict[str, object] = stack.invoke("AuthorizerFunction", ev)
    return result


def test_created_key_resolves_its_tenant_until_revoked(stack: Stack) -> None:
    repo = DynamoApiKeyRepository(aws.dynamodb(), stack.refs.table("ApiKeysTable"))
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    key = repo.create(tenant)

    assert authorize(stack, f"Bearer {key}") == {
        "isAuthorized": True,
        "context": {
            "tenantId": tenant,
            "keyId": "key_" + hash_api_key(key)[:24],
            "scopes": "read generate money",
        },
    }
    stored = [i for i in stack.items("ApiKeysTable") if i["tenantId"]["S"] == tenant]
    assert [i["keyHash"]["S"] for i in stored] == [hash_api_key(key)]
    assert key not in str(stored)  # only the hash is stored

    assert repo.revoke(key) is True
    assert authorize(stack, f"Bearer {key}") == {"isAuthorized": False}
    assert repo.revoke("rp_live_never_issued") is False


@pytest.mark.parametrize(
    "header", [None, "", "Bearer", "Basic dXNlcjpwYXNz", "Bearer rp_live_unknown_key_123456"]
)
def test_missing_malformed_and_unknown_keys_are_denied(stack: Stack, header: str | None) -> None:
    assert authorize(stack, header) == {"isAuthorized": False}


def test_keys_table_unavailable_is_an_error_not_a_cached_denial(
    stack: Stack, settings_env: pytest.MonkeyPatch
) -> None:
    settings_env.setenv("API_KEYS_TABLE", "no-such-table")
    with pytest.raises(Exception, match=r"api_keys\.get failed"):
        authorize(stack, "Bearer rp_live_whatever_1234567890")
