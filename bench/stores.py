"""Demo stores of each size, built once and cached by seed and size (bench/.cache/)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pandas as pd

from data.demo_incidents import generate_demo_incidents
from patrol.areas import load_demo_district
from patrol.incidents import IncidentService
from store import open_store

CACHE = Path(__file__).resolve().parent / ".cache"
END = "2026-11-27"


def demo_store(n: int, seed: int = 0) -> str:
    """URL of a SQLite store with the demo district and ``n`` demo incidents (built if missing)."""
    CACHE.mkdir(exist_ok=True)
    path = CACHE / f"demo_{n}_seed{seed}_{END}.sqlite"
    if path.exists():
        return f"sqlite:///{path}"
    tmp = path.with_suffix(".building")
    for old in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
        old.unlink(missing_ok=True)
    t = time.perf_counter()
    store = open_store(f"sqlite:///{tmp}")
    store.migrate()
    load_demo_district(store, seed=0)
    end = pd.Timestamp(END, tz="Asia/Shanghai").to_pydatetime()
    generate_demo_incidents(IncidentService(store, clock=lambda: end), n, seed=seed, end=end)
    store.close()
    tmp.rename(path)
    sys.stderr.write(f"built demo store of {n:,} in {time.perf_counter() - t:.0f} s\n")
    return f"sqlite:///{path}"
