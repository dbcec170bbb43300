"""Calling the handlers in-process (local/inprocess.py) as API Gateway would, and reading what they
stored: shared by the integration tests (and the chaos storm's checks)."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from local.inprocess import InProcess
from retryproof import aws
from retryproof.dal.accounts import DynamoAccountRepository
from retryproof.models.transfers import AccountItem
from tests.support.events import http_event

GENERATE = "GenerateFunction"
USAGE = "UsageFunction"
TRANSFER = "TransferFunction"
ACCOUNTS = "AccountsFunction"
REPLAY_HEADERS = ("Idempotent-Replayed", "X-Idempotency-Replayed", "X-From-Cache")


@dataclass
class Result:
    status: int
    headers: dict[str, str]
    text: str

    @property
    def json(self) -> Any:
        return json.loads(self.text)

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers.items() if k.lower() == name.lower()), None)

    @property
    def replayed(self) -> bool:
        return all(self.header(h) == "true" for h in REPLAY_HEADERS)


def generate(
    stack: InProcess,
    tenant: str,
    key: str | None,
    body: Any = None,
    *,
    raw_body: str | None = None,
    timeout_s: int | None = None,
) -> Result:
    body = {"prompt": "Tell me about retries."} if body is None and raw_body is None else body
    headers = {"idempotency-key": key} if key is not None else {}
    ev = http_event(
        "generate_post.json",
        tenant=tenant,
        body=body,
        raw_body=raw_body,
        headers=headers,
        drop_headers=("idempotency-key",),
    )
    out = stack.invoke(GENERATE, ev, timeout_s=timeout_s)
    return Result(out["statusCode"], out.get("headers") or {}, out["body"])


def usage(stack: InProcess, tenant: str, **query: str) -> Result:
    ev = http_event("usage_get.json", tenant=tenant, query=query)
    out = stack.invoke(USAGE, ev)
    return Result(out["statusCode"], out.get("headers") or {}, out["body"])


def usage_items(stack: InProcess, tenant: str) -> list[dict[str, Any]]:
    return [i for i in stack.items("UsageTable") if i["tenantId"]["S"] == tenant]


def open_account(stack: InProcess, tenant: str, balance: int, currency: str = "USD") -> str:
    account_id = f"acc_{uuid.uuid4().hex[:10]}"
    DynamoAccountRepository(aws.dynamodb(), stack.refs.table("AccountsTable")).put(
        AccountItem(
            account_id=account_id,
            tenant_id=tenant,
            balance=balance,
            opening_balance=balance,
            currency=currency,
        )
    )
    return account_id


def transfer(
    stack: InProcess,
    tenant: str,
    key: str,
    body: Any,
    *,
    timeout_s: int | None = None,
) -> Result:
    ev = http_event(
        "transfer_post.json", tenant=tenant, body=body, headers={"idempotency-key": key}
    )
    out = stack.invoke(TRANSFER, ev, timeout_s=timeout_s)
    return Result(out["statusCode"], out.get("headers") or {}, out["body"])


def body(src: str, dst: str, amount: Any = 1000, currency: str = "USD") -> dict[str, Any]:
    return {"fromAccountId": src, "toAccountId": dst, "amount": amount, "currency": currency}


def get(stack: InProcess, tenant: str, path: str) -> Result:
    kind, _, ident = path.strip("/").partition("/")
    fixture = "account_get.json" if kind == "accounts" else "transfer_get.json"
    ev = http_event(fixture, tenant=tenant)
    param = "accountId" if kind == "accounts" else "transferId"
    ev["pathParameters"] = {param: ident}
    ev["rawPath"] = ev["requestContext"]["http"]["path"] = path
    out = stack.invoke(ACCOUNTS, ev)
    return Result(out["statusCode"], out.get("headers") or {}, out["body"])


def balance(stack: InProcess, tenant: str, account_id: str) -> int:
    reply = get(stack, tenant, f"/accounts/{account_id}")
    assert reply.status == 200, reply.text
    value = reply.json["balance"]
    assert isinstance(value, int)
    return value


def ledger(stack: InProcess, tenant: str) -> list[dict[str, Any]]:
    return [i for i in stack.items("LedgerTable") if i["tenantId"]["S"] == tenant]


def call_line(tool: str, args: dict[str, Any]) -> str:
    return f"CALL {tool} {json.dumps(args)}"


def pay(src: str, dst: str, amount: int = 300) -> str:
    args = {"fromAccountId": src, "toAccountId": dst, "amount": amount, "currency": "USD"}
    return call_line("transfer_funds", args)
