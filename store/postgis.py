"""PostGIS backend: psycopg 3 with a connection pool, geometry columns with GiST, COPY."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import numpy.typing as npt
import psycopg
from psycopg_pool import ConnectionPool

from store.protocol import StoreError
from store.rows import DistrictRow, TeamRow, TownshipRow, VillageRow

MIGRATIONS: list[tuple[str, str]] = [
    (
        "0001_areas",
        """
        CREATE EXTENSION IF NOT EXISTS postgis;
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE district (
            code TEXT PRIMARY KEY, name TEXT NOT NULL, name_en TEXT NOT NULL,
            h3_resolution INTEGER NOT NULL, is_demo BOOLEAN NOT NULL
        );
        CREATE TABLE townships (
            code TEXT PRIMARY KEY, district_code TEXT NOT NULL, name TEXT NOT NULL,
            name_en TEXT NOT NULL, kind TEXT NOT NULL, empowerment_class TEXT NOT NULL,
            geom geometry(MultiPolygon, 4326) NOT NULL
        );
        CREATE INDEX townships_geom ON townships USING gist (geom);
        CREATE TABLE villages (
            code TEXT PRIMARY KEY, township_code TEXT NOT NULL REFERENCES townships(code),
            name TEXT NOT NULL, kind TEXT NOT NULL, geom geometry(MultiPolygon, 4326) NOT NULL
        );
        CREATE INDEX villages_township ON villages(township_code);
        CREATE INDEX villages_geom ON villages USING gist (geom);
        CREATE TABLE teams (
            id INTEGER PRIMARY KEY, village_code TEXT NOT NULL UNIQUE REFERENCES villages(code),
            name TEXT NOT NULL, captain TEXT NOT NULL, members JSONB NOT NULL
        );
        CREATE TABLE cells (
            cell BIGINT PRIMARY KEY, village_code TEXT NOT NULL REFERENCES villages(code)
        );
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


