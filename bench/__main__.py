"""`make bench`: what idempotency costs here, each figure next to its floor.

Prints tables and writes them as JSON to bench/results/<timestamp>.json. Sections (all by default;
`python -m bench calls storm coldstart built sizes latency` picks some):

- calls      DynamoDB calls per request, per route and situation (bench/calls.py)
- capacity   read and write capacity units per request, per route and situation, for a 200- and
             a 4,000-token completion, against their floors (bench/capacity.py, bench/calls.py)
- baselines  the same units for /generate next to check-then-set and Powertools alone
- cost       dollars per million /generate requests, line by line, for the three, from the dated
             price table bench/prices.json at its stated mix (bench/cost.py; docs/cost.md)
- rates      /generate at 100, 1,000 and 10,000 requests/s: Lambda concurrency, request units per
             second and the monthly bill, from the same units and prices (docs/ceilings.md)
- storm      LLM completions per completed key under a retry storm (floor 1.000)
- duplicates duplicate side effects vs concurrent duplicates: check-then-set against retryproof
             (bench/duplicates.py)
- coldstart  a fresh Python 3.13 process importing each handler and building its clients, median
             of BENCH_RUNS (15) runs, as a ratio to a bare `import boto3` in the same run (and,
             with clients, to `import boto3` + one DynamoDB client)
- built      the built layer imported read-only, with and without its precompiled bytecode
- sizes      each built function and the layer, unzipped and zipped (MiB)
- latency    the local stack over HTTP: median and p99, first request vs replay
- durable    what a durable step of an agent run costs on AWS's local runner: checkpoint calls
             and their latency p50/p99, the run's time and DynamoDB calls per step
             (bench/durable.py)

Charts of the duplicates and latency sections are drawn next to the JSON (bench/charts.py).
"""

from __future__ import annotations

import io
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zipfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / ".aws-sam" / "build"
RUNS = int(os.environ.get("BENCH_RUNS", "15"))
HEAVY = ("openai", "pydantic", "aws_lambda_powertools.event_handler", "httpx2", "jmespath")

Table = list[dict[str, Any]]


