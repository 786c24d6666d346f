"""SQLite backend: the embedded default (WAL, one writer lock, migrations table)."""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from store.api import ApiTables
from store.areas import AreaTables
from store.batch import IncidentBatch, datetime_column, datetime_to_us, us_to_datetime
from store.evidence import EvidenceTables
from store.incidents import INSERT_EVENT, IncidentTables
from store.patrols import PatrolTables
from store.people import PeopleTables
from store.protocol import DuplicateError, StoreError
from store.rows import (
    BUCKET_SQL,
    BULK_REBUILD_MIN_ROWS,
    DATETIME_COLUMNS,
    EVENT_COLUMNS,
    INCIDENT_COLUMNS,
    rebuilds_indexes,
)
from store.scores import ScoreTables
from store.sqlite_schema import MIGRATIONS

_SORTER_THREADS = min(4, os.cpu_count() or 1)
_PAGE_SIZE = 16384
_CACHE_KIB = 524_288  # 512 MiB of page cache per connection at most (used as pages are read)
_BULK_CACHE_KIB = 4_194_304  # 4 GiB during an import that at least doubles the table
# the WAL of a big import is as big as what it wrote (about 1 GB for a million incidents); while
# the app keeps connections open the file would stay that size, so it is cut back to this
_WAL_LIMIT_BYTES = 64 * 1024 * 1024


def sqlite_path_from_url(url: str) -> Path:
    """Return the file path of a ``sqlite:///path`` URL or a bare path."""
    if url.startswith("sqlite:///"):
        return Path(url[len("sqlite:///") :])
    if url.startswith("sqlite://"):
        msg = f"SQLite URL must look like sqlite:///path/to/file.sqlite, got {url!r}"
        raise ValueError(msg)
    return Path(url)


_ROLLUP_NEW_ROWS = (
    "INSERT INTO rollup_cell_day (cell, day, item_code, bucket, district_code, township_code, n)"
    f" SELECT cell, day, item_code, {BUCKET_SQL}, max(district_code), township_code, count(*)"
    " FROM incidents WHERE rowid > ? GROUP BY cell, day, item_code, 4, township_code"
    " ON CONFLICT (cell, day, item_code, bucket, township_code) DO UPDATE SET n = n + excluded.n"
)


