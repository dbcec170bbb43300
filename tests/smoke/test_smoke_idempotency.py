"""The idempotency contract, end to end, against the stack at SMOKE_URL (see conftest.py).

Cheap on purpose: two short completions (maxTokens 16) and, with accounts, one 1-cent transfer.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest

from tests.smoke.conftest import Target
from tests.support.client import Reply

REPLAY_HEADERS = ("Idempotent-Replayed", "X-Idempotency-Replayed", "X-From-Cache")
PROMPT = {"prompt": "Reply with the single word OK.", "maxTokens": 16}


def is_problem(reply: Reply, status: int, code: str) -> bool:
    content_type = reply.header("Content-Type") or ""
    return (
        reply.status == status
        and content_type.startswith("application/problem+json")
        and reply.json.get("code") == code
    )


@dataclass(frozen=True)
class Generated:
    key: str
    first: Reply
    replay: Reply


@pytest.fixture(scope="module")
def generated(target: Target) -> Generated:
    key = str(uuid.uuid4())
    first = target.post_settled("/generate", key, PROMPT)
    assert first.status == 200, first.text
    replay = target.call("POST", "/generate", idempotency_key=key, body=PROMPT)
    return Generated(key, first, replay)


def test_generate_is_replayed_byte_for_byte_with_headers(generated: Generated) -> None:
    first, replay = generated.first, generated.replay
    assert first.header("Idempotent-Replayed") is None
    assert first.header("X-Original-Request-Time")
    assert replay.status == 200
    assert replay.text == first.text
    for name in REPLAY_HEADERS:
        assert replay.header(name) == "true", name
    assert replay.header("X-Original-Request-Time") == first.header("X-Original-Request-Time")


def test_usage_has_one_record_for_the_key(target: Target, generated: Generated) -> None:
    reply = target.call("GET", f"/usage?idempotencyKey={generated.key}")
    assert reply.status == 200, reply.text
    records = reply.json["records"]
    assert len(records) == 1
    assert records[0]["operation"] == "generate"
    assert records[0]["costUsd"] == generated.first.json["costUsd"]


def test_same_key_with_another_body_is_refused(target: Target, generated: Generated) -> None:
    other = {**PROMPT, "prompt": "Something else entirely."}
    reply = target.call("POST", "/generate", idempotency_key=generated.key, body=other)
    assert is_problem(reply, 422, "idempotency_key_reused"), reply.text


def test_missing_idempotency_key_is_400(target: Target) -> None:
    reply = target.call("POST", "/generate", body=PROMPT)
    assert is_problem(reply, 400, "idempotency_key_required"), reply.text


def test_invalid_idempotency_key_is_400(target: Target) -> None:
    reply = target.call("POST", "/generate", idempotency_key="x" * 256, body=PROMPT)
    assert is_problem(reply, 400, "idempotency_key_invalid"), reply.text


def test_validation_failures_are_not_stored(target: Target) -> None:
    key = str(uuid.uuid4())
    invalid = target.call("POST", "/generate", idempotency_key=key, body={"prompt": ""})
    assert is_problem(invalid, 422, "validation_error"), invalid.text
    valid = target.post_settled("/generate", key, PROMPT)
    assert valid.status == 200, valid.text
    assert valid.header("Idempotent-Replayed") is None


def test_auth_missing_is_401_unknown_is_403(target: Target) -> None:
    key = str(uuid.uuid4())
    missing = target.call("POST", "/generate", api_key=None, idempotency_key=key, body=PROMPT)
    assert missing.status == 401
    unknown = target.call(
        "POST", "/generate", api_key="rp_unknown_0000000000000000", idempotency_key=key, body=PROMPT
    )
    assert unknown.status == 403
    assert target.call("GET", "/usage", api_key="rp_unknown_0000000000000000").status == 403


def test_transfer_is_applied_once_and_replayed(target: Target) -> None:
    if not (target.from_account and target.to_account):
        pytest.skip("set SMOKE_FROM_ACCOUNT and SMOKE_TO_ACCOUNT for the transfer check")
    source = target.call("GET", f"/accounts/{target.from_account}")
    assert source.status == 200, source.text
    body = {
        "fromAccountId": target.from_account,
        "toAccountId": target.to_account,
        "amount": 1,
        "currency": source.json["currency"],
    }
    key = str(uuid.uuid4())
    first = target.post_settled("/transfer", key, body)
    assert first.status == 200, first.text
    replay = target.call("POST", "/transfer", idempotency_key=key, body=body)
    assert replay.status == 200
    assert replay.text == first.text
    assert replay.header("Idempotent-Replayed") == "true"
    transfer_id = first.json["transferId"]
    ledger = target.call("GET", f"/transfers/{transfer_id}")
    assert ledger.status == 200
    assert ledger.json["amount"] == 1
    after = target.call("GET", f"/accounts/{target.from_account}").json["balance"]
    assert after == source.json["balance"] - 1  # moved once (on a dedicated smoke account)