class PostGISStore:
    """Store on PostgreSQL with PostGIS, shared by any number of app processes."""

    def __init__(self, url: str, *, min_size: int = 1, max_size: int = 8, timeout_s: float = 10.0) -> None:
        self.url = url
        try:
            # one direct attempt first: a clear, fast error instead of the pool's retries
            psycopg.connect(url, connect_timeout=int(timeout_s)).close()
        except psycopg.Error as exc:
            msg = f"cannot reach PostGIS at {_redact(url)}: {str(exc).strip().splitlines()[0]}"
            raise StoreError(msg) from exc
        try:
            self._pool = ConnectionPool(
                url, min_size=min_size, max_size=max_size, timeout=timeout_s, open=False
            )
            self._pool.open(wait=True, timeout=timeout_s)
        except (psycopg.Error, Exception) as exc:  # the pool raises PoolTimeout on no server
            msg = f"cannot reach PostGIS at {_redact(url)}: {exc}"
            raise StoreError(msg) from exc

    @contextmanager
    def _tx(self) -> Iterator[psycopg.Connection[Any]]:
        try:
            with self._pool.connection() as conn, conn.transaction():
                yield conn
        except psycopg.OperationalError as exc:
            msg = f"PostGIS at {_redact(self.url)} failed: {exc}"
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
        with self._tx() as conn, conn.cursor() as cur:
            for statement in _CLEAR_AREAS:
                cur.execute(statement)
            cur.execute(
                "INSERT INTO district (code, name, name_en, h3_resolution, is_demo)"
                " VALUES (%s, %s, %s, %s, %s)",
                (district.code, district.name, district.name_en, district.h3_resolution, district.is_demo),
            )
            cur.executemany(
                "INSERT INTO townships (code, district_code, name, name_en, kind, empowerment_class, geom)"
                " VALUES (%s, %s, %s, %s, %s, %s, ST_Multi(ST_GeomFromWKB(%s, 4326)))",
                [
                    (t.code, district.code, t.name, t.name_en, t.kind, t.empowerment_class, t.geometry_wkb)
                    for t in townships
                ],
            )
            cur.executemany(
                "INSERT INTO villages (code, township_code, name, kind, geom)"
                " VALUES (%s, %s, %s, %s, ST_Multi(ST_GeomFromWKB(%s, 4326)))",
                [(v.code, v.township_code, v.name, v.kind, v.geometry_wkb) for v in villages],
            )
            cur.executemany(
                "INSERT INTO teams (id, village_code, name, captain, members) VALUES (%s, %s, %s, %s, %s)",
                [
                    (t.id, t.village_code, t.name, t.captain, json.dumps(list(t.members), ensure_ascii=False))
                    for t in teams
                ],
            )
            with cur.copy("COPY cells (cell, village_code) FROM STDIN") as copy:
                for cell, village in zip(
                    np.asarray(cells, dtype=np.int64).tolist(), cell_villages, strict=True
                ):
                    copy.write_row((cell, village))

    def district(self) -> DistrictRow | None:
        """The district held, or None when the store is empty."""
        with self._tx() as conn:
            row = conn.execute(
                "SELECT code, name, name_en, h3_resolution, is_demo FROM district LIMIT %s", (1,)
            ).fetchone()
        if row is None:
            return None
        return DistrictRow(row[0], row[1], row[2], int(row[3]), bool(row[4]))

    def townships(self) -> list[TownshipRow]:
        """All townships, by code."""
        with self._tx() as conn:
            rows = conn.execute(
                "SELECT code, name, name_en, kind, empowerment_class, ST_AsBinary(geom)"
                " FROM townships ORDER BY code"
            ).fetchall()
        return [TownshipRow(r[0], r[1], r[2], r[3], r[4], bytes(r[5])) for r in rows]

    def villages(self, township_code: str | None = None) -> list[VillageRow]:
        """Village grids, by code; only one township's when given."""
        with self._tx() as conn:
            rows = conn.execute(
                "SELECT code, township_code, name, kind, ST_AsBinary(geom) FROM villages"
                " WHERE (%s::text IS NULL OR township_code = %s) ORDER BY code",
                (township_code, township_code),
            ).fetchall()
        return [VillageRow(r[0], r[1], r[2], r[3], bytes(r[4])) for r in rows]

    def teams(self, township_code: str | None = None) -> list[TeamRow]:
        """Grid teams, by village code; only one township's when given."""
        with self._tx() as conn:
            rows = conn.execute(
                "SELECT t.id, t.village_code, t.name, t.captain, t.members FROM teams t"
                " JOIN villages v ON v.code = t.village_code"
                " WHERE (%s::text IS NULL OR v.township_code = %s) ORDER BY t.village_code",
                (township_code, township_code),
            ).fetchall()
        return [TeamRow(r[0], r[1], r[2], r[3], tuple(r[4])) for r in rows]

    def cell_map(self) -> tuple[npt.NDArray[np.int64], list[str]]:
        """Sorted cells and the code of each cell's owning village."""
        with self._tx() as conn:
            rows = conn.execute("SELECT cell, village_code FROM cells ORDER BY cell").fetchall()
        return np.array([r[0] for r in rows], dtype=np.int64), [r[1] for r in rows]

    def area_counts(self) -> dict[str, int]:
        """Counts of townships, villages, teams and cells."""
        with self._tx() as conn:
            row = conn.execute(
                "SELECT (SELECT count(*) FROM townships), (SELECT count(*) FROM villages),"
                " (SELECT count(*) FROM teams), (SELECT count(*) FROM cells)"
            ).fetchone()
        assert row is not None
        return {"townships": row[0], "villages": row[1], "teams": row[2], "cells": row[3]}


def _redact(url: str) -> str:
    """Hide a password in a connection URL for messages."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        user = creds.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}" if ":" in creds else f"{scheme}://{user}@{host}"
    return url
