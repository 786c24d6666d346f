"""SQLite backend: the embedded default (WAL, one writer lock, migrations table)."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import numpy.typing as npt

from store.protocol import StoreError
from store.rows import DistrictRow, TeamRow, TownshipRow, VillageRow

MIGRATIONS: list[tuple[str, str]] = [
    (
        "0001_areas",
        """
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
        """,
    ),
]


_CLEAR_AREAS = (
    "DELETE FROM cells",
    "DELETE FROM teams",
    "DELETE FROM villages",
    "DELETE FROM townships",
    "DELETE FROM district",
)


def sqlite_path_from_url(url: str) -> Path:
    """Return the file path of a ``sqlite:///path`` URL or a bare path."""
    if url.startswith("sqlite:///"):
        return Path(url[len("sqlite:///") :])
    if url.startswith("sqlite://"):
        msg = f"SQLite URL must look like sqlite:///path/to/file.sqlite, got {url!r}"
        raise ValueError(msg)
    return Path(url)


class SQLiteStore:
    """Store on one SQLite file.

    Each thread gets its own connection; writes are serialised by one process-wide lock
    and ``BEGIN IMMEDIATE``, so concurrent Streamlit sessions never see a half write.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
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
                conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.execute("PRAGMA foreign_keys=ON")
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
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            else:
                try:
                    conn.execute("COMMIT")
                except sqlite3.Error as exc:
                    conn.execute("ROLLBACK")
                    msg = f"SQLite store {self.path}: commit failed: {exc}"
                    raise StoreError(msg) from exc

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
                for name, sql in MIGRATIONS:
                    if name in done:
                        continue
                    for statement in sql.split(";"):
                        if statement.strip():
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
    def replace_areas(
        self,
        district: DistrictRow,
        townships: Sequence[TownshipRow],
        villages: Sequence[VillageRow],
        teams: Sequence[TeamRow],
        cells: npt.NDArray[np.int64],
        cell_villages: Sequence[str],
    ) -> None:
        """Replace the district, its areas, teams and cell map in one transaction."""
        with self._write() as conn:
            for statement in _CLEAR_AREAS:
                conn.execute(statement)
            conn.execute(
                "INSERT INTO district (code, name, name_en, h3_resolution, is_demo) VALUES (?, ?, ?, ?, ?)",
                (
                    district.code,
                    district.name,
                    district.name_en,
                    district.h3_resolution,
                    int(district.is_demo),
                ),
            )
            conn.executemany(
                "INSERT INTO townships (code, district_code, name, name_en, kind, empowerment_class, geom)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (t.code, district.code, t.name, t.name_en, t.kind, t.empowerment_class, t.geometry_wkb)
                    for t in townships
                ],
            )
            conn.executemany(
                "INSERT INTO villages (code, township_code, name, kind, geom) VALUES (?, ?, ?, ?, ?)",
                [(v.code, v.township_code, v.name, v.kind, v.geometry_wkb) for v in villages],
            )
            conn.executemany(
                "INSERT INTO teams (id, village_code, name, captain, members) VALUES (?, ?, ?, ?, ?)",
                [
                    (t.id, t.village_code, t.name, t.captain, json.dumps(list(t.members), ensure_ascii=False))
                    for t in teams
                ],
            )
            conn.executemany(
                "INSERT INTO cells (cell, village_code) VALUES (?, ?)",
                zip(np.asarray(cells, dtype=np.int64).tolist(), cell_villages, strict=True),
            )

    def district(self) -> DistrictRow | None:
        """The district held, or None when the store is empty."""
        row = (
            self._conn()
            .execute("SELECT code, name, name_en, h3_resolution, is_demo FROM district LIMIT 1")
            .fetchone()
        )
        if row is None:
            return None
        return DistrictRow(row[0], row[1], row[2], int(row[3]), bool(row[4]))

    def townships(self) -> list[TownshipRow]:
        """All townships, by code."""
        rows = self._conn().execute(
            "SELECT code, name, name_en, kind, empowerment_class, geom FROM townships ORDER BY code"
        )
        return [TownshipRow(r[0], r[1], r[2], r[3], r[4], bytes(r[5])) for r in rows]

    def villages(self, township_code: str | None = None) -> list[VillageRow]:
        """Village grids, by code; only one township's when given."""
        rows = self._conn().execute(
            "SELECT code, township_code, name, kind, geom FROM villages"
            " WHERE (? IS NULL OR township_code = ?) ORDER BY code",
            (township_code, township_code),
        )
        return [VillageRow(r[0], r[1], r[2], r[3], bytes(r[4])) for r in rows]

    def teams(self, township_code: str | None = None) -> list[TeamRow]:
        """Grid teams, by village code; only one township's when given."""
        rows = self._conn().execute(
            "SELECT t.id, t.village_code, t.name, t.captain, t.members FROM teams t"
            " JOIN villages v ON v.code = t.village_code"
            " WHERE (? IS NULL OR v.township_code = ?) ORDER BY t.village_code",
            (township_code, township_code),
        )
        return [TeamRow(r[0], r[1], r[2], r[3], tuple(json.loads(r[4]))) for r in rows]

    def cell_map(self) -> tuple[npt.NDArray[np.int64], list[str]]:
        """Sorted cells and the code of each cell's owning village."""
        rows = self._conn().execute("SELECT cell, village_code FROM cells ORDER BY cell").fetchall()
        return np.array([r[0] for r in rows], dtype=np.int64), [r[1] for r in rows]

    def area_counts(self) -> dict[str, int]:
        """Counts of townships, villages, teams and cells."""
        conn = self._conn()
        return {
            "townships": conn.execute("SELECT count(*) FROM townships").fetchone()[0],
            "villages": conn.execute("SELECT count(*) FROM villages").fetchone()[0],
            "teams": conn.execute("SELECT count(*) FROM teams").fetchone()[0],
            "cells": conn.execute("SELECT count(*) FROM cells").fetchone()[0],
        }
