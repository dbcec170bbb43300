"""What operators see: JSON logs with correlation ids and no secrets, and EMF metrics."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest

from retryproof.observability import key_hash
from tests.e2e.conftest import LocalApi

pytestmark = pytest.mark.e2e

PROMPT = "A very private prompt about payroll."


def records(api: LocalApi) -> list[dict[str, Any]]:
    out = []
    for line in api.log.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
    return out


def test_logs_carry_ids_not_secrets_and_metrics_are_emf(api: LocalApi) -> None:
    key = str(uuid.uuid4())
    first = api.call("POST", "/generate", idempotency_key=key, body={"prompt": PROMPT})
    replay = api.call("POST", "/generate", idempotency_key=key, body={"prompt": PROMPT})
    assert first.status == replay.status == 200
    request_ids = {first.header("apigw-requestid"), replay.header("apigw-requestid")}

    def logged() -> list[dict[str, Any]]:
        return [r for r in records(api) if r.get("idempotency_key_hash") == key_hash(key)]

    deadline = time.monotonic() + 30  # the stack's output reaches its log file in its own time
    while {r.get("correlation_id") for r in logged()} != request_ids:
        if time.monotonic() > deadline:
            break
        time.sleep(0.2)
    mine = logged()
    assert {r.get("message") for r in mine} >= {"answered"}
    assert {r.get("correlation_id") for r in mine} == request_ids
    assert {r.get("tenant_id") for r in mine} == {"acme"}
    assert {r.get("replayed") for r in mine} == {False, True}
    text = api.log.read_text(errors="replace")
    assert PROMPT not in text
    assert key not in text
    assert "rp_test_acme_0123456789abcdef" not in text

    emf = [r for r in records(api) if "_aws" in r]
    names = {m["Name"] for r in emf for d in r["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]}
    assert {"LLMCompletion", "LLMTokens", "LLMCostMicroUSD", "IdempotentReplay"} <= names
    assert {d["Namespace"] for r in emf for d in r["_aws"]["CloudWatchMetrics"]} == {"Retryproof"}
