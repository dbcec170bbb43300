"""POST /transfer, GET /accounts, GET /transfers against the moto server: money moves once."""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from retryproof import aws
from retryproof.dal.transfers import DynamoTransferStore
from retryproof.faults import ENV as CRASH_ENV
from retryproof.faults import SimulatedCrash
from retryproof.models.transfers import TransferRequest
from retryproof.tools import AGENT_SCOPE
from retryproof.transfers import transfer_funds
from tests.integration.conftest import Stack
from tests.support.handlers import (
    Result,
    balance,
    body,
    get,
    ledger,
    open_account,
    transfer,
)
from tests.support.lost_answers import first_answer_lost

pytestmark = pytest.mark.integration


@pytest.fixture
def pair(stack: Stack, tenant: str) -> tuple[str, str]:
    return open_account(stack, tenant, 100_000), open_account(stack, tenant, 0)


def test_transfer_moves_money_once_and_replays(
    stack: Stack, tenant: str, key: str, pair: tuple[str, str]
) -> None:
    src, dst = pair
    first = transfer(stack, tenant, key, body(src, dst, 2500))

    assert first.status == 200
    out = first.json
    assert out["transferId"].startswith("tr_")
    assert out | {"transferId": "", "createdAt": ""} == {
        "transferId": "",
        "fromAccountId": src,
        "toAccountId": dst,
        "amount": 2500,
        "currency": "USD",
        "status": "completed",
        "createdAt": "",
    }
    assert first.header("X-Original-Request-Time") == out["createdAt"]
    assert (balance(stack, tenant, src), balance(stack, tenant, dst)) == (97_500, 2_500)

    again = transfer(stack, tenant, key, body(src, dst, 2500))

    assert again.status == 200
    assert again.replayed
    assert again.text == first.text
    assert (balance(stack, tenant, src), balance(stack, tenant, dst)) == (97_500, 2_500)
    entries = ledger(stack, tenant)
    assert len(entries) == 1
    assert entries[0]["idempotencyKey"]["S"] == key

    fetched = get(stack, tenant, f"/transfers/{out['transferId']}")
    assert fetched.status == 200
    assert fetched.json == out


def test_sixteen_concurrent_requests_with_one_key_debit_once(
    stack: Stack, tenant: str, key: str, pair: tuple[str, str]
) -> None:
    src, dst = pair
    barrier = threading.Barrier(16)

    def one(_: int) -> Result:
        barrier.wait()
        return transfer(stack, tenant, key, body(src, dst, 700))

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(one, range(16)))

    assert {r.status for r in results} <= {200, 409}
    ids = {r.json["transferId"] for r in results if r.status == 200}
    assert len(ids) == 1
    assert (balance(stack, tenant, src), balance(stack, tenant, dst)) == (99_300, 700)
    assert len(ledger(stack, tenant)) == 1


def test_money_is_conserved_under_concurrency_and_random_retries(stack: Stack, tenant: str) -> None:
    rng = random.Random(20261127)
    accounts = [open_account(stack, tenant, 50_000) for _ in range(5)]
    plans = []
    for i in range(200):
        src, dst = rng.sample(accounts, 2)
        plans.append((f"conserve-{i}", body(src, dst, rng.randint(1, 20_000)), rng.randint(1, 3)))

    def run(plan: tuple[str, dict[str, Any], int]) -> list[Result]:
        key, request, attempts = plan
        return [transfer(stack, tenant, key, request) for _ in range(attempts)]

    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(run, plans))

    statuses = Counter(r.status for results in outcomes for r in results)
    # 503: a transaction on a hot account kept being cancelled by others (TransactionConflict,
    # emulated as DynamoDB does): not stored, so the client retries it, as it does a 409.
    assert set(statuses) <= {200, 400, 409, 503}, statuses
    for plan, results in zip(plans, outcomes, strict=True):
        while results[-1].status in (409, 503):
            time.sleep(0.05)
            results.append(transfer(stack, tenant, plan[0], plan[1]))
    balances = {a: balance(stack, tenant, a) for a in accounts}
    assert sum(balances.values()) == 5 * 50_000
    entries = ledger(stack, tenant)
    keys = [e["idempotencyKey"]["S"] for e in entries]
    assert len(keys) == len(set(keys)), "a transfer was applied twice"
    for account in accounts:
        credits = sum(int(e["amount"]["N"]) for e in entries if e["toAccountId"]["S"] == account)
        debits = sum(int(e["amount"]["N"]) for e in entries if e["fromAccountId"]["S"] == account)
        assert balances[account] == 50_000 + credits - debits
        assert balances[account] >= 0
    # Every key's answers agree: one transfer id, or one stored rejection.
    for results in outcomes:
        final = [r for r in results if r.status not in (409, 503)]
        assert len({(r.status, r.text) for r in final}) == 1
    succeeded = {r.json["transferId"] for results in outcomes for r in results if r.status == 200}
    assert len(succeeded) == len(entries)