def show(title: str, rows: Table) -> None:
    print(f"\n## {title}\n")
    if not rows:
        print("(nothing)")
        return
    cols = [c for c in rows[0] if not c.startswith("_")]  # "_..." columns: the JSON only
    widths = [max(len(str(c)), *(len(str(r[c])) for r in rows)) for c in cols]
    print("  ".join(str(c).ljust(w) for c, w in zip(cols, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print("  ".join(str(r[c]).ljust(w) for c, w in zip(cols, widths, strict=True)))


# --- calls and storm: in-process against the emulator ----------------------------------------


def section_calls() -> Table:
    from bench.calls import measure_calls
    from local.inprocess import InProcess

    ip = InProcess().start()
    try:
        rows = measure_calls(ip)
    finally:
        ip.stop()
    return [
        {
            "route": r.route,
            "situation": r.situation,
            "status": r.status,
            "calls": r.calls,
            "floor": r.floor,
            "at floor": "yes" if r.at_floor else "NO",
        }
        for r in rows
    ]


def section_capacity() -> Table:
    from bench.calls import CAPACITY_FLOORS, LARGE, SMALL, measure_calls
    from local.inprocess import InProcess

    ip = InProcess().start()
    try:
        measured = [(SMALL, r) for r in measure_calls(ip, SMALL)]
        measured += [(LARGE, r) for r in measure_calls(ip, LARGE, only_generate=True)]
    finally:
        ip.stop()
    rows = []
    for tokens, r in measured:
        floor = CAPACITY_FLOORS.get((tokens, r.route, r.situation))
        rows.append(
            {
                "completion": f"{tokens:,} tokens",
                "route": r.route,
                "situation": r.situation,
                "calls": r.calls,
                "RCU": f"{r.rcu:g}",
                "WCU": f"{r.wcu:g}",
                "floor RCU/WCU": f"{floor[0]:g}/{floor[1]:g}" if floor else "-",
                "bytes written": r.written_bytes,
                "at floor": "yes" if floor is None or (r.rcu, r.wcu) <= floor else "NO",
                "_items": r.detail,
            }
        )
    return rows


_COST: list[Any] = []


def _cost_measured() -> list[Any]:
    from bench.cost import measure_all
    from local.inprocess import InProcess

    if not _COST:
        ip = InProcess(environment={"LLM_MAX_RETRIES": "0"}).start()
        try:
            _COST.extend(measure_all(ip))
        finally:
            ip.stop()
    return _COST


def section_baselines() -> Table:
    from bench.cost import units_rows

    return units_rows(_cost_measured())


def section_cost() -> Table:
    from bench.cost import dollars_per_million

    return [row for m in _cost_measured() for row in dollars_per_million(m)]


def section_rates() -> Table:
    from bench.cost import at_rates

    return at_rates(_cost_measured())


def section_storm(keys: int = 200, clients: int = 16) -> Table:
    from local.inprocess import InProcess
    from tests.support.events import http_event

    ip = InProcess(environment={"LLM_MAX_RETRIES": "0"}).start()
    try:
        rng = random.Random(7)
        attempts = [k for k in range(keys) for _ in range(rng.randint(1, 4))]
        rng.shuffle(attempts)
        names = [str(uuid.uuid4()) for _ in range(keys)]
        done: set[int] = set()
        lock = threading.Lock()
        before = ip.fake.completions

        def one(k: int) -> None:
            while True:
                ev = http_event(
                    "generate_post.json",
                    tenant="storm",
                    body={"prompt": f"p{k}"},
                    headers={"idempotency-key": names[k]},
                )
                status = ip.invoke("GenerateFunction", ev)["statusCode"]
                if status == 200:
                    with lock:
                        done.add(k)
                    return
                time.sleep(0.02)  # 409: the key is in flight; retry like a client

        started = time.perf_counter()
        with ThreadPoolExecutor(clients) as pool:
            list(pool.map(one, attempts))
        elapsed = time.perf_counter() - started
        completions = ip.fake.completions - before
    finally:
        ip.stop()
    return [
        {
            "clients": clients,
            "keys": keys,
            "requests": len(attempts),
            "completed keys": len(done),
            "LLM completions": completions,
            "completions per key": f"{completions / len(done):.3f}",
            "floor": "1.000",
            "seconds": f"{elapsed:.1f}",
        }
    ]


def section_duplicates() -> Table:
    from bench.duplicates import measure_duplicates
    from local.inprocess import InProcess

    ip = InProcess(environment={"LLM_MAX_RETRIES": "0"}).start()
    try:
        return measure_duplicates(ip)
    finally:
        ip.stop()


# --- cold starts -------------------------------------------------------------------------------

_PROBE = r"""
import importlib.util, json, sys, time
t0 = time.perf_counter()
what = sys.argv[1]
if what in ("boto3", "boto3+client"):
    import boto3
    imported = time.perf_counter() - t0
    if what == "boto3+client":
        boto3.session.Session().client("dynamodb")
else:
    sys.path[:0] = sys.argv[2].split(":")
    spec = importlib.util.spec_from_file_location("handler", what)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    imported = time.perf_counter() - t0
heavy = [m for m in sys.argv[4].split(",") if m in sys.modules]
if what not in ("boto3", "boto3+client"):
    from retryproof import aws
    aws.dynamodb()
    if sys.argv[3] == "llm":
        import openai
        openai.OpenAI(api_key="x", base_url="http://127.0.0.1:9/v1")
elapsed = time.perf_counter() - t0
print(json.dumps({"ms": elapsed * 1000, "import_ms": imported * 1000, "heavy": heavy}))
"""


def _python313() -> str:
    found = subprocess.run([str(ROOT / "tools" / "python313.sh")], capture_output=True, text=True)
    return found.stdout.strip() or sys.executable


def _probe(python: str, target: str, path: str, llm: bool, env: dict[str, str]) -> dict[str, Any]:
    out = subprocess.run(
        [python, "-c", _PROBE, target, path, "llm" if llm else "-", ",".join(HEAVY)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def _venv_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["AWS_DEFAULT_REGION"] = "us-east-1"
    return env


def section_coldstart() -> Table:
    from local.template import Template

    python = str(ROOT / ".venv" / "bin" / "python")
    env = _venv_env()
    path = str(ROOT / "layers" / "common")
    functions = Template().functions()
    samples: dict[str, list[float]] = {"boto3": [], "boto3+client": []}
    imports: dict[str, list[float]] = {}
    heavy: dict[str, list[str]] = {}
    for _ in range(RUNS):
        samples["boto3"].append(_probe(python, "boto3", "", False, env)["ms"])
        samples["boto3+client"].append(_probe(python, "boto3+client", "", False, env)["ms"])
        for logical_id, spec in functions.items():
            handler = spec.code_dir / "app.py"
            uses_llm = "llm_client" in handler.read_text()
            probe = _probe(python, str(handler), path, uses_llm, env)
            samples.setdefault(logical_id, []).append(probe["ms"])
            imports.setdefault(logical_id, []).append(probe["import_ms"])
            heavy[logical_id] = probe["heavy"]
    base = statistics.median(samples["boto3"])
    with_client = statistics.median(samples["boto3+client"])
    rows = [
        {
            "handler": "bare `import boto3` (+ a DynamoDB client)",
            "import ms": f"{base:.0f}",
            "import ratio": "1.00",
            "+ clients ms": f"{with_client:.0f}",
            "+ clients ratio": "1.00",
            "heavy imports": "",
        }
    ]
    for logical_id in functions:
        median = statistics.median(samples[logical_id])
        imported = statistics.median(imports[logical_id])
        rows.append(
            {
                "handler": logical_id,
                "import ms": f"{imported:.0f}",
                "import ratio": f"{imported / base:.2f}",
                "+ clients ms": f"{median:.0f}",
                "+ clients ratio": f"{median / with_client:.2f}",
                "heavy imports": ", ".join(heavy[logical_id]) or "-",
            }
        )
    return rows


def section_built() -> Table:
    """The layer built by its Makefile for this machine's architecture, imported read-only."""
    python = _python313()
    machine = platform.machine()
    plat = "manylinux2014_aarch64" if machine in ("aarch64", "arm64") else "manylinux2014_x86_64"
    rows: Table = []
    with tempfile.TemporaryDirectory() as tmp:
        with_pyc = Path(tmp) / "with-bytecode"
        subprocess.run(
            [
                "make",
                "-s",
                "-C",
                str(ROOT / "layers" / "common"),
                "build-CommonLayer",
                f"ARTIFACTS_DIR={with_pyc}",
                f"PLATFORM={plat}",
                f"PYTHON={python}",
            ],
            check=True,
            capture_output=True,
        )
        without = Path(tmp) / "without-bytecode"
        shutil.copytree(with_pyc, without)
        for cache in without.rglob("__pycache__"):
            shutil.rmtree(cache)
        for tree in (with_pyc, without):
            subprocess.run(["chmod", "-R", "a-w", str(tree)], check=True)
        env = _venv_env() | {"PYTHONDONTWRITEBYTECODE": "1"}
        for function, llm in (("generate", True), ("transfer", False)):
            handler = str(ROOT / "functions" / function / "app.py")
            medians = {}
            for label, tree in (("with", with_pyc), ("without", without)):
                # boto3 comes with the Lambda runtime: take it from the project environment.
                site = subprocess.run(
                    [
                        str(ROOT / ".venv" / "bin" / "python"),
                        "-c",
                        "import boto3, os; print(os.path.dirname(os.path.dirname(boto3.__file__)))",
                    ],
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout.strip()
                path = f"{tree / 'python'}:{site}"
                medians[label] = statistics.median(
                    _probe(python, handler, path, llm, env)["ms"] for _ in range(RUNS)
                )
            rows.append(
                {
                    "handler": function,
                    "with bytecode ms": f"{medians['with']:.0f}",
                    "without bytecode ms": f"{medians['without']:.0f}",
                    "speed-up": f"{medians['without'] / medians['with']:.2f}x",
                }
            )
        for tree in (with_pyc, without):
            subprocess.run(["chmod", "-R", "u+w", str(tree)], check=True)
    return rows


def _size(tree: Path) -> tuple[float, float]:
    raw = sum(f.stat().st_size for f in tree.rglob("*") if f.is_file())
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for f in sorted(tree.rglob("*")):
            if f.is_file():
                archive.write(f, f.relative_to(tree))
    return raw / 2**20, buffer.tell() / 2**20


def _human(mib: float) -> str:
    return f"{mib:.1f} MiB" if mib >= 1 else f"{mib * 1024:.1f} KiB"


def section_sizes() -> Table:
    if not BUILD.exists():
        return [{"artifact": "run `make build` first", "unzipped": "", "zipped": ""}]
    rows = []
    for artifact in sorted(p for p in BUILD.iterdir() if p.is_dir()):
        raw, zipped = _size(artifact)
        pyc = sum(1 for _ in artifact.rglob("*.pyc"))
        rows.append(
            {
                "artifact": artifact.name,
                "unzipped": _human(raw),
                "zipped": _human(zipped),
                ".pyc files": pyc,
            }
        )
    return rows


# --- latency over HTTP ------------------------------------------------------------------------


def section_latency(n: int = 40) -> Table:
    from tests.e2e.conftest import ACME_KEY, start_stack, stop_stack

    with tempfile.TemporaryDirectory() as tmp:
        api = start_stack(Path(tmp) / "log")
        try:
            rows = []
            for route, body in (
                ("/generate", lambda i: {"prompt": f"latency {i}"}),
                (
                    "/transfer",
                    lambda i: {
                        "fromAccountId": "acc_acme_main",
                        "currency": "USD",
                        "toAccountId": "acc_acme_ops",
                        "amount": 1,
                    },
                ),
            ):
                keys = [str(uuid.uuid4()) for _ in range(n)]

                def send(
                    i: int,
                    route: str = route,
                    keys: list[str] = keys,
                    body: Callable[[int], Any] = body,
                ) -> Any:
                    return api.call(
                        "POST", route, key=ACME_KEY, idempotency_key=keys[i], body=body(i)
                    )

                first, replay = _timed(send, n), _timed(send, n)
                rows.append(
                    {
                        "route": f"POST {route}",
                        "first median ms": f"{_q(first, 50):.1f}",
                        "first p99 ms": f"{_q(first, 99):.1f}",
                        "replay median ms": f"{_q(replay, 50):.1f}",
                        "replay p99 ms": f"{_q(replay, 99):.1f}",
                        "replay / first": f"{_q(replay, 50) / _q(first, 50):.2f}",
                    }
                )
        finally:
            stop_stack(api)
    return rows


def section_durable() -> Table:
    from bench.durable import durable_rows
    from local.inprocess import InProcess

    ip = InProcess(environment={"LLM_MAX_RETRIES": "0"}).start()
    try:
        return durable_rows(ip, max(RUNS, 20))
    finally:
        ip.stop()


def _timed(call: Callable[[int], Any], n: int) -> list[float]:
    out = []
    for i in range(n):
        t0 = time.perf_counter()
        call(i)
        out.append((time.perf_counter() - t0) * 1000)
    return out


def _q(values: list[float], pct: int) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * pct / 100))]


SECTIONS: dict[str, tuple[str, Callable[[], Table]]] = {
    "calls": ("DynamoDB calls per request", section_calls),
    "capacity": (
        "DynamoDB capacity units per request (from the items read and written)",
        section_capacity,
    ),
    "baselines": (
        "/generate's capacity units next to check-then-set and Powertools alone",
        section_baselines,
    ),
    "cost": (
        "USD per million /generate requests (bench/prices.json; mix and assumptions there)",
        section_cost,
    ),
    "rates": (
        "/generate at 100, 1,000 and 10,000 requests/s: load and monthly bill (docs/ceilings.md)",
        section_rates,
    ),
    "storm": ("LLM completions per completed key under a retry storm", section_storm),
    "duplicates": ("Duplicate side effects: check-then-set vs retryproof", section_duplicates),
    "coldstart": (
        f"Cold start: import + clients, median of {RUNS} fresh processes",
        section_coldstart,
    ),
    "built": ("Built layer imported read-only: bytecode or not", section_built),
    "sizes": ("Built artifacts (sam build, arm64)", section_sizes),
    "latency": ("Local stack over HTTP (in-process handlers, moto)", section_latency),
    "durable": ("Durable agent runs: the cost of a step (AWS's local runner)", section_durable),
}


def main(argv: list[str]) -> int:
    import logging

    logging.disable(logging.WARNING)
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "ERROR")
    chosen = argv or list(SECTIONS)
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    results: dict[str, Any] = {"machine": machine, "date": datetime.now(UTC).isoformat()}
    print(f"retryproof benchmark on {machine}")
    ok = True
    for name in chosen:
        title, run = SECTIONS[name]
        started = time.perf_counter()
        rows = run()
        results[name] = rows
        show(f"{title}  ({time.perf_counter() - started:.0f} s)", rows)
        ok &= all(r.get("at floor", "yes") == "yes" for r in rows)
        ok &= all(r.get("retryproof duplicates per key", "0.00") == "0.00" for r in rows)
        ok &= all(r.get("same counts every run", "yes") == "yes" for r in rows)
    if "cost" in chosen or "rates" in chosen:
        from bench.cost import stamp

        results["cost_basis"] = stamp()  # region, price date, mix and assumptions
    out = ROOT / "bench" / "results" / f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwritten to {out.relative_to(ROOT)}")
    from bench.charts import bench_charts

    for chart in bench_charts(out):
        print(f"chart: {chart.relative_to(ROOT)}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
