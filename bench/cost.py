"""What retry-safety costs: capacity units and dollars per million /generate requests, next to
the two things a team would do instead, measured in the same run on the same emulator.

- check-then-set: GetItem, work, PutItem with a TTL, no claim (bench/duplicates.py: it pays
  twice under concurrent duplicates);
- Powertools only: Powertools' idempotency utility on its own DynamoDB table, no durable record
  (a retry after its record expired, or after a crash between paying and recording, pays again);
- retryproof: POST /generate as measured by bench/calls.py (the idempotency store, the durable
  usage record read before paying and written once, the usage totals counted from the stream).

Units come from bench/capacity.py (the items each request reads and writes); dollars from the
dated price table `bench/prices.json`, with its stated assumptions (Lambda memory, round-trip
time, LLM speed) and mix (a share of requests retried, each retry landing in another execution
environment: a cold replay).
"""

from __future__ import annotations

import json
import time
import urllib.request
import uuid
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.calls import LARGE, SMALL, Row, generate_body, measure_calls
from bench.capacity import CapacityMeter
from bench.duplicates import check_then_set
from local.inprocess import InProcess

PRICES: dict[str, Any] = json.loads((Path(__file__).parent / "prices.json").read_text())
POWERTOOLS_TABLE = "bench-powertools-only"
NAIVE_TABLE = "bench-cost-check-then-set"
APPROACHES = ("check-then-set", "Powertools only", "retryproof")
SITUATIONS = ("first request", "replay (cold cache)", "replay (warm cache)")


@dataclass(frozen=True)
class Units:
    calls: int
    rcu: float
    wcu: float
    kept_bytes: int = 0  # bytes of items kept for good (no TTL) per request


