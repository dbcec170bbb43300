"""bench/charts.py: the SVGs drawn from bench and chaos results carry their figures."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from bench import charts

pytestmark = pytest.mark.unit

DUPLICATES = [
    {"concurrent duplicates": n, "keys": 10, "check-then-set side effects": 10 * n,
     "check-then-set duplicates per key": f"{n - 1:.2f}", "retryproof side effects": 10,
     "retryproof duplicates per key": "0.00"}
    for n in (1, 2, 4, 8, 16)
]  # fmt: skip
LATENCY = [
    {"route": "POST /generate", "first median ms": "71.2", "first p99 ms": "140.5",
     "replay median ms": "1.9", "replay p99 ms": "6.6", "replay / first": "0.03"},
    {"route": "POST /transfer", "first median ms": "64.3", "first p99 ms": "123.3",
     "replay median ms": "3.5", "replay p99 ms": "17.4", "replay / first": "0.05"},
]  # fmt: skip
CHAOS = {
    "seed": 3, "ops": 200, "elapsed_s": 12.4,
    "faults": {"dynamodb throttle": 65, "llm failure": 6, "crash after side effect": 4},
    "invariants": [
        {"name": "money is conserved", "figure": "100000 = 100000", "holds": True},
        {"name": "no transfer applied twice", "figure": "0 twice", "holds": False},
    ],
}  # fmt: skip


def texts(svg: Path) -> str:
    root = ET.parse(svg).getroot()  # noqa: S314 - a file this test just drew
    assert root.tag.endswith("svg")
    return " ".join(t.strip() for t in root.itertext() if t.strip())


def test_bench_results_draw_duplicates_and_latency(tmp_path: Path) -> None:
    results = tmp_path / "20260101T000000Z.json"
    results.write_text(json.dumps({"duplicates": DUPLICATES, "latency": LATENCY, "calls": []}))
    docs = tmp_path / "docs"

    written = charts.bench_charts(results, docs)

    assert sorted(p.name for p in written) == [
        "20260101T000000Z-duplicates.svg", "20260101T000000Z-latency.svg",
        "duplicates.svg", "latency.svg",
    ]  # fmt: skip
    duplicates = texts(docs / "duplicates.svg")
    assert "check-then-set (GET, work, SET with TTL)" in duplicates
    assert "retryproof (claim, lease, stored outcome)" in duplicates
    assert "14" in duplicates.split()  # the naive pattern's duplicates at 16 clients
    latency = texts(docs / "latency.svg")
    assert "POST /transfer" in latency
    assert "1.9 ms (p99 6.6)" in latency
    assert "64.3 ms (p99 123.3)" in latency
    # Drawn again from the same results: the same file.
    first = (docs / "latency.svg").read_bytes()
    charts.bench_charts(results, docs)
    assert (docs / "latency.svg").read_bytes() == first


def test_sections_without_results_draw_nothing(tmp_path: Path) -> None:
    results = tmp_path / "r.json"
    results.write_text(json.dumps({"calls": [{"route": "x"}]}))
    assert charts.bench_charts(results, tmp_path / "docs") == []


def test_chaos_results_draw_faults_and_invariants(tmp_path: Path) -> None:
    results = tmp_path / "chaos-1.json"
    results.write_text(json.dumps(CHAOS))

    (local, docs) = charts.chaos_charts(results, tmp_path / "docs")

    assert local.name == "chaos-1-chaos.svg"
    assert docs.name == "chaos.svg"
    text = texts(docs)
    assert "seed 3, 200 operations" in text
    assert "dynamodb throttle" in text
    assert "65" in text.split()
    assert "1 of 2 hold" in text
    assert "✓ money is conserved" in text or ("✓" in text and "money is conserved" in text)
    assert "✗" in text
