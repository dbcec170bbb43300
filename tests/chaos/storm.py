"""A seeded, bounded fault storm against the real handlers, then Jepsen-style invariants.

The functions run in-process against the emulator and the fake LLM over HTTP (local/inprocess.py).
Faults are injected where production would see them:

- DynamoDB throttling and 5xx *before* a call (as HTTP responses, so botocore's retries see them);
- lost responses: a write succeeds, then the caller gets a connection error;
- LLM 429, 500 and timeouts (the fake LLM's fault queue);
- crashes at named points after the side effect, before the result is stored (`faults.armed`),
  followed by a retry after the lease, and in the window between paying the LLM and recording it;
- the emulator's real-AWS behaviours (local/behaviours): transaction conflicts from real
  concurrency, TTL sweeps of expired records mid-run (short idempotency windows), stale reads;
- the LLM client with its production retry settings (it must never resend a billed request);
- duplicate deliveries: webhooks sent several times, SQS messages delivered twice at once;
- concurrent duplicates: one key from up to 16 clients at once.

Clients retry like a careful client: on connection errors, 409 and 5xx, with the same key.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import random
import threading
import time
import urllib.request
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.awsrequest import AWSResponse
from botocore.exceptions import EndpointConnectionError

from local.inprocess import InProcess
from local.lambda_runtime import FunctionTimedOut
from local.worker_loop import WorkerLoop, dead_letter_pairs, event_sources, sqs_client
from retryproof import aws
from retryproof.config import get_settings as _settings
from retryproof.dal.accounts import DynamoAccountRepository
from retryproof.dal.webhook_secrets import SecretsManagerWebhookSecretRepository
from retryproof.faults import SimulatedCrash, armed
from retryproof.models.transfers import AccountItem
from retryproof.models.webhooks import WebhookEventItem
from retryproof.webhooks import public_status
from retryproof.worker import INSTRUCTIONS as SUMMARY_INSTRUCTIONS
from tests.support.events import http_event
from tests.support.llm import fingerprint
from tests.support.webhooks import delivery_event, payload

WRITES = {"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems"}
TENANTS = ("chaos-a", "chaos-b")
LLM_FUNCTIONS = ("GenerateFunction", "AgentFunction", "WorkerFunction")
TIMED_OUT_CODE = "function_timed_out"  # the storm's tag; API Gateway's body has only a message
TIMED_OUT = {
    "statusCode": 503,
    "headers": {},
    "body": json.dumps({"message": "Service Unavailable", "code": TIMED_OUT_CODE}),
}
OPENING = 1_000_000
SWEEP = {"LOCAL_TTL_SWEEP_LAG_SECONDS": "1", "LOCAL_TTL_SWEEP_INTERVAL_SECONDS": "0.5"}


@dataclass
class ChaosConfig:
    seed: int = 1
    ops: int = 2000
    clients: int = 16
    p_throttle: float = 0.03  # per DynamoDB HTTP attempt
    p_dynamo_5xx: float = 0.02
    p_lost: float = 0.02  # per successful DynamoDB write
    p_llm: float = 0.04  # per LLM-using operation: queue one LLM fault
    p_crash: float = 0.03  # per operation: crash its first attempt after the side effect
    p_concurrent: float = 0.08  # per operation: fire it from 2..16 clients at once
    p_worker_crash: float = 0.05  # per worker invocation: die after paying the LLM
    p_sqs_twice: float = 0.15  # per worker invocation: the same batch delivered again
    mix: dict[str, float] = field(
        default_factory=lambda: {"generate": 0.3, "transfer": 0.3, "agent": 0.2, "webhook": 0.2}
    )
    p_paid_crash: float = 0.3  # of the crashes: in the window between paying and recording
    # Leases long enough to start an LLM call (retryproof.llm.MIN_CALL_MS) with time to spare.
    lease_s: int = 7
    agent_lease_s: int = 10
    idempotency_ttl_s: int = 5  # short windows: the TTL sweeper deletes records mid-run
    llm_delay_ms: int = 0  # every LLM answer this late (served and billed): wider windows


class _Faults:
    """Decisions (seeded) and counts, shared by the hooks and the clients."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self.local = threading.local()

    def roll(self, p: float) -> bool:
        with self.lock:
            return self.rng.random() < p

    def count(self, kind: str) -> None:
        with self.lock:
            self.counts[kind] += 1
        self.local.injected = True

    def attempt_started(self) -> None:
        self.local.injected = False

    def attempt_injected(self) -> bool:
        return bool(getattr(self.local, "injected", False))


class _RawBody:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: Any) -> Any:
        yield self.body


