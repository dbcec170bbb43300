"""authorize(): Bearer API key -> tenant, looked up by hash; the key never reaches the logs."""

from __future__ import annotations

import hashlib
import logging
import sys
from collections.abc import Iterator

import pytest
from aws_lambda_powertools import Logger

from retryproof import auth
from retryproof.auth import authorize
from retryproof.models.keys import ApiKeyItem

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
    assert authorize(headers, keys) == {"isAuthorized": True, "context": {"tenantId": "acme"}}
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
