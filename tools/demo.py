"""`make demo`: retryproof's point in two minutes, against a running `make dev`.

    make dev                # in one terminal
    make demo               # in another: it finds the stack (ports, seed) in its state file
    python -m tools.demo --url http://127.0.0.1:3000 --llm-url http://127.0.0.1:3001

The story, told with the Python client (clients/python), which sends one Idempotency-Key per
operation and reuses it on every retry:

1. a generation whose response is lost is retried: replayed, and paid for once;
2. a transfer sent 5 times at once: the money moves once;
3. an agent run (a durable execution) waits for a person to approve its transfer, then its LLM
   fails half-way (the fake LLM answers 500) and the run retries that step itself;
4. a webhook delivered 3 times is summarised once (when the webhook route is deployed);

then the usage and ledger tables of what it did. Exit code 0 when every claim held.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess  # nosec B404 - runs node on the repository's own demo script
import sys
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from retryproof_client import (
    ApiError,
    Client,
    HttpRequest,
    HttpResponse,
    RetryEvent,
    RetryproofError,
    Transport,
    UrllibTransport,
)

from local import devstate

ROOT = Path(__file__).resolve().parent.parent
MAIN, OPS = "acc_acme_main", "acc_acme_ops"
WEBHOOK_PATH = "/webhooks/document-uploaded"


# --- output -------------------------------------------------------------------------------


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain-text table; numbers right-aligned."""
    cells = [[str(h) for h in headers], *[[_cell(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    numeric = [
        bool(rows) and all(isinstance(row[i], int | Decimal) for row in rows)
        for i in range(len(headers))
    ]

    def line(row: list[str]) -> str:
        parts = [
            c.rjust(w) if num else c.ljust(w)
            for c, w, num in zip(row, widths, numeric, strict=True)
        ]
        return "| " + " | ".join(parts) + " |"

    rule = "+" + "+".join("-" * (w + 2) for w in widths) + "+"
    return "\n".join([rule, line(cells[0]), rule, *(line(r) for r in cells[1:]), rule])


def _cell(value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return "-" if value is None else str(value)


def short(key: str, n: int = 8) -> str:
    return key if len(key) <= n + 3 else key[:n] + "..."


def indent(text: str, by: str = "   ") -> str:
    return "\n".join(by + line for line in text.splitlines())


# --- the fake LLM's control routes ----------------------------------------------------------


class FakeLLM:
    def __init__(self, root: str) -> None:
        self.root = root.rstrip("/").removesuffix("/v1")
        self.http = UrllibTransport()

    def _call(self, method: str, path: str, body: object = None) -> HttpResponse:
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if data else {}
        return self.http.send(HttpRequest(method, self.root + path, headers, data), 5.0)

    def available(self) -> bool:
        try:
            return self._call("GET", "/stats").status == 200
        except OSError:
            return False

    def completions(self) -> int:
        return int(json.loads(self._call("GET", "/stats").body)["completions"])

    def fault(self, fault: dict[str, int]) -> None:
        status = self._call("POST", "/faults", fault).status
        if status not in (200, 201):
            raise RuntimeError(f"POST /faults answered {status}")

    def clear(self) -> None:
        self._call("DELETE", "/faults")


class LosingFirstResponse:
    """A transport that loses the first response on its way back: the server has answered,
    the client never hears it (a dropped connection, a client timeout)."""

    def __init__(self, inner: Transport) -> None:
        self.inner = inner
        self.lost = 0

    def send(self, request: HttpRequest, timeout: float) -> HttpResponse:
        response = self.inner.send(request, timeout)
        if self.lost == 0:
            self.lost += 1
            raise ConnectionResetError(f"the {response.status} response was lost on the way back")
        return response


# --- the story ------------------------------------------------------------------------------


@dataclass
class Demo:
    url: str
    api_key: str
    llm: FakeLLM
    webhook_secret: str | None
    tenant: str
    out: Callable[[str], None] = print
    failures: list[str] = field(default_factory=list)
    usage_keys: list[str] = field(default_factory=list)
    transfer_ids: list[str] = field(default_factory=list)
    llm_available: bool = True

    def client(self, transport: Transport | None = None, label: str = "", **kwargs: Any) -> Client:
        def on_retry(event: RetryEvent) -> None:
            self.report_retry(event, label)

        return Client(self.url, self.api_key, transport=transport, on_retry=on_retry, **kwargs)

    def report_retry(self, event: RetryEvent, label: str = "") -> None:
        if event.status is None:
            what = f"network error ({type(event.error).__name__}: {event.error})"
        else:
            what = f"{event.status} {event.code or ''}".rstrip()
        self.out(
            f"   .. {label}attempt {event.attempt}: {what}; retrying in {event.delay:.2f}s "
            f"with the same Idempotency-Key"
        )

    def check(self, ok: bool, claim: str) -> None:
        self.out(f"   {'OK' if ok else 'FAILED'}: {claim}")
        if not ok:
            self.failures.append(claim)

    def completions(self) -> int | None:
        return self.llm.completions() if self.llm_available else None

    def balances(self, client: Client) -> tuple[int, int]:
        return client.account(MAIN).data.balance, client.account(OPS).data.balance

    # 1 ------------------------------------------------------------------------------------
    def lost_response(self) -> None:
        self.out("\n1. A generation whose response is lost, then retried")
        transport = LosingFirstResponse(UrllibTransport())
        client = self.client(transport)
        before = self.completions()
        prompt = "Explain in one sentence why retries need idempotency keys."
        self.out("   -> POST /generate (the first response will not reach the client)")
        result = client.generate(prompt, max_tokens=64)
        key = result.idempotency_key or ""
        self.usage_keys.append(key)
        self.out(
            f"   <- {result.status} after {result.attempts} attempts, Idempotency-Key "
            f"{short(key)}, replayed={str(result.replayed).lower()}: {result.data.content[:60]!r}"
        )
        records = client.usage(idempotency_key=key).data.records
        after = self.completions()
        paid = None if before is None or after is None else after - before
        self.out(
            indent(
                table(
                    ["what", "value"],
                    [
                        ["fake LLM completions (GET /stats)", f"{before} -> {after}"],
                        ["usage records for the key (GET /usage)", len(records)],
                        ["cost recorded (USD)", sum((r.cost_usd for r in records), Decimal(0))],
                    ],
                )
            )
        )
        self.check(result.replayed, "the retry got the stored response (Idempotent-Replayed)")
        self.check(len(records) == 1 and paid in (1, None), "charged once: one completion")

    # 2 ------------------------------------------------------------------------------------
    def concurrent_transfer(self, amount: int = 1000, copies: int = 5) -> None:
        self.out(f"\n2. A transfer of {amount} cents sent {copies} times at once, one key")
        client = self.client()
        main, ops = self.balances(client)
        self.out(f"   balances before: {MAIN} {main}, {OPS} {ops}")
        key = str(uuid.uuid4())
        barrier = threading.Barrier(copies)
        results: list[tuple[int, Any]] = []
        lock = threading.Lock()

        def send(n: int) -> None:
            copy = self.client(label=f"copy {n}: ", max_attempts=8)
            barrier.wait()
            try:
                outcome: Any = copy.transfer(MAIN, OPS, amount, "USD", idempotency_key=key)
            except RetryproofError as exc:
                outcome = exc
            with lock:
                results.append((n, outcome))

        threads = [threading.Thread(target=send, args=(n,)) for n in range(1, copies + 1)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        rows: list[list[object]] = []
        ids = set()
        for n, outcome in sorted(results, key=lambda r: r[0]):
            if isinstance(outcome, RetryproofError):
                rows.append([n, "error", "-", str(outcome), getattr(outcome, "attempts", "-")])
                continue
            ids.add(outcome.data.transfer_id)
            rows.append(
                [n, outcome.status, outcome.replayed, outcome.data.transfer_id, outcome.attempts]
            )
        self.out(indent(table(["copy", "status", "replayed", "transferId", "attempts"], rows)))
        main_after, ops_after = self.balances(client)
        self.out(f"   balances after:  {MAIN} {main_after}, {OPS} {ops_after}")
        self.transfer_ids.extend(sorted(ids))
        first_runs = sum(1 for _, o in results if not isinstance(o, Exception) and not o.replayed)
        self.check(
            len(ids) == 1 and first_runs == 1 and len(results) == copies,
            f"{copies} requests, one transfer ({first_runs} executed, the rest replayed)",
        )
        self.check(
            (main - main_after, ops_after - ops) == (amount, amount),
            f"money moved once: {MAIN} -{main - main_after}, {OPS} +{ops_after - ops}",
        )

    # 3 ------------------------------------------------------------------------------------
    def resumed_agent_run(self, amount: int = 250) -> None:
        self.out(
            "\n3. An agent run whose LLM fails half-way, and a transfer that waits for a person"
        )
        if not self.llm_available:
            self.out("   skipped: the fake LLM is not reachable (is OPENAI_API_KEY set?)")
            return
        client = self.client(max_attempts=5)
        _, ops = self.balances(client)
        args = {"fromAccountId": MAIN, "toAccountId": OPS, "amount": amount, "currency": "USD"}
        faults = [{"delayMs": 1, "times": 1}, {"status": 500, "times": 3}]
        self.llm.clear()
        for fault in faults:
            self.llm.fault(fault)
        self.out(f"   fake LLM faults queued: {json.dumps(faults)}")
        self.out("   (step 1 asks for transfer_funds, which needs approval; step 2 fails with 500)")
        try:
            started = client.agent_run(
                f"Pay the ops team {amount} cents.\nCALL transfer_funds {json.dumps(args)}",
                ["transfer_funds", "get_balance"],
                max_steps=3,
                approve_tools=["transfer_funds"],
            )
            run = started.data
            key = started.idempotency_key or ""
            self.usage_keys.append(key)
            self.out(f"   <- {started.status} {run.status} (run {run.run_id})")
            if not run.ended:
                run = client.wait_for_run(run.run_id, timeout=60)
            approved = run.status == "awaiting_approval" and bool(run.pending_approvals)
            for pending in run.pending_approvals:
                self.out(f"   a person approves {pending.name} {json.dumps(pending.arguments)}")
                client.decide_approval(run.run_id, pending.approval_id, "approve", "demo")
            run = client.wait_for_run(run.run_id, timeout=60, until_approval=False)
        finally:
            self.llm.clear()
        self.out(f"   run {run.status}: {(run.output or '')[:60]!r}")
        rows = []
        for n, step in enumerate(run.steps, 1):
            outcome = step.result if isinstance(step.result, dict) else {}
            transfer_id = outcome.get("transferId")
            if isinstance(transfer_id, str):
                self.transfer_ids.append(transfer_id)
            decision = (step.approval or {}).get("decision")
            rows.append([n, step.name, short(step.tool_call_id, 12), decision, transfer_id])
        self.out(indent(table(["step", "tool", "toolCallId", "approval", "transferId"], rows)))
        _, ops_after = self.balances(client)
        self.check(approved, "the transfer waited for a person's approval (awaiting_approval)")
        self.check(
            run.status == "completed",
            "the run retried its failed LLM step itself and completed",
        )
        self.check(ops_after - ops == amount, f"{OPS} +{ops_after - ops}: the transfer ran once")

    # 4 ------------------------------------------------------------------------------------
    def webhook(self, deliveries: int = 3, deadline_s: float = 30.0) -> None:
        self.out(f"\n4. A webhook delivered {deliveries} times")
        if self.webhook_secret is None:
            self.out("   skipped: the seed has no webhookSecret for the tenant")
            return
        client = self.client()
        event_id = f"evt_demo_{uuid.uuid4().hex[:12]}"
        document_id = f"doc_demo_{uuid.uuid4().hex[:8]}"
        payload = {
            "eventId": event_id,
            "tenantId": self.tenant,
            "documentId": document_id,
            "content": "Retries are safe when every operation carries an idempotency key "
            "and the side effect is recorded durably where it lands.",
        }
        before = self.completions()
        rows: list[list[object]] = []
        jobs = set()
        for n in range(1, deliveries + 1):
            try:
                accepted = client.deliver_webhook(self.webhook_secret, payload)
            except ApiError as exc:
                if n == 1 and exc.status == 404 and exc.code == "not_found":
                    self.out(f"   skipped: POST {WEBHOOK_PATH} is not served by this stack (404)")
                    return
                raise
            jobs.add(accepted.data.job_id)
            rows.append(
                [n, accepted.status, accepted.data.duplicate, short(accepted.data.job_id, 12)]
            )
        self.out(indent(table(["delivery", "status", "duplicate", "jobId"], rows)))
        self.usage_keys.append(event_id)
        status, waited = self._wait_processed(client, event_id, deadline_s)
        self.out(f"   GET /webhook-events/{event_id}: {status} after {waited:.1f}s")
        summaries = []
        if status == "completed":
            summary = client.summary(document_id).data
            summaries.append(summary)
            self.out(f"   GET /summaries/{document_id}: {summary.summary[:60]!r}")
        records = client.usage(idempotency_key=event_id).data.records
        after = self.completions()
        paid = None if before is None or after is None else after - before
        self.check(len(jobs) == 1 and rows[0][1] == 202, "one job: 202 once, then duplicates")
        self.check(status == "completed", "the worker processed the event")
        self.check(
            len(records) == 1 and paid in (1, None),
            f"summarised once: {len(records)} usage record, {paid} completion(s)",
        )

    def _wait_processed(
        self, client: Client, event_id: str, deadline_s: float
    ) -> tuple[str, float]:
        started = time.monotonic()
        status = "unknown"
        while time.monotonic() - started < deadline_s:
            status = client.webhook_event(event_id).data.status
            if status in ("completed", "failed"):
                break
            time.sleep(0.2)
        return status, time.monotonic() - started

    # the tables ---------------------------------------------------------------------------
    def final_tables(self) -> None:
        client = self.client()
        self.out("\nUsage: the cost records of this demo's operations (GET /usage)")
        rows: list[list[object]] = []
        total = Decimal(0)
        for key in self.usage_keys:
            for r in client.usage(idempotency_key=key).data.records:
                rows.append(
                    [
                        r.operation,
                        short(r.idempotency_key, 16),
                        r.model,
                        r.prompt_tokens,
                        r.completion_tokens,
                        r.cost_usd,
                    ]
                )
                total += r.cost_usd
        headers = ["operation", "idempotencyKey", "model", "prompt", "completion", "costUsd"]
        self.out(indent(table(headers, rows)))
        self.out(f"   total: {total} USD for {len(rows)} LLM calls")
        self.out("\nLedger: the transfers this demo made (GET /transfers/{id})")
        ledger = []
        for transfer_id in dict.fromkeys(self.transfer_ids):
            t = client.get_transfer(transfer_id).data
            ledger.append(
                [t.transfer_id, t.from_account_id, t.to_account_id, t.amount, t.currency, t.status]
            )
        headers = ["transferId", "from", "to", "amount", "currency", "status"]
        self.out(indent(table(headers, ledger)))
        main, ops = self.balances(client)
        self.out(f"   balances now: {MAIN} {main}, {OPS} {ops}")


def read_seed(path: Path, tenant: str | None) -> tuple[str, str, str | None]:
    seed = json.loads(path.read_text())
    tenants = seed["tenants"]
    chosen = next((t for t in tenants if t["id"] == tenant), None) if tenant else tenants[0]
    if chosen is None:
        raise SystemExit(f"tenant {tenant!r} is not in {path}")
    return str(chosen["id"]), str(chosen["apiKey"]), chosen.get("webhookSecret")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="", help="default: the running `make dev` stack")
    parser.add_argument("--llm-url", default="", help="default: its fake LLM")
    parser.add_argument("--seed", type=Path, default=None, help="default: its seed file")
    parser.add_argument("--tenant", default=None, help="default: the seed's first tenant")
    parser.add_argument("--client", choices=["python", "ts"], default="python")
    args = parser.parse_args(argv)
    try:  # the stack's state file (local/devstate.py), unless PORT etc. or the flags say otherwise
        stack = devstate.target()
        args.url = args.url or stack.api()
    except devstate.NoStack as exc:
        return devstate.exit_no_stack(exc)
    args.llm_url = args.llm_url or stack.fake_llm_url or ""
    args.seed = args.seed or stack.seed_file
    seed_path: Path = args.seed if args.seed.is_absolute() else ROOT / args.seed
    tenant, api_key, secret = read_seed(seed_path, args.tenant)
    if args.client == "ts":  # the story told with clients/typescript (examples/demo.mjs)
        node = shutil.which("node")
        if node is None:
            print("make demo CLIENT=ts needs Node 20+ (and make setup)", file=sys.stderr)
            return 2
        demo_ts = ROOT / "clients" / "typescript" / "examples" / "demo.mjs"
        ts_args = ["--url", args.url, "--llm-url", args.llm_url, "--tenant", tenant]
        secrets = {"RETRYPROOF_API_KEY": api_key, "RETRYPROOF_WEBHOOK_SECRET": secret or ""}
        return subprocess.call([node, str(demo_ts), *ts_args], env={**os.environ, **secrets})  # noqa: S603  # nosec B603

    try:
        health = UrllibTransport().send(HttpRequest("GET", f"{args.url}/health", {}), 3.0)
        up = health.status == 200
    except OSError:
        up = False
    if not up:
        print(f"no retryproof stack at {args.url}: start it with `make dev` first", file=sys.stderr)
        return 2
    llm = FakeLLM(args.llm_url)
    demo = Demo(url=args.url, api_key=api_key, llm=llm, webhook_secret=secret, tenant=tenant)
    demo.llm_available = bool(args.llm_url) and llm.available()
    print(f"retryproof demo against {args.url} (tenant {tenant})")
    if not demo.llm_available:
        print(f"   note: no fake LLM at {args.llm_url}; completion counts are not shown")

    started = time.monotonic()
    try:
        demo.lost_response()
        demo.concurrent_transfer()
        demo.resumed_agent_run()
        demo.webhook()
        demo.final_tables()
    except RetryproofError as exc:
        print(f"\nFAILED: {exc}", file=sys.stderr)
        return 1
    elapsed = time.monotonic() - started
    if demo.failures:
        print(f"\n{len(demo.failures)} claim(s) did not hold ({elapsed:.1f}s):")
        for failure in demo.failures:
            print(f"  - {failure}")
        return 1
    print(f"\nEvery claim held ({elapsed:.1f}s).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
