"""Transfers over HTTP against the seeded accounts: the seed's story, retried."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.e2e.conftest import GLOBEX_KEY, LocalApi
from tests.support.client import Reply

pytestmark = pytest.mark.e2e


def balances(api: LocalApi) -> tuple[int, int]:
    main = api.call("GET", "/accounts/acc_acme_main").json["balance"]
    ops = api.call("GET", "/accounts/acc_acme_ops").json["balance"]
    return main, ops


def test_a_transfer_retried_concurrently_moves_money_once(api: LocalApi) -> None:
    key = str(uuid.uuid4())
    request = {
        "fromAccountId": "acc_acme_main",
        "toAccountId": "acc_acme_ops",
        "amount": 1000,
        "currency": "USD",
    }
    main, ops = balances(api)
    barrier = threading.Barrier(5)

    def one(_: int) -> Reply:
        barrier.wait()
        return api.call("POST", "/transfer", idempotency_key=key, body=request)

    with ThreadPoolExecutor(5) as pool:
        replies = list(pool.map(one, range(5)))
    late = api.call("POST", "/transfer", idempotency_key=key, body=request)

    assert {r.status for r in replies} <= {200, 409}
    assert late.status == 200
    assert late.header("Idempotent-Replayed") == "true"
    assert balances(api) == (main - 1000, ops + 1000)
    transfer_id = late.json["transferId"]
    fetched = api.call("GET", f"/transfers/{transfer_id}")
    assert fetched.status == 200
    assert fetched.json == late.json
    assert api.call("GET", f"/transfers/{transfer_id}", key=GLOBEX_KEY).status == 404


def test_errors_over_http(api: LocalApi) -> None:
    def post(body: dict[str, object], key: str = GLOBEX_KEY) -> Reply:
        return api.call("POST", "/transfer", key=key, idempotency_key=str(uuid.uuid4()), body=body)

    base = {"fromAccountId": "acc_globex_main", "toAccountId": "acc_globex_eur", "currency": "USD"}
    assert post(base | {"amount": 10}).json["code"] == "currency_mismatch"
    assert post(base | {"amount": 10**9, "toAccountId": "acc_acme_ops"}).status == 400
    assert post(base | {"amount": 1.5}).status == 422
    assert post(base | {"amount": 5, "fromAccountId": "acc_acme_main"}).status == 404
    assert (
        post(base | {"amount": 5, "toAccountId": "acc_globex_main"}).json["code"] == "same_account"
    )
    assert api.call("GET", "/accounts/acc_acme_main", key=GLOBEX_KEY).status == 404
    no_key = api.call("POST", "/transfer", body=base | {"amount": 1})
    assert no_key.json["code"] == "idempotency_key_required"