def test_insufficient_funds_is_stored_and_replayed(
    stack: Stack, tenant: str, key: str, pair: tuple[str, str]
) -> None:
    src, dst = pair
    rejected = transfer(stack, tenant, key, body(dst, src, 1))  # dst has 0
    assert rejected.status == 400
    assert rejected.header("Content-Type") == "application/problem+json"
    assert rejected.json["code"] == "insufficient_funds"

    transfer(stack, tenant, str(uuid.uuid4()), body(src, dst, 10))  # now dst could pay
    replay = transfer(stack, tenant, key, body(dst, src, 1))

    assert replay.status == 400
    assert replay.replayed
    assert replay.text == rejected.text
    assert (balance(stack, tenant, src), balance(stack, tenant, dst)) == (99_990, 10)


def test_other_tenants_and_missing_accounts_are_not_found(
    stack: Stack, tenant: str, pair: tuple[str, str]
) -> None:
    src, dst = pair
    intruder = f"intruder-{uuid.uuid4().hex[:6]}"
    stolen = transfer(stack, intruder, str(uuid.uuid4()), body(src, dst, 10))
    missing = transfer(stack, tenant, str(uuid.uuid4()), body(src, "acc_nope", 10))
    missing_src = transfer(stack, tenant, str(uuid.uuid4()), body("acc_nope", dst, 10))

    for reply in (stolen, missing, missing_src):
        assert reply.status == 404
        assert reply.json["code"] == "account_not_found"
    assert get(stack, intruder, f"/accounts/{src}").status == 404
    assert (balance(stack, tenant, src), balance(stack, tenant, dst)) == (100_000, 0)

    made = transfer(stack, tenant, str(uuid.uuid4()), body(src, dst, 10)).json["transferId"]
    assert get(stack, intruder, f"/transfers/{made}").status == 404
    assert get(stack, tenant, "/transfers/tr_missing").json["code"] == "transfer_not_found"


def test_currency_mismatch(stack: Stack, tenant: str, pair: tuple[str, str]) -> None:
    src, _ = pair
    eur = open_account(stack, tenant, 1_000, "EUR")
    to_eur = transfer(stack, tenant, str(uuid.uuid4()), body(src, eur, 10))
    wrong_currency = transfer(stack, tenant, str(uuid.uuid4()), body(src, eur, 10, "EUR"))
    for reply in (to_eur, wrong_currency):
        assert (reply.status, reply.json["code"]) == (422, "currency_mismatch")
    assert balance(stack, tenant, src) == 100_000
    assert balance(stack, tenant, eur) == 1_000


def test_same_account_is_a_validation_error_not_stored(
    stack: Stack, tenant: str, key: str, pair: tuple[str, str]
) -> None:
    src, dst = pair
    same = transfer(stack, tenant, key, body(src, src, 10))
    assert (same.status, same.json["code"]) == (422, "same_account")
    fixed = transfer(stack, tenant, key, body(src, dst, 10))
    assert fixed.status == 200
    assert not fixed.replayed


@pytest.mark.parametrize("amount", [0, -5, 10.5, 10.0, "10", True, None, 10**12 + 1], ids=repr)
def test_bad_amounts_are_422_and_move_nothing(
    stack: Stack, tenant: str, key: str, pair: tuple[str, str], amount: Any
) -> None:
    src, dst = pair
    reply = transfer(stack, tenant, key, body(src, dst, amount))
    assert (reply.status, reply.json["code"]) == (422, "validation_error")
    assert "amount" in reply.json["detail"]
    assert (balance(stack, tenant, src), balance(stack, tenant, dst)) == (100_000, 0)
    assert ledger(stack, tenant) == []


def test_largest_amount_is_accepted_as_an_integer(stack: Stack, tenant: str, key: str) -> None:
    rich = open_account(stack, tenant, 10**12)
    poor = open_account(stack, tenant, 0)
    reply = transfer(stack, tenant, key, body(rich, poor, 10**12))
    assert reply.status == 200
    assert reply.json["amount"] == 10**12
    assert balance(stack, tenant, poor) == 10**12


