"""SQLite backend: the embedded default (WAL, one writer lock, migrations table)."""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from store.api import ApiTables
from store.areas import AreaTables
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
    AuditRow,
    IncidentBatch,
    datetime_column,
    datetime_to_us,
    rebuilds_indexes,
    us_to_datetime,
)
from store.scores import ScoreTables
from store.shared import Batch, Bulk

_STATES_SQL = (
    "'discovered','assessing','handling','consulting','deferred','verifying','closed','rejected','merged'"
)
# from migration 0014: the handover states (移交) too; the columns as they stood then
_COLUMNS_0014 = (
    "id, district_code, number, external_id, item_code, source, lat, lng, cell, village_code, "
    "township_code, team_id, handler, department, routing_reason, description, reporter_name, "
    "reporter_phone, reported_at, day, due_at, response_minutes, state, version, first_response_at, "
    "closed_at, rework_count, deferral_count, assessment_outcome, consult_departments, duplicate_of, "
    "repeat_of, suspected_duplicate_of, patrol_task_id, request, paused_at, satisfaction, "
    "callback_count, last_seq, updated_at"
)
_STATES_SQL_0014 = _STATES_SQL + ",'handed_over','returned','disputed','transferred'"
_INCIDENTS_0014 = f"""CREATE TABLE incidents_0014 (
    id TEXT PRIMARY KEY, district_code TEXT NOT NULL, number TEXT NOT NULL,
    external_id TEXT, item_code TEXT NOT NULL, source TEXT NOT NULL,
    lat REAL NOT NULL, lng REAL NOT NULL, cell INTEGER NOT NULL,
    village_code TEXT NOT NULL, township_code TEXT NOT NULL, team_id INTEGER NOT NULL,
    handler TEXT NOT NULL, department TEXT NOT NULL, routing_reason TEXT NOT NULL,
    description TEXT NOT NULL, reporter_name TEXT NOT NULL, reporter_phone TEXT NOT NULL,
    reported_at INTEGER NOT NULL, day TEXT NOT NULL, due_at INTEGER NOT NULL,
    response_minutes INTEGER NOT NULL,
    state TEXT NOT NULL CHECK (state IN ({_STATES_SQL_0014})),
    version INTEGER NOT NULL, first_response_at INTEGER, closed_at INTEGER,
    rework_count INTEGER NOT NULL, deferral_count INTEGER NOT NULL,
    assessment_outcome TEXT, consult_departments TEXT NOT NULL,
    duplicate_of TEXT, repeat_of TEXT, suspected_duplicate_of TEXT, patrol_task_id TEXT,
    last_seq INTEGER NOT NULL, updated_at INTEGER NOT NULL,
    request TEXT, paused_at INTEGER, satisfaction TEXT, callback_count INTEGER NOT NULL DEFAULT 0
)"""

_SORTER_THREADS = min(4, os.cpu_count() or 1)
_PAGE_SIZE = 16384
_CACHE_KIB = 524_288  # 512 MiB of page cache per connection at most (used as pages are read)
_BULK_CACHE_KIB = 4_194_304  # 4 GiB during an import that at least doubles the table
# the WAL of a big import is as big as what it wrote (about 1 GB for a million incidents); while
# the app keeps connections open the file would stay that size, so it is cut back to this
_WAL_LIMIT_BYTES = 64 * 1024 * 1024