def _aws_error(status: int, kind: str, request: Any) -> AWSResponse:
    body = json.dumps({"__type": f"com.amazonaws.dynamodb.v20120810#{kind}", "message": kind})
    return AWSResponse(request.url, status, {"x-amzn-requestid": "chaos"}, _RawBody(body.encode()))


def install_dynamodb_faults(faults: _Faults, config: ChaosConfig) -> Callable[[], None]:
    events = aws.dynamodb().meta.events

    def before_send(request: Any, **_: Any) -> AWSResponse | None:
        if faults.roll(config.p_throttle):
            faults.count("dynamodb throttling (before the call)")
            return _aws_error(400, "ProvisionedThroughputExceededException", request)
        if faults.roll(config.p_dynamo_5xx):
            faults.count("dynamodb 5xx (before the call)")
            return _aws_error(500, "InternalServerError", request)
        return None

    def after_call(model: Any, http_response: Any, parsed: Any = None, **_: Any) -> None:
        error = (parsed or {}).get("Error", {}).get("Code") if isinstance(parsed, dict) else None
        reasons = (
            (parsed or {}).get("CancellationReasons") or [] if isinstance(parsed, dict) else []
        )
        if error == "TransactionConflictException" or any(
            isinstance(r, dict) and r.get("Code") == "TransactionConflict" for r in reasons
        ):
            faults.count("transaction conflict (emulated, from real concurrency)")
        ok = getattr(http_response, "status_code", 500) == 200
        if ok and model.name in WRITES and faults.roll(config.p_lost):
            faults.count("lost response (write done, caller sees an error)")
            raise EndpointConnectionError(endpoint_url="http://dynamodb.chaos")

    events.register("before-send.dynamodb", before_send, unique_id="chaos-before")
    events.register("after-call.dynamodb", after_call, unique_id="chaos-after")

    def uninstall() -> None:
        events.unregister("before-send.dynamodb", unique_id="chaos-before")
        events.unregister("after-call.dynamodb", unique_id="chaos-after")

    return uninstall


@dataclass
class Answer:
    status: int
    body: str
    replayed: bool


@dataclass
class OpRecord:
    kind: str
    tenant: str
    key: str  # the Idempotency-Key, or the webhook's event id
    finals: list[Answer] = field(default_factory=list)
    server_errors: list[tuple[int, str, bool]] = field(
        default_factory=list
    )  # status, code, faulted
    crashes: int = 0
    gave_up: int = 0
    # The LLM request of the key (its fingerprint at the fake LLM), and its attempts that may
    # have been billed without a record: LLM timeouts, runs past the timeout, crashes after paying.
    fingerprint: str = ""
    risky: int = 0


