"""Import speed: incidents/s for 100k and 1M rows on SQLite and PostGIS, against a bare insert.

The bare insert writes the very same incident rows (already routed, read back from the
store: typed values on SQLite, text for COPY) into an unindexed table with one
``executemany`` (SQLite, same page size and journal as the store) or one ``COPY``
(PostGIS), no events, no rollups: the floor of what the database can take. Our figure is
the whole import: routing (exact village, team, township, handler), numbers, duplicate
flags, the creation event and the rollups, all in one transaction.
"""

from __future__ import annotations

import gc
import os
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import psycopg
from psycopg import sql

from bench.common import Figure, Report
from data.demo_district import load_demo_district
from patrol.incidents import IncidentService
from patrol.roles import Principal
from store import open_store
from store.rows import INCIDENT_COLUMNS, IncidentQuery

BENCH = Principal("bench", "admin")
PG_ADMIN = os.environ.get("GRIDPATROL_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
BUDGET_SQLITE_1M = 100_000.0
# the same target put machine-independently: "i.e. at least a quarter of the bare insert speed"
BUDGET_SQLITE_1M_SHARE = 0.25


def reports(svc: IncidentService, n: int, seed: int = 0) -> pd.DataFrame:
    """``n`` hotline-like reports: points inside the district, a year of times, external ids."""
    rng = np.random.default_rng(seed)
    geoms = svc.areas.geoms
    weights = np.asarray([g.area for g in geoms])
    pick = rng.choice(len(geoms), size=n, p=weights / weights.sum())
    reps = np.asarray([g.representative_point() for g in geoms])
    lng = np.asarray([p.x for p in reps])[pick] + rng.normal(0, 0.004, n)
    lat = np.asarray([p.y for p in reps])[pick] + rng.normal(0, 0.004, n)
    return pd.DataFrame(
        {
            "item_code": rng.choice(sorted(svc.catalog.items), n),
            "lat": lat,
            "lng": lng,
            "source": rng.choice(["patrol", "hotline_12345", "citizen", "camera"], n),
            "reported_at": pd.Timestamp("2026-01-01", tz="UTC")
            + pd.to_timedelta(rng.integers(0, 330 * 86400, n), unit="s"),
            "description": "群众反映",
            "external_id": [f"E{seed}-{i}" for i in range(n)],
        }
    )


def _bare_sqlite(rows: list[tuple[Any, ...]], path: Path) -> float:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA page_size=16384")  # as the store's
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    ddl = "CREATE TABLE bare (" + ", ".join(INCIDENT_COLUMNS) + ")"
    conn.execute(ddl)
    sql = f"INSERT INTO bare VALUES ({', '.join('?' * len(INCIDENT_COLUMNS))})"
    t = time.perf_counter()
    conn.execute("BEGIN")
    conn.executemany(sql, rows)
    conn.execute("COMMIT")
    elapsed = time.perf_counter() - t
    conn.close()
    return elapsed


def _bare_copy(rows: list[tuple[Any, ...]], url: str) -> float:
    with psycopg.connect(url, autocommit=True) as conn:
        ddl = sql.SQL("CREATE TABLE bare ({})").format(
            sql.SQL(", ").join(sql.SQL("{} text").format(sql.Identifier(c)) for c in INCIDENT_COLUMNS)
        )
        conn.execute(ddl)
        t = time.perf_counter()
        with (
            conn.transaction(),
            conn.cursor() as cur,
            cur.copy(
                sql.SQL("COPY bare ({}) FROM STDIN").format(
                    sql.SQL(", ").join(map(sql.Identifier, INCIDENT_COLUMNS))
                )
            ) as copy,
        ):
            for r in rows:
                copy.write_row(r)
        return time.perf_counter() - t


def _as_db_rows(store_url: str, n: int) -> list[tuple[Any, ...]]:
    """The stored rows: as SQLite holds them (typed values) or as text for COPY."""
    if store_url.startswith("sqlite:///"):
        conn = sqlite3.connect(store_url.removeprefix("sqlite:///"))
        rows = conn.execute(f"SELECT {', '.join(INCIDENT_COLUMNS)} FROM incidents").fetchall()
        conn.close()
        return rows
    store = open_store(store_url)
    listed = store.list_incidents(IncidentQuery(limit=n + 1, newest_first=False))
    store.close()
    return [tuple(str(v) if v is not None else None for v in r) for r in listed]


def _pg_db() -> str:
    name = f"gp_bench_{os.getpid()}_{int(time.time())}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return f"{PG_ADMIN.rsplit('/', 1)[0]}/{name}"


def _drop_pg(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


RUNS_UP_TO_100K = 3


def measure_one(backend: str, n: int, workdir: Path) -> Figure:
    """Median (and spread) of several imports for small sizes; one import for a million."""
    runs = RUNS_UP_TO_100K if n <= 100_000 else 1
    figures = [_measure_once(backend, n, workdir, k) for k in range(runs)]
    rates = sorted(f.median for f in figures)
    best = figures[[f.median for f in figures].index(rates[len(rates) // 2])]
    return Figure(best.name, best.unit, rates[len(rates) // 2], rates[-1] - rates[0], runs, best.baseline,
                  best.baseline_name, best.budget, best.budget_kind, best.note)  # fmt: skip


def _measure_once(backend: str, n: int, workdir: Path, k: int) -> Figure:
    url = f"sqlite:///{workdir / f'ingest_{n}_{k}.sqlite'}" if backend == "sqlite" else _pg_db()
    try:
        store = open_store(url)
        store.migrate()
        load_demo_district(store, seed=0)
        svc = IncidentService(store)
        frame = reports(svc, n)
        svc.create_many(
            frame.head(200).assign(external_id=lambda f: "warm-" + f["external_id"]),
            BENCH,
        )
        gc.collect()
        t = time.perf_counter()
        result = svc.create_many(frame, BENCH)
        ours = time.perf_counter() - t
        store.close()
        rows = _as_db_rows(url, n)
        if backend == "sqlite":
            bare = _bare_sqlite(rows, workdir / f"bare_{n}_{k}.sqlite")
        else:
            bare = _bare_copy(rows, url)
        rate, bare_rate = result.created / ours, len(rows) / bare
        budget = BUDGET_SQLITE_1M if (backend == "sqlite" and n >= 1_000_000) else None
        return Figure(
            f"import {n:,} on {backend}", "incidents/s", rate, 0.0, 1, bare_rate,
            "bare executemany, unindexed" if backend == "sqlite" else "bare COPY, unindexed",
            budget, "min",
            note=f"{result.created:,} imported in {ours:.2f} s (bare: {bare:.2f} s); "
            f"ratio {rate / bare_rate:.2f} of bare",
        )  # fmt: skip
    finally:
        if backend != "sqlite":
            _drop_pg(url)


def share_of_bare(figure: Figure) -> Figure:
    """The same run's import speed as a share of its bare insert, against the quarter target."""
    assert figure.baseline is not None
    return Figure(
        f"{figure.name}: share of the bare insert", "× bare", figure.median / figure.baseline, 0.0, 1,
        budget=BUDGET_SQLITE_1M_SHARE, budget_kind="min", note="from the run above",
    )  # fmt: skip


def run(
    sizes: tuple[int, ...] = (100_000, 1_000_000), backends: tuple[str, ...] = ("sqlite", "postgis")
) -> Report:
    report = Report("Import: routing + numbers + duplicate flags + creation event + rollups, one transaction")
    with tempfile.TemporaryDirectory() as tmp:
        for backend in backends:
            for n in sizes:
                figure = measure_one(backend, n, Path(tmp))
                report.figures.append(figure)
                sys.stderr.write(f"{figure.name}: {figure.note}\n")
                if figure.budget is not None:
                    report.figures.append(share_of_bare(figure))
    return report


if __name__ == "__main__":
    sizes = tuple(int(s) for s in sys.argv[1].split(",")) if len(sys.argv) > 1 else (100_000, 1_000_000)
    backends = tuple(sys.argv[2].split(",")) if len(sys.argv) > 2 else ("sqlite", "postgis")
    r = run(sizes, backends)
    r.write("ingest")
    sys.stdout.write(r.markdown() + "\n")
