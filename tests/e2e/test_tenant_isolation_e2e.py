"""Tenant B can neither read, replay nor influence tenant A's keys, money, usage or documents."""

from __future__ import annotations

import json
import time
import uuid

import pytest

from tests.e2e.conftest import ACME_KEY, GLOBEX_KEY, LocalApi
from tests.support.webhooks import signature_headers

pytestmark = pytest.mark.e2e

ACME_SECRET = "whsec_Fo2K2eUCIr+F8+1khegsfssVd57kgeSQ"
GLOBEX_SECRET = "whsec_Z2xvYmV4LXdlYmhvb2stc2VjcmV0LTAxMjM0NTY3ODk="


def test_tenants_are_isolated_on_every_route(api: LocalApi) -> None:
    key = f"shared-{uuid.uuid4()}"
    # Idempotency keys: the same key is two separate operations.
    a = api.call("POST", "/generate", key=ACME_KEY, idempotency_key=key, body={"prompt": "a"})
    b = api.call("POST", "/generate", key=GLOBEX_KEY, idempotency_key=key, body={"prompt": "b"})
    assert (a.status, b.status) == (200, 200)
    assert b.header("Idempotent-Replayed") is None
    assert a.json["id"] != b.json["id"]
    run_a = api.call(
        "POST",
        "/agent/runs",
        key=ACME_KEY,
        idempotency_key=key,
        body={"input": "hello", "tools": []},
    )
    run_b = api.call(
        "POST",
        "/agent/runs",
        key=GLOBEX_KEY,
        idempotency_key=key,
        body={"input": "other", "tools": []},
    )
    assert (run_a.status, run_b.status) == (200, 200)
    assert run_a.json["runId"] != run_b.json["runId"]

    # Usage: each tenant sees only its own records.
    usage_a = api.call("GET", f"/usage?idempotencyKey={key}", key=ACME_KEY).json["records"]
    usage_b = api.call("GET", f"/usage?idempotencyKey={key}", key=GLOBEX_KEY).json["records"]
    assert len(usage_a) == len(usage_b) == 2

    # Money: B cannot read A's accounts or transfers, nor debit A.
    transfer = api.call(
        "POST",
        "/transfer",
        key=ACME_KEY,
        idempotency_key=key,
        body={
            "fromAccountId": "acc_acme_main",
            "toAccountId": "acc_acme_ops",
            "amount": 1,
            "currency": "USD",
        },
    )
    assert transfer.status == 200
    balance = api.call("GET", "/accounts/acc_acme_main", key=ACME_KEY).json["balance"]
    assert api.call("GET", "/accounts/acc_acme_main", key=GLOBEX_KEY).status == 404
    stolen_from = api.call("GET", f"/transfers/{transfer.json['transferId']}", key=GLOBEX_KEY)
    assert stolen_from.status == 404
    theft = api.call(
        "POST",
        "/transfer",
        key=GLOBEX_KEY,
        idempotency_key=key,
        body={
            "fromAccountId": "acc_acme_main",
            "toAccountId": "acc_globex_main",
            "amount": 1,
            "currency": "USD",
        },
    )
    assert (theft.status, theft.json["code"]) == (404, "account_not_found")
    assert api.call("GET", "/accounts/acc_acme_main", key=ACME_KEY).json["balance"] == balance

    # Documents: A's webhook event and summary are invisible to B.
    event_id, doc = f"evt_{uuid.uuid4().hex[:12]}", f"doc_{uuid.uuid4().hex[:8]}"
    raw = json.dumps(
        {
            "eventId": event_id,
            "tenantId": "acme",
            "documentId": doc,
            "content": "Quarterly numbers.",
        }
    ).encode()
    delivered = api.call(
        "POST",
        "/webhooks/document-uploaded",
        key=None,
        raw=raw,
        headers=signature_headers(ACME_SECRET, raw),
    )
    assert delivered.status == 202
    deadline = time.monotonic() + 30
    while api.call("GET", f"/summaries/{doc}", key=ACME_KEY).status != 200:
        assert time.monotonic() < deadline, "the summary never arrived"
        time.sleep(0.2)
    assert api.call("GET", f"/webhook-events/{event_id}", key=GLOBEX_KEY).status == 404
    assert api.call("GET", f"/summaries/{doc}", key=GLOBEX_KEY).status == 404
    # B signing A's event with its own secret is refused, whatever it claims to be.
    forged = api.call(
        "POST",
        "/webhooks/document-uploaded",
        key=None,
        raw=raw,
        headers=signature_headers(GLOBEX_SECRET, raw),
    )
    assert forged.status == 401
