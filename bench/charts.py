"""SVG charts from the JSON results of `make bench` and `make chaos`.

Each chart is written next to its results (`bench/results/<stem>-<chart>.svg`) and to
`docs/charts/<chart>.svg`, the copy the documentation shows (commit it when the figures change):

- duplicates.svg  duplicate side effects per key vs concurrent duplicates, check-then-set
                  against retryproof (bench section `duplicates`)
- latency.svg     first request vs replay, median and p99, per route (bench section `latency`)
- chaos.svg       the faults a storm injected and the invariants it checked (`make chaos`)

`python -m bench.charts <results.json>...` redraws them from results already written.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
DOCS = ROOT / "docs" / "charts"

GREEN, RED, BLUE, GREY = "#2e8540", "#c0392b", "#2f6fb0", "#8a8f98"


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({
        "svg.fonttype": "none",  # text stays text: small, searchable files
        "svg.hashsalt": "retryproof",  # the same input draws the same file
        "font.size": 10,
        "axes.spines.top": False,
        "axes.spines.right": False,
    })  # fmt: skip
    return plt


def _save(fig: Any, name: str, stem: Path, docs: Path | None) -> list[Path]:
    written = []
    for path in (stem.with_name(f"{stem.name}-{name}.svg"), docs / f"{name}.svg" if docs else None):
        if path is None:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, format="svg", bbox_inches="tight", metadata={"Date": None})
        written.append(path)
    _pyplot().close(fig)
    return written


# --- the charts ----------------------------------------------------------------------------------


def duplicates_chart(rows: list[dict[str, Any]]) -> Any:
    plt = _pyplot()
    n = [int(r["concurrent duplicates"]) for r in rows]
    naive = [float(r["check-then-set duplicates per key"]) for r in rows]
    ours = [float(r["retryproof duplicates per key"]) for r in rows]
    keys = rows[0]["keys"] if rows else 0
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    ax.plot(n, [x - 1 for x in n], ls=":", color=GREY, label="every duplicate pays (N - 1)")
    ax.plot(n, naive, marker="o", color=RED, label="check-then-set (GET, work, SET with TTL)")
    ax.plot(n, ours, marker="s", color=GREEN, label="retryproof (claim, lease, stored outcome)")
    for x, y in zip(n, naive, strict=True):
        ax.annotate(f"{y:g}", (x, y), textcoords="offset points", xytext=(0, 6), ha="center",
                    color=RED, fontsize=8)  # fmt: skip
    ax.set_xscale("log", base=2)
    ax.set_xticks(n, [str(x) for x in n])
    ax.set_xlabel("concurrent requests with one Idempotency-Key")
    ax.set_ylabel("duplicate side effects per key")
    ax.set_title(f"Paid LLM completions beyond one per key ({keys} keys per point)", fontsize=10)
    ax.legend(frameon=False, fontsize=8, loc="upper left")
    ax.set_ylim(bottom=-0.5)
    return fig


def latency_chart(rows: list[dict[str, Any]]) -> Any:
    plt = _pyplot()
    routes = [str(r["route"]) for r in rows]
    fig, ax = plt.subplots(figsize=(6.4, 0.9 + 0.9 * max(1, len(rows))))
    height = 0.36
    for i, (label, color, prefix) in enumerate(
        (("first request", BLUE, "first"), ("replay", GREEN, "replay"))
    ):
        medians = [float(r[f"{prefix} median ms"]) for r in rows]
        p99 = [float(r[f"{prefix} p99 ms"]) for r in rows]
        ys = [j + (i - 0.5) * height for j in range(len(rows))]
        ax.barh(ys, medians, height=height * 0.9, color=color, label=f"{label}: median")
        ax.errorbar(p99, ys, fmt="|", color="#333", markersize=10)
        for y, m, p in zip(ys, medians, p99, strict=True):
            ax.annotate(f"{m:.1f} ms (p99 {p:.1f})", (p, y), textcoords="offset points",
                        xytext=(6, -3), fontsize=8)  # fmt: skip
    ax.set_yticks(range(len(rows)), routes)
    ax.invert_yaxis()
    ax.set_xscale("log")  # a replay is tens of times faster than a first request
    ax.set_xlabel("milliseconds over HTTP (local stack, log scale); | marks the p99")
    ax.set_title("First request vs replay of the same key", fontsize=10)
    ax.legend(frameon=False, fontsize=8, loc="lower right")
    ax.set_xlim(right=ax.get_xlim()[1] * 8)  # room for the labels (log scale)
    return fig


def chaos_chart(results: dict[str, Any]) -> Any:
    """Faults by count (what was only observed, such as invocations past their timeout, in grey),
    and each invariant with its figure."""
    plt = _pyplot()
    faults = sorted(results["faults"].items(), key=lambda kv: kv[1])
    invariants = results["invariants"]
    height = max(0.28 * len(faults), 0.5 * len(invariants), 1.5) + 1.0
    fig, (left, right) = plt.subplots(
        1, 2, figsize=(12, height), gridspec_kw={"width_ratios": [1, 1.2]}
    )
    names = [k for k, _ in faults]
    counts = [v for _, v in faults]
    colors = [GREY if k.startswith("(observed)") else BLUE for k in names]
    left.barh(names, counts, color=colors)
    for y, count in enumerate(counts):
        left.annotate(str(count), (count, y), textcoords="offset points", xytext=(4, -3),
                      fontsize=8)  # fmt: skip
    left.set_xlabel("count (grey: observed, not injected)")
    left.set_title("Faults injected", fontsize=10)
    left.tick_params(axis="y", labelsize=8)
    left.set_xlim(right=max(counts or [1]) * 1.15)
    right.axis("off")
    held = sum(1 for c in invariants if c["holds"])
    right.set_title(f"Invariants checked afterwards: {held} of {len(invariants)} hold", fontsize=10)
    step = 1 / max(len(invariants), 1)
    for i, check in enumerate(invariants):
        y = 1 - (i + 0.3) * step
        mark, color = ("✓", GREEN) if check["holds"] else ("✗", RED)
        right.text(0.0, y, mark, color=color, fontsize=11, va="center", fontweight="bold",
                   transform=right.transAxes)  # fmt: skip
        right.text(0.04, y, check["name"], fontsize=8.5, va="center", transform=right.transAxes)
        figure = str(check["figure"])
        figure = figure if len(figure) <= 110 else figure[:109] + "…"
        right.text(0.04, y - 0.42 * step, figure, fontsize=7.5, va="center", color="#555",
                   transform=right.transAxes)  # fmt: skip
    fig.suptitle(
        f"make chaos: seed {results['seed']}, {results['ops']} operations, "
        f"{results['elapsed_s']:.0f} s",
        fontsize=11,
    )
    return fig


# --- from results files --------------------------------------------------------------------------


def bench_charts(results_path: Path, docs: Path | None = DOCS) -> list[Path]:
    """The charts whose sections the bench results hold."""
    results = json.loads(results_path.read_text())
    stem = results_path.with_suffix("")
    written: list[Path] = []
    if results.get("duplicates"):
        written += _save(duplicates_chart(results["duplicates"]), "duplicates", stem, docs)
    if results.get("latency"):
        written += _save(latency_chart(results["latency"]), "latency", stem, docs)
    return written


def chaos_charts(results_path: Path, docs: Path | None = DOCS) -> list[Path]:
    results = json.loads(results_path.read_text())
    return _save(chaos_chart(results), "chaos", results_path.with_suffix(""), docs)


def save_chaos(results: dict[str, Any], docs: Path | None = DOCS) -> list[Path]:
    """Write a storm's results as JSON (bench/results/chaos-<time>.json), then its chart."""
    path = RESULTS / f"chaos-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n")
    return [path, *chaos_charts(path, docs)]


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: python -m bench.charts <bench or chaos results .json>...", file=sys.stderr)
        return 2
    for name in argv:
        path = Path(name)
        is_chaos = "invariants" in json.loads(path.read_text())
        charts = chaos_charts(path) if is_chaos else bench_charts(path)
        for chart in charts:
            print(f"written {chart}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
