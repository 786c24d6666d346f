"""Heat map queries, KPIs of a month and hot spots, against what a notebook analyst would do.

The baseline loads every incident into pandas once (timed separately) and answers each heat
map with a groupby over all of them; ours reads the rollup tables.
"""

from __future__ import annotations

import sys
from functools import partial

import pandas as pd

from bench.common import Figure, Report, measure
from bench.stores import END, demo_store
from patrol.catalog import load_catalog
from patrol.dashboard import HeatFilter, heat_counts, hot_spots
from patrol.kpis import month_kpis
from patrol.workdays import LOCAL_TZ_NAME
from store import open_store
from store.protocol import Store
from store.rows import IncidentQuery

TOWNSHIP = "330402008"


def _all_incidents(store: Store) -> pd.DataFrame:
    return store.incident_frame(
        IncidentQuery(), ["cell", "reported_at", "township_code", "item_code", "state"]
    )


def _groupby_cells(frame: pd.DataFrame, mask: pd.Series) -> pd.Series:
    return frame[mask].groupby("cell").size()


def _one_size(report: Report, n: int, catalog, now, backend: str) -> None:  # type: ignore[no-untyped-def]
    store = open_store(demo_store(n, backend=backend))
    # the median of three loads: the first one on a freshly opened store also pays what the process
    # has not done yet (a connection, a lazy import), 0.03 to 0.07 s at 20k depending on what ran before
    t_load, s_load, frame = measure(lambda: _all_incidents(store), runs=3)
    report.figures.append(
        Figure(f"baseline: load all incidents into pandas, {n:,}, {backend}", "s", t_load, s_load, 3,
               note="a notebook redoes this to see new incidents; ours reads live rollups")
    )  # fmt: skip
    start30 = pd.Timestamp(now) - pd.Timedelta(days=30)
    cases = (
        ("district", HeatFilter(days=30), frame["reported_at"] >= start30),
        ("township", HeatFilter(days=30, township_codes=(TOWNSHIP,)),
         (frame["reported_at"] >= start30) & (frame["township_code"] == TOWNSHIP)),
    )  # fmt: skip
    for label, heat_filter, mask in cases:
        t, s, _ = measure(partial(heat_counts, store, catalog, heat_filter, now), runs=5)
        tb, _, _ = measure(partial(_groupby_cells, frame, mask), runs=5)
        report.figures.append(
            Figure(f"heat map query, {label} view, 30 days, {n:,}, {backend}", "ms", t * 1e3, s * 1e3, 5,
                   tb * 1e3, "pandas groupby, data already in memory", 100.0 if n >= 1_000_000 else None)
        )  # fmt: skip
    month = (pd.Timestamp(now) - pd.offsets.MonthBegin(1)).strftime("%Y-%m")
    t, s, _ = measure(lambda: month_kpis(store, month, "township", now), runs=3)
    report.figures.append(
        Figure(
            f"KPIs of a month by township, {n:,}, {backend}",
            "s",
            t,
            s,
            3,
            budget=1.0 if n >= 1_000_000 else None,
        )
    )
    t, s, hs = measure(lambda: hot_spots(store, catalog, HeatFilter(days=365), now, res=9), runs=3)
    report.figures.append(
        Figure(f"Gi* hot spots, 365 days, res 9, {n:,}, {backend}", "s", t, s, 3,
               budget=2.0 if n >= 1_000_000 else None,
               note=f"{hs.cells.size:,} cells, {int((hs.klass > 0).sum()):,} hot")
    )  # fmt: skip
    store.close()


def run(sizes: tuple[int, ...] = (20_000, 100_000, 1_000_000), backend: str = "sqlite") -> Report:
    report = Report(f"Analytics: heat map queries, KPIs of a month, hot spots ({backend})")
    catalog = load_catalog()
    now = pd.Timestamp(END, tz=LOCAL_TZ_NAME).to_pydatetime()
    for n in sizes:
        _one_size(report, n, catalog, now, backend)
        sys.stderr.write(f"analytics {n:,} done\n")
    return report


if __name__ == "__main__":
    sizes = (
        tuple(int(s) for s in sys.argv[1].split(",")) if len(sys.argv) > 1 else (20_000, 100_000, 1_000_000)
    )
    r = run(sizes)
    r.write("analytics")
    sys.stdout.write(r.markdown() + "\n")
