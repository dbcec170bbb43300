"""No probing of other tenants' accounts through transfers (issue 19), over the local stack.

Whatever stops a transfer at an account the caller cannot see — missing, another tenant's, or
another tenant's in another currency — is one answer: 404 `account_not_found`, the same body but
for the id the caller sent. Only the caller's own accounts may say `currency_mismatch`. The
tenant a transfer credited can read it; nobody else can.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.e2e.conftest import ACME_KEY, GLOBEX_KEY, LocalApi
from tests.support.client import Reply

pytestmark = pytest.mark.e2e


def transfer(api: LocalApi, key: str, source: str, target: str, currency: str = "USD") -> Reply:
    body = {"fromAccountId": source, "toAccountId": target, "amount": 1, "currency": currency}
    return api.call("POST", "/transfer", key=key, idempotency_key=str(uuid.uuid4()), body=body)


def balance(api: LocalApi, key: str, account: str) -> int:
    reply = api.call("GET", f"/accounts/{account}", key=key)
    assert reply.status == 200, reply.text
    return int(reply.json["balance"])


def without(body: dict[str, Any], account: str) -> dict[str, Any]:
    """The problem with the account id the caller sent taken out of its detail."""
    return {**body, "detail": body["detail"].replace(account, "<account>")}


def test_a_target_the_caller_cannot_see_is_one_404_whatever_it_is(api: LocalApi) -> None:
    before = {
        "acme": balance(api, ACME_KEY, "acc_acme_main"),
        "eur": balance(api, GLOBEX_KEY, "acc_globex_eur"),
    }
    missing = f"acc_missing_{uuid.uuid4().hex[:8]}"
    answers = {
        # No such account.
        missing: transfer(api, ACME_KEY, "acc_acme_main", missing),
        # Another tenant's account that exists, in EUR: it cannot take USD.
        "acc_globex_eur": transfer(api, ACME_KEY, "acc_acme_main", "acc_globex_eur"),
    }
    shapes = []
    for account, reply in answers.items():
        assert reply.status == 404, (account, reply.text)
        assert reply.header("Content-Type") == "application/problem+json"
        assert reply.json["code"] == "account_not_found"
        shapes.append(without(reply.json, account))
    assert shapes[0] == shapes[1]
    # The source side answers alike: another tenant's account is a missing one.
    foreign_source = transfer(api, ACME_KEY, "acc_globex_main", "acc_acme_ops")
    assert foreign_source.status == 404
    assert without(foreign_source.json, "acc_globex_main") == shapes[0]
    # Nothing moved.
    assert balance(api, ACME_KEY, "acc_acme_main") == before["acme"]
    assert balance(api, GLOBEX_KEY, "acc_globex_eur") == before["eur"]


def test_the_callers_own_accounts_may_say_currency_mismatch(api: LocalApi) -> None:
    before = balance(api, GLOBEX_KEY, "acc_globex_eur")
    own = transfer(api, GLOBEX_KEY, "acc_globex_main", "acc_globex_eur")
    assert (own.status, own.json["code"]) == (422, "currency_mismatch")
    assert balance(api, GLOBEX_KEY, "acc_globex_eur") == before


def test_the_credited_tenant_reads_its_incoming_transfer(api: LocalApi) -> None:
    before = balance(api, GLOBEX_KEY, "acc_globex_main")
    paid = transfer(api, ACME_KEY, "acc_acme_main", "acc_globex_main")
    assert paid.status == 200, paid.text
    transfer_id = paid.json["transferId"]
    assert balance(api, GLOBEX_KEY, "acc_globex_main") == before + 1

    sender = api.call("GET", f"/transfers/{transfer_id}", key=ACME_KEY)
    receiver = api.call("GET", f"/transfers/{transfer_id}", key=GLOBEX_KEY)
    assert (sender.status, receiver.status) == (200, 200)
    assert receiver.json == sender.json == paid.json
    assert receiver.json["toAccountId"] == "acc_globex_main"
    assert receiver.json["amount"] == 1
    # The ledger entry's public fields only: no balance, key or tenant of the sender.
    assert set(receiver.json) == {
        "transferId",
        "fromAccountId",
        "toAccountId",
        "amount",
        "currency",
        "status",
        "createdAt",
    }

    # A transfer between acme's own accounts stays acme's: for globex it is a missing one.
    internal = transfer(api, ACME_KEY, "acc_acme_main", "acc_acme_ops")
    assert internal.status == 200
    hidden = api.call("GET", f"/transfers/{internal.json['transferId']}", key=GLOBEX_KEY)
    unknown = api.call("GET", "/transfers/tr_" + "0" * 32, key=GLOBEX_KEY)
    assert (hidden.status, unknown.status) == (404, 404)
    assert hidden.json["code"] == unknown.json["code"] == "transfer_not_found"
    assert without(hidden.json, internal.json["transferId"]) == without(
        unknown.json, "tr_" + "0" * 32
    )
