"""authorize(): Bearer API key -> tenant, looked up by hash; the key never reaches the logs."""

from __future__ import annotations

import hashlib
import logging
import sys
from collections.abc import Iterator

import pytest
from aws_lambda_powertools import Logger

from retryproof import auth
from retryproof.auth import authorize, check_key
from retryproof.errors import ApiKeyExpired, InsufficientScope
from retryproof.models.keys import ApiKeyItem, check_scopes

pytestmark = pytest.mark.unit

ACTIVE = "rp_test_acme_0123456789abcdef"
REVOKED = "rp_test_gone_0123456789abcdef"


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class FakeApiKeys:
    """An `ApiKeyRepository` keyed by hash; remembers what it was asked."""

    def __init__(self) -> None:
        self.asked: list[str] = []
        self.items = {
            sha256(ACTIVE): ApiKeyItem(
                key_hash=sha256(ACTIVE), tenant_id="acme", status="active", created_at="x"
            ),
            sha256(REVOKED): ApiKeyItem(
                key_hash=sha256(REVOKED), tenant_id="gone", status="revoked", created_at="x"
            ),
        }

    def get(self, key_hash: str) -> ApiKeyItem | None:
        self.asked.append(key_hash)
        return self.items.get(key_hash)


class CurrentStdout:
    """Writes to whatever `sys.stdout` is now (capsys swaps it in only for the test call)."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


@pytest.fixture(autouse=True)
def service_logger() -> Iterator[Logger]:
    """The parent Powertools Logger (as in the authorizer's app.py), writing JSON to stdout."""
    parent = Logger(service=auth.logger.service, level="DEBUG")
    handler = parent.registered_handler
    assert isinstance(handler, logging.StreamHandler)
    # Assigned, not setStream(): that flushes the old stream, maybe an earlier test's closed one.
    handler.stream = CurrentStdout()
    yield parent
    handler.stream = sys.__stdout__


@pytest.mark.parametrize(
    "headers",
    [
        {"authorization": f"Bearer {ACTIVE}"},
        {"Authorization": f"bearer {ACTIVE}"},
        {"AUTHORIZATION": f"BEARER   {ACTIVE}  "},
        {"x-other": "1", "authorization": f"  Bearer {ACTIVE}"},
    ],
)
def test_valid_key_is_authorized_with_its_tenant(headers: dict[str, str]) -> None:
    keys = FakeApiKeys()
    assert authorize(headers, keys) == {
        "isAuthorized": True,
        "context": {
            "tenantId": "acme",
            "keyId": "key_" + sha256(ACTIVE)[:24],
            "scopes": "read generate money",  # a key stored before scopes existed: every one
        },
    }
    assert keys.asked == [sha256(ACTIVE)]


@pytest.mark.parametrize(
    "value", ["", f"Basic {ACTIVE}", ACTIVE, "Bearer ", "Bearer", "Bearer " + "x" * 513, None]
)
def test_malformed_authorization_is_denied_without_lookup(value: str | None) -> None:
    keys = FakeApiKeys()
    headers = {"x-api-key": ACTIVE} if value is None else {"authorization": value}
    assert authorize(headers, keys) == {"isAuthorized": False}
    assert keys.asked == []


@pytest.mark.parametrize("key", ["rp_test_unknown", REVOKED])
def test_unknown_or_revoked_key_is_denied(key: str) -> None:
    keys = FakeApiKeys()
    assert authorize({"authorization": f"Bearer {key}"}, keys) == {"isAuthorized": False}
    assert keys.asked == [sha256(key)]


@pytest.mark.parametrize("key", [ACTIVE, REVOKED, "rp_test_unknown_secret"])
def test_plaintext_key_and_full_hash_never_reach_the_logs(
    key: str, capsys: pytest.CaptureFixture[str]
) -> None:
    authorize({"authorization": f"Bearer {key}"}, FakeApiKeys())
    authorize({"authorization": f"Basic {key}"}, FakeApiKeys())

    out = capsys.readouterr()
    logs = out.out + out.err
    assert '"level"' in logs  # the Powertools JSON logger did write
    assert key not in logs
    assert sha256(key) not in logs


def test_denial_logs_a_short_hash_prefix_only(capsys: pytest.CaptureFixture[str]) -> None:
    authorize({"authorization": "Bearer rp_test_unknown_secret"}, FakeApiKeys())
    logs = capsys.readouterr().out
    assert f'"key_hash_prefix":"{sha256("rp_test_unknown_secret")[:8]}"' in logs.replace(" ", "")


def test_authorize_does_not_depend_on_a_configured_parent_logger(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    orphan = Logger(service="retryproof-orphan-check", child=True)
    monkeypatch.setattr(auth, "logger", orphan)
    assert authorize({"authorization": f"Bearer {ACTIVE}"}, FakeApiKeys())["isAuthorized"] is True


# --- scopes and expiry ------------------------------------------------------------------------

READER = "rp_test_reader_0123456789abcdef"
EXPIRING = "rp_test_expiring_0123456789abcdef"


def scoped_keys() -> FakeApiKeys:
    keys = FakeApiKeys()
    for key, scopes, expires in ((READER, ("read",), None), (EXPIRING, ("read", "money"), 1000)):
        keys.items[sha256(key)] = ApiKeyItem(
            key_hash=sha256(key),
            tenant_id="acme",
            status="active",
            created_at="x",
            scopes=scopes,
            expires_at=expires,
        )
    return keys


def test_a_keys_scopes_and_expiry_reach_the_context() -> None:
    reader = authorize({"authorization": f"Bearer {READER}"}, scoped_keys())
    assert reader["context"]["scopes"] == "read"
    assert "expiresAt" not in reader["context"]
    expiring = authorize({"authorization": f"Bearer {EXPIRING}"}, scoped_keys(), now=999)
    assert expiring["context"]["scopes"] == "read money"
    assert expiring["context"]["expiresAt"] == 1000


@pytest.mark.parametrize("now", [1000, 1001, 10**10])
def test_an_expired_key_is_denied(now: float) -> None:
    assert authorize({"authorization": f"Bearer {EXPIRING}"}, scoped_keys(), now=now) == {
        "isAuthorized": False
    }


def authorized_event(context: dict[str, object]) -> dict[str, object]:
    return {"requestContext": {"authorizer": {"lambda": context}}}


def test_a_route_refuses_a_key_without_its_scope_with_403_insufficient_scope() -> None:
    reader = authorized_event({"tenantId": "acme", "scopes": "read"})
    check_key(reader, "read")
    for scope in ("money", "generate"):
        with pytest.raises(InsufficientScope) as refused:
            check_key(reader, scope)
        assert refused.value.status == 403
        assert refused.value.problem()["code"] == "insufficient_scope"
    check_key(authorized_event({"tenantId": "acme", "scopes": "read generate money"}), "money")
    # An authorization cached from before scopes existed is not restricted (as its key is not).
    check_key(authorized_event({"tenantId": "acme"}), "money")


def test_a_key_expiring_under_a_cached_authorization_is_401_api_key_expired() -> None:
    cached = authorized_event({"tenantId": "acme", "scopes": "read money", "expiresAt": 1000})
    check_key(cached, "money", now=999.5)
    with pytest.raises(ApiKeyExpired) as expired:
        check_key(cached, "read", now=1000)
    assert (expired.value.status, expired.value.problem()["code"]) == (401, "api_key_expired")


def test_scopes_are_checked_when_a_key_is_made() -> None:
    assert check_scopes(["money", "read"]) == ("read", "money")
    for bad in ([], ["admin"], ["read", "write"]):
        with pytest.raises(ValueError, match="scopes"):
            check_scopes(bad)


def test_stored_scopes_are_never_widened() -> None:
    item = ApiKeyItem(
        key_hash="h", tenant_id="t", status="active", created_at="x", scopes=("read",),
        expires_at=5,
    )  # fmt: skip
    stored = item.to_item()
    assert ApiKeyItem.from_item(stored) == item
    stored["scopes"] = {"SS": ["read", "admin"]}
    assert ApiKeyItem.from_item(stored).scopes == ("read",)
    del stored["scopes"]
    assert ApiKeyItem.from_item(stored).scopes == ("read", "generate", "money")
