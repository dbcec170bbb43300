"""DynamoDB calls per request, per route and situation, against their floors.

Counted with a botocore event hook on the functions' DynamoDB client, in-process against the
emulator (local/inprocess.py). Deterministic, so `make test` checks the floors too.

Floors: the idempotency store costs 2 calls on a first request (claim + complete), 1 on a replay
(the failed conditional put returns the stored record: no read), 0 on a warm replay (the local
cache of the execution environment); the business write is 1 call (one transaction). A completion
is stored once, in its usage record: a cold replay of /generate reads it there (one more call).

Each row also carries the request's capacity units (bench/capacity.py), with /generate's
completion of `tokens` tokens; their floors are in `CAPACITY_FLOORS`. A key's
status is one read while the idempotency store has its record, two past its window. Every request
of a tenant (not the authorizer's) adds one more: the tenant's request counter (docs/limits.md).
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from bench.capacity import CapacityMeter
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
    # Capacity units of the request (bench/capacity.py): read and write request units, and what
    # they come from (each call: operation, units, the bytes of the items it read or wrote).
    rcu: float = 0.0
    wcu: float = 0.0
    detail: str = ""
    written_bytes: int = 0  # the items the request wrote (the larger of before and after)

    @property
    def at_floor(self) -> bool:
        return self.calls <= self.floor


class Counter:
    """DynamoDB calls of the measured request: made in the measuring thread (an agent run's
    durable execution goes on in other threads of the process; its calls are not the route's),
    and their capacity units (bench/capacity.py)."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self._thread = threading.get_ident()
        client = aws.dynamodb()
        client.meta.events.register("before-call.dynamodb", self._count)
        self.meter = CapacityMeter(client)
        self.rcu = self.wcu = 0.0

    def _count(self, model: Any, **_: Any) -> None:
        if threading.get_ident() == self._thread:
            self.calls.append(model.name)

    def close(self) -> None:
        self.meter.close()
        aws.dynamodb().meta.events.unregister("before-call.dynamodb", self._count)

    def measure(self, action: Callable[[], Any]) -> tuple[int, Any]:
        self._thread = threading.get_ident()
        self.calls.clear()
        _, result = self.meter.measure(action)
        self.rcu, self.wcu = self.meter.rcu, self.meter.wcu
        return len(self.calls), result

    def row(self, route: str, situation: str, status: int, calls: int, floor: int,
            note: str = "") -> Row:  # fmt: skip
        """A row of the request just measured."""
        accesses = self.meter.accesses
        detail = "; ".join(a.describe() for a in accesses)
        written = sum(sum(a.items_bytes) for a in accesses if a.wcu)
        return Row(
            route, situation, status, calls, floor, note, self.rcu, self.wcu, detail, written
        )


def _status(out: Any) -> int:
    return int(out["statusCode"]) if isinstance(out, dict) and "statusCode" in out else 200


SMALL, LARGE = 200, 4000  # completion sizes in tokens (the fake LLM's `TOKENS n`)

# Capacity units per request, (read units, write units), by completion size, route and situation:
# deterministic (item sizes vary by a few bytes at most, far from a unit's edge), so `make test`
# checks them (tests/integration/test_call_floors.py). The routes other than /generate do not
# depend on the completion's size: measured with the small one only.
_IDEMPOTENT_REPLAYS = {
    "replay (warm cache)": (0.0, 0.0),  # the execution environment's cache: no call
    "payload mismatch": (0.0, 1.0),  # the failed claim: 1 unit per KB of the stored record
    "in-flight conflict": (0.0, 1.0),
}
_CAPACITY_WITHOUT_LIMITS: dict[tuple[int, str, str], tuple[float, float]] = {
    # claim 1 + usage record read (none yet: 1) + usage record put (1,397 B: 2) + complete 1
    (SMALL, "POST /generate", "first request"): (1.0, 4.0),
    # failed claim 1 + the completion read from its usage record (consistent: 1 per 4 KB)
    (SMALL, "POST /generate", "replay (cold cache)"): (1.0, 1.0),
    **{(SMALL, "POST /generate", s): u for s, u in _IDEMPOTENT_REPLAYS.items()},
    # claim 1 + usage record read 1 + usage record put (16,600 B: 17) + complete 1
    (LARGE, "POST /generate", "first request"): (1.0, 19.0),
    (LARGE, "POST /generate", "replay (cold cache)"): (5.0, 1.0),
    **{(LARGE, "POST /generate", s): u for s, u in _IDEMPOTENT_REPLAYS.items()},
    # the record's marker and the tenant's total, in a transaction: 2 items x 1 KB x 2
    (SMALL, "usage totals (stream)", "per new cost record"): (0.0, 4.0),
    (LARGE, "usage totals (stream)", "per new cost record"): (0.0, 4.0),
    # claim 1 + one transaction (2 balances, the ledger entry: 3 items x 1 KB x 2) + complete 1
    (SMALL, "POST /transfer", "first request"): (0.0, 8.0),
    (SMALL, "POST /transfer", "replay (cold cache)"): (0.0, 1.0),
    **{(SMALL, "POST /transfer", s): u for s, u in _IDEMPOTENT_REPLAYS.items()},
    # claim 1 + the run's header 1 + one query of the run 1 + complete 1
    (SMALL, "POST /agent/runs", "first request"): (1.0, 3.0),  # + today's spend: _with_limits
    (SMALL, "POST /agent/runs", "replay (cold cache)"): (0.0, 1.0),
    **{(SMALL, "POST /agent/runs", s): u for s, u in _IDEMPOTENT_REPLAYS.items()},
    (SMALL, "authorizer", "valid key"): (1.0, 0.0),
    (SMALL, "GET /accounts/{id}", "read"): (1.0, 0.0),
    (SMALL, "GET /transfers/{id}", "read"): (1.0, 0.0),
    # the page (a few records here; a page of 50 large completions reads ~200 units) + the total
    (SMALL, "GET /usage", "read"): (2.0, 0.0),
    (SMALL, "GET /idempotency-keys/{key}", "read"): (1.0, 0.0),
    (SMALL, "GET /idempotency-keys/{key}", "past its window"): (2.0, 0.0),
}
# What the per-tenant limits add (docs/limits.md): every request with a tenant updates its request
# counter (1 write unit); a paid /generate reads today's spend with its usage record, a new agent
# run reads it alone (1 read unit, consistent); the stream consumer adds each record to today's
# total in the same transaction (one more item: 2 write units).
_NO_TENANT = ("authorizer",)


def _with_limits(key: tuple[int, str, str], units: tuple[float, float]) -> tuple[float, float]:
    _, route, situation = key
    rcu, wcu = units
    if route == "usage totals (stream)":
        return rcu, wcu + 2.0
    if route in _NO_TENANT:
        return units
    if route in ("POST /generate", "POST /agent/runs") and situation == "first request":
        rcu += 1.0  # today's spend, read before new paid work
    return rcu, wcu + RATE


CAPACITY_FLOORS = {k: _with_limits(k, u) for k, u in _CAPACITY_WITHOUT_LIMITS.items()}


def generate_body(tokens: int) -> dict[str, Any]:
    """A /generate body whose completion is `tokens` tokens (4 bytes each) long."""
    return {"prompt": f"bench\nTOKENS {tokens}", "maxTokens": 4096}


def measure_calls(ip: InProcess, tokens: int = SMALL, only_generate: bool = False) -> list[Row]:
    """Every route's calls and units; `/generate` with a completion of `tokens` tokens."""
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
        route: str,
        function: str,
        fixture: str,
        body: Any,
        other: Any,
        crash: str,
        first_floor: int,
        replay_floor: int = 1,
    ) -> str:
        key = str(uuid.uuid4())
        calls, out = counter.measure(post(function, fixture, body, key))
        rows.append(counter.row(route, "first request", _status(out), calls, first_floor + RATE))
        new_environment(function)
        calls, out = counter.measure(post(function, fixture, body, key))
        rows.append(
            counter.row(route, "replay (cold cache)", _status(out), calls, replay_floor + RATE)
        )
        calls, out = counter.measure(post(function, fixture, body, key))
        rows.append(counter.row(route, "replay (warm cache)", _status(out), calls, 0 + RATE))
        new_environment(function)
        calls, out = counter.measure(post(function, fixture, other, key))
        rows.append(counter.row(route, "payload mismatch", _status(out), calls, 1 + RATE))
        crashed = str(uuid.uuid4())
        os.environ[CRASH_ENV] = crash
        try:
            post(function, fixture, body, crashed)()
        except SimulatedCrash:
            pass
        finally:
            os.environ.pop(CRASH_ENV, None)
        calls, out = counter.measure(post(function, fixture, body, crashed))
        rows.append(counter.row(route, "in-flight conflict", _status(out), calls, 1 + RATE))
        return key

    ip.drain_streams()
    idempotent_route(
        "POST /generate",
        "GenerateFunction",
        "generate_post.json",
        generate_body(tokens),
        {"prompt": "other"},
        "generate.after_usage_record",
        # the store's claim and completion, the usage record read before paying (it answers a
        # retry whose idempotency record TTL deleted) and its conditional put
        first_floor=2 + 1 + 1,
        # the failed claim, then the completion from the usage record (the idempotency record
        # keeps no copy of it: docs/cost.md)
        replay_floor=1 + 1,
    )
    # Off the paid path: the usage table's stream counts each new cost record once into its
    # tenant's total (a transaction of the record's marker and the total: 2 items, twice the units).
    # (Every record the stream holds now — this route's and any agent step's — each counted by
    # one transaction of the same size: the batch's units divided by its transactions.)
    calls, _ = counter.measure(ip.drain_streams)
    counted = max(1, calls)
    each = counter.row("usage totals (stream)", "per new cost record", 200, calls // counted, 1)
    rows.append(replace(each, rcu=each.rcu / counted, wcu=each.wcu / counted))
    if only_generate:
        counter.close()
        return rows
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
    # Starting an agent run (Prefer: wait=0, 202): the tenant's spend today (the daily spend
    # limit), the run's header + one read of the run, on top of the store's 2; the run itself goes
    # on as a durable execution (its calls are its own).
    idempotent_route(
        "POST /agent/runs",
        "AgentFunction",
        "agent_run_post.json",
        {"input": f"CALL transfer_funds {call}", "tools": ["transfer_funds"]},
        {"input": "other", "tools": []},
        "agent.after_start",
        first_floor=2 + 1 + 1 + 1,
    )

    # Authorizer and read routes: one read each (usage: the page and the running total).
    key = DynamoApiKeyRepository(aws.dynamodb(), ip.refs.table("ApiKeysTable")).create(tenant)
    auth = event("authorizer_valid_key.json")
    auth["headers"]["authorization"] = f"Bearer {key}"
    auth["identitySource"] = [f"Bearer {key}"]
    calls, out = counter.measure(lambda: ip.invoke("AuthorizerFunction", auth))
    authorized = 200 if out.get("isAuthorized") else 403
    rows.append(counter.row("authorizer", "valid key", authorized, calls, 1))
    account = http_event("account_get.json", tenant=tenant)
    account["pathParameters"] = {"accountId": src}
    account["rawPath"] = account["requestContext"]["http"]["path"] = f"/accounts/{src}"
    calls, out = counter.measure(lambda: ip.invoke("AccountsFunction", account))
    rows.append(counter.row("GET /accounts/{id}", "read", _status(out), calls, 1 + RATE))
    transfer_id = json.loads(
        post("TransferFunction", "transfer_post.json", transfer, transfer_key)()["body"]
    )["transferId"]
    fetched = http_event("transfer_get.json", tenant=tenant)
    fetched["pathParameters"] = {"transferId": transfer_id}
    fetched["rawPath"] = fetched["requestContext"]["http"]["path"] = f"/transfers/{transfer_id}"
    calls, out = counter.measure(lambda: ip.invoke("AccountsFunction", fetched))
    rows.append(counter.row("GET /transfers/{id}", "read", _status(out), calls, 1 + RATE))
    usage = http_event("usage_get.json", tenant=tenant)
    calls, out = counter.measure(lambda: ip.invoke("UsageFunction", usage))
    rows.append(
        counter.row("GET /usage", "read", _status(out), calls, 2 + RATE, "page + running total")
    )

    # Key status: the idempotency store's record answers (one read); past its window (the record
    # gone), the durable record is read too.
    status = http_event("key_status_get.json", tenant=tenant, query={"operation": "transfer"})
    status["pathParameters"] = {"key": transfer_key}
    status_path = f"/idempotency-keys/{transfer_key}"
    status["rawPath"] = status["requestContext"]["http"]["path"] = status_path
    calls, out = counter.measure(lambda: ip.invoke("KeyStatusFunction", status))
    rows.append(counter.row("GET /idempotency-keys/{key}", "read", _status(out), calls, 1 + RATE))
    ip.dynamodb.delete_item(  # as DynamoDB's TTL does once the record expired
        TableName=ip.refs.table("IdempotencyTable"),
        Key={"id": {"S": record_id("transfer", tenant, transfer_key)}},
    )
    calls, out = counter.measure(lambda: ip.invoke("KeyStatusFunction", status))
    past = "past its window"
    rows.append(counter.row("GET /idempotency-keys/{key}", past, _status(out), calls, 2 + RATE,
                            "the record, then the ledger entry"))  # fmt: skip
    counter.close()
    return rows