class Storm:
    def __init__(self, ip: InProcess, config: ChaosConfig) -> None:
        self.ip = ip
        self.config = config
        self.faults = _Faults(config.seed)
        self.rng = random.Random(config.seed + 1)
        self.records: list[OpRecord] = []
        self.accounts: dict[str, list[str]] = {}
        self.secrets: dict[str, str] = {}
        self.llm_faults: Counter[str] = Counter()
        # Invocations that ran past their timeout: Lambda would have ended them there (locally
        # nothing stops a thread), so like a crash they may have paid for an unrecorded answer.
        self.overruns: Counter[str] = Counter()
        self.webhook_timeout = ip.functions["WebhookFunction"].spec.timeout
        self.risky_events: Counter[tuple[str, str]] = Counter()
        self.worker: WorkerLoop | None = None

    # --- setup ---------------------------------------------------------------------------
    def open_accounts(self) -> None:
        repo = DynamoAccountRepository(aws.dynamodb(), self.ip.refs.table("AccountsTable"))
        for tenant in TENANTS:
            ids = [f"acc_{tenant}_{i}" for i in range(5)]
            for account_id in ids:
                repo.put(
                    AccountItem(
                        account_id=account_id,
                        tenant_id=tenant,
                        balance=OPENING,
                        opening_balance=OPENING,
                        currency="USD",
                    )
                )
            self.accounts[tenant] = ids
        secrets = SecretsManagerWebhookSecretRepository(
            aws.secretsmanager(), _settings().webhook_secret_prefix
        )
        self.secrets = {tenant: secrets.put(tenant) for tenant in TENANTS}

    @property
    def faulty(self) -> bool:
        """Faults after which a worker's failed record may have been paid without a record."""
        c = self.config
        return any(p > 0 for p in (c.p_llm, c.p_throttle, c.p_dynamo_5xx, c.p_lost))

    def start_worker(self) -> None:
        """The queue's event source mapping, with deaths and duplicate deliveries injected."""
        worker = self.ip.functions["WorkerFunction"]
        invoke = worker.invoke

        limit = worker.spec.timeout

        def timed(event: Any, timeout_s: int | None) -> Any:
            return self._timed(
                "WorkerFunction", timeout_s or limit, lambda: invoke(event, timeout_s)
            )

        def events_of(event: Any) -> list[tuple[str, str]]:
            out = []
            for r in event.get("Records", []):
                try:
                    job = json.loads(r["body"])
                    out.append((job["tenantId"], job["eventId"]))
                except (ValueError, KeyError, TypeError):
                    pass
            return out

        def watched(event: Any, timeout_s: int | None, paid_crash: bool = False) -> Any:
            """An invocation; its events are risky (maybe billed, unrecorded) if it died, ran
            past its timeout or failed them (a failed record may have timed out its LLM call)."""
            started = time.monotonic()
            risky = events_of(event)
            try:
                if paid_crash:
                    with armed("worker.after_paying"):
                        out = timed(event, timeout_s)
                else:
                    out = timed(event, timeout_s)
            except BaseException:
                self._risky_events(risky)
                raise
            if time.monotonic() - started > (timeout_s or limit):
                self._risky_events(risky)  # this invocation ran past its timeout
            elif isinstance(out, dict) and out.get("batchItemFailures") and self.faulty:
                # A failed record may have paid a completion it could not record (an LLM
                # timeout, a failed write): only where such faults are injected.
                failed = {f.get("itemIdentifier") for f in out["batchItemFailures"]}
                self._risky_events(
                    [
                        e
                        for r, e in zip(event["Records"], risky, strict=False)
                        if r["messageId"] in failed
                    ]
                )
            return out

        def chaotic_invoke(event: Any, timeout_s: int | None = None) -> Any:
            if self.faults.roll(self.config.p_sqs_twice):
                # SQS is at-least-once: "more than one copy of a message might be delivered",
                # and the copies may be processed at the same time.
                self.faults.count("SQS batch delivered twice, at once")
                with ThreadPoolExecutor(1) as pool:
                    twin = pool.submit(watched, event, timeout_s)
                    try:
                        return watched(event, timeout_s)
                    finally:
                        with contextlib.suppress(BaseException):
                            twin.result()
            if self.faults.roll(self.config.p_worker_crash):
                paid = self.faults.roll(self.config.p_paid_crash)
                self.faults.count(
                    "worker crash after paying, before recording"
                    if paid
                    else "worker crash after paying and recording"
                )
                if paid:
                    return watched(event, timeout_s, paid_crash=True)
                with armed("worker.after_llm"):
                    return watched(event, timeout_s)
            return watched(event, timeout_s)

        worker.invoke = chaotic_invoke  # type: ignore[method-assign]
        sources = event_sources(self.ip.template, self.ip.refs, self.ip.functions)
        self.worker = WorkerLoop(sources, sqs_client(boto3.Session()), wait_seconds=1).start()

    def emulated(self, stats_response: Any) -> None:
        """What the emulator's AWS behaviours did (records swept by TTL, stale reads served)."""
        with stats_response as response:
            stats = json.loads(response.read())
        self.faults.counts["TTL sweeper: expired records deleted (emulated)"] = stats["ttlDeleted"]
        self.faults.counts["stale reads served (emulated)"] = sum(stats["staleReads"].values())

    def _risky_events(self, events: list[tuple[str, str]]) -> None:
        with self.faults.lock:
            for e in events:
                self.risky_events[e] += 1

    # --- one operation -------------------------------------------------------------------
    def plan(self, index: int) -> tuple[OpRecord, str, Any, int, bool]:
        rng = self.rng
        kind = rng.choices(list(self.config.mix), weights=list(self.config.mix.values()))[0]
        tenant = rng.choice(TENANTS)
        record = OpRecord(kind, tenant, f"chaos-{self.config.seed}-{index}-{uuid.uuid4().hex[:6]}")
        src, dst = rng.sample(self.accounts[tenant], 2)
        amount = rng.randint(1, 400_000)
        if kind == "webhook":
            record.key = f"evt_{self.config.seed}_{index}_{uuid.uuid4().hex[:6]}"
            body = payload(
                tenant,
                event_id=record.key,
                document_id=f"doc_{rng.randint(0, 2)}",
                content=f"Document version {index}.",
                occurred_at=f"2026-11-{rng.randint(1, 27):02d}T{rng.randint(0, 23):02d}"
                f":{rng.randint(0, 59):02d}:00Z",
            )
            record.fingerprint = fingerprint(
                [
                    {"role": "system", "content": SUMMARY_INSTRUCTIONS},
                    {"role": "user", "content": body["content"]},
                ]
            )
        elif kind == "generate":
            body: Any = {"prompt": f"chaos prompt {index}"}
            record.fingerprint = fingerprint([{"role": "user", "content": body["prompt"]}])
        elif kind == "transfer":
            body = {"fromAccountId": src, "toAccountId": dst, "amount": amount, "currency": "USD"}
        else:
            amount //= 3  # most calls within the guard rails' cap per call (100,000), some above
            call = {"fromAccountId": src, "toAccountId": dst, "amount": amount, "currency": "USD"}
            lines = f"CALL transfer_funds {json.dumps(call)}"
            if rng.random() < 0.5:  # the LLM repeats a tool call id in a later step (issue 12, 5)
                again = {**call, "amount": amount + 1}
                same = f"call_{self.config.seed}_{index}_{uuid.uuid4().hex[:6]}"
                lines = (
                    f"CALL[{same}] transfer_funds {json.dumps(call)}\n"
                    f"CALL[{same}] transfer_funds {json.dumps(again)}"
                )
            body = {
                "input": f"Op {index}\n{lines}",
                "tools": ["transfer_funds", "get_balance"],
                "maxSteps": 3,
            }
        fanout = rng.randint(2, 16) if rng.random() < self.config.p_concurrent else 1
        crash = rng.random() < self.config.p_crash
        return record, kind, body, fanout, crash

    def run_op(self, index: int) -> OpRecord:
        record, kind, body, fanout, crash = self.plan(index)
        if kind in ("generate", "agent", "webhook") and self.faults.roll(self.config.p_llm):
            self._queue_llm_fault()
        if kind == "webhook":
            deliveries = self.rng.randint(1, 3)
            if deliveries > 1:
                self.faults.count("webhook delivered several times")
            fanout, crash = max(fanout, 1), False
            for _ in range(deliveries):
                self._deliver_concurrently(record, body, fanout)
            return record
        if fanout == 1:
            self._client(record, kind, body, crash)
        else:
            self.faults.count("concurrent duplicate clients")
            barrier = threading.Barrier(fanout)

            def one(n: int) -> None:
                barrier.wait()
                self._client(record, kind, body, crash and n == 0)

            with ThreadPoolExecutor(fanout) as pool:
                list(pool.map(one, range(fanout)))
        return record

    def _deliver_concurrently(self, record: OpRecord, body: Any, fanout: int) -> None:
        if fanout == 1:
            self._deliver(record, body)
            return
        self.faults.count("concurrent duplicate clients")
        barrier = threading.Barrier(fanout)

        def one(_: int) -> None:
            barrier.wait()
            self._deliver(record, body)

        with ThreadPoolExecutor(fanout) as pool:
            list(pool.map(one, range(fanout)))

    def _deliver(self, record: OpRecord, body: Any) -> None:
        """A webhook sender: signs each attempt afresh, retries on 409, 5xx and lost answers."""
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            self.faults.attempt_started()
            event = delivery_event(self.secrets[record.tenant], body)
            try:
                call = functools.partial(self.ip.invoke, "WebhookFunction", event)
                out = self._timed("WebhookFunction", self.webhook_timeout, call)
            except FunctionTimedOut:
                out = TIMED_OUT
            status = int(out["statusCode"])
            if status == 409:
                time.sleep(0.1 + self.rng.random() * 0.2)
                continue
            if status >= 500:
                code = json.loads(out["body"]).get("code", "?")
                record.server_errors.append((status, code, self.faults.attempt_injected()))
                time.sleep(0.2)
                continue
            with self.faults.lock:
                record.finals.append(Answer(status, out["body"], False))
            return
        record.gave_up += 1

    def _queue_llm_fault(self) -> None:
        choice = self.rng.choice(("429", "500", "timeout"))
        if choice == "timeout":
            self.ip.fake.add_fault(delay_ms=1500)
        else:
            self.ip.fake.add_fault(status=int(choice))
        self.faults.count(f"LLM {choice}")
        self.llm_faults[choice] += 1

    def _client(self, record: OpRecord, kind: str, body: Any, crash: bool) -> None:
        function, fixture, point = {
            "generate": ("GenerateFunction", "generate_post.json", "generate.after_usage_record"),
            "transfer": ("TransferFunction", "transfer_post.json", "transfer.after_commit"),
            # An agent run's loop is a durable execution in the runner's threads; the crash here
            # is the API function's, after it started the execution and before it answered.
            "agent": ("AgentFunction", "agent_run_post.json", "agent.after_start"),
        }[kind]
        if kind == "generate" and self.rng.random() < self.config.p_paid_crash:
            point = "generate.after_llm"  # paid, not yet recorded
        lease = self.config.agent_lease_s if kind == "agent" else self.config.lease_s
        deadline = time.monotonic() + 120
        first = True
        while time.monotonic() < deadline:
            ev = http_event(
                fixture, tenant=record.tenant, body=body, headers={"idempotency-key": record.key}
            )
            self.faults.attempt_started()
            call = functools.partial(self.ip.invoke, function, ev, timeout_s=lease)
            started = time.monotonic()
            try:
                if crash and first:
                    with armed(point):
                        out = self._timed(function, lease, call)
                else:
                    out = self._timed(function, lease, call)
            except SimulatedCrash as died:
                paid = str(died) == "generate.after_llm"
                self.faults.count(
                    "crash after paying, before recording"
                    if paid
                    else "crash after the side effect"
                )
                record.crashes += 1
                record.risky += paid
                first = False
                time.sleep(lease + 0.3)  # the dead invocation's lease
                continue
            except FunctionTimedOut:
                out = TIMED_OUT  # API Gateway's answer when the function times out
            if time.monotonic() - started > lease:
                record.risky += 1  # this attempt ran past its timeout: Lambda ends it anywhere
            first = False
            status = int(out["statusCode"])
            headers = {k.lower(): v for k, v in (out.get("headers") or {}).items()}
            if status == 409:
                time.sleep(0.1 + self.rng.random() * 0.2)
                continue
            if status >= 500:
                code = json.loads(out["body"]).get("code", "?")
                record.server_errors.append((status, code, self.faults.attempt_injected()))
                record.risky += billed_maybe(code, json.loads(out["body"]).get("detail", ""))
                time.sleep(min(float(headers.get("retry-after", "0.1")), lease + 0.3))
                continue
            answer = Answer(status, out["body"], headers.get("idempotent-replayed") == "true")
            with self.faults.lock:
                record.finals.append(answer)
            return
        record.gave_up += 1

    def _timed(self, function: str, timeout_s: float, call: Callable[[], Any]) -> Any:
        started = time.monotonic()
        try:
            return call()
        finally:
            if time.monotonic() - started > timeout_s:
                with self.faults.lock:
                    self.overruns[function] += 1

    # --- the storm -------------------------------------------------------------------------
    def run(self) -> float:
        started = time.monotonic()
        uninstall = install_dynamodb_faults(self.faults, self.config)
        try:
            with ThreadPoolExecutor(self.config.clients) as pool:
                self.records = list(pool.map(self.run_op, range(self.config.ops)))
        finally:
            uninstall()
        return time.monotonic() - started

    def drain(self, patience: float = 60) -> int:
        """Let the worker finish every accepted event and the agent runs end (no more faults);
        returns the events left. Waits as long as either count keeps falling, and `patience`
        seconds without progress: a busy machine is slow, not stuck (CI shares 2 cores)."""
        self.ip.fake.clear_faults()
        self.config.p_worker_crash = self.config.p_sqs_twice = 0.0
        left = _wait_while_falling(self.events_going_on, patience)
        _wait_while_falling(self.agent_runs_going_on, patience)  # durable executions end alone
        if self.worker is not None:
            self.worker.stop()
        return left

    def events_going_on(self) -> int:
        return sum(
            1
            for e in self.ip.items("WebhookEventsTable")
            if e["status"]["S"] in ("queued", "processing")
        )

    def agent_runs_going_on(self) -> int:
        return sum(1 for i in self.ip.items("RunsTable")
                   if i["item"]["S"] == "run" and i["status"]["S"] == "running")  # fmt: skip


