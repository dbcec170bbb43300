"""API key scopes, revocation and webhook secret rotation over HTTP (docs/security-keys.md).

A stack of this module's own, with `WebhookSecretCacheSeconds=0` (a rotation is seen at once,
instead of after the 60 s cache) and `MoneyAuthorizerCacheSeconds=0` (a revoked key is refused on
the money routes at once, while the read routes still serve API Gateway's cached answer for
`AuthorizerCacheSeconds`, 300 s): no assertion waits on a clock.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator

import pytest

from tests.e2e.conftest import ACME_KEY, ROOT, LocalApi, start_stack, stop_stack
from tests.support.webhooks import PATH, payload, signature_headers

pytestmark = pytest.mark.e2e

READ_ONLY_KEY = "rp_test_acme_readonly_0123456789"  # local/seed.json: acme, scopes ["read"]
OVERRIDES = "WebhookSecretCacheSeconds=0 MoneyAuthorizerCacheSeconds=0"


@pytest.fixture(scope="module")
def sec(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalApi]:
    log = tmp_path_factory.mktemp("security") / "local.log"
    stack = start_stack(log, PARAMETER_OVERRIDES=OVERRIDES)
    yield stack
    assert stop_stack(stack) == 0, log.read_text()[-2000:]
    text = log.read_text()
    assert READ_ONLY_KEY not in text
    assert "whsec_" not in text


def tool(api: LocalApi, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"AWS_EMULATOR_PORT": str(api.emulator_port)}
    env["PYTHONPATH"] = "layers/common:."
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, env=env, capture_output=True, text=True,
        check=check, timeout=60,
    )  # fmt: skip


def balance(api: LocalApi, account: str) -> int:
    reply = api.call("GET", f"/accounts/{account}")
    assert reply.status == 200, reply.text
    return int(reply.json["balance"])


TRANSFER = {"fromAccountId": "acc_acme_main", "toAccountId": "acc_acme_ops", "amount": 1,
            "currency": "USD"}  # fmt: skip


def test_a_read_only_key_reads_but_cannot_move_money_or_spend(sec: LocalApi) -> None:
    before = balance(sec, "acc_acme_main"), balance(sec, "acc_acme_ops")
    completions = sec.llm.completions

    read = sec.call("GET", "/accounts/acc_acme_main", key=READ_ONLY_KEY)
    assert read.status == 200
    assert read.json["balance"] == before[0]
    key = str(uuid.uuid4())
    for path, body in (("/transfer", TRANSFER), ("/agent/runs", {"input": "hi", "tools": []}),
                       ("/generate", {"prompt": "hi"})):  # fmt: skip
        refused = sec.call("POST", path, key=READ_ONLY_KEY, idempotency_key=key, body=body)
        assert refused.status == 403, (path, refused.text)
        assert refused.header("Content-Type") == "application/problem+json"
        assert refused.json["code"] == "insufficient_scope"

    assert (balance(sec, "acc_acme_main"), balance(sec, "acc_acme_ops")) == before
    assert sec.llm.completions == completions
    # The key was never claimed: the same Idempotency-Key with a full key does the transfer.
    done = sec.call("POST", "/transfer", key=ACME_KEY, idempotency_key=key, body=TRANSFER)
    assert done.status == 200, done.text
    assert balance(sec, "acc_acme_main") == before[0] - 1


def test_a_key_revoked_by_its_id_stops_moving_money_at_once(sec: LocalApi) -> None:
    created = tool(sec, "tools.api_keys", "create", "--tenant", "acme")
    lines = created.stdout.strip().splitlines()
    key, key_id = lines[-1], lines[0].split()[2]
    assert key_id == "key_" + hashlib.sha256(key.encode()).hexdigest()[:24]
    assert sec.call("GET", "/usage", key=key).status == 200  # now cached for 300 s
    transfer = sec.call("POST", "/transfer", key=key, idempotency_key=str(uuid.uuid4()),
                        body=TRANSFER)  # fmt: skip
    assert transfer.status == 200

    # Revoked by its id, no plaintext. The id index is eventually consistent (as in AWS): a key
    # created a moment ago may take a moment to be found by id.
    deadline = time.monotonic() + 30
    while tool(sec, "tools.api_keys", "revoke", "--key-id", key_id, check=False).returncode:
        assert time.monotonic() < deadline, "the key id was never found"
        time.sleep(0.2)

    refused = sec.call("POST", "/transfer", key=key, idempotency_key=str(uuid.uuid4()),
                       body=TRANSFER)  # fmt: skip
    assert refused.status == 403  # API Gateway's own answer to a denied key
    assert refused.json == {"message": "Forbidden"}
    # The read routes' authorizer cache (AuthorizerCacheSeconds) still holds its answer.
    assert sec.call("GET", "/usage", key=key).status == 200
    # A fresh key revoked by its hash is refused everywhere (nothing cached for it).
    other = tool(sec, "tools.api_keys", "create", "--tenant", "acme").stdout.splitlines()[-1]
    digest = hashlib.sha256(other.encode()).hexdigest()
    tool(sec, "tools.api_keys", "revoke", "--hash", digest)
    assert sec.call("GET", "/usage", key=other).status == 403


def test_an_expired_key_is_refused(sec: LocalApi) -> None:
    created = tool(sec, "tools.api_keys", "create", "--tenant", "acme", "--expires-in", "1s")
    key = created.stdout.strip().splitlines()[-1]
    deadline = time.monotonic() + 30
    while sec.call("GET", "/accounts/acc_acme_ops", key=key).status == 200:
        assert time.monotonic() < deadline, "the key never expired"
        time.sleep(0.5)
    reply = sec.call("GET", "/accounts/acc_acme_ops", key=key)
    # Expired before its first use: the authorizer denies it (403); expired while an answer was
    # cached: the function refuses it (401 api_key_expired).
    assert (reply.status == 403 and reply.json == {"message": "Forbidden"}) or (
        reply.status == 401 and reply.json["code"] == "api_key_expired"
    ), reply.text


def deliver(api: LocalApi, secret: str, tenant: str) -> tuple[int, dict[str, object]]:
    raw = json.dumps(payload(tenant)).encode()
    headers = {"Content-Type": "application/json"} | signature_headers(secret, raw)
    reply = api.call("POST", PATH, key=None, raw=raw, headers=headers)
    return reply.status, reply.json


def test_a_rotated_webhook_secret_old_and_new_verify_until_the_old_is_retired(
    sec: LocalApi,
) -> None:
    tenant = f"t-{uuid.uuid4().hex[:10]}"
    old = tool(sec, "tools.sign_webhook", "secret", "--tenant", tenant).stdout.splitlines()[-1]
    assert deliver(sec, old, tenant)[0] == 202

    rotated = tool(sec, "tools.sign_webhook", "rotate", "--tenant", tenant, "--overlap", "1h")
    new = rotated.stdout.splitlines()[-1]
    assert new.startswith("whsec_")
    assert new != old
    assert deliver(sec, old, tenant)[0] == 202  # the overlap: both verify
    assert deliver(sec, new, tenant)[0] == 202

    tool(sec, "tools.sign_webhook", "retire", "--tenant", tenant)  # the overlap ends now
    status, problem = deliver(sec, old, tenant)
    assert (status, problem["code"]) == (401, "invalid_signature")
    assert deliver(sec, new, tenant)[0] == 202


def test_an_unsigned_delivery_is_401(sec: LocalApi) -> None:
    raw = json.dumps(payload("acme")).encode()
    reply = sec.call("POST", PATH, key=None, raw=raw, headers={"Content-Type": "application/json"})
    assert reply.status == 401
    assert reply.json["code"] == "invalid_signature"


def test_a_webhook_secret_under_24_bytes_is_refused_by_the_tool(sec: LocalApi) -> None:
    out = tool(sec, "tools.sign_webhook", "secret", "--tenant", "acme", "--secret",
               "whsec_c2hvcnQ=", check=False)  # fmt: skip
    assert out.returncode == 2
    assert "24 bytes" in out.stderr
