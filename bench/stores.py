"""Demo stores of each size, built once and cached by seed and size (SQLite in bench/.cache/,
PostGIS as databases named after seed and size on the local server)."""

from __future__ import annotations

import hashlib
import os
import sys
import time
from pathlib import Path

import pandas as pd
import psycopg
from psycopg import sql

from data.demo_district import load_demo_district
from data.demo_incidents import generate_demo_incidents
from patrol.incidents import IncidentService
from patrol.workdays import LOCAL_TZ_NAME
from store import open_store

CACHE = Path(__file__).resolve().parent / ".cache"
END = "2026-11-27"
# a store built by an older demo generator (or repeat rule) is not reused: its data differ
_ROOT = Path(__file__).resolve().parents[1]
GENERATOR = hashlib.sha256(
    b"".join((_ROOT / f).read_bytes() for f in ("data/demo_incidents.py", "patrol/repeats.py"))
).hexdigest()[:8]
PG_ADMIN = os.environ.get("GRIDPATROL_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def _build(url: str, n: int, seed: int) -> None:
    t = time.perf_counter()
    store = open_store(url)
    store.migrate()
    load_demo_district(store, seed=0)
    end = pd.Timestamp(END, tz=LOCAL_TZ_NAME).to_pydatetime()
    generate_demo_incidents(IncidentService(store, clock=lambda: end), n, seed=seed, end=end)
    store.close()
    sys.stderr.write(
        f"built demo store of {n:,} at {url.rsplit('/', 1)[-1]} in {time.perf_counter() - t:.0f} s\n"
    )


def demo_store(n: int, seed: int = 0, backend: str = "sqlite") -> str:
    """URL of a store with the demo district and ``n`` demo incidents (built if missing)."""
    if backend == "postgis":
        return _demo_pg(n, seed)
    CACHE.mkdir(exist_ok=True)
    path = CACHE / f"demo_{n}_seed{seed}_{END}_{GENERATOR}.sqlite"
    if not path.exists():
        tmp = path.with_suffix(".building")
        for old in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
            old.unlink(missing_ok=True)
        _build(f"sqlite:///{tmp}", n, seed)
        tmp.rename(path)
    store = open_store(f"sqlite:///{path}")
    store.migrate()  # a cache built by an older version gets the newer indexes
    store.close()
    return f"sqlite:///{path}"


def _demo_pg(n: int, seed: int) -> str:
    name = f"gp_bench_demo_{n}_seed{seed}_{END.replace('-', '')}_{GENERATOR}"
    base = PG_ADMIN.rsplit("/", 1)[0]
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        ready = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if ready is None:
            building = name + "_building"
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(building)))
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(building)))
            _build(f"{base}/{building}", n, seed)
            conn.execute(
                sql.SQL("ALTER DATABASE {} RENAME TO {}").format(
                    sql.Identifier(building), sql.Identifier(name)
                )
            )
    url = f"{base}/{name}"
    store = open_store(url)
    store.migrate()
    store.close()
    return url
