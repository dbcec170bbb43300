"""The retry table (retry_cases.json) for the Python clients: set a case up (fake LLM and proxy
faults), run its operation with a client, observe what the proxy and the server saw, and list
what did not hold. clients/typescript/test/retry-table.test.mjs does the same for the TypeScript
client, from the same file and with the same checks."""

from __future__ import annotations

import asyncio
import itertools
import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from retryproof_client import (
    ApiError,
    AsyncClient,
    Client,
    HttpRequest,
    HttpResponse,
    NetworkError,
    ThreadTransport,
    Transport,
    UrllibTransport,
)

from tests.support.client import call

TABLE = Path(__file__).with_name("retry_cases.json")


def load() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(TABLE.read_text())
    return data


def cases() -> list[dict[str, Any]]:
    return list(load()["cases"])


def retries(case: Mapping[str, Any]) -> bool:
    """Whether the case expects more than one attempt (a key-dropping client must fail it)."""
    expect = case["expect"]
    return int(expect.get("attempts", expect.get("minAttempts", 1))) > 1


@dataclass(frozen=True)
class TableEnv:
    api_url: str  # the API itself (for the checks)
    proxy_url: str  # what the clients call
    llm_root: str  # the fake LLM's control routes
    api_key: str

    def client_options(self, case: Mapping[str, Any]) -> dict[str, Any]:
        """The case's client options (ms) as the Python clients' arguments (seconds)."""
        opts = {**load()["defaults"]["client"], **case.get("client", {})}
        return {
            "max_attempts": int(opts["maxAttempts"]),
            "timeout": opts["timeoutMs"] / 1000,
            "base_delay": opts["baseDelayMs"] / 1000,
            "max_delay": opts["maxDelayMs"] / 1000,
            "max_elapsed": opts["maxElapsedMs"] / 1000,
        }

    def _get(self, path: str) -> Any:
        reply = call(
            "GET", self.api_url + path, headers={"Authorization": f"Bearer {self.api_key}"}
        )
        assert reply.status == 200, reply.text
        return reply.json

    def completions(self) -> int:
        return int(call("GET", f"{self.llm_root}/stats").json["completions"])

    def balance(self, account: str) -> int:
        return int(self._get(f"/accounts/{account}")["balance"])

    def usage_records(self, key: str) -> int:
        return len(self._get(f"/usage?idempotencyKey={key}")["records"])

    def proxy_log(self) -> list[dict[str, Any]]:
        return list(call("GET", f"{self.proxy_url}/__proxy/log").json["requests"])

    def reset(self) -> None:
        call("DELETE", f"{self.llm_root}/faults")
        call("DELETE", f"{self.proxy_url}/__proxy/faults")

    def arm(self, case: Mapping[str, Any]) -> dict[str, Any]:
        """Clear earlier faults and the proxy's log, queue the case's faults, and note what
        the checks compare against."""
        self.reset()
        for fault in case.get("llmFaults", []):
            assert call("POST", f"{self.llm_root}/faults", body=fault).status in (200, 201)
        for fault in case.get("proxyFaults", []):
            assert call("POST", f"{self.proxy_url}/__proxy/faults", body=fault).status == 201
        accounts = case["expect"].get("balanceDelta", {})
        return {
            "completions": self.completions(),
            "balances": {a: self.balance(a) for a in accounts},
        }


