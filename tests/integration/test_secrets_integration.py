"""Webhook secrets in Secrets Manager and API key scopes, over the moto server (issue 19, item 5):
an unsigned delivery costs no AWS call, a rotation's two secrets both verify until the old one
expires, a key's scopes, expiry and revocation (by id or hash) reach the authorizer's answer."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from retryproof import aws
from retryproof.dal.api_keys import DynamoApiKeyRepository
from retryproof.models.webhooks import WebhookSecretSet
from tests.integration.conftest import Stack, webhook_secrets
from tests.support.events import event, http_event
from tests.support.webhooks import Jobs, delivery_event, payload

pytestmark = pytest.mark.integration

WEBHOOK = "WebhookFunction"
NEW_SECRET = "whsec_" + base64.b64encode(b"the rotated-in secret, 32 bytes!").decode()


class AwsCalls:
    """Every AWS call the functions' clients (DynamoDB, SQS, Secrets Manager) make from this
    thread: what reaches the emulator from the measured invocation."""

    SERVICES = ("dynamodb", "sqs", "secretsmanager")

    def __init__(self) -> None:
        self.calls: list[str] = []
        self._thread = threading.get_ident()
        self._clients = [aws.dynamodb(), aws.sqs(), aws.secretsmanager()]
        for client, service in zip(self._clients, self.SERVICES, strict=True):
            client.meta.events.register(f"before-call.{service}", self._count)

    def _count(self, model: Any, **_: Any) -> None:
        if threading.get_ident() == self._thread:
            self.calls.append(f"{model.service_model.service_name}.{model.name}")

    def during(self, action: Callable[[], Any]) -> tuple[list[str], Any]:
        self.calls.clear()
        result = action()
        return list(self.calls), result

    def close(self) -> None:
        for client, service in zip(self._clients, self.SERVICES, strict=True):
            client.meta.events.unregister(f"before-call.{service}", self._count)


@pytest.fixture
def aws_calls(stack: Stack) -> Iterator[AwsCalls]:
    counter = AwsCalls()
    yield counter
    counter.close()


@pytest.fixture
def no_secret_cache(settings_env: pytest.MonkeyPatch) -> None:
    """The webhook function reads a tenant's secrets on every delivery (no Powertools cache)."""
    settings_env.setenv("WEBHOOK_SECRET_CACHE_SECONDS", "0")


def deliver(stack: Stack, secret: str, body: dict[str, Any], **kw: Any) -> tuple[int, Any]:
    out = stack.invoke(WEBHOOK, delivery_event(secret, body, **kw))
    return int(out["statusCode"]), json.loads(out["body"])


# --- an unsigned delivery costs nothing ------------------------------------------------------


@pytest.mark.parametrize(
    "case",
    ["no signature headers", "malformed signature", "stale timestamp", "tenant id unnameable"],
)
def test_an_unsigned_delivery_is_401_before_any_aws_call(
    stack: Stack, jobs: Jobs, tenant: str, webhook_secret: str, aws_calls: AwsCalls, case: str
) -> None:
    body = payload(tenant if case != "tenant id unnameable" else "a/b")
    kw: dict[str, Any] = {
        "no signature headers": {
            "drop_headers": ("webhook-id", "webhook-timestamp", "webhook-signature")
        },
        "malformed signature": {"headers": {"webhook-signature": "v1,not-a-signature"}},
        "stale timestamp": {"timestamp": int(time.time()) - 3600},
        "tenant id unnameable": {},
    }[case]
    calls, (status, problem) = aws_calls.during(lambda: deliver(stack, webhook_secret, body, **kw))
    assert (status, problem["code"]) == (401, "invalid_signature")
    assert calls == []
    assert jobs.depth() == 0


def test_a_signed_delivery_reads_the_secret_once_per_cache_period(
    stack: Stack, jobs: Jobs, tenant: str, webhook_secret: str, aws_calls: AwsCalls
) -> None:
    """The counter sees Secrets Manager (so the test above could fail): a first delivery reads
    the secret, the next ones within WEBHOOK_SECRET_CACHE_SECONDS (60 s) do not."""
    first, (status, _) = aws_calls.during(lambda: deliver(stack, webhook_secret, payload(tenant)))
    assert status == 202
    assert first.count("secretsmanager.GetSecretValue") == 1
    later, (status, _) = aws_calls.during(lambda: deliver(stack, webhook_secret, payload(tenant)))
    assert status == 202
    assert "secretsmanager.GetSecretValue" not in later
    assert jobs.depth() == 2


def test_an_unknown_tenant_costs_one_lookup_per_cache_period(
    stack: Stack, jobs: Jobs, webhook_secret: str, aws_calls: AwsCalls
) -> None:
    stranger = f"t-{uuid.uuid4().hex[:12]}"  # no secret
    first, (status, _) = aws_calls.during(lambda: deliver(stack, webhook_secret, payload(stranger)))
    assert status == 401
    assert first == ["secretsmanager.GetSecretValue"]
    again, (status, _) = aws_calls.during(lambda: deliver(stack, webhook_secret, payload(stranger)))
    assert (status, again) == (401, [])


def test_the_secret_is_in_secrets_manager_not_in_a_table(stack: Stack, tenant: str) -> None:
    secret = webhook_secrets().put(tenant)
    name = webhook_secrets().prefix + tenant
    stored = json.loads(aws.secretsmanager().get_secret_value(SecretId=name)["SecretString"])
    assert stored["current"] == secret
    for table in stack.template.of_type("AWS::DynamoDB::Table"):
        assert not any(secret in json.dumps(i) for i in stack.items(table)), table


