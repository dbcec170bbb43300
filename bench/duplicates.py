"""Duplicate side effects vs concurrent duplicates: check-then-set against this project.

The pattern this project replaces, as it is often written: read the key (GetItem); if absent, do
the work (here: pay for an LLM completion); then store the result with a TTL (PutItem, no
condition). Nothing stops two requests that read "absent" at the same moment from both paying.

Both sides get the same duplicates: N clients sending one key at once (released together by a
barrier), for `keys` keys per N, against the same emulator and the same fake LLM. The side effect
is counted where it lands: completions on the fake LLM. retryproof's clients retry a 409 as a
client would, until the stored answer comes back.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from local.inprocess import InProcess
from tests.support.events import http_event

NAIVE_TABLE = "bench-check-then-set"
TTL_SECONDS = 3600


def _naive_table(ip: InProcess) -> str:
    client = ip.dynamodb
    if NAIVE_TABLE not in client.list_tables()["TableNames"]:
        client.create_table(
            TableName=NAIVE_TABLE,
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
    return NAIVE_TABLE


def check_then_set(ip: InProcess, table: str, client: Any, key: str, prompt: str) -> str:
    """GET, work, SET with TTL: the naive idempotency check."""
    found = client.get_item(TableName=table, Key={"id": {"S": key}}).get("Item")
    if found:
        return str(found["result"]["S"])
    body = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": prompt}]})
    request = urllib.request.Request(  # noqa: S310 - the local fake LLM
        f"{ip.fake.base_url}/chat/completions", data=body.encode(),
        headers={"Content-Type": "application/json", "Authorization": "Bearer sk-local"},
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        result = response.read().decode()
    client.put_item(
        TableName=table,
        Item={"id": {"S": key}, "result": {"S": result},
              "expiration": {"N": str(int(time.time()) + TTL_SECONDS)}},
    )  # fmt: skip
    return result


def _retryproof(ip: InProcess, key: str, prompt: str) -> str:
    while True:
        ev = http_event("generate_post.json", tenant="dup-bench", body={"prompt": prompt},
                        headers={"idempotency-key": key})  # fmt: skip
        out = ip.invoke("GenerateFunction", ev)
        if out["statusCode"] == 200:
            return str(out["body"])
        time.sleep(0.02)  # 409: the key is in flight; retry like a client


def _together(n: int, one: Callable[[], str]) -> None:
    barrier = threading.Barrier(n)

    def run(_: int) -> str:
        barrier.wait()
        return one()

    with ThreadPoolExecutor(n) as pool:
        list(pool.map(run, range(n)))


def measure_duplicates(
    ip: InProcess, levels: tuple[int, ...] = (1, 2, 4, 8, 16), keys: int = 10
) -> list[dict[str, Any]]:
    """One row per level: side effects per key and duplicates (side effects beyond one per key)."""
    table = _naive_table(ip)
    client = ip.dynamodb  # one client, shared by the threads (boto3 clients are thread-safe)
    rows = []
    for n in levels:
        counts = {}
        for name, one in (
            ("check-then-set", lambda k, p: check_then_set(ip, table, client, k, p)),
            ("retryproof", lambda k, p: _retryproof(ip, k, p)),
        ):
            before = ip.fake.completions
            for _ in range(keys):
                key, prompt = str(uuid.uuid4()), f"duplicates {uuid.uuid4().hex[:6]}"
                _together(n, lambda k=key, p=prompt, f=one: f(k, p))  # type: ignore[misc]
            counts[name] = ip.fake.completions - before
        rows.append({
            "concurrent duplicates": n, "keys": keys,
            "check-then-set side effects": counts["check-then-set"],
            "check-then-set duplicates per key": f"{(counts['check-then-set'] - keys) / keys:.2f}",
            "retryproof side effects": counts["retryproof"],
            "retryproof duplicates per key": f"{(counts['retryproof'] - keys) / keys:.2f}",
        })  # fmt: skip
    return rows
