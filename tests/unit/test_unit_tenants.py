"""Tenant ids never meet the service's own keys (`TOTAL#<tenant>`, `COUNTED#<tenant>`): refused
when a key is created, and refused by the authorizer if one is in the keys table anyway."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from retryproof.auth import authorize
from retryproof.dal.api_keys import DynamoApiKeyRepository
from retryproof.dal.usage import COUNTED_PREFIX, TOTAL_PREFIX
from retryproof.models.keys import ApiKeyItem
from retryproof.tenants import check_tenant_id, valid_tenant_id
from tools import api_keys

pytestmark = pytest.mark.unit

REFUSED = [
    f"{TOTAL_PREFIX}acme",
    f"{COUNTED_PREFIX}acme",
    "acme#1",
    "",
    "a b",
    "acme\nagent:run",
    "-acme",
    "x" * 129,
    "ünïcode",
]
ACCEPTED = ["acme", "globex", "t-0123456789ab", "org_1.team:eu@prod", "A" * 128]


@pytest.mark.parametrize("tenant", REFUSED)
def test_ids_that_could_meet_the_services_keys_are_refused(tenant: str) -> None:
    assert not valid_tenant_id(tenant)
    with pytest.raises(ValueError, match="tenant id"):
        check_tenant_id(tenant)


@pytest.mark.parametrize("tenant", ACCEPTED)
def test_ordinary_ids_are_accepted(tenant: str) -> None:
    assert valid_tenant_id(tenant)
    assert check_tenant_id(tenant) == tenant


class RecordingDynamo:
    def __init__(self) -> None:
        self.puts: list[dict[str, Any]] = []

    def put_item(self, **kwargs: Any) -> None:
        self.puts.append(kwargs)


def test_no_key_is_created_for_a_total_prefixed_tenant() -> None:
    dynamo = RecordingDynamo()
    repo = DynamoApiKeyRepository(dynamo, "keys")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="tenant id"):
        repo.create(f"{TOTAL_PREFIX}acme")
    assert dynamo.puts == []
    repo.create("acme")
    assert [p["Item"]["tenantId"]["S"] for p in dynamo.puts] == ["acme"]


def test_the_key_tool_refuses_before_it_looks_for_a_table(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # No stack runs and no table is named: a valid tenant would fail later, on the table.
    assert api_keys.main(["create", "--tenant", f"{TOTAL_PREFIX}acme"]) == 2
    assert "no key created" in capsys.readouterr().err


class OneKey:
    def __init__(self, tenant_id: str) -> None:
        self.item = ApiKeyItem(key_hash="h", tenant_id=tenant_id, status="active", created_at="x")

    def get(self, key_hash: str) -> ApiKeyItem | None:
        return self.item


def test_the_authorizer_refuses_a_stored_key_of_such_a_tenant() -> None:
    headers = {"authorization": "Bearer rp_live_" + hashlib.sha256(b"k").hexdigest()}
    assert authorize(headers, OneKey(f"{TOTAL_PREFIX}acme")) == {"isAuthorized": False}
    allowed = authorize(headers, OneKey("acme"))
    assert allowed["isAuthorized"] is True
    assert allowed["context"]["tenantId"] == "acme"