def test_bad_currency_and_missing_fields_are_422(stack: Stack, tenant: str, key: str) -> None:
    for bad in (
        {"fromAccountId": "a", "toAccountId": "b", "amount": 1, "currency": "usd"},
        {"fromAccountId": "a", "amount": 1, "currency": "USD"},
        {"fromAccountId": "a", "toAccountId": "b", "amount": 1, "currency": "USD", "memo": "extra"},
    ):
        reply = transfer(stack, tenant, key, bad)
        assert (reply.status, reply.json["code"]) == (422, "validation_error")


def test_retry_after_the_idempotency_record_expired_returns_the_original_transfer(
    stack: Stack, settings_env: pytest.MonkeyPatch, tenant: str, key: str, pair: tuple[str, str]
) -> None:
    settings_env.setenv("IDEMPOTENCY_TTL_TRANSFER", "2")
    src, dst = pair
    first = transfer(stack, tenant, key, body(src, dst, 1234))
    time.sleep(3.1)

    late = transfer(stack, tenant, key, body(src, dst, 1234))

    assert late.status == 200
    assert late.replayed
    assert late.json == first.json
    assert late.header("X-Original-Request-Time") == first.header("X-Original-Request-Time")
    assert (balance(stack, tenant, src), balance(stack, tenant, dst)) == (98_766, 1234)
    assert len(ledger(stack, tenant)) == 1

    reused = transfer(stack, tenant, key, body(src, dst, 1))
    assert (reused.status, reused.json["code"]) == (422, "idempotency_key_reused")


def test_crash_between_commit_and_storing_the_result_does_not_debit_twice(
    stack: Stack, settings_env: pytest.MonkeyPatch, tenant: str, key: str, pair: tuple[str, str]
) -> None:
    src, dst = pair
    settings_env.setenv(CRASH_ENV, "transfer.after_commit")
    with pytest.raises(SimulatedCrash):
        transfer(stack, tenant, key, body(src, dst, 500), timeout_s=3)
    settings_env.delenv(CRASH_ENV)
    assert (balance(stack, tenant, src), balance(stack, tenant, dst)) == (99_500, 500)

    assert transfer(stack, tenant, key, body(src, dst, 500)).status == 409  # leased
    time.sleep(3.5)
    retry = transfer(stack, tenant, key, body(src, dst, 500))

    assert retry.status == 200
    assert retry.replayed
    assert json.loads(retry.text)["amount"] == 500
    assert (balance(stack, tenant, src), balance(stack, tenant, dst)) == (99_500, 500)
    assert len(ledger(stack, tenant)) == 1


def test_a_first_transfer_whose_commit_answer_was_lost_is_no_replay(
    stack: Stack, tenant: str, key: str, pair: tuple[str, str]
) -> None:
    src, dst = pair
    ledger_table = stack.refs.table("LedgerTable")
    with first_answer_lost(aws.dynamodb(), "TransactWriteItems", ledger_table) as sent:
        first = transfer(stack, tenant, key, body(src, dst, 700))

    assert sent == [200]  # committed; the answer lost; botocore sent the transaction again
    assert first.status == 200
    assert not first.replayed  # the first execution's own answer, not a replay
    assert (balance(stack, tenant, src), balance(stack, tenant, dst)) == (99_300, 700)
    assert len(ledger(stack, tenant)) == 1
    assert transfer(stack, tenant, key, body(src, dst, 700)).replayed


def test_a_client_key_cannot_reach_the_agents_transfer(
    stack: Stack, tenant: str, pair: tuple[str, str]
) -> None:
    # The agent's tool moves money under the internal key agent:<run>:<tool call>; a client that
    # sends that very key to POST /transfer gets a transfer of its own, never the agent's.
    src, dst = pair
    agent_key = "agent:run_1:call_1"
    agent = transfer_funds(
        TransferRequest(from_account_id=src, to_account_id=dst, amount=100, currency="USD"),
        tenant_id=tenant,
        idempotency_key=agent_key,
        request_hash="h",
        store=DynamoTransferStore(
            aws.dynamodb(), stack.refs.table("AccountsTable"), stack.refs.table("LedgerTable")
        ),
        scope=AGENT_SCOPE,
    )

    client = transfer(stack, tenant, agent_key, body(src, dst, 100))

    assert client.status == 200
    assert not client.replayed
    assert client.json["transferId"] != agent.entry.transfer_id
    assert (balance(stack, tenant, src), balance(stack, tenant, dst)) == (99_800, 200)
