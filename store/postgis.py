"""PostGIS backend: psycopg 3 with a connection pool, geometry columns with GiST, COPY."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd
import psycopg
from psycopg import sql
from psycopg_pool import ConnectionPool, PoolTimeout

from store.api import ApiTables
from store.areas import AreaTables
from store.batch import IncidentBatch, datetime_column, us_to_datetime
from store.evidence import EvidenceTables
from store.incidents import IncidentTables
from store.patrols import PatrolTables
from store.people import PeopleTables
from store.postgis_schema import MIGRATIONS
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
from store.shared import Bulk
from store.urls import redact_url

_ROLLUP_ALL_ROWS = (
    "INSERT INTO rollup_cell_day (district_code, cell, day, item_code, bucket, township_code, n)"
    f" SELECT district_code, cell, day, item_code, {BUCKET_SQL}, township_code, count(*)"
    " FROM incidents GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 1, 2, 3, 4, 5, 6"
)


class PostGISStore(
    AreaTables, IncidentTables, ApiTables, EvidenceTables, ScoreTables, PeopleTables, PatrolTables
):
    """Store on PostgreSQL with PostGIS, shared by any number of app processes."""

    def __init__(
        self,
        url: str,
        *,
        min_size: int = 1,
        max_size: int = 8,
        timeout_s: float = 10.0,
        bulk_rebuild_min_rows: int = BULK_REBUILD_MIN_ROWS,
    ) -> None:
        self.url = url
        self.bulk_rebuild_min_rows = bulk_rebuild_min_rows
        self._sizes = (min_size, max_size)
        self._timeout_s = timeout_s
        self._lock = threading.Lock()
        self._broken = False
        self._copy_types: list[int] | None = None
        self._pool = self._new_pool()

    def _new_pool(self) -> ConnectionPool:
        url, timeout_s = self.url, self._timeout_s
        try:
            # one direct attempt first: a clear, fast error instead of the pool's retries
            psycopg.connect(url, connect_timeout=max(1, int(timeout_s))).close()
        except psycopg.Error as exc:
            msg = f"cannot reach PostGIS at {redact_url(url)}: {str(exc).strip().splitlines()[0]}"
            raise StoreError(msg) from exc
        try:
            # check each connection as it is handed out, so a server restart costs no caller
            pool = ConnectionPool(
                url,
                min_size=self._sizes[0],
                max_size=self._sizes[1],
                timeout=timeout_s,
                open=False,
                check=ConnectionPool.check_connection,
                kwargs={"connect_timeout": max(1, int(timeout_s))},
            )
            pool.open(wait=True, timeout=timeout_s)
        except (psycopg.Error, Exception) as exc:  # the pool raises PoolTimeout on no server
            msg = f"cannot reach PostGIS at {redact_url(url)}: {exc}"
            raise StoreError(msg) from exc
        return pool

    def _healthy_pool(self) -> ConnectionPool:
        """The pool; after an outage, a fresh one as soon as the server answers again.

        A pool that lost its server backs off its reconnection attempts (up to minutes); a direct
        probe plus a new pool brings the store back on the first call after the server returns.
        """
        if not self._broken:
            return self._pool
        with self._lock:
            if self._broken:
                fresh = self._new_pool()  # raises StoreError while the server is still away
                old, self._pool, self._broken = self._pool, fresh, False
                old.close(timeout=0)
        return self._pool

    @contextmanager
    def _tx(self) -> Iterator[psycopg.Connection[Any]]:
        try:
            with self._healthy_pool().connection() as conn, conn.transaction():
                yield conn
        except (psycopg.OperationalError, psycopg.InterfaceError, PoolTimeout) as exc:
            self._broken = True
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            msg = f"PostGIS at {redact_url(self.url)} is unreachable or went away; nothing was saved: {first}"
            raise StoreError(msg) from exc

    def close(self) -> None:
        """Close the pool."""
        self._pool.close()

    def migrate(self) -> list[str]:
        """Apply pending migrations in order; return the names applied."""
        applied: list[str] = []
        with self._tx() as conn:
            conn.execute("SELECT pg_advisory_xact_lock(4242)")
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations "
                "(name TEXT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
            )
            done = {r[0] for r in conn.execute("SELECT name FROM schema_migrations")}
            for name, sql in MIGRATIONS:
                if name in done:
                    continue
                conn.execute(sql.encode())
                conn.execute("INSERT INTO schema_migrations (name) VALUES (%s)", (name,))
                applied.append(name)
        return applied

    def applied_migrations(self) -> list[str]:
        """Names of the migrations already applied, in order."""
        with self._tx() as conn:
            exists = conn.execute("SELECT to_regclass('schema_migrations')").fetchone()
            if exists is None or exists[0] is None:
                return []
            return [r[0] for r in conn.execute("SELECT name FROM schema_migrations ORDER BY name")]

    # -- incidents ---------------------------------------------------------------------
    def insert_incidents(self, batch: IncidentBatch) -> None:
        """Insert new incidents with their events and rollups (COPY), all or nothing.

        A batch of at least ``bulk_rebuild_min_rows`` rows that also at least doubles the
        table (an import) drops the indexes whose keys arrive in random order (the GiST on
        the points among them) and builds them again, sorted, before the commit. Until then
        the table is locked against readers too (DROP INDEX), so only such imports do it.

        Raises
        ------
        DuplicateError
            If an id, number or external id already exists (nothing is written).
        """
        if batch.n_incidents == 0 and batch.n_events == 0:
            return
        try:
            with self._tx() as conn, conn.cursor() as cur:
                rebuild = False
                if batch.n_incidents >= self.bulk_rebuild_min_rows:  # else not worth counting
                    existing = cur.execute("SELECT count(*) FROM incidents").fetchone()
                    rebuild = existing is not None and rebuilds_indexes(
                        batch.n_incidents, existing[0], self.bulk_rebuild_min_rows
                    )
                dropped = _drop_random_order_indexes(cur) if rebuild else []
                # binary COPY: about three times faster than text for typed rows (no number formatting)
                types = self._incident_types(cur)  # before the COPY: no other query runs during one
                with cur.copy(_COPY_INCIDENTS_BINARY) as copy:
                    copy.set_types(types)
                    for row in zip(
                        *(_pg_column(batch, "incidents", c, binary=True) for c in INCIDENT_COLUMNS),
                        strict=True,
                    ):
                        copy.write_row(row)
                if rebuild and batch.creation_event is not None:
                    # the new rows are at least half the table: the server derives their events and
                    # rollups from them in one scan instead of receiving a million more rows
                    _derive_creation(cur, batch.creation_event, batch.n_incidents)
                else:
                    with cur.copy(_COPY_EVENTS) as copy:
                        for row in zip(*(_pg_column(batch, "events", c) for c in EVENT_COLUMNS), strict=True):
                            copy.write_row(row)
                    self._apply_rollups(cur, batch.rollup_deltas())
                if dropped:
                    cur.execute("SET LOCAL maintenance_work_mem = '1GB'")
                    for create in dropped:
                        cur.execute(create)  # CREATE INDEX statements read back from pg_indexes
                self._append_audit(cur, batch.audit)
        except psycopg.errors.IntegrityError as exc:
            msg = f"incident already exists or violates a constraint: {str(exc).splitlines()[0]}"
            raise DuplicateError(msg) from exc

    def _incident_types(self, cur: psycopg.Cursor[Any]) -> list[int]:
        """The type OIDs of INCIDENT_COLUMNS, as the database has them (read once)."""
        if self._copy_types is None:
            found = dict(
                cur.execute(
                    "SELECT attname, atttypid::int FROM pg_attribute"
                    " WHERE attrelid = 'incidents'::regclass AND attnum > 0 AND NOT attisdropped"
                ).fetchall()
            )
            self._copy_types = [found[c] for c in INCIDENT_COLUMNS]
        return self._copy_types

    def _apply_rollups(self, cur: psycopg.Cursor[Any], deltas: Sequence[tuple[Any, ...]]) -> None:
        if not deltas:
            return
        if len(deltas) <= 16:
            cur.executemany(
                self._upsert_rollup(), [(d[4], d[0], d[1], d[2], d[3], d[5], d[6]) for d in deltas]
            )
            return
        cur.execute("CREATE TEMP TABLE IF NOT EXISTS rollup_in (LIKE rollup_cell_day) ON COMMIT DELETE ROWS")
        with cur.copy(
            "COPY rollup_in (cell, day, item_code, bucket, district_code, township_code, n) FROM STDIN"
        ) as copy:
            for d in deltas:
                copy.write_row(d)
        cur.execute(
            "INSERT INTO rollup_cell_day SELECT * FROM rollup_in ORDER BY 1, 2, 3, 4, 5, 6"
            " ON CONFLICT (district_code, cell, day, item_code, bucket, township_code)"
            " DO UPDATE SET n = rollup_cell_day.n + excluded.n"
        )

    # -- the shared queries' hooks (areas and incident reads, people, patrols: their modules) --
    _mark = "%s"
    _geom_out = "ST_AsBinary({})"
    _rollup_key = "district_code, cell, day, item_code, bucket, township_code"

    _geom_in = "ST_Multi(ST_GeomFromWKB(?, 4326))"
    _rebuild_rollups = (_ROLLUP_ALL_ROWS, ())

    _in_chunk = 1_000_000  # one array parameter: no limit worth splitting for

    def _in_list(self, column: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
        return f"{column} = ANY(?)", [list(values)]

    def _json_text(self, value: Any) -> str:
        return json.dumps(value, ensure_ascii=False)

    _keep_ids = "OVERRIDING SYSTEM VALUE"
    _after_id_restore = (
        (
            "SELECT setval(pg_get_serial_sequence('api_outbox', 'id'),"
            " coalesce((SELECT max(id) FROM api_outbox), 0) + 1, false)",
            (),
        ),
    )
    _after_audit_restore = (  # new audit rows continue after the copied ones
        (
            "SELECT setval(pg_get_serial_sequence('audit_log', 'seq'),"
            " greatest((SELECT max(seq) FROM audit_log), 1), (SELECT count(*) > 0 FROM audit_log))",
            (),
        ),
    )
    _json_in = "::jsonb"
    _json_out = "::text"

    _integrity_errors = (psycopg.errors.IntegrityError,)

    @contextmanager
    def _write_cursor(self) -> Iterator[psycopg.Cursor[Any]]:
        """One transaction on a pooled connection (a hook of the shared queries)."""
        with self._tx() as conn, conn.cursor() as cur:
            yield cur

    def _load(self, cur: Any, bulk: Bulk) -> None:
        """COPY the rows (binary-safe text COPY: several times faster than one INSERT a row)."""
        copy_sql = sql.SQL("COPY {} ({}) FROM STDIN").format(
            sql.Identifier(bulk.table), sql.SQL(", ").join(map(sql.Identifier, bulk.columns))
        )
        with cur.copy(copy_sql) as copy:
            for row in bulk.rows:
                copy.write_row(row)

    def _db_time(self, value: datetime) -> Any:
        return value

    def _db_date(self, value: date) -> Any:
        return value

    def _py_date(self, value: Any) -> date:
        return value  # type: ignore[no-any-return]

    def _cells_in(self, cells: Sequence[int]) -> Any:
        return list(cells)

    def _texts_in(self, texts: Sequence[str]) -> Any:
        return list(texts)

    def _list_out(self, value: Any) -> list[Any]:
        return list(value)

    def _py_time(self, value: Any) -> datetime:
        return value  # type: ignore[no-any-return]

    def _read(self, sql: str, params: Sequence[Any]) -> list[Any]:
        with self._tx() as conn:
            return conn.execute(sql, params).fetchall()


# Indexes whose keys an import delivers in random order (external ids, item × cell, the
# points' GiST, day × cell of the rollups): rebuilt by sorting when a batch at least doubles
# the table.
RANDOM_ORDER_INDEXES = (
    "incidents_external", "incidents_item_cell", "incidents_geom", "rollup_day_cover", "incident_events_at",
)  # fmt: skip


def _drop_random_order_indexes(cur: psycopg.Cursor[Any]) -> list[str]:
    """Drop the random-order indexes inside the open transaction; return their CREATE statements."""
    found = cur.execute(
        "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema()"
        " AND indexname = ANY(%s)",
        (list(RANDOM_ORDER_INDEXES),),
    ).fetchall()
    for name, _ in found:
        cur.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(name)))
    return [str(create) for _, create in found]


# the rows the current transaction wrote; insert_incidents' transaction writes only its new incidents
# there (a pooled connection's own transaction, not a savepoint, so xmin is the top-level xid)
_NEW_ROWS = "xmin = xid(pg_current_xact_id())"
_INSERT_CREATION_EVENTS = (
    f"INSERT INTO incident_events ({', '.join(EVENT_COLUMNS)})"
    " SELECT id, 1, district_code, %s, NULL, state, %s, %s, %s, %s, %s::jsonb"
    f" FROM incidents WHERE {_NEW_ROWS}"
)
_ROLLUP_NEW_ROWS = (
    "INSERT INTO rollup_cell_day (district_code, cell, day, item_code, bucket, township_code, n)"
    f" SELECT district_code, cell, day, item_code, {BUCKET_SQL}, township_code, count(*)"
    f" FROM incidents WHERE {_NEW_ROWS} GROUP BY 1, 2, 3, 4, 5, 6"
    " ORDER BY 1, 2, 3, 4, 5, 6"  # in key order: 1M upserts 9 s unsorted, 6 s sorted
    " ON CONFLICT (district_code, cell, day, item_code, bucket, township_code)"
    " DO UPDATE SET n = rollup_cell_day.n + excluded.n"
)


def _derive_creation(cur: psycopg.Cursor[Any], event: Mapping[str, Any], n: int) -> None:
    """The creation event and the rollups of the rows this transaction inserted, by the server.

    Raises
    ------
    StoreError
        If the server does not find exactly ``n`` new rows (the transaction then rolls back).
    """
    at = us_to_datetime(int(datetime_column([event["at"]]).astype(np.int64)[0]))
    cur.execute(
        _INSERT_CREATION_EVENTS,
        (event["action"], event["actor"], event["role"], at, event["note"], event["payload"]),
    )
    if cur.rowcount != n:
        msg = f"PostGIS found {cur.rowcount} new incidents for {n} creation events; nothing was saved"
        raise StoreError(msg)
    cur.execute(_ROLLUP_NEW_ROWS)


_COPY_INCIDENTS_BINARY = f"COPY incidents ({', '.join(INCIDENT_COLUMNS)}) FROM STDIN (FORMAT BINARY)"
_COPY_EVENTS = f"COPY incident_events ({', '.join(EVENT_COLUMNS)}) FROM STDIN"


def _pg_column(batch: IncidentBatch, table: str, name: str, *, binary: bool = False) -> Sequence[Any]:
    """A column as Python values for COPY: times as UTC text, or as aware datetimes for binary COPY."""
    values = batch.column(table, name)
    if name in DATETIME_COLUMNS:
        arr = datetime_column(values)
        times: list[Any] = (
            pd.DatetimeIndex(arr).tz_localize("UTC").to_pydatetime().tolist()
            if binary
            else np.datetime_as_string(arr, unit="us", timezone="UTC").tolist()
        )
        nat = np.isnat(arr)
        if nat.any():
            times = [None if n else v for v, n in zip(times, nat.tolist(), strict=True)]
        return times
    if isinstance(values, np.ndarray | pd.Series):
        return values.tolist()
    return values