class SQLiteStore(
    AreaTables, IncidentTables, ApiTables, EvidenceTables, ScoreTables, PeopleTables, PatrolTables
):
    """Store on one SQLite file.

    Each thread gets its own connection; writes are serialised by one process-wide lock
    and ``BEGIN IMMEDIATE``, so concurrent Streamlit sessions never see a half write.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        busy_timeout_s: float = 30.0,
        bulk_rebuild_min_rows: int = BULK_REBUILD_MIN_ROWS,
    ) -> None:
        self.path = Path(path)
        self.busy_timeout_s = busy_timeout_s
        self.bulk_rebuild_min_rows = bulk_rebuild_min_rows
        self.url = f"sqlite:///{self.path}"
        self._local = threading.local()
        self._write_lock = threading.Lock()
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()

    # -- connections -------------------------------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(
                    self.path, timeout=self.busy_timeout_s, isolation_level=None, check_same_thread=False
                )
                # a new store gets 16 KiB pages (fewer page splits and WAL frames in bulk writes;
                # ignored once the file has tables)
                _pragma(conn, "page_size", _PAGE_SIZE)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                _pragma(conn, "journal_size_limit", _WAL_LIMIT_BYTES)
                conn.execute("PRAGMA foreign_keys=ON")
                _pragma(conn, "cache_size", -_CACHE_KIB)
                conn.execute("PRAGMA temp_store=MEMORY")
                _pragma(conn, "threads", _SORTER_THREADS)  # sorts for index builds
            except (sqlite3.Error, OSError) as exc:
                msg = f"cannot open SQLite store {self.path}: {exc}"
                raise StoreError(msg) from exc
            self._local.conn = conn
            with self._all_lock:
                self._all.append(conn)
        return conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        conn = self._conn()
        with self._write_lock:
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                msg = f"SQLite store {self.path} is locked or read-only: {exc}"
                raise StoreError(msg) from exc
            try:
                yield conn
            except sqlite3.IntegrityError:
                self._rollback_or_drop(conn)
                raise
            except sqlite3.Error as exc:
                self._rollback_or_drop(conn)
                msg = f"SQLite store {self.path}: write failed, nothing was saved: {exc}"
                raise StoreError(msg) from exc
            except BaseException:
                self._rollback_or_drop(conn)
                raise
            else:
                try:
                    conn.execute("COMMIT")
                except sqlite3.Error as exc:
                    self._rollback_or_drop(conn)
                    msg = f"SQLite store {self.path}: commit failed: {exc}"
                    raise StoreError(msg) from exc

    def _rollback_or_drop(self, conn: sqlite3.Connection) -> None:
        """Roll back; if the connection itself is gone, forget it so the next call reopens."""
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error:
            with self._all_lock:
                if conn in self._all:
                    self._all.remove(conn)
            self._local.conn = None

    def close(self) -> None:
        """Close every connection this store opened."""
        with self._all_lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
        self._local = threading.local()

    # -- migrations --------------------------------------------------------------------
    def migrate(self) -> list[str]:
        """Apply pending migrations in order; return the names applied."""
        applied: list[str] = []
        try:
            with self._write() as conn:
                conn.execute(
                    "CREATE TABLE IF NOT EXISTS schema_migrations "
                    "(name TEXT PRIMARY KEY, applied_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)"
                )
                done = {r[0] for r in conn.execute("SELECT name FROM schema_migrations")}
                for name, statements in MIGRATIONS:
                    if name in done:
                        continue
                    for statement in statements:
                        conn.execute(statement)
                    conn.execute("INSERT INTO schema_migrations (name) VALUES (?)", (name,))
                    applied.append(name)
        except sqlite3.Error as exc:
            msg = f"SQLite store {self.path}: migration failed: {exc}"
            raise StoreError(msg) from exc
        return applied

    def applied_migrations(self) -> list[str]:
        """Names of the migrations already applied, in order."""
        try:
            rows = self._conn().execute("SELECT name FROM schema_migrations ORDER BY name").fetchall()
        except sqlite3.OperationalError:
            return []
        return [r[0] for r in rows]

    # -- areas -------------------------------------------------------------------------
    # -- incidents ---------------------------------------------------------------------
    def insert_incidents(self, batch: IncidentBatch) -> None:
        """Insert new incidents with their events and rollups, all or nothing.

        A batch of at least ``bulk_rebuild_min_rows`` rows that also at least doubles the
        table (an import) drops the indexes whose keys arrive in random order and builds them
        again, sorted, before the commit: cheaper than a million random B-tree inserts each.
        The other indexes grow at their ends (times, numbers and states arrive in order) and
        are kept. The unique index is among the rebuilt ones, so a duplicate still fails the
        whole batch, and readers never see a table without its indexes.

        Raises
        ------
        DuplicateError
            If an id, number or external id already exists (nothing is written).
        """
        if batch.n_incidents == 0 and batch.n_events == 0:
            return
        insert_sql, incidents = _incident_rows(batch)
        rebuild = False
        try:
            with self._write() as conn:
                last = conn.execute("SELECT coalesce(max(rowid), 0) FROM incidents").fetchone()[0]
                rebuild = rebuilds_indexes(batch.n_incidents, last, self.bulk_rebuild_min_rows)
                if rebuild:
                    # room for the whole import in the page cache, for this write only
                    _pragma(conn, "cache_size", -_BULK_CACHE_KIB)
                dropped = _drop_random_order_indexes(conn) if rebuild else []
                conn.executemany(insert_sql, incidents)
                if batch.creation_event is not None:
                    ce = batch.creation_event
                    conn.execute(
                        _INSERT_CREATION_EVENTS,
                        (
                            ce["action"],
                            ce["actor"],
                            ce["role"],
                            _dt_any(ce["at"]),
                            ce["note"],
                            ce["payload"],
                            last,
                        ),
                    )
                else:
                    events = zip(*(_db_column(batch, "events", c) for c in EVENT_COLUMNS), strict=True)
                    conn.executemany(INSERT_EVENT, events)
                # the rollups of the new rows, counted by the database itself
                conn.execute(_ROLLUP_NEW_ROWS, (last,))
                for create in dropped:
                    conn.execute(create)
                self._append_audit(conn, batch.audit)
        except sqlite3.IntegrityError as exc:
            msg = f"incident already exists or violates a constraint: {exc}"
            raise DuplicateError(msg) from exc
        finally:
            if rebuild:
                self._shrink_cache()

    def _shrink_cache(self) -> None:
        """Back to the usual page cache after a bulk write, and give the memory back."""
        try:
            conn = self._conn()
            _pragma(conn, "cache_size", -_CACHE_KIB)
            conn.execute("PRAGMA shrink_memory")
        except (sqlite3.Error, StoreError):
            pass  # a dropped connection holds no cache

    # -- the shared queries' hooks (areas and incident reads, people, patrols: their modules) --
    _mark = "?"

    _rebuild_rollups = (_ROLLUP_NEW_ROWS, (0,))

    def _in_list(self, column: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
        return (f"{column} IN ({', '.join('?' * len(values))})" if values else "0"), list(values)

    def _json_text(self, value: Any) -> str:
        return value  # type: ignore[no-any-return]

    _integrity_errors = (sqlite3.IntegrityError,)

    @contextmanager
    def _write_cursor(self) -> Iterator[sqlite3.Cursor]:
        """One write transaction under the writer lock (a hook of the shared queries)."""
        with self._write() as conn:
            yield conn.cursor()

    def _db_time(self, value: datetime) -> Any:
        return _dt(value)

    def _db_date(self, value: date) -> Any:
        return value.isoformat()

    def _py_date(self, value: Any) -> date:
        return date.fromisoformat(value)

    def _cells_in(self, cells: Sequence[int]) -> Any:
        return json.dumps([str(c) for c in cells])  # as text: JSON readers lose 64-bit integers

    def _texts_in(self, texts: Sequence[str]) -> Any:
        return json.dumps(list(texts), ensure_ascii=False)

    def _list_out(self, value: Any) -> list[Any]:
        return json.loads(value)  # type: ignore[no-any-return]

    def _py_time(self, value: Any) -> datetime:
        return _time(int(value))  # type: ignore[no-any-return]

    def _read(self, sql: str, params: Sequence[Any]) -> list[Any]:
        return self._conn().execute(sql, params).fetchall()


_INSERT_CREATION_EVENTS = (
    f"INSERT INTO incident_events ({', '.join(EVENT_COLUMNS)})"
    " SELECT id, 1, district_code, ?, NULL, state, ?, ?, ?, ?, ? FROM incidents WHERE rowid > ?"
)


# Indexes whose keys an import delivers in random order (external ids, item × cell, day ×
# township of the rollups): rebuilt by sorting when a batch at least doubles the table.
RANDOM_ORDER_INDEXES = ("incidents_external", "incidents_item_cell", "rollup_day_cover", "incident_events_at")
# a lookup per new event; the batch's own plain INSERT already fails on a stored key
_BULK_DROPPED_TRIGGERS = ("incident_events_no_replace",)


def _drop_random_order_indexes(conn: sqlite3.Connection) -> list[str]:
    """Drop the random-order indexes (and the per-row replace guard) inside the open transaction.

    Returns their CREATE statements, to run again before the same commit: nobody else
    writes meanwhile, and readers see the schema as it was.
    """
    names = (*RANDOM_ORDER_INDEXES, *_BULK_DROPPED_TRIGGERS)
    found = conn.execute(
        "SELECT type, name, sql FROM sqlite_master"
        f" WHERE type IN ('index', 'trigger') AND name IN {_marks(len(names))}",
        names,
    ).fetchall()
    for kind, name, _ in found:
        # a kind and name from sqlite_master matching the constants above, not input
        conn.execute(f'DROP {"INDEX" if kind == "index" else "TRIGGER"} "{name}"')
    return [str(create) for _, _, create in found]


def _pragma(conn: sqlite3.Connection, name: str, value: int) -> None:
    """Set a numeric PRAGMA (SQLite binds no parameters in PRAGMAs; ``int`` keeps it a number)."""
    conn.execute(f"PRAGMA {name} = {int(value)}")


def _incident_rows(batch: IncidentBatch) -> tuple[str, Iterator[tuple[Any, ...]]]:
    """The INSERT for a batch and its rows.

    Integer and NULL constants shared by every row (version, counters, the batch time) are
    written into the statement as literals, so a million rows do not bind them a million
    times; everything else, and every string, is a bound parameter.
    """
    values: list[str] = []
    columns: list[Sequence[Any]] = []
    for c in INCIDENT_COLUMNS:
        literal = _int_literal(batch.incidents[c])
        values.append("?" if literal is None else literal)
        if literal is None:
            columns.append(_db_column(batch, "incidents", c))
    sql = f"INSERT INTO incidents ({', '.join(INCIDENT_COLUMNS)}) VALUES ({', '.join(values)})"
    return sql, zip(*columns, strict=True)


def _int_literal(value: Any) -> str | None:
    """SQL text for a shared None, integer or time constant; None for anything else."""
    if value is None:
        return "NULL"
    if isinstance(value, np.datetime64):
        return str(_dt_any(value)) if not np.isnat(value) else "NULL"
    if isinstance(value, int | np.integer) and not isinstance(value, bool):
        return str(int(value))
    return None


def _dt(value: datetime) -> int:
    return datetime_to_us(value)


def _dt_any(value: Any) -> int:
    """A datetime or a numpy datetime64 as microseconds since the epoch."""
    if isinstance(value, np.datetime64):
        return int(value.astype("datetime64[us]").astype(np.int64))
    return _dt(value)


def _db_column(batch: IncidentBatch, table: str, name: str) -> Sequence[Any]:
    values = batch.column(table, name)
    if name in DATETIME_COLUMNS:
        arr = datetime_column(values)
        ints: list[Any] = arr.astype(np.int64).tolist()
        if np.isnat(arr).any():
            ints = [None if nat else v for v, nat in zip(ints, np.isnat(arr).tolist(), strict=True)]
        return ints
    if isinstance(values, np.ndarray | pd.Series):
        return values.tolist()
    return values


def _time(value: int) -> datetime:
    out = us_to_datetime(value)
    assert out is not None
    return out


def _marks(n: int) -> str:
    return "(" + ",".join("?" * n) + ")"
