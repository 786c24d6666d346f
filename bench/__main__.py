"""Run the benchmarks and write bench/results/ (``make bench``, ``gridpatrol-bench``, ``python -m bench``).

``python -m bench [--sizes 20k,100k,1M] [--backend sqlite|postgis]``
``[--suites geo,ingest,app,analytics,interactions,api]``
"""

from __future__ import annotations

import argparse
import importlib
import resource
import sys
from collections.abc import Callable, Sequence
from types import ModuleType

from bench.common import Figure, Report

SUITE_NAMES = ("geo", "ingest", "app", "analytics", "interactions", "api")


def parse_size(text: str) -> int:
    """``20k`` → 20000, ``1M`` → 1000000, ``5000`` → 5000."""
    t = text.strip().lower()
    scale = {"k": 1_000, "m": 1_000_000}.get(t[-1:], 1)
    number = t[:-1] if scale != 1 else t
    try:
        value = int(float(number) * scale)
    except ValueError as exc:
        msg = f"not a size: {text!r} (use e.g. 20k, 100k, 1M)"
        raise argparse.ArgumentTypeError(msg) from exc
    if value <= 0:
        msg = f"sizes must be positive, got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return value


def _suite(name: str) -> ModuleType:
    """A suite's module, imported when it runs: what one suite imports (and the garbage collector
    then walks, and the peak memory counts) is not in the figures of another."""
    return importlib.import_module(f"bench.bench_{name}")


def suites(sizes: tuple[int, ...], backends: tuple[str, ...]) -> dict[str, Callable[[], list[Report]]]:
    """The runnable suites for these sizes and backends (one report per backend)."""
    return {
        "geo": lambda: [_suite("geo").run()],
        "ingest": lambda: [_suite("ingest").run(sizes, backends)],
        "app": lambda: [_suite("app").run(sizes, b) for b in backends],
        "analytics": lambda: [_suite("analytics").run(sizes, b) for b in backends],
        # the pages run on the app's store as `make run` creates it (SQLite)
        "interactions": lambda: [_suite("interactions").run(sizes)],
        # the HTTP API always on both backends: the load test (50 clients × 200 requests)
        "api": lambda: [_suite("api").run(("sqlite", "postgis"))],
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gridpatrol-bench", description="GridPatrol benchmarks")
    parser.add_argument("--sizes", default="20k,100k,1M", help="incident counts, e.g. 20k,100k,1M")
    parser.add_argument("--backend", choices=["sqlite", "postgis", "both"], default="sqlite",
                        help="store(s) to measure (default sqlite; both doubles the run time)")  # fmt: skip
    parser.add_argument(
        "--suites", default=",".join(SUITE_NAMES), help="which suites: " + ",".join(SUITE_NAMES)
    )
    args = parser.parse_args(argv)
    try:
        sizes = tuple(parse_size(s) for s in args.sizes.split(","))
    except argparse.ArgumentTypeError as exc:
        parser.error(str(exc))
    names = [n.strip() for n in args.suites.split(",")]
    unknown = [n for n in names if n not in SUITE_NAMES]
    if unknown:
        parser.error(f"unknown suite(s): {', '.join(unknown)}")
    backends = ("sqlite", "postgis") if args.backend == "both" else (args.backend,)
    runnable = suites(sizes, backends)
    for name in names:
        reports = runnable[name]()
        merged = Report(
            reports[0].title if len(reports) == 1 else f"{reports[0].title.split(' (')[0]} (all backends)"
        )
        for report in reports:
            merged.figures.extend(report.figures)
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        merged.figures.append(
            Figure("peak memory of the process so far", "MB", peak_mb, 0.0, 1, note="ru_maxrss")
        )
        merged.write(name)
        sys.stdout.write(merged.markdown() + "\n\n")
        for f in merged.figures:
            if f.note:
                sys.stdout.write(f"- {f.name}: {f.note}\n")
        sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