def _wait_while_falling(count: Callable[[], int], patience: float) -> int:
    """Poll `count` until 0, or until it has not fallen for `patience` seconds; the last count."""
    best, last_progress = count(), time.monotonic()
    while best and time.monotonic() - last_progress < patience:
        time.sleep(0.5)
        now = count()
        if now < best:
            best, last_progress = now, time.monotonic()
    return best


@dataclass
class Check:
    name: str
    figure: str
    holds: bool


def check_invariants(storm: Storm) -> list[Check]:
    ip = storm.ip
    checks: list[Check] = []
    ledger = ip.items("LedgerTable")
    accounts = {
        a["accountId"]["S"]: a for a in ip.items("AccountsTable") if a["tenantId"]["S"] in TENANTS
    }
    usage = [
        u
        for u in ip.items("UsageTable")
        if not u["tenantId"]["S"].startswith(("TOTAL#", "COUNTED#"))
    ]

    total = sum(int(a["balance"]["N"]) for a in accounts.values())
    expected_total = OPENING * len(accounts)
    checks.append(Check("money conserved", f"{total} = {expected_total}", total == expected_total))
    mismatched = 0
    for account_id, item in accounts.items():
        credits = sum(int(e["amount"]["N"]) for e in ledger if e["toAccountId"]["S"] == account_id)
        debits = sum(int(e["amount"]["N"]) for e in ledger if e["fromAccountId"]["S"] == account_id)
        mismatched += int(item["balance"]["N"]) != OPENING + credits - debits
    checks.append(
        Check(
            "every balance = opening + its ledger", f"{mismatched} accounts differ", mismatched == 0
        )
    )

    by_key = Counter((e["tenantId"]["S"], e["idempotencyKey"]["S"]) for e in ledger)
    twice = sum(1 for n in by_key.values() if n > 1)
    transfers_ok = {
        r.key
        for r in storm.records
        if r.kind == "transfer" and r.finals and r.finals[0].status == 200
    }
    direct = {k for (_, k) in by_key if not k.startswith("agent:")}
    checks.append(
        Check(
            "no transfer applied twice",
            f"{len(ledger)} ledger entries, {twice} keys twice",
            twice == 0,
        )
    )
    checks.append(
        Check(
            "a ledger entry for every transfer answered 200, and only those",
            f"{len(direct)} entries / {len(transfers_ok)} answered",
            direct == transfers_ok,
        )
    )

    keyed = [r for r in storm.records if r.kind != "webhook"]
    differing = [r for r in keyed if len({(a.status, a.body) for a in r.finals}) > 1]
    answered = sum(1 for r in keyed if r.finals)
    moved_on = [r for r in differing if _answered_anew_after_its_window(r)]
    wrong = [r for r in differing if r not in moved_on]
    # A key that differs otherwise is named with its answers and what its clients met.
    named = [
        f"{r.kind} {r.tenant}/{r.key}: "
        + " | ".join(sorted({f"{a.status} {a.body[:300]}" for a in r.finals}))
        + f" (5xx: {sorted(f'{st} {code}' for st, code, _ in r.server_errors)}, "
        f"crashes: {r.crashes})"
        for r in wrong
    ]
    checks.append(
        Check(
            "every response for one key identical (agent: its run after window)",
            f"{len(wrong)} of {answered} keys differ, {len(moved_on)} agent keys answered anew"
            + (f": {'; '.join(named[:3])}" if named else ""),
            not wrong,
        )
    )
    gave_up = sum(r.gave_up for r in storm.records)
    checks.append(
        Check("every operation answered (no client gave up)", f"{gave_up} gave up", gave_up == 0)
    )

    generate_keys = {
        (r.tenant, r.key)
        for r in storm.records
        if r.kind == "generate" and r.finals and r.finals[0].status == 200
    }
    records = Counter(
        (u["tenantId"]["S"], u["idempotencyKey"]["S"], u["operation"]["S"], u["step"]["N"])
        for u in usage
    )
    gen_records = Counter((t, k) for (t, k, op, _) in records.elements() if op == "generate")
    extra = sum(1 for k in generate_keys if gen_records[k] != 1)
    dup = sum(1 for n in records.values() if n > 1)
    checks.append(
        Check(
            "cost records per completed key = 1 (per agent step)",
            f"{len(generate_keys)} generate keys, {extra} off, {dup} duplicates",
            extra == 0 and dup == 0,
        )
    )

    checks += _paid_once_checks(storm)

    runs = [i for i in ip.items("RunsTable") if i["item"]["S"] == "run"]
    ended = Counter(i["status"]["S"] for i in runs)
    agents = {(r.tenant, r.key) for r in storm.records if r.kind == "agent" and r.finals}
    started = {(i["tenantId"]["S"], i["idempotencyKey"]["S"]) for i in runs}
    missing = len(agents - started)
    checks.append(Check("agent runs: one per answered key, each completed or failed (none stuck)",
                        f"{len(runs)} runs {dict(ended)}, {missing} answered without one",
                        set(ended) <= {"completed", "failed"} and agents <= started))  # fmt: skip

    told = storm.ip.fake.tool_results_by_id
    two = sorted(call_id for call_id, n in told.items() if n > 1)
    checks.append(Check("agent: the LLM is told one result per tool call id (even when repeated)",
                        f"{len(told)} tool call ids, {len(two)} told two results"
                        + (f": {', '.join(two[:3])}" if two else ""), not two))  # fmt: skip

    checks += _webhook_checks(storm, records)

    unexplained = [
        (s, c)
        for r in storm.records
        for (s, c, faulted) in r.server_errors
        if not _explained(s, c, faulted)
    ]
    all_5xx = sum(len(r.server_errors) for r in storm.records)
    checks.append(
        Check(
            "no 5xx without an injected fault",
            f"{all_5xx} 5xx, {len(unexplained)} unexplained {Counter(unexplained)}",
            not unexplained,
        )
    )
    return checks


