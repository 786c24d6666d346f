"""Bulk imports on both backends: indexes rebuilt by sorting for a big batch, nothing lost or loosened."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from data.demo_district import load_demo_district
from patrol.incidents import BulkResult, IncidentService
from patrol.roles import Principal
from store import postgis, sqlite
from store.batch import IncidentBatch
from store.postgis import PostGISStore
from store.protocol import DuplicateError, Store
from store.rows import IncidentQuery, state_bucket
from store.sqlite import SQLiteStore

IMPORTER = Principal("导入员", "admin")

NOW = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A store that treats a batch of 100 rows as big enough to rebuild indexes for."""
    s: Store
    if request.param == "sqlite":
        s = SQLiteStore(tmp_path / "bulk.sqlite", bulk_rebuild_min_rows=100)
    else:
        s = PostGISStore(request.getfixturevalue("postgis_url"), bulk_rebuild_min_rows=100)
    s.migrate()
    load_demo_district(s, seed=0)
    yield s
    s.close()


def _frame(n: int, seed: int, prefix: str) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "item_code": rng.choice(["PARK_COMPOUND", "SEWAGE", "CLUTTER", "NOISE_SOCIAL"], n),
        "lat": 30.75 + rng.normal(0, 0.01, n), "lng": 120.78 + rng.normal(0, 0.01, n),
        "source": "hotline_12345",
        "reported_at": pd.Timestamp("2026-11-01", tz="UTC") + pd.to_timedelta(rng.integers(0, 20 * 86400, n), unit="s"),
        "external_id": [f"{prefix}-{i}" for i in range(n)],
    })  # fmt: skip


def _indexes(store: Store) -> dict[str, tuple[object, str]]:
    """Each index of the incident, event and rollup tables: (identity, definition)."""
    if isinstance(store, SQLiteStore):
        rows = store._conn().execute(
            "SELECT name, name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
        )
    else:
        with store._pool.connection() as conn:
            rows = conn.execute(
                "SELECT indexname, (quote_ident(indexname))::regclass::oid, indexdef FROM pg_indexes"
                " WHERE schemaname = current_schema() AND tablename IN ('incidents', 'incident_events', 'rollup_cell_day')"
            ).fetchall()
    return {name: (ident, definition) for name, ident, definition in rows}


def _random_order(store: Store) -> set[str]:
    return set((sqlite if isinstance(store, SQLiteStore) else postgis).RANDOM_ORDER_INDEXES)


def _rebuilt(store: Store, before: dict[str, tuple[object, str]]) -> set[str]:
    """The indexes rebuilt since ``before``: a new OID on PostgreSQL, a DROP seen on SQLite."""
    if isinstance(store, SQLiteStore):
        return {s.split('"')[1] for s in store.statements if s.startswith("DROP INDEX")}  # type: ignore[attr-defined]
    after = _indexes(store)
    return {name for name, (oid, _) in after.items() if before[name][0] != oid}


def _watch(store: Store) -> dict[str, tuple[object, str]]:
    if isinstance(store, SQLiteStore):
        store.statements = []  # type: ignore[attr-defined]
        store._conn().set_trace_callback(store.statements.append)  # type: ignore[attr-defined]
    return _indexes(store)


def _definitions(store: Store) -> dict[str, str]:
    return {name: definition for name, (_, definition) in _indexes(store).items()}


def _recount(store: Store) -> list[tuple[int, str, str, str, str, int]]:
    from collections import Counter

    rows = store.list_incidents(IncidentQuery(limit=100_000))
    counts = Counter((r.cell, r.day, r.item_code, state_bucket(r.state), r.township_code) for r in rows)
    return sorted((*k, n) for k, n in counts.items())


def _second_import(store: Store, first: int, then: int) -> tuple[dict[str, tuple[object, str]], BulkResult]:
    """Import ``first`` rows, then watch the indexes while importing ``then`` more."""
    svc = IncidentService(store, clock=lambda: NOW)
    svc.create_many(_frame(first, 1, "old"), IMPORTER)
    before = _watch(store)
    return before, svc.create_many(_frame(then, 2, "new"), IMPORTER)


def test_an_import_that_doubles_the_table_rebuilds_its_random_order_indexes_and_keeps_them_all(store):
    before, result = _second_import(store, 20, 400)
    assert result.created > 300
    assert _rebuilt(store, before) == _random_order(store)
    assert _definitions(store) == {name: definition for name, (_, definition) in before.items()}
    assert store.rollup_rows() == _recount(store)
    assert store.count_incidents(IncidentQuery()) == 20 + result.created
    assert store.existing_external_ids("330402", ["new-7", "old-3", "nope"]) == {"new-7", "old-3"}
    if isinstance(store, SQLiteStore):
        conn = store._conn()
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        plan = " ".join(str(r) for r in conn.execute(
            "EXPLAIN QUERY PLAN SELECT id FROM incidents WHERE district_code = '330402' AND external_id = 'x'"
        ))  # fmt: skip
        assert "incidents_external" in plan
        triggers = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
        assert "incident_events_no_replace" in triggers  # dropped for the load, back before its commit
        assert conn.execute("PRAGMA cache_size").fetchone() == (-524_288,)