def test_a_secret_under_24_bytes_is_refused_at_creation(stack: Stack, tenant: str) -> None:
    short = "whsec_" + base64.b64encode(b"x" * 23).decode()
    for secret in (short, "whsec_"):
        with pytest.raises(ValueError, match="24 bytes"):
            webhook_secrets().put(tenant, secret)
    assert webhook_secrets().read(tenant) is None


# --- rotation with an overlap ------------------------------------------------------------------


def test_after_a_rotation_old_and_new_verify_until_the_overlap_ends(
    stack: Stack, jobs: Jobs, tenant: str, webhook_secret: str, no_secret_cache: None
) -> None:
    rotated = webhook_secrets().rotate(tenant, overlap_seconds=3600, secret=NEW_SECRET)
    assert (rotated.current, rotated.previous) == (NEW_SECRET, webhook_secret)
    assert deliver(stack, webhook_secret, payload(tenant))[0] == 202
    assert deliver(stack, NEW_SECRET, payload(tenant))[0] == 202

    # The overlap ended (as time passing would end it: the previous secret's expiry is past).
    past = webhook_secrets().read(tenant)
    assert past is not None
    webhook_secrets().write(
        tenant,
        WebhookSecretSet(
            current=past.current,
            previous=past.previous,
            previous_expires_at=int(time.time()) - 1,
            updated_at=past.updated_at,
        ),
    )
    status, problem = deliver(stack, webhook_secret, payload(tenant))
    assert (status, problem["code"]) == (401, "invalid_signature")
    assert deliver(stack, NEW_SECRET, payload(tenant))[0] == 202
    assert jobs.depth() == 3


def test_retiring_the_previous_secret_ends_the_overlap_at_once(
    stack: Stack, jobs: Jobs, tenant: str, webhook_secret: str, no_secret_cache: None
) -> None:
    webhook_secrets().rotate(tenant, overlap_seconds=3600, secret=NEW_SECRET)
    assert deliver(stack, webhook_secret, payload(tenant))[0] == 202
    assert webhook_secrets().retire_previous(tenant) is True
    assert deliver(stack, webhook_secret, payload(tenant))[0] == 401
    assert deliver(stack, NEW_SECRET, payload(tenant))[0] == 202


# --- API keys: scopes, expiry, revocation ----------------------------------------------------


def keys(stack: Stack) -> DynamoApiKeyRepository:
    return DynamoApiKeyRepository(aws.dynamodb(), stack.refs.table("ApiKeysTable"))


def authorize(stack: Stack, key: str) -> dict[str, Any]:
    ev = event("authorizer_valid_key.json")
    ev["headers"]["authorization"] = f"Bearer {key}"
    ev["identitySource"] = [f"Bearer {key}"]
    out: dict[str, Any] = stack.invoke("AuthorizerFunction", ev)
    return out


def test_a_read_only_key_is_authorized_but_refused_a_transfer(stack: Stack, tenant: str) -> None:
    key = keys(stack).create(tenant, scopes=["read"])
    answer = authorize(stack, key)
    assert answer["isAuthorized"] is True
    assert answer["context"]["scopes"] == "read"

    ev = http_event("transfer_post.json", tenant=tenant, headers={"idempotency-key": "k1"})
    ev["requestContext"]["authorizer"]["lambda"] = answer["context"]
    out = stack.invoke("TransferFunction", ev)
    assert out["statusCode"] == 403
    assert json.loads(out["body"])["code"] == "insufficient_scope"
    claimed = [i for i in stack.items("IdempotencyTable") if tenant in json.dumps(i)]
    assert claimed == []  # refused before the key was claimed

    usage = http_event("usage_get.json", tenant=tenant)
    usage["requestContext"]["authorizer"]["lambda"] = answer["context"]
    assert stack.invoke("UsageFunction", usage)["statusCode"] == 200


def test_an_expired_key_is_denied(stack: Stack, tenant: str) -> None:
    expired = keys(stack).create(tenant, expires_at=int(time.time()) - 1)
    later = keys(stack).create(tenant, expires_at=int(time.time()) + 3600)
    assert authorize(stack, expired) == {"isAuthorized": False}
    assert authorize(stack, later)["context"]["expiresAt"] > time.time()


@pytest.mark.parametrize("by", ["key id", "hash"])
def test_a_key_is_revoked_by_its_id_or_hash_without_the_plaintext(
    stack: Stack, tenant: str, by: str
) -> None:
    key = keys(stack).create(tenant)
    other = keys(stack).create(tenant)
    answer = authorize(stack, key)
    assert answer["isAuthorized"] is True
    key_hash = hashlib.sha256(key.encode()).hexdigest()
    if by == "key id":
        key_id = answer["context"]["keyId"]
        deadline = time.monotonic() + 30  # setup: the index is eventually consistent, as in AWS
        while not keys(stack).hashes_of(key_id):
            assert time.monotonic() < deadline, "the key never reached the keyId index"
            time.sleep(0.05)
        assert keys(stack).revoke_id(key_id) is True
    else:
        assert keys(stack).revoke_hash(key_hash) is True
    assert authorize(stack, key) == {"isAuthorized": False}
    assert authorize(stack, other)["isAuthorized"] is True  # only that key
    assert keys(stack).revoke_id("key_" + "0" * 24) is False
    assert keys(stack).revoke_hash("0" * 64) is False