def _paid_once_checks(storm: Storm) -> list[Check]:
    """Per key, the completions the provider served (and billed) for that key's request: at most
    one, plus one for each attempt that may have been billed without a record (an LLM timeout, an
    invocation past its timeout, a crash between paying and recording). Names any key over it."""
    served = storm.ip.fake.by_fingerprint
    checks = []
    for kind, what in (("generate", "generate key"), ("webhook", "summarised event")):
        over = []
        keyed = [r for r in storm.records if r.kind == kind and r.fingerprint]
        for r in keyed:
            allowed = (
                1 + r.risky + (storm.risky_events[(r.tenant, r.key)] if kind == "webhook" else 0)
            )
            if served.get(r.fingerprint, 0) > allowed:
                # What its clients saw, to find the cause (statuses and codes of the 5xx, crashes).
                seen = sorted(f"{status} {code}" for status, code, _ in r.server_errors)
                over.append(
                    f"{r.tenant}/{r.key}: {served[r.fingerprint]} > {allowed} "
                    f"(5xx: {seen}, crashes: {r.crashes}, answers: {len(r.finals)})"
                )
        risky = sum(1 for r in keyed if r.risky or storm.risky_events[(r.tenant, r.key)])
        checks.append(
            Check(
                f"LLM completions per {what} <= 1 + its billed-maybe attempts",
                f"{len(keyed)} keys ({risky} with such attempts), {len(over)} over"
                + (f": {'; '.join(over[:3])}" if over else ""),
                not over,
            )
        )
    return checks