def test_a_small_import_into_a_bigger_table_keeps_its_indexes_in_place(store):
    before, result = _second_import(store, 400, 150)
    assert result.created > 100
    assert _rebuilt(store, before) == set()
    assert store.rollup_rows() == _recount(store)


@pytest.mark.parametrize(("first", "rebuilt"), [(20, True), (400, False)])
def test_every_imported_incident_gets_one_creation_event_whether_or_not_the_import_rebuilt_indexes(
    store, first, rebuilt
):
    before, result = _second_import(store, first, 150 if not rebuilt else 400)
    assert bool(_rebuilt(store, before)) is rebuilt
    new = store.incident_columns(IncidentQuery(limit=100_000), ["id", "external_id"])
    new_ids = [i for i, e in zip(new["id"], new["external_id"], strict=True) if e.startswith("new-")]
    assert len(new_ids) == result.created
    for iid in new_ids[:: max(1, len(new_ids) // 25)]:
        (event,) = store.events(iid)
        assert event[:8] == (iid, 1, "330402", "create", None, "discovered", "导入员", "admin")
        assert event.at == NOW and event.note == "" and json.loads(event.payload) == {"via": "bulk import"}
    assert store.rollup_rows() == _recount(store)


def test_a_duplicate_external_id_fails_a_rebuilt_import_whole_and_leaves_the_indexes(store):
    svc = IncidentService(store, clock=lambda: NOW)
    svc.create_many(_frame(20, 1, "old"), IMPORTER)
    before = (_definitions(store), store.state_counts(), store.rollup_rows())
    template = store.list_incidents(IncidentQuery(limit=1))[0]
    rows = [
        template._replace(id=f"NH-BULK-{i:04d}", number=f"NH-BULK-{i:04d}", external_id=f"bulk-{i}")
        for i in range(300)
    ]
    rows[299] = rows[299]._replace(external_id="bulk-5")  # the same external id twice in one batch
    with pytest.raises(DuplicateError):
        store.insert_incidents(IncidentBatch.from_rows(rows, []))
    rows[299] = rows[299]._replace(external_id=template.external_id)  # one already stored
    with pytest.raises(DuplicateError):
        store.insert_incidents(IncidentBatch.from_rows(rows, []))
    assert (_definitions(store), store.state_counts(), store.rollup_rows()) == before
    assert store.get_incident("NH-BULK-0000") is None


def test_a_new_store_uses_16_kib_pages(tmp_path):
    s = SQLiteStore(tmp_path / "new.sqlite")
    s.migrate()
    assert s._conn().execute("PRAGMA page_size").fetchone() == (16_384,)
    s.close()


def test_the_import_clock_is_one_constant_time_for_every_row(store):
    later = NOW + timedelta(hours=3)
    svc = IncidentService(store, clock=lambda: later)
    svc.create_many(_frame(200, 4, "t"), IMPORTER)
    rows = store.list_incidents(IncidentQuery(limit=1000))
    assert {r.updated_at for r in rows} == {later}
    assert {(r.version, r.last_seq, r.rework_count, r.closed_at) for r in rows} == {(1, 1, 0, None)}


def test_only_a_big_batch_that_at_least_doubles_the_table_rebuilds():
    from store.rows import rebuilds_indexes

    assert rebuilds_indexes(50_000, 0) and rebuilds_indexes(1_000_000, 1_000_000)
    assert not rebuilds_indexes(49_999, 0)  # too small to be worth a rebuild
    assert not rebuilds_indexes(50_000, 50_001)  # the table would grow by less than double


def test_the_write_ahead_log_of_a_big_import_shrinks_back_while_the_app_holds_the_store_open(
    tmp_path, monkeypatch
):
    monkeypatch.setattr(sqlite, "_WAL_LIMIT_BYTES", 64 * 1024)
    app = SQLiteStore(tmp_path / "wal.sqlite")  # the app: a reader that stays open throughout
    app.migrate()
    load_demo_district(app, seed=0)
    importer = SQLiteStore(tmp_path / "wal.sqlite")
    created = IncidentService(importer, clock=lambda: NOW).create_many(_frame(25_000, 4, "W"), IMPORTER)
    wal = tmp_path / "wal.sqlite-wal"
    # the import wrote past the autocheckpoint (1,000 pages), which copied it into the database
    assert wal.stat().st_size > 1000 * 16384
    importer.close()
    assert created.created > 24_000 and app.count_incidents(IncidentQuery()) == created.created
    IncidentService(app, clock=lambda: NOW).create_many(_frame(1, 5, "X"), IMPORTER)
    assert wal.stat().st_size < 1024 * 1024  # cut back (to what this small write needed, at least)
    app.close()