def failures(
    env: TableEnv, case: Mapping[str, Any], outcome: Mapping[str, Any], before: Mapping[str, Any]
) -> list[str]:
    """What did not hold, in words (empty when the client passed the case)."""
    expect = case["expect"]
    seen = [e for e in env.proxy_log() if not e["path"].startswith("/__proxy/")]
    env.reset()  # leftover faults (e.g. 50 resets) must not reach the checks' own calls
    found: list[str] = []
    for name in ("outcome", "status", "code", "replayed", "attempts"):
        if name in expect and outcome.get(name) != expect[name]:
            found.append(f"{name}: expected {expect[name]!r}, got {outcome.get(name)!r}")
    attempts = outcome.get("attempts") or 0
    if "minAttempts" in expect and attempts < expect["minAttempts"]:
        found.append(f"attempts: expected at least {expect['minAttempts']}, got {attempts}")
    if len(seen) != attempts:
        found.append(f"the proxy saw {len(seen)} requests, the client reports {attempts} attempts")
    key = outcome.get("idempotencyKey")
    sent = [e["idempotencyKey"] for e in seen]
    if key is None or any(k != key for k in sent):
        found.append(f"not one key on every attempt: client {key!r}, sent {sent!r}")
    statuses = [e["status"] for e in seen]
    for status in expect.get("statusesInclude", []):
        if status not in statuses:
            found.append(f"no {status} answer among {statuses}")
    for earlier, later in itertools.pairwise(seen):
        hinted, answered = earlier.get("retryAfter"), earlier.get("answered")
        if hinted and answered is not None:
            waited = later["arrived"] - answered
            if waited < float(hinted) - 0.01:
                found.append(
                    f"Retry-After {hinted} s not honoured: next attempt {waited:.3f} s later"
                )
    if "completions" in expect:
        paid = env.completions() - before["completions"]
        if paid != expect["completions"]:
            found.append(f"LLM completions: expected {expect['completions']}, got {paid}")
    if "usageRecords" in expect and key is not None:
        records = env.usage_records(key)
        if records != expect["usageRecords"]:
            found.append(
                f"usage records for the key: expected {expect['usageRecords']}, got {records}"
            )
    for account, delta in expect.get("balanceDelta", {}).items():
        moved = env.balance(account) - before["balances"][account]
        if moved != delta:
            found.append(f"{account} moved {moved}, expected {delta}")
    return found


# --- the Python clients ---------------------------------------------------------------------


def _ok(result: Any) -> dict[str, Any]:
    return {
        "outcome": "ok",
        "status": result.status,
        "replayed": result.replayed,
        "attempts": result.attempts,
        "idempotencyKey": result.idempotency_key,
    }


def _error(exc: ApiError | NetworkError) -> dict[str, Any]:
    if isinstance(exc, ApiError):
        return {
            "outcome": "api_error",
            "status": exc.status,
            "code": exc.code,
            "attempts": exc.attempts,
            "idempotencyKey": exc.idempotency_key,
        }
    return {
        "outcome": "network_error",
        "attempts": exc.attempts,
        "idempotencyKey": exc.idempotency_key,
    }


def _operation(client: Any, op: Mapping[str, Any]) -> Any:
    """The case's operation on a Client or an AsyncClient (a coroutine for the latter)."""
    if op["name"] == "generate":
        return client.generate(op["prompt"], temperature=op.get("temperature"))
    if op["name"] == "transfer":
        return client.transfer(op["from"], op["to"], op["amount"], op["currency"])
    raise ValueError(f"unknown operation {op['name']}")


class KeyDroppingTransport:
    """A deliberately broken client: every retry sends a new Idempotency-Key (what a client
    that makes its key per attempt, not per operation, does). The table must fail it."""

    def __init__(self, inner: Transport) -> None:
        self.inner = inner
        self.seen: set[str] = set()

    def send(self, request: HttpRequest, timeout: float) -> HttpResponse:
        key = request.headers.get("Idempotency-Key")
        if key is not None:
            if key in self.seen:
                headers = {**request.headers, "Idempotency-Key": str(uuid.uuid4())}
                request = HttpRequest(request.method, request.url, headers, request.body)
            self.seen.add(key)
        return self.inner.send(request, timeout)


def run_sync(env: TableEnv, case: Mapping[str, Any], *, drop_key: bool = False) -> dict[str, Any]:
    transport: Transport = UrllibTransport()
    if drop_key:
        transport = KeyDroppingTransport(transport)
    client = Client(env.proxy_url, env.api_key, transport=transport, **env.client_options(case))
    try:
        return _ok(_operation(client, case["operation"]))
    except (ApiError, NetworkError) as exc:
        return _error(exc)


def run_async(env: TableEnv, case: Mapping[str, Any], *, drop_key: bool = False) -> dict[str, Any]:
    inner: Transport = UrllibTransport()
    if drop_key:
        inner = KeyDroppingTransport(inner)

    async def main() -> dict[str, Any]:
        async with AsyncClient(
            env.proxy_url, env.api_key, transport=ThreadTransport(inner), **env.client_options(case)
        ) as client:
            try:
                return _ok(await _operation(client, case["operation"]))
            except (ApiError, NetworkError) as exc:
                return _error(exc)

    return asyncio.run(main())


RUNNERS: dict[str, Callable[..., dict[str, Any]]] = {"sync": run_sync, "async": run_async}
