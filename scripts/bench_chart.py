"""The chart of `make bench`: end-to-end rows/s per model and body format, beside the one-process limit.

    python -m scripts.bench_chart figures.json [docs/benchmarks.png]   # from the JSON line bench prints
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt

from shared.settings import REPO_ROOT

DEFAULT_PATH = REPO_ROOT / "docs" / "benchmarks.png"
MODELS = ("bench-logreg", "bench-forest", "bench-churn")
FORMATS = ("json", "csv", "parquet")
BAR_WIDTH = 0.27


def write_chart(figures: Mapping[str, Any], path: Path = DEFAULT_PATH) -> Path:
    """A PNG of e2e rows/s, the one-process limit and two cores' worth of it, per model and format."""
    keys = [f"{m}.{f}" for m in MODELS for f in FORMATS if f"{m}.{f}" in figures]
    if not keys:
        raise ValueError("no model.format figures to chart")
    e2e = [figures[k]["e2e_rows_per_s"] for k in keys]
    limit = [figures[k]["limit_rows_per_s"] for k in keys]
    fig, ax = plt.subplots(figsize=(10, 5), dpi=110)
    xs = range(len(keys))
    ax.bar([x - BAR_WIDTH for x in xs], e2e, BAR_WIDTH, label="end to end (2 workers)", color="#2f6fed")
    ax.bar(list(xs), limit, BAR_WIDTH, label="limit: parse + predict, 1 process", color="#98a2b3")
    ax.bar([x + BAR_WIDTH for x in xs], [2 * v for v in limit], BAR_WIDTH, label="2 × limit (two cores)",
           color="#d0d5dd")
    for x, value in zip(xs, e2e, strict=True):
        ax.annotate(f"{value / 1000:,.0f}k", (x - BAR_WIDTH, value), ha="center", va="bottom", fontsize=8)
    ax.set_xticks(list(xs), [k.replace(".", "\n") for k in keys])
    ax.set_yscale("log")
    ax.set_ylabel("rows per second (log scale)")
    rows, cores, date = figures.get("rows", "?"), figures.get("cores", "?"), figures.get("date", "")
    ax.set_title(f"make bench {date}: {rows:,} rows × 20 features, {cores} cores" if isinstance(rows, int)
                 else f"make bench {date}")
    ax.legend(loc="upper left", fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args:
        print(__doc__)
        return 2
    figures = json.loads(Path(args[0]).read_text())
    print(write_chart(figures, Path(args[1]) if len(args) > 1 else DEFAULT_PATH))
    return 0


if __name__ == "__main__":
    sys.exit(main())