MIGRATIONS: list[tuple[str, list[str]]] = [
    (
        "0001_areas",
        [
            s
            for s in """
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE district (
            code TEXT PRIMARY KEY, name TEXT NOT NULL, name_en TEXT NOT NULL,
            h3_resolution INTEGER NOT NULL, is_demo INTEGER NOT NULL
        );
        CREATE TABLE townships (
            code TEXT PRIMARY KEY, district_code TEXT NOT NULL, name TEXT NOT NULL,
            name_en TEXT NOT NULL, kind TEXT NOT NULL, empowerment_class TEXT NOT NULL,
            geom BLOB NOT NULL
        );
        CREATE TABLE villages (
            code TEXT PRIMARY KEY, township_code TEXT NOT NULL REFERENCES townships(code),
            name TEXT NOT NULL, kind TEXT NOT NULL, geom BLOB NOT NULL
        );
        CREATE INDEX villages_township ON villages(township_code);
        CREATE TABLE teams (
            id INTEGER PRIMARY KEY, village_code TEXT NOT NULL UNIQUE REFERENCES villages(code),
            name TEXT NOT NULL, captain TEXT NOT NULL, members TEXT NOT NULL
        );
        CREATE TABLE cells (
            cell INTEGER PRIMARY KEY, village_code TEXT NOT NULL REFERENCES villages(code)
        ) WITHOUT ROWID;
        """.split(";")
            if s.strip()
        ],
    ),
    (
        "0002_incidents",
        [
            "ALTER TABLE district ADD COLUMN number_prefix TEXT NOT NULL DEFAULT 'GP'",
            f"""CREATE TABLE incidents (
                id TEXT PRIMARY KEY, district_code TEXT NOT NULL, number TEXT NOT NULL,
                external_id TEXT, item_code TEXT NOT NULL, source TEXT NOT NULL,
                lat REAL NOT NULL, lng REAL NOT NULL, cell INTEGER NOT NULL,
                village_code TEXT NOT NULL, township_code TEXT NOT NULL, team_id INTEGER NOT NULL,
                handler TEXT NOT NULL, department TEXT NOT NULL, routing_reason TEXT NOT NULL,
                description TEXT NOT NULL, reporter_name TEXT NOT NULL, reporter_phone TEXT NOT NULL,
                reported_at INTEGER NOT NULL, day TEXT NOT NULL, due_at INTEGER NOT NULL,
                response_minutes INTEGER NOT NULL,
                state TEXT NOT NULL CHECK (state IN ({_STATES_SQL})),
                version INTEGER NOT NULL, first_response_at INTEGER, closed_at INTEGER,
                rework_count INTEGER NOT NULL, deferral_count INTEGER NOT NULL,
                assessment_outcome TEXT, consult_departments TEXT NOT NULL,
                duplicate_of TEXT, repeat_of TEXT, suspected_duplicate_of TEXT, patrol_task_id TEXT,
                last_seq INTEGER NOT NULL, updated_at INTEGER NOT NULL
            )""",
            # the id is the human number, so the primary key already makes numbers unique
            "CREATE UNIQUE INDEX incidents_external ON incidents(district_code, external_id)"
            " WHERE external_id IS NOT NULL",
            "CREATE INDEX incidents_state_township ON incidents(state, township_code)",
            "CREATE INDEX incidents_item_cell ON incidents(item_code, cell)",
            "CREATE INDEX incidents_reported ON incidents(reported_at)",
            """CREATE TABLE incident_events (
                incident_id TEXT NOT NULL, seq INTEGER NOT NULL, district_code TEXT NOT NULL,
                action TEXT NOT NULL, from_state TEXT, to_state TEXT NOT NULL, actor TEXT NOT NULL,
                role TEXT NOT NULL, at INTEGER NOT NULL, note TEXT NOT NULL, payload TEXT NOT NULL,
                PRIMARY KEY (incident_id, seq)
            ) WITHOUT ROWID""",
            """CREATE TRIGGER incident_events_append_only_update BEFORE UPDATE ON incident_events
               BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END""",
            """CREATE TRIGGER incident_events_append_only_delete BEFORE DELETE ON incident_events
               BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END""",
            """CREATE TABLE rollup_cell_day (
                cell INTEGER NOT NULL, day TEXT NOT NULL, item_code TEXT NOT NULL, bucket TEXT NOT NULL,
                district_code TEXT NOT NULL, township_code TEXT NOT NULL, n INTEGER NOT NULL,
                PRIMARY KEY (cell, day, item_code, bucket, township_code)
            ) WITHOUT ROWID""",
            "CREATE INDEX rollup_day ON rollup_cell_day(day, township_code)",
            "CREATE TABLE number_seq (key TEXT PRIMARY KEY, last INTEGER NOT NULL)",
        ],
    ),
    (
        "0003_patrol_tasks",
        [
            """CREATE TABLE patrol_tasks (
                id TEXT PRIMARY KEY, district_code TEXT NOT NULL, township_code TEXT NOT NULL,
                team_id INTEGER NOT NULL, cells TEXT NOT NULL, shift_start INTEGER NOT NULL,
                shift_end INTEGER NOT NULL,
                status TEXT NOT NULL CHECK (status IN ('planned', 'active', 'done', 'cancelled')),
                created_by TEXT NOT NULL, created_at INTEGER NOT NULL, note TEXT NOT NULL
            )""",
            "CREATE INDEX patrol_tasks_team ON patrol_tasks(team_id, shift_start)",
            "CREATE INDEX patrol_tasks_township ON patrol_tasks(township_code, shift_start)",
        ],
    ),
    ("0004_closed_index", ["CREATE INDEX incidents_state_closed ON incidents(state, closed_at)"]),
    (
        # heat maps read a day range of the rollups from the index alone (140 ms → 18 ms at 1M)
        "0005_rollup_covering_index",
        [
            "DROP INDEX rollup_day",
            "CREATE INDEX rollup_day_cover"
            " ON rollup_cell_day(day, cell, n, item_code, bucket, township_code)",
        ],
    ),
    (
        "0006_patrol_execution",
        [
            "ALTER TABLE patrol_tasks ADD COLUMN started_at INTEGER",
            "ALTER TABLE patrol_tasks ADD COLUMN finished_at INTEGER",
            """CREATE TABLE patrol_visits (
                task_id TEXT NOT NULL REFERENCES patrol_tasks(id), team_id INTEGER NOT NULL,
                township_code TEXT NOT NULL, cell INTEGER NOT NULL, at INTEGER NOT NULL,
                source TEXT NOT NULL CHECK (source IN ('checkin', 'track')),
                PRIMARY KEY (task_id, cell)
            ) WITHOUT ROWID""",
            "CREATE INDEX patrol_visits_township ON patrol_visits(township_code, at)",
            "CREATE INDEX patrol_visits_team ON patrol_visits(team_id, at)",
            """CREATE TABLE premises (
                id TEXT PRIMARY KEY, district_code TEXT NOT NULL, name TEXT NOT NULL, kind TEXT NOT NULL,
                lat REAL NOT NULL, lng REAL NOT NULL, cell INTEGER NOT NULL, village_code TEXT NOT NULL,
                township_code TEXT NOT NULL, items TEXT NOT NULL, departments TEXT NOT NULL
            )""",
            "CREATE INDEX premises_township ON premises(township_code)",
            """CREATE TABLE inspections (
                id TEXT PRIMARY KEY, premises_id TEXT NOT NULL REFERENCES premises(id),
                department TEXT NOT NULL, planned_on TEXT NOT NULL,
                status TEXT NOT NULL CHECK (status IN ('planned', 'done', 'cancelled')),
                items TEXT NOT NULL, visit_id TEXT, created_by TEXT NOT NULL, created_at INTEGER NOT NULL
            )""",
            "CREATE INDEX inspections_premises ON inspections(premises_id, planned_on)",
            "CREATE INDEX inspections_day ON inspections(planned_on)",
        ],
    ),
    (
        "0007_users_audit",
        [
            """CREATE TABLE users (
                username TEXT PRIMARY KEY, display_name TEXT NOT NULL, role TEXT NOT NULL,
                township_code TEXT, team_id INTEGER, department TEXT, password_hash TEXT NOT NULL,
                active INTEGER NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL
            )""",
            """CREATE TABLE audit_log (
                seq INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, actor TEXT NOT NULL,
                role TEXT NOT NULL, action TEXT NOT NULL, entity TEXT NOT NULL, entity_id TEXT NOT NULL,
                before TEXT NOT NULL, after TEXT NOT NULL
            )""",
            "CREATE INDEX audit_log_at ON audit_log(at)",
            """CREATE TRIGGER audit_log_append_only_update BEFORE UPDATE ON audit_log
               BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END""",
            """CREATE TRIGGER audit_log_append_only_delete BEFORE DELETE ON audit_log
               BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END""",
        ],
    ),
    (
        # INSERT OR REPLACE deletes the old row without firing a delete trigger (unless the
        # writer's own connection turns recursive triggers on): refuse any insert over a
        # stored row instead
        "0008_append_only_no_replace",
        [
            """CREATE TRIGGER incident_events_no_replace BEFORE INSERT ON incident_events
               WHEN EXISTS (SELECT 1 FROM incident_events
                            WHERE incident_id = NEW.incident_id AND seq = NEW.seq)
               BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END""",
            """CREATE TRIGGER audit_log_no_replace BEFORE INSERT ON audit_log
               WHEN NEW.seq IS NOT NULL AND EXISTS (SELECT 1 FROM audit_log WHERE seq = NEW.seq)
               BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END""",
        ],
    ),
    (
        "0009_sign_in_failures",
        [
            """CREATE TABLE sign_in_failures (
                key TEXT PRIMARY KEY, failures INTEGER NOT NULL, first_at INTEGER NOT NULL,
                last_at INTEGER NOT NULL, locked INTEGER NOT NULL
            )""",
        ],
    ),
    # the audit page reads the latest events of every incident: without it, a scan of all
    # events (1M incidents: 1.1 s a query)
    ("0010_events_at_index", ["CREATE INDEX incident_events_at ON incident_events(at)"]),
    # a patrol's reports (the execution page): without it, a scan of every incident (1M: 1–2 s);
    # partial, as most incidents belong to no patrol
    (
        "0011_patrol_task_index",
        ["CREATE INDEX incidents_patrol_task ON incidents(patrol_task_id) WHERE patrol_task_id IS NOT NULL"],
    ),
    # published evaluations (月晾晒): immutable, a correction is a new version
    (
        "0012_evaluations",
        [
            """CREATE TABLE evaluations (
                district_code TEXT NOT NULL, period TEXT NOT NULL,
                version INTEGER NOT NULL CHECK (version >= 1),
                published_at INTEGER NOT NULL, published_by TEXT NOT NULL, role TEXT NOT NULL,
                reason TEXT NOT NULL, inputs_hash TEXT NOT NULL, received INTEGER NOT NULL,
                figures TEXT NOT NULL,
                PRIMARY KEY (district_code, period, version)
            )""",
            """CREATE TRIGGER evaluations_immutable_update BEFORE UPDATE ON evaluations
               BEGIN SELECT RAISE(ABORT, 'a published evaluation is immutable'); END""",
            """CREATE TRIGGER evaluations_immutable_delete BEFORE DELETE ON evaluations
               BEGIN SELECT RAISE(ABORT, 'a published evaluation is immutable'); END""",
        ],
    ),
    # approvals and callbacks: a pending 延期/挂账 request, the stopped clock of a hold, the
    # first callback's verdict (回访) and how many callbacks were made
    (
        "0013_requests_callbacks",
        [
            "ALTER TABLE incidents ADD COLUMN request TEXT",
            "ALTER TABLE incidents ADD COLUMN paused_at INTEGER",
            "ALTER TABLE incidents ADD COLUMN satisfaction TEXT",
            "ALTER TABLE incidents ADD COLUMN callback_count INTEGER NOT NULL DEFAULT 0",
        ],
    ),
    # the handover states (移交 → accepted, returned, disputed): SQLite cannot change a CHECK
    # constraint in place, so the table is rebuilt (SQLite's documented twelve-step procedure:
    # a new table, the rows copied, the old one dropped, the new one renamed, indexes again)
    (
        "0014_handover_states",
        [
            _INCIDENTS_0014,
            f"INSERT INTO incidents_0014 ({_COLUMNS_0014}) SELECT {_COLUMNS_0014} FROM incidents",
            "DROP TABLE incidents",
            "ALTER TABLE incidents_0014 RENAME TO incidents",
            "CREATE UNIQUE INDEX incidents_external ON incidents(district_code, external_id)"
            " WHERE external_id IS NOT NULL",
            "CREATE INDEX incidents_state_township ON incidents(state, township_code)",
            "CREATE INDEX incidents_item_cell ON incidents(item_code, cell)",
            "CREATE INDEX incidents_reported ON incidents(reported_at)",
            "CREATE INDEX incidents_state_closed ON incidents(state, closed_at)",
            "CREATE INDEX incidents_patrol_task ON incidents(patrol_task_id)"
            " WHERE patrol_task_id IS NOT NULL",
        ],
    ),
    # 督办: the supervision level a case has been raised to (0 none, 1 一般, 2 重点, 3 挂牌)
    (
        "0015_supervision",
        ["ALTER TABLE incidents ADD COLUMN supervision_level INTEGER NOT NULL DEFAULT 0"],
    ),
    # the HTTP API: client systems with hashed keys, the incidents each created, and the outbox
    # of status changes for each (written in the transaction of the change)
    (
        "0016_api",
        [
            """CREATE TABLE api_clients (
                name TEXT PRIMARY KEY, role TEXT NOT NULL, township_code TEXT, team_id INTEGER,
                department TEXT, key_hash TEXT NOT NULL UNIQUE, source TEXT NOT NULL, crs TEXT NOT NULL,
                webhook_url TEXT NOT NULL, rate_per_minute INTEGER NOT NULL,
                created_at INTEGER NOT NULL, revoked_at INTEGER
            )""",
            """CREATE TABLE api_requests (
                incident_id TEXT PRIMARY KEY, client TEXT NOT NULL REFERENCES api_clients(name),
                token TEXT NOT NULL UNIQUE, created_at INTEGER NOT NULL
            )""",
            """CREATE TABLE api_outbox (
                id INTEGER PRIMARY KEY AUTOINCREMENT, client TEXT NOT NULL, incident_id TEXT NOT NULL,
                seq INTEGER NOT NULL, action TEXT NOT NULL, to_state TEXT NOT NULL, at INTEGER NOT NULL,
                attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at INTEGER NOT NULL,
                delivered_at INTEGER, last_error TEXT NOT NULL DEFAULT '',
                UNIQUE (client, incident_id, seq)
            )""",
            "CREATE INDEX api_outbox_pending ON api_outbox(client, delivered_at, id)",
        ],
    ),
    # evidence (证据材料): each content once, rows append-only like the event log
    (
        "0017_evidence",
        [
            "CREATE TABLE evidence_content (sha256 TEXT PRIMARY KEY, data BLOB NOT NULL)",
            """CREATE TABLE evidence (
                id TEXT PRIMARY KEY, incident_id TEXT NOT NULL, stage TEXT NOT NULL,
                filename TEXT NOT NULL, content_type TEXT NOT NULL, size INTEGER NOT NULL,
                sha256 TEXT NOT NULL REFERENCES evidence_content(sha256), uploaded_by TEXT NOT NULL,
                role TEXT NOT NULL, at INTEGER NOT NULL, note TEXT NOT NULL
            )""",
            "CREATE INDEX evidence_incident ON evidence(incident_id, at)",
            """CREATE TRIGGER evidence_append_only_update BEFORE UPDATE ON evidence
               BEGIN SELECT RAISE(ABORT, 'evidence is kept as it was given'); END""",
            """CREATE TRIGGER evidence_append_only_delete BEFORE DELETE ON evidence
               BEGIN SELECT RAISE(ABORT, 'evidence is kept as it was given'); END""",
        ],
    ),
    # entered scores of the composite evaluation (综合评价): append-only, the newest counts
    (
        "0018_score_entries",
        [
            """CREATE TABLE score_entries (
                id TEXT PRIMARY KEY, district_code TEXT NOT NULL, period TEXT NOT NULL,
                township_code TEXT NOT NULL, item_code TEXT NOT NULL, points REAL NOT NULL,
                evidence TEXT NOT NULL, filename TEXT NOT NULL, sha256 TEXT NOT NULL,
                entered_by TEXT NOT NULL, role TEXT NOT NULL, at INTEGER NOT NULL
            )""",
            "CREATE INDEX score_entries_period ON score_entries(district_code, period, at)",
            """CREATE TRIGGER score_entries_append_only_update BEFORE UPDATE ON score_entries
               BEGIN SELECT RAISE(ABORT, 'an entered score is kept as it was entered'); END""",
            """CREATE TRIGGER score_entries_append_only_delete BEFORE DELETE ON score_entries
               BEGIN SELECT RAISE(ABORT, 'an entered score is kept as it was entered'); END""",
        ],
    ),
]


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
    def allocate_numbers(self, counts: Mapping[str, int]) -> dict[str, int]:
        """Reserve consecutive incident numbers per key in one transaction; return each first."""
        firsts: dict[str, int] = {}
        with self._write() as conn:
            for key, n in counts.items():
                row = conn.execute(
                    "INSERT INTO number_seq (key, last) VALUES (?, ?)"
                    " ON CONFLICT (key) DO UPDATE SET last = last + excluded.last RETURNING last",
                    (key, n),
                ).fetchone()
                firsts[key] = int(row[0]) - n + 1
        return firsts

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
                _insert_audit(conn, batch.audit)
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

    def _write_all(
        self,
        statements: Sequence[tuple[str, Sequence[Any]]],
        audit: Sequence[AuditRow] = (),
        *,
        check: Callable[[list[int]], None] | None = None,
    ) -> list[int]:
        """Run statements and append audit rows in one transaction (the shared queries' hook)."""
        try:
            with self._write() as conn:
                counts = [conn.execute(sql, params).rowcount for sql, params in statements]
                if check is not None:
                    check(counts)
                _insert_audit(conn, audit)
        except sqlite3.IntegrityError as exc:
            msg = f"already stored: {str(exc).splitlines()[0]}"
            raise DuplicateError(msg) from exc
        return counts

    def _write_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> int:
        """Run one statement per row in one transaction (the shared queries' hook)."""
        try:
            with self._write() as conn:
                return int(conn.executemany(sql, rows).rowcount)
        except sqlite3.IntegrityError as exc:
            msg = f"already stored: {str(exc).splitlines()[0]}"
            raise DuplicateError(msg) from exc

    def _write_batches(self, batches: Sequence[Batch], audit: Sequence[AuditRow] = ()) -> None:
        """Run each statement for each of its rows and append audit rows in one transaction (a hook)."""
        try:
            with self._write() as conn:
                for batch in batches:
                    if isinstance(batch, Bulk):
                        conn.executemany(batch.insert("?"), batch.rows)
                    else:
                        conn.executemany(*batch)
                _insert_audit(conn, audit)
        except sqlite3.IntegrityError as exc:
            msg = f"already stored: {str(exc).splitlines()[0]}"
            raise DuplicateError(msg) from exc

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


def _insert_audit(conn: sqlite3.Connection, rows: Sequence[AuditRow]) -> None:
    conn.executemany(
        "INSERT INTO audit_log (at, actor, role, action, entity, entity_id, before, after)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [(_dt(a.at), a.actor, a.role, a.action, a.entity, a.entity_id, a.before, a.after) for a in rows],
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
