"""The local console: `GET /console` on the local stack (never deployed), read-only HTML.

Per tenant, what retry-safety did: the idempotency keys sent through this stack with their state
in the store (status, lease, expiry) and the replays served; transfers with their ledger entries
and the balances they add up to; webhook events with attempts, status and the dead-letter queue;
agent runs with their steps and tool calls; cost records and totals.

Rendered on the server with the standard library (every value escaped), no JavaScript: reload to
refresh. Idempotency records are stored under hashed ids (tenant and key are not in clear), so
the keys listed are the ones the gateway saw in this process (`observe`), each looked up in the
store the way `GET /idempotency-keys/{key}` does.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from typing import Any
from urllib.parse import parse_qs, quote

log = logging.getLogger("local.console")

Page = tuple[int, dict[str, str], bytes]

# The idempotent routes whose keys the console follows, by the operation name of the key status.
OBSERVED_ROUTES = {
    "POST /generate": "generate",
    "POST /transfer": "transfer",
    "POST /agent/runs": "agent_run",
}
# The tables it reads (logical ids in template.yaml).
TABLES = ("IdempotencyTable", "ApiKeysTable", "AccountsTable", "LedgerTable", "WebhookEventsTable",
          "RunsTable", "UsageTable")  # fmt: skip
MAX_KEYS = 500  # per process, oldest dropped first
SHOWN = 100  # rows per section


@dataclass
class SeenKey:
    tenant_id: str
    operation: str
    key: str
    first_seen: str
    requests: int = 0
    replays: int = 0
    last_status: int = 0


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Console:
    """Reads the stack's tables (`tables`: logical id -> name) and its dead-letter queue."""

    def __init__(
        self, tables: Mapping[str, str], dead_letter_queue_url: str | None, dynamodb: Any, sqs: Any
    ) -> None:
        self.tables = dict(tables)
        self.dead_letter_queue_url = dead_letter_queue_url
        self._dynamodb = dynamodb  # boto3 clients: thread-safe, shared by the request threads
        self._sqs = sqs
        self._seen: OrderedDict[tuple[str, str, str], SeenKey] = OrderedDict()
        self._lock = threading.Lock()

    # --- what the gateway tells it -----------------------------------------------------------

    def observe(
        self,
        route_key: str,
        event: Mapping[str, Any],
        status: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """A request of an idempotent route: sent (`status` None), then answered."""
        operation = OBSERVED_ROUTES.get(route_key)
        context = ((event.get("requestContext") or {}).get("authorizer") or {}).get("lambda") or {}
        tenant = context.get("tenantId")
        key = _idempotency_key(event.get("headers") or {})
        if operation is None or not isinstance(tenant, str) or key is None:
            return
        with self._lock:
            seen = self._seen.pop((tenant, operation, key), None) or SeenKey(
                tenant, operation, key, _now_iso()
            )
            if status is None:
                seen.requests += 1
            else:
                seen.last_status = status
                seen.replays += any(
                    k.lower() == "idempotent-replayed" and v == "true"
                    for k, v in (headers or {}).items()
                )
            self._seen[(tenant, operation, key)] = seen  # most recent last
            while len(self._seen) > MAX_KEYS:
                self._seen.popitem(last=False)

    def seen(self, tenant_id: str) -> list[SeenKey]:
        with self._lock:
            return [s for s in reversed(self._seen.values()) if s.tenant_id == tenant_id]

    # --- pages -------------------------------------------------------------------------------

    def page(self, method: str, path: str, query: str) -> Page | None:
        """The console's answer for a request, or None when the path is not the console's."""
        if path not in ("/console", "/console/"):
            return None
        if method not in ("GET", "HEAD"):
            return 405, {"Allow": "GET, HEAD", "Content-Type": "text/plain"}, b"read-only\n"
        try:
            tenants = self.tenants()
            chosen = (parse_qs(query).get("tenant") or [""])[0] or (tenants[0] if tenants else "")
            body = self.render(chosen, tenants)
        except Exception:  # a page that cannot be read: say so, keep the stack serving
            log.exception("the console could not be rendered")
            return 500, {"Content-Type": "text/plain; charset=utf-8"}, b"console error (see log)\n"
        return 200, {"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store"}, body

    def tenants(self) -> list[str]:
        found = {i["tenantId"]["S"] for i in self._scan("ApiKeysTable")}
        found |= {i["tenantId"]["S"] for i in self._scan("AccountsTable")}
        with self._lock:
            found |= {s.tenant_id for s in self._seen.values()}
        return sorted(found)

    def render(self, tenant: str, tenants: list[str]) -> bytes:
        sections = [
            self._keys_section(tenant),
            self._transfers_section(tenant),
            self._webhooks_section(tenant),
            self._runs_section(tenant),
            self._costs_section(tenant),
        ]
        links = " ".join(
            f'<a href="/console?tenant={quote(t)}"{" aria-current=page" if t == tenant else ""}>'
            f"{escape(t)}</a>"
            for t in tenants
        )
        html = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>retryproof console · {escape(tenant)}</title>
<style>{STYLE}</style></head>
<body>
<header><h1>retryproof console</h1>
<p>Local stack only, read-only. Tenant: <span class="tenants">{links}</span>
<span class="when">as of {escape(_now_iso())} — reload to refresh</span></p></header>
<main data-tenant="{escape(tenant)}">
{"".join(sections)}
</main></body></html>
"""
        return html.encode()

    # --- sections ----------------------------------------------------------------------------

    def _keys_section(self, tenant: str) -> str:
        from retryproof.dal.idempotency_records import DynamoIdempotencyRecords
        from retryproof.key_status import key_status

        records = DynamoIdempotencyRecords(self._dynamodb, self.tables["IdempotencyTable"])
        now_ms = int(time.time() * 1000)
        rows = []
        seen = self.seen(tenant)
        for s in seen[:SHOWN]:
            state = key_status(
                tenant_id=tenant, key=s.key, operation=s.operation, records=records,  # type: ignore[arg-type]
                durable=lambda: None, now_ms=now_ms,
            ).to_json_dict()  # fmt: skip
            rows.append(
                [
                    _code(s.key),
                    escape(s.operation),
                    _badge(state["status"]),
                    escape(state.get("leaseExpiresAt", "")),
                    escape(state.get("expiresAt", "")),
                    escape(str(state.get("responseStatus", ""))),
                    str(s.requests),
                    str(s.last_status or "—"),
                    f'<span data-replays="{s.replays}">{s.replays}</span>',
                ]
            )
        replays = sum(s.replays for s in seen)
        return _section(
            "keys",
            "Idempotency keys",
            f'<b data-count="{len(seen)}">{len(seen)}</b> keys sent through this stack, '
            f'<b data-replays-total="{replays}">{replays}</b> replays served. Status, lease and '
            "expiry from the idempotency store's record (unknown: expired or never stored).",
            _table(["key", "operation", "status", "lease expires", "record expires",
                    "stored status", "requests", "last answer", "replays"], rows),
        )  # fmt: skip

    def _transfers_section(self, tenant: str) -> str:
        from retryproof.models.transfers import AccountItem, LedgerItem

        ledger = sorted(
            (LedgerItem.from_item(i) for i in self._scan("LedgerTable")),
            key=lambda e: e.created_at,
            reverse=True,
        )
        accounts = [
            AccountItem.from_item(i)
            for i in self._scan("AccountsTable")
            if i["tenantId"]["S"] == tenant
        ]
        own = {a.account_id for a in accounts}
        moves: dict[str, int] = {}
        for e in ledger:
            moves[e.from_account_id] = moves.get(e.from_account_id, 0) - e.amount
            moves[e.to_account_id] = moves.get(e.to_account_id, 0) + e.amount
        account_rows = []
        for a in sorted(accounts, key=lambda a: a.account_id):
            expected = a.opening_balance + moves.get(a.account_id, 0)
            check = "✓ balance = opening + ledger" if expected == a.balance else f"✗ {expected}"
            account_rows.append([_code(a.account_id), escape(a.currency), str(a.opening_balance),
                                 f'<b data-balance="{a.balance}">{a.balance}</b>',
                                 escape(check)])  # fmt: skip
        entries = [e for e in ledger if e.tenant_id == tenant or e.to_account_id in own]
        entry_rows = [
            [_code(e.transfer_id), escape(e.created_at), _code(e.from_account_id),
             _code(e.to_account_id), f"{e.amount} {escape(e.currency)}",
             _code(e.idempotency_key) if e.tenant_id == tenant else "(another tenant's)"]
            for e in entries[:SHOWN]
        ]  # fmt: skip
        return _section(
            "transfers",
            "Transfers",
            f'<b data-count="{len(entries)}">{len(entries)}</b> ledger entries (one per transfer, '
            "written in the transaction that moved the money); balances in minor units.",
            _table(["account", "currency", "opening", "balance", "check"], account_rows),
            _table(["transfer", "created", "from", "to", "amount", "idempotency key"], entry_rows),
        )

    def _webhooks_section(self, tenant: str) -> str:
        from retryproof.models.webhooks import WebhookEventItem

        events = sorted(
            (
                WebhookEventItem.from_item(i)
                for i in self._scan("WebhookEventsTable")
                if i["tenantId"]["S"] == tenant
            ),
            key=lambda e: e.created_at,
            reverse=True,
        )
        dead, depth = self._dead_letters()
        rows = [
            [_code(e.event_id), _code(e.document_id), _badge(e.status), str(e.attempts),
             escape(e.accepted_at or ""), escape(e.completed_at or ""),
             escape(e.last_error or ""),
             "yes" if (tenant, e.event_id) in dead else ""]
            for e in events[:SHOWN]
        ]  # fmt: skip
        return _section(
            "webhooks",
            "Webhook events",
            f'<b data-count="{len(events)}">{len(events)}</b> event(s) (one per eventId, however '
            f'many deliveries); dead-letter queue: <b data-dlq="{depth}">{depth}</b> message(s).',
            _table(["event", "document", "status", "attempts", "accepted", "completed",
                    "last error", "in DLQ"], rows),
        )  # fmt: skip

    def _runs_section(self, tenant: str) -> str:
        from retryproof.config import get_settings
        from retryproof.dal.runs import DynamoRunStore
        from retryproof.money import cost_micro_usd, format_usd

        prices = get_settings().model_prices

        store = DynamoRunStore(self._dynamodb, self.tables["RunsTable"])
        headers = [i for i in self._scan("RunsTable") if i["item"]["S"] == "run"]
        runs = []
        for item in headers:
            if item.get("tenantId", {}).get("S") != tenant:
                continue
            state = store.load(item["runId"]["S"])
            if state.header is not None:
                runs.append(state)
        runs.sort(key=lambda s: s.header.created_at if s.header else "", reverse=True)
        rows = []
        for state in runs[:SHOWN]:
            header = state.header
            assert header is not None
            calls = []
            for step in state.steps:
                for call in step.tool_calls:
                    tool = state.tools.get(call["id"])
                    done = "✓" if tool is not None else "…"
                    replayed = " (replayed)" if tool is not None and tool.replayed else ""
                    calls.append(f"<li>{done} {escape(call['name'])} "
                                 f"<code>{escape(call['arguments'])}</code>{escape(replayed)}"
                                 f"{_tool_result(tool.result if tool else None)}</li>")  # fmt: skip
            approvals = [
                {"approvalId": a.approval_id, "tool": a.name, "decision": a.status}
                for a in state.approvals.values()
            ]
            cost = format_usd(
                sum(
                    cost_micro_usd(prices[step.model], step.prompt_tokens, step.completion_tokens)
                    for step in state.steps
                    if step.model in prices
                )
            )
            rows.append([
                _code(header.run_id), _code(header.idempotency_key), escape(header.created_at),
                _badge(header.status),
                str(len(state.steps)),
                f"<ul>{''.join(calls)}</ul>" if calls else "",
                escape(", ".join(json.dumps(a) for a in approvals if a)),
                escape(cost),
            ])  # fmt: skip
        return _section(
            "runs",
            "Agent runs",
            f'<b data-count="{len(runs)}">{len(runs)}</b> run(s); each LLM step checkpointed '
            "before its tool calls, each tool call executed once (✓: its result is checkpointed).",
            _table(["run", "idempotency key", "created", "status", "LLM steps", "tool calls",
                    "approvals", "cost USD"], rows),
        )  # fmt: skip

    def _costs_section(self, tenant: str) -> str:
        from retryproof.dal.usage import DynamoUsageRepository
        from retryproof.models.usage import UsageItem
        from retryproof.money import format_usd

        items = [UsageItem.from_item(i) for i in self._query_tenant("UsageTable", tenant)]
        items.sort(key=lambda u: u.created_at, reverse=True)
        # The running total is counted from the table's stream: it may trail the records.
        total = DynamoUsageRepository(self._dynamodb, self.tables["UsageTable"]).total(tenant)
        summed = sum(u.cost_micro_usd for u in items)
        rows = [
            [_code(u.idempotency_key), escape(u.operation), str(u.step), escape(u.model),
             f"{u.prompt_tokens} + {u.completion_tokens}", format_usd(u.cost_micro_usd),
             escape(u.created_at)]
            for u in items[:SHOWN]
        ]  # fmt: skip
        if total.records == len(items):
            check = "✓ equals the sum of the records" if total.micro_usd == summed else "✗"
        else:
            check = f"(counting: {total.records} of {len(items)} records so far)"
        return _section(
            "costs",
            "Cost records",
            f'<b data-count="{len(items)}">{len(items)}</b> records (one per paid LLM call); '
            f'running total <b data-total="{format_usd(total.micro_usd)}">'
            f"{format_usd(total.micro_usd)} USD</b> {escape(check)}.",
            _table(["idempotency key", "operation", "step", "model", "tokens", "cost USD",
                    "created"], rows),
        )  # fmt: skip

    # --- reads -------------------------------------------------------------------------------

    def _scan(self, table_id: str) -> list[dict[str, Any]]:
        pages = self._dynamodb.get_paginator("scan").paginate(
            TableName=self.tables[table_id], ConsistentRead=True
        )
        return [item for page in pages for item in page["Items"]]

    def _query_tenant(self, table_id: str, tenant: str) -> list[dict[str, Any]]:
        pages = self._dynamodb.get_paginator("query").paginate(
            TableName=self.tables[table_id], ConsistentRead=True,
            KeyConditionExpression="tenantId = :t",
            ExpressionAttributeValues={":t": {"S": tenant}},
        )  # fmt: skip
        return [item for page in pages for item in page["Items"]]

    def _dead_letters(self) -> tuple[set[tuple[str, str]], int]:
        """(tenant, event id) of the jobs in the dead-letter queue (peeked: they stay there), and
        the queue's depth."""
        if not self.dead_letter_queue_url:
            return set(), 0
        sqs = self._sqs
        attrs = sqs.get_queue_attributes(
            QueueUrl=self.dead_letter_queue_url, AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]
        depth = int(attrs.get("ApproximateNumberOfMessages", 0))
        found: set[tuple[str, str]] = set()
        if depth:
            out = sqs.receive_message(
                QueueUrl=self.dead_letter_queue_url, MaxNumberOfMessages=10,
                VisibilityTimeout=0, WaitTimeSeconds=0,
            )  # fmt: skip
            for message in out.get("Messages", []):
                try:
                    job = json.loads(message["Body"])
                    found.add((str(job["tenantId"]), str(job["eventId"])))
                except (ValueError, KeyError, TypeError):
                    continue
        return found, depth


def _idempotency_key(headers: Mapping[str, str]) -> str | None:
    from retryproof.errors import ProblemError
    from retryproof.idempotency import read_idempotency_key

    try:
        return read_idempotency_key(headers)
    except ProblemError:
        return None


def _code(value: str) -> str:
    return f"<code>{escape(value)}</code>"


def _badge(status: str) -> str:
    quoted = escape(status)
    return f'<span class="badge {quoted}" data-status="{quoted}">{quoted}</span>'


def _tool_result(result: Any) -> str:
    if result is None:
        return ""
    text = json.dumps(result)
    return f" → <code>{escape(text[:160] + ('…' if len(text) > 160 else ''))}</code>"


def _table(columns: list[str], rows: Iterable[list[str]]) -> str:
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>\n" for row in rows)
    if not body:
        body = f'<tr><td colspan="{len(columns)}" class="empty">nothing yet</td></tr>'
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _section(name: str, title: str, note: str, *tables: str) -> str:
    """`note` is HTML (escape what it quotes)."""
    return (
        f'<section id="{name}"><h2>{escape(title)}</h2><p class="note">{note}</p>'
        f"{''.join(tables)}</section>\n"
    )


STYLE = """
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:0;
color:#1d2330;background:#f6f7f9}
header{background:#1d2330;color:#fff;padding:10px 20px}header h1{font-size:18px;margin:0 0 4px}
header p{margin:0}header a{color:#9cc3ff;margin-right:8px}header a[aria-current]{color:#fff;
font-weight:bold;text-decoration:none}.when{color:#aab;margin-left:12px}
main{padding:4px 20px 20px}section{margin-top:14px}h2{font-size:16px;margin:0 0 2px}
.note{margin:0 0 6px;color:#556}table{border-collapse:collapse;width:100%;background:#fff;
margin-bottom:8px}th,td{border:1px solid #dde;padding:3px 6px;text-align:left;vertical-align:top}
th{background:#eef1f6;font-weight:600;white-space:nowrap}
code{font:12px ui-monospace,Menlo,"DejaVu Sans Mono",monospace;word-break:break-all}
td ul{margin:0;padding-left:16px}.empty{color:#889}
.badge{padding:0 6px;border-radius:8px;background:#e3e6ec}.completed{background:#d5f2dc}
.in_progress,.processing,.queued{background:#fff1c9}.failed,.unknown{background:#f6d8d8}
"""
