"""Agent runs over HTTP: a run fails on step 2 (POST /faults), the retry resumes once."""

from __future__ import annotations

import json
import uuid

import pytest

from tests.e2e.conftest import LocalApi

pytestmark = pytest.mark.e2e


def test_a_failed_run_resumes_without_repeating_steps_or_transfers(api: LocalApi) -> None:
    key = str(uuid.uuid4())
    args = {
        "fromAccountId": "acc_acme_main",
        "toAccountId": "acc_acme_ops",
        "amount": 42,
        "currency": "USD",
    }
    body = {
        "input": f"Pay ops 42 cents.\nCALL transfer_funds {json.dumps(args)}",
        "tools": ["transfer_funds", "get_balance"],
    }
    ops_before = api.call("GET", "/accounts/acc_acme_ops").json["balance"]
    completions = api.llm.completions
    api.llm.fault(delay_ms=1, times=1)
    api.llm.fault(status=500, times=2)

    failed = api.call("POST", "/agent/runs", idempotency_key=key, body=body)
    assert failed.status == 502
    assert failed.json["code"] == "llm_error"

    resumed = api.call("POST", "/agent/runs", idempotency_key=key, body=body)
    assert resumed.status == 200
    out = resumed.json
    assert out["status"] == "completed"
    assert out["steps"][0]["replayed"] is True
    assert api.llm.completions == completions + 2  # step 1 once, step 2 once
    assert api.call("GET", "/accounts/acc_acme_ops").json["balance"] == ops_before + 42

    replay = api.call("POST", "/agent/runs", idempotency_key=key, body=body)
    assert replay.header("Idempotent-Replayed") == "true"
    assert replay.text == resumed.text
    usage = api.call("GET", f"/usage?idempotencyKey={key}").json["records"]
    assert [r["operation"] for r in usage] == ["agent_step", "agent_step"]
