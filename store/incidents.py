"""Incidents, their events and rollups, written once for both backends.

Inserting new incidents stays with each backend: bulk loading (binary COPY; executemany with
index rebuilds) is where the engines differ. The rollup table's key differs too (PostgreSQL
keys it by district first): each backend names it in ``_rollup_key``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import pandas as pd

from store.api import ApiTables
from store.batch import checked_incident_columns, incident_frame_from_rows
from store.protocol import VersionConflict
from store.rows import (
    DATETIME_COLUMNS,
    EVENT_COLUMNS,
    INCIDENT_COLUMNS,
    EventRow,
    IncidentQuery,
    IncidentRow,
    RollupQuery,
    state_bucket,
)
from store.shared import where_given

SELECT_INCIDENT = f"SELECT {', '.join(INCIDENT_COLUMNS)} FROM incidents"
SELECT_EVENTS = f"SELECT {', '.join(EVENT_COLUMNS)} FROM incident_events"
_DT_INDEXES = tuple(i for i, c in enumerate(INCIDENT_COLUMNS) if c in DATETIME_COLUMNS)
_EVENT_AT = EVENT_COLUMNS.index("at")
_UPDATE_INCIDENT = (
    "UPDATE incidents SET "
    + ", ".join(f"{c} = ?" for c in INCIDENT_COLUMNS[1:])
    + " WHERE district_code = ? AND id = ? AND version = ?"
)
INSERT_EVENT = (
    f"INSERT INTO incident_events ({', '.join(EVENT_COLUMNS)}) VALUES ({', '.join('?' * len(EVENT_COLUMNS))})"
)


class IncidentTables(ApiTables):
    """The incident, event and rollup queries (but inserting new incidents); mixed into each store.

    A change to an incident queues its status changes for the API clients (the outbox) in the
    same transaction, hence the API tables below it.
    """

    _rollup_key = "cell, day, item_code, bucket, township_code"  # the rollup table's primary key

    # -- hooks each backend supplies -------------------------------------------------------------
    def _json_text(self, value: Any) -> str:
        """A JSON column read back as the text it was given."""
        raise NotImplementedError

    # -- built on the hooks ----------------------------------------------------------------------
    def _where(self, q: IncidentQuery | RollupQuery) -> tuple[str, list[Any]]:
        """WHERE clause (with the engine's marks) and parameters of a query's conditions."""
        clauses: list[str] = []
        params: list[Any] = []
        for column, op, value in q.conditions():
            if op == "in":
                clause, values = self._in_list(column, value)
                clauses.append(clause)
                params.extend(values)
            else:
                clauses.append(f"{column} {op} ?")
                params.append(self._db_time(value) if isinstance(value, datetime) else value)
        return self._q(" WHERE " + " AND ".join(clauses) if clauses else ""), params

    def _incident(self, row: Sequence[Any]) -> IncidentRow:
        values = list(row)
        for i in _DT_INDEXES:
            values[i] = self._opt_py_time(values[i])
        return IncidentRow(*values)

    def _incident_in(self, row: IncidentRow) -> list[Any]:
        values: list[Any] = list(row)
        for i in _DT_INDEXES:
            values[i] = self._opt_db_time(values[i])
        return values

    def _event_in(self, event: EventRow) -> list[Any]:
        values: list[Any] = list(event)
        values[_EVENT_AT] = self._db_time(values[_EVENT_AT])
        return values

    def _upsert_rollup(self) -> str:
        return self._q(
            "INSERT INTO rollup_cell_day (district_code, cell, day, item_code, bucket, township_code, n)"
            f" VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT ({self._rollup_key})"
            " DO UPDATE SET n = rollup_cell_day.n + excluded.n"
        )

    def allocate_numbers(self, counts: Mapping[str, int]) -> dict[str, int]:
        """Reserve consecutive incident numbers per key in one transaction; return each first."""
        firsts: dict[str, int] = {}
        upsert = self._q(
            "INSERT INTO number_seq (key, last) VALUES (?, ?)"
            " ON CONFLICT (key) DO UPDATE SET last = number_seq.last + excluded.last RETURNING last"
        )
        with self._unit_of_work() as cur:
            for key, n in counts.items():
                firsts[key] = int(cur.execute(upsert, (key, n)).fetchone()[0]) - n + 1
        return firsts

    def update_incident(self, row: IncidentRow, expected_version: int, events: Sequence[EventRow]) -> None:
        """Write a changed incident if nobody changed it since ``expected_version``.

        Its new events, their outbox rows and its rollup moves commit with it.
        The state and township it had are read first: the UPDATE only applies while the version
        is still ``expected_version``, so what was read is what is replaced.

        Raises
        ------
        VersionConflict
            If the stored version is not ``expected_version`` (nothing is written).
        """
        found = self._read(
            self._q("SELECT state, version, township_code FROM incidents WHERE district_code = ? AND id = ?"),
            (row.district_code, row.id),
        )

        def conflict(version: Any) -> VersionConflict:
            now = "" if version is None else f"now version {version}, "
            msg = f"incident {row.number} was changed by someone else ({now}expected {expected_version})"
            return VersionConflict(msg)

        if not found or found[0][1] != expected_version:
            raise conflict(found[0][1] if found else "none")
        old_state, _, old_township = found[0]
        statements: list[tuple[str, Sequence[Any]]] = [
            (
                self._q(_UPDATE_INCIDENT),
                (*self._incident_in(row)[1:], row.district_code, row.id, expected_version),
            )
        ]
        statements += [(self._q(INSERT_EVENT), self._event_in(e)) for e in events]
        outbox, queued = self._outbox_statement(events)
        statements += [(outbox, params) for params in queued]
        old_bucket, new_bucket = state_bucket(old_state), state_bucket(row.state)
        if (old_bucket, old_township) != (new_bucket, row.township_code):  # a dispatch may move the township
            key = (row.district_code, row.cell, row.day, row.item_code)
            upsert = self._upsert_rollup()
            statements += [
                (upsert, (*key, old_bucket, old_township, -1)),
                (upsert, (*key, new_bucket, row.township_code, 1)),
            ]

        def changed_once(counts: list[int]) -> None:
            if counts[0] != 1:
                raise conflict(None)  # changed between the read and the write

        self._write_all(statements, check=changed_once)

    def _event(self, row: Sequence[Any]) -> EventRow:
        values = list(row)
        values[_EVENT_AT] = self._py_time(values[_EVENT_AT])
        values[-1] = self._json_text(values[-1])
        return EventRow._make(values)

    def get_incident(self, incident_id: str) -> IncidentRow | None:
        """The incident with this id, or None."""
        rows = self._read(self._q(SELECT_INCIDENT + " WHERE id = ?"), (incident_id,))
        return self._incident(rows[0]) if rows else None

    def find_incident(self, number: str) -> IncidentRow | None:
        """The incident with this human number, or None."""
        rows = self._read(self._q(SELECT_INCIDENT + " WHERE number = ?"), (number,))
        return self._incident(rows[0]) if rows else None

    def list_incidents(self, query: IncidentQuery) -> list[IncidentRow]:
        """Incidents matching ``query``, newest (or oldest) first, paged."""
        where, params = self._where(query)
        sql = SELECT_INCIDENT + where + query.order() + self._q(" LIMIT ? OFFSET ?")
        return [self._incident(r) for r in self._read(sql, (*params, query.limit, query.offset))]

    def count_incidents(self, query: IncidentQuery) -> int:
        """Number of incidents matching ``query`` (ignores limit and offset)."""
        where, params = self._where(query)
        return int(self._read("SELECT count(*) FROM incidents" + where, params)[0][0])

    def count_by_cell(self, query: IncidentQuery) -> list[tuple[int, int]]:
        """Counts per cell of the incidents matching ``query`` (for filters rollups lack)."""
        where, params = self._where(query)
        sql = "SELECT cell, count(*) FROM incidents" + where + " GROUP BY cell"
        return [(int(c), int(n)) for c, n in self._read(sql, params)]

    def _columns(self, query: IncidentQuery, columns: Sequence[str]) -> tuple[list[str], list[Any]]:
        columns = checked_incident_columns(columns)
        where, params = self._where(query)
        return columns, self._read("SELECT " + ", ".join(columns) + " FROM incidents" + where, params)

    def incident_columns(self, query: IncidentQuery, columns: Sequence[str]) -> dict[str, list[Any]]:
        """Some columns of every incident matching ``query`` (no limit), for figures."""
        names, rows = self._columns(query, columns)
        out: dict[str, list[Any]] = {c: [r[i] for r in rows] for i, c in enumerate(names)}
        for c in DATETIME_COLUMNS & set(names):
            out[c] = [self._opt_py_time(v) for v in out[c]]
        return out

    def incident_frame(self, query: IncidentQuery, columns: Sequence[str]) -> pd.DataFrame:
        """Some columns of every incident matching ``query`` as a frame (no limit), for figures."""
        names, rows = self._columns(query, columns)
        return incident_frame_from_rows(rows, names)

    def state_counts(self, district_code: str | None = None) -> dict[str, int]:
        """Number of incidents in each state (of one district when given)."""
        where, params = where_given((("district_code = ?", district_code),))
        sql = self._q(f"SELECT state, count(*) FROM incidents{where} GROUP BY state")
        return {s: int(n) for s, n in self._read(sql, params)}

    def existing_external_ids(self, district_code: str, external_ids: Sequence[str]) -> set[str]:
        """Which of these external ids are already stored."""
        found: set[str] = set()
        for clause, values in self._in_chunks("external_id", external_ids):
            sql = self._q("SELECT external_id FROM incidents WHERE district_code = ? AND " + clause)
            found.update(r[0] for r in self._read(sql, (district_code, *values)))
        return found

    # -- events ----------------------------------------------------------------------------------
    def events(self, incident_id: str) -> list[EventRow]:
        """The event log of one incident, in order."""
        rows = self._read(self._q(SELECT_EVENTS + " WHERE incident_id = ? ORDER BY seq"), (incident_id,))
        return [self._event(r) for r in rows]

    def events_of(self, incident_ids: Sequence[str]) -> list[EventRow]:
        """The event logs of several incidents, by incident id then seq (a copy reads them in pages)."""
        out: list[EventRow] = []
        for clause, values in self._in_chunks("incident_id", incident_ids):
            out.extend(
                self._event(r) for r in self._read(self._q(SELECT_EVENTS + " WHERE " + clause), values)
            )
        return sorted(out, key=lambda e: (e.incident_id, e.seq))

    def recent_events(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        actor: str | None = None,
        limit: int = 1000,
    ) -> list[EventRow]:
        """Incident events of every incident, newest first, filtered by time and actor."""
        # only the conditions given, so that the planner can walk the index on ``at``
        # (``? IS NULL OR at >= ?`` hides it)
        where, params = where_given(
            (
                ("at >= ?", self._opt_db_time(since)),
                ("at < ?", self._opt_db_time(until)),
                ("actor = ?", actor),
            )
        )
        sql = self._q(SELECT_EVENTS + where + " ORDER BY at DESC, incident_id, seq DESC LIMIT ?")
        return [self._event(r) for r in self._read(sql, (*params, limit))]

    # -- rollups ---------------------------------------------------------------------------------
    def rollup_by_cell(self, query: RollupQuery) -> list[tuple[int, int]]:
        """Counts per cell from the rollups (never a scan of incidents)."""
        where, params = self._where(query)
        sql = "SELECT cell, sum(n) FROM rollup_cell_day" + where + " GROUP BY cell HAVING sum(n) > 0"
        return [(int(c), int(n)) for c, n in self._read(sql, params)]

    def rollup_rows(self) -> list[tuple[int, str, str, str, str, int]]:
        """Every non-zero rollup row (cell, day, item, bucket, township, n), sorted."""
        rows = self._read(
            "SELECT cell, day, item_code, bucket, township_code, n FROM rollup_cell_day WHERE n <> 0"
            " ORDER BY cell, day, item_code, bucket, township_code",
            (),
        )
        return [(int(r[0]), r[1], r[2], r[3], r[4], int(r[5])) for r in rows]