def _answered_anew_after_its_window(record: OpRecord) -> bool:
    """An agent key's answers differ as the contract allows: after the idempotency window a retry
    is answered by the run's record, the same run as it is then (a 202 `running` may become a 200
    `completed`; tests/integration/test_agent_after_window.py). So: one run id, at most one ended
    answer, every other a 202 of a run still going, and two answers that were not replays (two
    executions of the key: the window had passed)."""
    if record.kind != "agent":
        return False
    bodies = [json.loads(a.body) for a in record.finals]
    if len({b.get("runId") for b in bodies}) != 1:
        return False
    distinct = {(a.status, a.body) for a in record.finals}
    ended = {body for status, body in distinct if status == 200}
    going = {
        body
        for status, body in distinct
        if status == 202 and json.loads(body).get("status") in ("running", "awaiting_approval")
    }
    fresh = sum(1 for a in record.finals if not a.replayed)
    return len(ended) <= 1 and len(ended) + len(going) == len(distinct) and fresh >= 2


def _webhook_checks(storm: Storm, records: Counter[tuple[str, str, str, str]]) -> list[Check]:
    hooks = [r for r in storm.records if r.kind == "webhook"]
    if not hooks:
        return []
    checks = []
    # (One jobId per event holds by construction: it is derived from the event id.)
    firsts = sum(1 for r in hooks if sum(1 for a in r.finals if a.status == 202) > 1)
    checks.append(
        Check(
            "webhook: at most one 202 (first acceptance) per event",
            f"{firsts} events with two 202s",
            firsts == 0,
        )
    )
    events = {
        (e["tenantId"]["S"], e["eventId"]["S"]): e for e in storm.ip.items("WebhookEventsTable")
    }
    accepted = {(r.tenant, r.key) for r in hooks if any(a.status in (200, 202) for a in r.finals)}
    # What a reader sees (GET /webhook-events/{id}): a last attempt that died without cleanup (a
    # timeout) leaves `processing` with an expired lease, shown `failed` (its message in the DLQ).
    now_ms = int(time.time() * 1000)
    status = Counter(
        public_status(WebhookEventItem.from_item(events[k]), now_ms) if k in events else "missing"
        for k in accepted
    )
    summarized = Counter((t, k) for (t, k, op, _) in records.elements() if op == "summarize")
    once = all(
        summarized[k] == 1
        for k in accepted
        if events.get(k, {}).get("status", {}).get("S") == "completed"
    )
    sqs = boto3.Session().client("sqs")
    dead = sum(
        int(
            sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["ApproximateNumberOfMessages"])[
                "Attributes"
            ]["ApproximateNumberOfMessages"]
        )
        for _, dlq, _ in dead_letter_pairs(storm.ip.template, storm.ip.refs)
    )
    holds = once and set(status) <= {"completed", "failed"} and dead >= status["failed"]
    checks.append(
        Check(
            "every accepted event summarised exactly once, or failed (DLQ)",
            f"{dict(status)}; summaries paid once: {once}; DLQ {dead}",
            holds,
        )
    )
    summaries = {
        (s["tenantId"]["S"], s["documentId"]["S"]): s["sourceEventId"]["S"]
        for s in storm.ip.items("SummariesTable")
    }
    newest: dict[tuple[str, str], tuple[int, str]] = {}
    for (tenant, event_id), e in events.items():
        if e["status"]["S"] == "completed":
            doc = (tenant, e["documentId"]["S"])
            newest[doc] = max(newest.get(doc, (0, "")), (int(e["eventTimeNs"]["N"]), event_id))
    stale = sum(1 for doc, (_, event_id) in newest.items() if summaries.get(doc) != event_id)
    checks.append(
        Check(
            "each document's summary is its newest completed event's",
            f"{len(newest)} documents, {stale} stale",
            stale == 0,
        )
    )
    return checks


