"""The README's story over HTTP: auth, generate, replay, conflicts, failures, usage."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.e2e.conftest import GLOBEX_KEY, ROOT, LocalApi
from tests.support.client import Reply

pytestmark = pytest.mark.e2e

PROMPT = {"prompt": "Tell me about retries."}
REPLAY = ("Idempotent-Replayed", "X-Idempotency-Replayed", "X-From-Cache")


def new_key() -> str:
    return str(uuid.uuid4())


def usage_for(api: LocalApi, key: str, api_key: str | None = None) -> list[dict[str, object]]:
    kwargs = {"key": api_key} if api_key else {}
    reply = api.call("GET", f"/usage?idempotencyKey={key}", **kwargs)
    assert reply.status == 200
    records: list[dict[str, object]] = reply.json["records"]
    return records


def is_replay(reply: Reply) -> bool:
    return all(reply.header(h) == "true" for h in REPLAY)


def test_health(api: LocalApi) -> None:
    assert api.call("GET", "/health", key=None).status == 200


def test_auth_missing_is_401_unknown_is_403(api: LocalApi) -> None:
    missing = api.call("POST", "/generate", key=None, idempotency_key=new_key(), body=PROMPT)
    assert missing.status == 401
    unknown = api.call("POST", "/generate", key="rp_nope_0000000000000000", body=PROMPT)
    assert unknown.status == 403
    malformed = api.call(
        "GET", "/usage", key=None, headers={"Authorization": "Token rp_test_acme_0123456789abcdef"}
    )
    assert malformed.status == 403


def test_revoked_key_is_403(api: LocalApi) -> None:
    env = {"AWS_EMULATOR_PORT": str(api.emulator_port), "PYTHONPATH": "layers/common:."}
    created = subprocess.run(
        [sys.executable, "-m", "tools.api_keys", "create", "--tenant", "acme"],
        cwd=ROOT, env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    key = created.stdout.strip().splitlines()[-1]
    subprocess.run(
        [sys.executable, "-m", "tools.api_keys", "revoke", "--key", key],
        cwd=ROOT, env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert api.call("GET", "/usage", key=key).status == 403


def test_generate_then_replay(api: LocalApi) -> None:
    key = new_key()
    before = api.llm.completions

    first = api.call("POST", "/generate", idempotency_key=key, body=PROMPT)
    replay = api.call("POST", "/generate", idempotency_key=key, body=PROMPT)

    assert first.status == replay.status == 200
    assert first.header("Content-Type") == "application/json"
    assert not is_replay(first)
    assert is_replay(replay)
    assert replay.text == first.text
    assert first.header("X-Original-Request-Time") == replay.header("X-Original-Request-Time")
    assert first.header("X-Original-Request-Time") == first.json["createdAt"]
    assert api.llm.completions == before + 1
    records = usage_for(api, key)
    assert len(records) == 1
    assert records[0]["costUsd"] == first.json["costUsd"]


def test_lowercase_header_name_and_other_body(api: LocalApi) -> None:
    key = new_key()
    api.call("POST", "/generate", headers={"idempotency-key": key}, body=PROMPT)
    other = api.call("POST", "/generate", headers={"IDEMPOTENCY-KEY": key}, body={"prompt": "no"})
    assert other.status == 422
    assert other.header("Content-Type") == "application/problem+json"
    assert other.json["code"] == "idempotency_key_reused"


def test_concurrent_duplicates_pay_once(api: LocalApi) -> None:
    key = new_key()
    api.llm.fault(delay_ms=1000)
    before = api.llm.completions
    barrier = threading.Barrier(16)

    def one(_: int) -> Reply:
        barrier.wait()
        return api.call("POST", "/generate", idempotency_key=key, body=PROMPT)

    with ThreadPoolExecutor(16) as pool:
        replies = list(pool.map(one, range(16)))

    assert {r.status for r in replies} <= {200, 409}
    assert sum(1 for r in replies if r.status == 200 and not is_replay(r)) == 1
    assert all(r.header("Retry-After") for r in replies if r.status == 409)
    assert api.llm.completions == before + 1
    assert len(usage_for(api, key)) == 1


def test_same_key_two_tenants(api: LocalApi) -> None:
    key = new_key()
    a = api.call("POST", "/generate", idempotency_key=key, body=PROMPT)
    b = api.call("POST", "/generate", key=GLOBEX_KEY, idempotency_key=key, body=PROMPT)
    assert a.status == b.status == 200
    assert not is_replay(b)
    assert a.json["id"] != b.json["id"]
    assert len(usage_for(api, key)) == 1
    assert len(usage_for(api, key, GLOBEX_KEY)) == 1


def test_llm_failure_is_502_then_retry_completes(api: LocalApi) -> None:
    key = new_key()
    api.llm.fault(status=500, times=2)
    failed = api.call("POST", "/generate", idempotency_key=key, body=PROMPT)
    assert failed.status == 502
    assert failed.json["code"] == "llm_error"
    assert usage_for(api, key) == []

    retry = api.call("POST", "/generate", idempotency_key=key, body=PROMPT)
    assert retry.status == 200
    assert not is_replay(retry)
    assert len(usage_for(api, key)) == 1


def test_bad_input(api: LocalApi) -> None:
    assert api.call("POST", "/generate", body=PROMPT).json["code"] == "idempotency_key_required"
    too_long = api.call("POST", "/generate", idempotency_key="k" * 256, body=PROMPT)
    assert (too_long.status, too_long.json["code"]) == (400, "idempotency_key_invalid")
    big = api.call("POST", "/generate", idempotency_key=new_key(), body={"prompt": "x" * 300_000})
    assert (big.status, big.json["code"]) == (413, "payload_too_large")
    form = api.call(
        "POST", "/generate", idempotency_key=new_key(), raw=b"prompt=hi",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )  # fmt: skip
    assert form.status == 415
    invalid = api.call("POST", "/generate", idempotency_key=new_key(), body={"prompt": ""})
    assert (invalid.status, invalid.json["code"]) == (422, "validation_error")
    assert api.call("GET", "/no-such-route").status == 404


def test_the_running_total_catches_up_with_the_records(api: LocalApi) -> None:
    # Counted from the usage table's stream by UsageTotalsFunction, off the paid path.
    for _ in range(3):
        reply = api.call(
            "POST", "/generate", idempotency_key=str(uuid.uuid4()), body={"prompt": "t"}
        )
        assert reply.status == 200

    def records_sum() -> int:
        total, token = 0, None
        while True:
            page = api.call("GET", "/usage" + (f"?nextToken={token}" if token else "")).json
            total += sum(round(float(r["costUsd"]) * 1_000_000) for r in page["records"])
            token = page["nextToken"]
            if not token:
                return total

    deadline = time.monotonic() + 30
    while True:
        listing = api.call("GET", "/usage").json
        if round(float(listing["totalCostUsd"]) * 1_000_000) == records_sum():
            break
        assert time.monotonic() < deadline, "the total did not catch up in 30 s"
        time.sleep(0.2)
    assert listing["totalAsOf"] is not None