def _table(ip: InProcess, name: str) -> str:
    client = ip.dynamodb
    if name not in client.list_tables()["TableNames"]:
        client.create_table(
            TableName=name,
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
    return name


@contextmanager
def _metered(ip: InProcess) -> Iterator[tuple[Any, CapacityMeter]]:
    client = ip.dynamodb
    meter = CapacityMeter(client)
    try:
        yield client, meter
    finally:
        meter.close()


def _units(meter: CapacityMeter, action: Callable[[], Any]) -> Units:
    accesses, _ = meter.measure(action)
    return Units(len(accesses), meter.rcu, meter.wcu)


def _llm(ip: InProcess, prompt: str) -> str:
    body = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": prompt}]})
    request = urllib.request.Request(  # noqa: S310 - the local fake LLM
        f"{ip.fake.base_url}/chat/completions", data=body.encode(),
        headers={"Content-Type": "application/json", "Authorization": "Bearer sk-local"},
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
        return str(response.read().decode())


def measure_check_then_set(ip: InProcess, tokens: int) -> dict[str, Units]:
    table = _table(ip, NAIVE_TABLE)
    key, prompt = str(uuid.uuid4()), generate_body(tokens)["prompt"]
    with _metered(ip) as (client, meter):
        first = _units(meter, lambda: check_then_set(ip, table, client, key, prompt))
        # A retry after the replication lag: its eventually consistent GET sees the item (within
        # the emulator's stale-read window it would not, and would pay and write again).
        ip.emulator.settle()
        replay = _units(meter, lambda: check_then_set(ip, table, client, key, prompt))
    # No cache of its own: every replay reads the table.
    return {SITUATIONS[0]: first, SITUATIONS[1]: replay, SITUATIONS[2]: replay}


def measure_powertools_only(ip: InProcess, tokens: int) -> dict[str, Units]:
    from aws_lambda_powertools.utilities.idempotency import (
        DynamoDBPersistenceLayer,
        IdempotencyConfig,
        idempotent_function,
    )

    table = _table(ip, POWERTOOLS_TABLE)
    prompt = generate_body(tokens)["prompt"]

    def environment(client: Any) -> Callable[..., Any]:
        """One execution environment's idempotent function (its own local cache)."""
        config = IdempotencyConfig(
            event_key_jmespath="key", use_local_cache=True, expires_after_seconds=3600
        )
        persistence = DynamoDBPersistenceLayer(table_name=table, boto3_client=client)

        @idempotent_function(
            data_keyword_argument="request", persistence_store=persistence, config=config
        )
        def complete(request: dict[str, Any]) -> dict[str, Any]:
            return {"body": _llm(ip, request["prompt"])}

        return complete

    request = {"key": str(uuid.uuid4()), "prompt": prompt}
    warnings.filterwarnings("ignore", "Couldn't determine the remaining time left")  # no context
    with _metered(ip) as (client, meter):
        first_env = environment(client)
        first = _units(meter, lambda: first_env(request=request))
        cold = _units(meter, lambda: environment(client)(request=request))
        warm = _units(meter, lambda: first_env(request=request))
    return {SITUATIONS[0]: first, SITUATIONS[1]: cold, SITUATIONS[2]: warm}


def retryproof_units(rows: list[Row]) -> tuple[dict[str, Units], Units]:
    """/generate's situations and the stream consumer's units per new record, from the rows."""
    generate = {r.situation: r for r in rows if r.route == "POST /generate"}
    first = generate[SITUATIONS[0]]
    usage_record = next(
        b for a in first.detail.split("; ") if a.startswith("PutItem UsageTable")
        for b in [int(a.split("[")[1].split(" B")[0])]
    )  # fmt: skip
    out = {
        s: Units(
            generate[s].calls,
            generate[s].rcu,
            generate[s].wcu,
            usage_record if s == SITUATIONS[0] else 0,
        )
        for s in SITUATIONS
    }
    totals = next(r for r in rows if r.route == "usage totals (stream)")
    return out, Units(totals.calls, totals.rcu, totals.wcu)


@dataclass
class Measured:
    tokens: int
    units: dict[str, dict[str, Units]]  # approach -> situation -> units
    stream: Units  # retryproof's usage totals, per new record


def measure_all(ip: InProcess, rows_by_size: dict[int, list[Row]] | None = None) -> list[Measured]:
    out = []
    for tokens in (SMALL, LARGE):
        rows = (rows_by_size or {}).get(tokens) or measure_calls(ip, tokens, only_generate=True)
        ours, stream = retryproof_units(rows)
        units = {
            "check-then-set": measure_check_then_set(ip, tokens),
            "Powertools only": measure_powertools_only(ip, tokens),
            "retryproof": ours,
        }
        out.append(Measured(tokens, units, stream))
    return out


# --- dollars ------------------------------------------------------------------------------------


def _per_request(m: Measured, approach: str) -> dict[str, float]:
    """Expected units and seconds per request at the stated mix."""
    a = PRICES["assumptions"]
    retried = float(a["retried_share"])
    replay = SITUATIONS[1] if a["retries_land_in_another_execution_environment"] else SITUATIONS[2]
    first, again = m.units[approach][SITUATIONS[0]], m.units[approach][replay]

    def mix(f: float, r: float) -> float:
        return (1 - retried) * f + retried * r

    out = {
        "calls": mix(first.calls, again.calls),
        "rcu": mix(first.rcu, again.rcu),
        "wcu": mix(first.wcu, again.wcu),
        "kept_bytes": mix(first.kept_bytes, 0),
        "stream_wcu": 0.0,
        "stream_invocations": 0.0,
        "stream_seconds": 0.0,
        "firsts": 1 - retried,
    }
    if approach == "retryproof":
        out["stream_wcu"] = (1 - retried) * m.stream.wcu
        out["stream_invocations"] = (1 - retried) / a["usage_totals_batch_records"]
        out["stream_seconds"] = (1 - retried) * a["usage_totals_ms_per_record"] / 1000
    return out


def dollars_per_million(m: Measured) -> list[dict[str, Any]]:
    """Line by line, USD per million /generate requests, for each approach."""
    p, a = PRICES, PRICES["assumptions"]
    ddb, lam, api = p["dynamodb_on_demand"], p["lambda"], p["api_gateway_http_api"]
    gb = a["lambda_memory_mb"] / 1024
    llm_s = m.tokens / a["llm_output_tokens_per_second"]
    lines: dict[str, dict[str, float]] = {}
    for approach in APPROACHES:
        u = _per_request(m, approach)
        handler_s = (a["handler_ms"] + u["calls"] * a["dynamodb_call_ms"]) / 1000
        cost = {
            "DynamoDB write units": u["wcu"] * ddb["usd_per_million_write_request_units"],
            "DynamoDB read units": u["rcu"] * ddb["usd_per_million_read_request_units"],
            "usage totals off the paid path (stream: writes + Lambda)": (
                u["stream_wcu"] * ddb["usd_per_million_write_request_units"]
                + u["stream_invocations"] * lam["usd_per_million_requests"]
                + u["stream_seconds"] * gb * lam["usd_per_gb_second"] * 1e6
            ),
            "Lambda requests": lam["usd_per_million_requests"],
            "Lambda compute: handler + DynamoDB round trips": (
                handler_s * gb * lam["usd_per_gb_second"] * 1e6
            ),
            "Lambda compute: waiting for the LLM (first requests)": (
                u["firsts"] * llm_s * gb * lam["usd_per_gb_second"] * 1e6
            ),
            "API Gateway HTTP API": api["usd_per_million_requests"],
        }
        cost["total"] = sum(cost.values())
        cost["storage kept, per month (records without TTL)"] = (
            (u["kept_bytes"] + (ddb["storage_overhead_bytes_per_item"] if u["kept_bytes"] else 0))
            * 1e6
            / 1e9
            * ddb["usd_per_gb_month_storage"]
        )
        for line, usd in cost.items():
            lines.setdefault(line, {})[approach] = usd
    rows = []
    for line, by in lines.items():
        row: dict[str, Any] = {"payload": f"{m.tokens:,} tokens", "line": line}
        row.update({k: f"{v:.2f}" for k, v in by.items()})
        row["retryproof - Powertools only"] = f"{by['retryproof'] - by['Powertools only']:+.2f}"
        rows.append(row)
    return rows


def units_rows(measured: list[Measured]) -> list[dict[str, Any]]:
    rows = []
    for m in measured:
        for approach in APPROACHES:
            for situation in SITUATIONS:
                u = m.units[approach][situation]
                rows.append({
                    "payload": f"{m.tokens:,} tokens", "approach": approach,
                    "situation": situation, "calls": u.calls, "RCU": f"{u.rcu:g}",
                    "WCU": f"{u.wcu:g}",
                })  # fmt: skip
        rows.append({
            "payload": f"{m.tokens:,} tokens", "approach": "retryproof",
            "situation": "usage totals (stream), per first request", "calls": m.stream.calls,
            "RCU": f"{m.stream.rcu:g}", "WCU": f"{m.stream.wcu:g}",
        })  # fmt: skip
    return rows


def stamp() -> dict[str, Any]:
    """What the dollar figures rest on (written next to them in the results)."""
    return {
        "region": PRICES["region"],
        "prices_as_of": PRICES["prices_as_of"],
        "assumptions": PRICES["assumptions"],
        "measured": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


RATES = (100, 1_000, 10_000)  # requests per second (docs/ceilings.md)
SECONDS_PER_MONTH = 30 * 86_400


def at_rates(measured: list[Measured]) -> list[dict[str, Any]]:
    """/generate at steady rates: the load each limit sees and the monthly bill (first tier
    prices: an upper bound where AWS's volume tiers apply), from the measured units."""
    a = PRICES["assumptions"]
    rows = []
    for m in measured:
        totals = {r["line"]: r for r in dollars_per_million(m)}
        usd_per_million = float(totals["total"]["retryproof"])
        storage_per_million = float(
            totals["storage kept, per month (records without TTL)"]["retryproof"]
        )
        u = _per_request(m, "retryproof")
        llm_s = m.tokens / a["llm_output_tokens_per_second"]
        handler_s = (a["handler_ms"] + u["calls"] * a["dynamodb_call_ms"]) / 1000
        for rps in RATES:
            millions = rps * SECONDS_PER_MONTH / 1e6
            rows.append({
                "payload": f"{m.tokens:,} tokens", "requests/s": f"{rps:,}",
                "Lambda concurrency (/generate)": f"{rps * (handler_s + u['firsts'] * llm_s):,.0f}",
                "WRU/s (paid path + stream)": f"{rps * (u['wcu'] + u['stream_wcu']):,.0f}",
                "RRU/s": f"{rps * u['rcu']:,.0f}",
                "new cost records/s": f"{rps * u['firsts']:,.0f}",
                "USD/month": f"{usd_per_million * millions:,.0f}",
                "+ storage USD/month, each month": f"{storage_per_million * millions:,.0f}",
            })  # fmt: skip
    return rows
