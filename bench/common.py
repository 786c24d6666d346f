"""Timing helpers and the results writer shared by the benchmarks."""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


@dataclass
class Figure:
    """One measured figure: median and spread of several runs, a baseline, a budget."""

    name: str
    unit: str
    median: float
    spread: float
    runs: int
    baseline: float | None = None
    baseline_name: str = ""
    budget: float | None = None
    budget_kind: str = "max"  # "max": lower is better; "min": higher is better
    note: str = ""

    @property
    def ratio(self) -> float | None:
        """How many times better than the baseline (>1 is better)."""
        if self.baseline is None or self.median == 0:
            return None
        return self.baseline / self.median if self.budget_kind == "max" else self.median / self.baseline

    @property
    def verdict(self) -> str:
        if self.budget is None:
            return ""
        ok = self.median <= self.budget if self.budget_kind == "max" else self.median >= self.budget
        return "met" if ok else "MISSED"


def measure(fn: Callable[[], Any], runs: int = 3) -> tuple[float, float, Any]:
    """Run ``fn`` ``runs`` times; return median seconds, spread (max-min) and the last result."""
    times = []
    result = None
    for _ in range(runs):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), max(times) - min(times), result


@dataclass
class Report:
    """A set of figures with the machine facts, written as markdown and JSON."""

    title: str
    figures: list[Figure] = field(default_factory=list)

    def machine(self) -> dict[str, Any]:
        mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9
        pkgs = ("numpy", "shapely", "h3", "geopandas", "pyogrio", "folium", "streamlit", "psycopg")
        return {
            "cores": os.cpu_count(),
            "memory_gb": round(mem_gb, 1),
            "python": platform.python_version(),
            "platform": platform.platform(),
            **{p: version(p) for p in pkgs},
        }

    def markdown(self) -> str:
        lines = [
            f"### {self.title}",
            "",
            "| figure | median | spread | runs | baseline | × baseline | budget | verdict |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for f in self.figures:
            base = f"{f.baseline:,.3g} {f.unit} ({f.baseline_name})" if f.baseline is not None else ""
            ratio = f"{f.ratio:,.1f}×" if f.ratio is not None else ""
            budget = (
                f"{'≤' if f.budget_kind == 'max' else '≥'} {f.budget:,.3g}" if f.budget is not None else ""
            )
            lines.append(
                f"| {f.name} | {f.median:,.3g} {f.unit} | ±{f.spread:,.2g} | {f.runs} | {base} | {ratio} "
                f"| {budget} | {f.verdict} |"
            )
        m = self.machine()
        lines += ["", "machine: " + ", ".join(f"{k} {v}" for k, v in m.items())]
        return "\n".join(lines)

    def write(self, stem: str) -> Path:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / f"{stem}.md").write_text(self.markdown() + "\n", encoding="utf-8")
        payload = {
            "title": self.title,
            "machine": self.machine(),
            "figures": [asdict(f) | {"ratio": f.ratio, "verdict": f.verdict} for f in self.figures],
        }
        path = RESULTS / f"{stem}.json"
        path.write_text(json.dumps(payload, indent=2, ensure_ascii=False), encoding="utf-8")
        return path
