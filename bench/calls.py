"""DynamoDB calls per request, per route and situation, against their floors.

Counted with a botocore event hook on the functions' DynamoDB client, in-process against the
emulator (local/inprocess.py). Deterministic, so `make test` checks the floors too.

Floors: the idempotency store costs 2 calls on a first request (claim + complete), 1 on a replay
(the failed conditional put returns the stored record: no read), 0 on a warm replay (the local
cache of the execution environment); the business write is 1 call (one transaction). A key's
status is one read while the idempotency store has its record, two past its window. Every request
of a tenant (not the authorizer's) adds one more: the tenant's request counter (docs/limits.md).
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from local.inprocess import InProcess
from local.lambda_runtime import LocalFunction
from retryproof import aws
from retryproof.dal.accounts import DynamoAccountRepository
from retryproof.dal.api_keys import DynamoApiKeyRepository
from retryproof.dal.idempotency_records import record_id
from retryproof.faults import ENV as CRASH_ENV
from retryproof.faults import SimulatedCrash
from retryproof.models.transfers import AccountItem
from tests.support.events import event, http_event

# The per-tenant request limit: one counter update on every request with a tenant (0 with
# TENANT_RATE_LIMIT=0). The local stack keeps the limit on (local/stack.py, LOCAL_PARAMETERS).
RATE = 1


@dataclass(frozen=True)
class Row:
    route: str
    situation: str
    status: int
    calls: int
    floor: int
    note: str = ""

    @property
    def at_floor(self) -> bool:
        return self.calls <= self.floor


class Counter:
    """DynamoDB calls of the measured request: made in the measuring thread (an agent run's
    durable execution goes on in other threads of the process; its calls are not the route's)."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self._thread = threading.get_ident()
        aws.dynamodb().meta.events.register("before-call.dynamodb", self._count)

    def _count(self, model: Any, **_: Any) -> None:
        if threading.get_ident() == self._thread:
            self.calls.append(model.name)

    def measure(self, action: Callable[[], Any]) -> tuple[int, Any]:
        self._thread = threading.get_ident()
        self.calls.clear()
        result = action()
        return len(self.calls), result


def _status(out: Any) -> int:
    return int(out["statusCode"]) if isinstance(out, dict) and "statusCode" in out else 200


def measure_calls(ip: InProcess) -> list[Row]:
    counter = Counter()
    tenant = f"bench-{uuid.uuid4().hex[:8]}"
    accounts = DynamoAccountRepository(aws.dynamodb(), ip.refs.table("AccountsTable"))
    src, dst = f"acc_{uuid.uuid4().hex[:8]}", f"acc_{uuid.uuid4().hex[:8]}"
    for account_id, balance in ((src, 10**9), (dst, 0)):
        accounts.put(
            AccountItem(
                account_id=account_id,
                tenant_id=tenant,
                balance=balance,
                opening_balance=balance,
                currency="USD",
            )
        )
    rows: list[Row] = []

    def new_environment(function: str) -> None:
        """The next invocation starts another execution environment (a cold local cache)."""
        ip.functions[function] = LocalFunction(ip.functions[function].spec)

    def post(function: str, fixture: str, body: Any, key: str) -> Callable[[], Any]:
        # Agent runs: answer at once (202), so the route's calls do not depend on the run's pace.
        headers = {"idempotency-key": key, "prefer": "wait=0"}
        ev = http_event(fixture, tenant=tenant, body=body, headers=headers)
        return lambda: ip.invoke(function, ev)

    def idempotent_route(
        route: str, function: str, fixture: str, body: Any, other: Any, crash: str, first_floor: int
    ) -> str:
        key = str(uuid.uuid4())
        calls, out = counter.measure(post(function, fixture, body, key))
        rows.append(Row(route, "first request", _status(out), calls, first_floor + RATE))
        new_environment(function)
        calls, out = counter.measure(post(function, fixture, body, key))
        rows.append(Row(route, "replay (cold cache)", _status(out), calls, 1 + RATE))
        calls, out = counter.measure(post(function, fixture, body, key))
        rows.append(Row(route, "replay (warm cache)", _status(out), calls, 0 + RATE))
        new_environment(function)
        calls, out = counter.measure(post(function, fixture, other, key))
        rows.append(Row(route, "payload mismatch", _status(out), calls, 1 + RATE))
        crashed = str(uuid.uuid4())
        os.environ[CRASH_ENV] = crash
        try:
            post(function, fixture, body, crashed)()
        except SimulatedCrash:
            pass
        finally:
            os.environ.pop(CRASH_ENV, None)
        calls, out = counter.measure(post(function, fixture, body, crashed))
        rows.append(Row(route, "in-flight conflict", _status(out), calls, 1 + RATE))
        return key

    idempotent_route(
        "POST /generate",
        "GenerateFunction",
        "generate_post.json",
        {"prompt": "bench"},
        {"prompt": "other"},
        "generate.after_usage_record",
        # the store's claim and completion, the usage record read before paying (it answers a
        # retry whose idempotency record TTL deleted) and its conditional put
        first_floor=2 + 1 + 1,
    )
    transfer = {"fromAccountId": src, "toAccountId": dst, "amount": 1, "currency": "USD"}
    transfer_key = idempotent_route(
        "POST /transfer",
        "TransferFunction",
        "transfer_post.json",
        transfer,
        transfer | {"amount": 2},
        "transfer.after_commit",
        first_floor=2 + 1,
    )
    call = json.dumps(transfer | {"amount": 3})
    # Starting an agent run (Prefer: wait=0, 202): the run's header + one read of the run, on top
    # of the store's 2; the run itself goes on as a durable execution (its calls are its own).
    idempotent_route(
        "POST /agent/runs",
        "AgentFunction",
        "agent_run_post.json",
        {"input": f"CALL transfer_funds {call}", "tools": ["transfer_funds"]},
        {"input": "other", "tools": []},
        "agent.after_start",
        first_floor=2 + 1 + 1,
    )

    # Authorizer and read routes: one read each (usage: the page and the running total).
    key = DynamoApiKeyRepository(aws.dynamodb(), ip.refs.table("ApiKeysTable")).create(tenant)
    auth = event("authorizer_valid_key.json")
    auth["headers"]["authorization"] = f"Bearer {key}"
    auth["identitySource"] = [f"Bearer {key}"]
    calls, out = counter.measure(lambda: ip.invoke("AuthorizerFunction", auth))
    rows.append(Row("authorizer", "valid key", 200 if out.get("isAuthorized") else 403, calls, 1))
    account = http_event("account_get.json", tenant=tenant)
    account["pathParameters"] = {"accountId": src}
    account["rawPath"] = account["requestContext"]["http"]["path"] = f"/accounts/{src}"
    calls, out = counter.measure(lambda: ip.invoke("AccountsFunction", account))
    rows.append(Row("GET /accounts/{id}", "read", _status(out), calls, 1 + RATE))
    transfer_id = json.loads(
        post("TransferFunction", "transfer_post.json", transfer, transfer_key)()["body"]
    )["transferId"]
    fetched = http_event("transfer_get.json", tenant=tenant)
    fetched["pathParameters"] = {"transferId": transfer_id}
    fetched["rawPath"] = fetched["requestContext"]["http"]["path"] = f"/transfers/{transfer_id}"
    calls, out = counter.measure(lambda: ip.invoke("AccountsFunction", fetched))
    rows.append(Row("GET /transfers/{id}", "read", _status(out), calls, 1 + RATE))
    usage = http_event("usage_get.json", tenant=tenant)
    calls, out = counter.measure(lambda: ip.invoke("UsageFunction", usage))
    rows.append(Row("GET /usage", "read", _status(out), calls, 2 + RATE, "page + running total"))

    # Key status: the idempotency store's record answers (one read); past its window (the record
    # gone), the durable record is read too.
    status = http_event("key_status_get.json", tenant=tenant, query={"operation": "transfer"})
    status["pathParameters"] = {"key": transfer_key}
    status_path = f"/idempotency-keys/{transfer_key}"
    status["rawPath"] = status["requestContext"]["http"]["path"] = status_path
    calls, out = counter.measure(lambda: ip.invoke("KeyStatusFunction", status))
    rows.append(Row("GET /idempotency-keys/{key}", "read", _status(out), calls, 1 + RATE))
    ip.dynamodb.delete_item(  # as DynamoDB's TTL does once the record expired
        TableName=ip.refs.table("IdempotencyTable"),
        Key={"id": {"S": record_id("transfer", tenant, transfer_key)}},
    )
    calls, out = counter.measure(lambda: ip.invoke("KeyStatusFunction", status))
    rows.append(Row("GET /idempotency-keys/{key}", "past its window", _status(out), calls, 2 + RATE,
                    "the record, then the ledger entry"))  # fmt: skip
    return rows