def billed_maybe(code: str, detail: str) -> bool:
    """An answer after which the provider may have billed a completion that was not recorded: an
    LLM timeout, a connection lost after the request was sent, a function past its timeout, or a
    paid completion whose record could not be written (the claim kept, 503)."""
    return (
        code in ("llm_timeout", TIMED_OUT_CODE)
        or (code == "llm_error" and "could not be reached" in detail)
        or (code == "storage_unavailable" and "could not be recorded" in detail)
    )


def _explained(status: int, code: str, dynamo_fault_in_attempt: bool) -> bool:
    if code in ("llm_error", "llm_timeout", "agent_timeout"):
        return True  # the LLM's faults are queued for whichever request comes next
    if code == TIMED_OUT_CODE:
        return True  # past its timeout (counted apart): the time the faults' retries took
    return status == 503 and code == "storage_unavailable" and dynamo_fault_in_attempt


def run_storm(config: ChaosConfig) -> tuple[Storm, list[Check], float]:
    ip = InProcess(
        # Short leases, so a dead invocation's key or event is free again within seconds.
        parameters={
            "WorkerTimeout": str(config.lease_s),
            "WorkerVisibilityTimeout": str(config.lease_s + 1),
        },
        environment={
            # The production LLM retry setting (LLM_MAX_RETRIES=2): it must never resend a
            # request the provider may have billed. A short per-attempt timeout, so the
            # injected 1.5 s delays time out.
            "LLM_TIMEOUT_SECONDS": "1",
            "POWERTOOLS_LOG_LEVEL": "CRITICAL",
            **{
                f"IDEMPOTENCY_TTL_{op}": str(config.idempotency_ttl_s)
                for op in ("GENERATE", "TRANSFER", "AGENT", "WEBHOOK")
            },
        },
    )
    # The emulator sweeps expired records about a second after their TTL (AWS: within days).
    saved = {k: os.environ.get(k) for k in SWEEP}
    os.environ.update(SWEEP)
    try:
        ip.start()
        storm = Storm(ip, config)
        storm.open_accounts()
        storm.start_worker()
        if config.llm_delay_ms:
            ip.fake.add_fault(delay_ms=config.llm_delay_ms, times=10**6)
        elapsed = storm.run()
        storm.drain()
        storm.emulated(urllib.request.urlopen(f"{ip.emulator.endpoint}/_local/behaviours"))
        return storm, check_invariants(storm), elapsed
    finally:
        ip.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def report(storm: Storm, checks: list[Check], elapsed: float) -> str:
    kinds = Counter(r.kind for r in storm.records)
    lines = [
        f"chaos: seed {storm.config.seed}, {len(storm.records)} operations "
        f"({', '.join(f'{k} {n}' for k, n in sorted(kinds.items()))}) in {elapsed:.0f} s",
        "",
        f"{'fault injected':<52} {'count':>7}",
        f"{'-' * 52} {'-' * 7}",
    ]
    lines += [f"{k:<52} {n:>7}" for k, n in sorted(storm.faults.counts.items())]
    lines += [
        f"{'(observed) past its timeout: ' + f.removesuffix('Function'):<52} {n:>7}"
        for f, n in sorted(storm.overruns.items())
    ]
    statuses: dict[int, int] = defaultdict(int)
    for r in storm.records:
        for a in r.finals:
            statuses[a.status] += 1
    lines += [
        "",
        "final answers by status: " + ", ".join(f"{s}: {n}" for s, n in sorted(statuses.items())),
        "",
    ]
    lines += [f"{'invariant':<66} {'holds':<5} figure", f"{'-' * 66} {'-' * 5} {'-' * 30}"]
    lines += [f"{c.name:<66} {'yes' if c.holds else 'NO':<5} {c.figure}" for c in checks]
    return "\n".join(lines)
