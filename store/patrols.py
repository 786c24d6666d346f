"""Patrol tasks, the cells they covered, premises and joint inspections, written once for both backends."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from store.protocol import DuplicateError
from store.rows import AuditRow, InspectionRow, PatrolTaskRow, PatrolVisitRow, PremisesRow
from store.shared import SharedSql, where_given

_PATROL_COLUMNS = (
    "id, district_code, township_code, team_id, cells, shift_start, shift_end, status, created_by,"
    " created_at, note, started_at, finished_at"
)
_VISIT_COLUMNS = "task_id, team_id, township_code, cell, at, source"
_PREMISES_COLUMNS = (
    "id, district_code, name, kind, lat, lng, cell, village_code, township_code, items, departments"
)
_INSPECTION_COLUMNS = (
    "id, premises_id, department, planned_on, status, created_by, created_at, items, visit_id"
)


class _NotMoved(Exception):
    """The task was not in the status a transition starts from (its transaction is rolled back)."""


def _marks(columns: str) -> str:
    return ", ".join("?" * len(columns.split(",")))


class PatrolTables(SharedSql):
    """The patrol and inspection queries; mixed into each store."""

    def _insert_all(
        self, batches: Sequence[tuple[str, Sequence[Sequence[Any]]]], refusal: str, audit: Sequence[AuditRow]
    ) -> None:
        """Insert all rows or none, with the audit rows; a key taken already is refused with ``refusal``."""
        try:
            self._write_batches([b for b in batches if b[1]], audit)
        except DuplicateError as exc:
            msg = f"{refusal}: {exc}"
            raise DuplicateError(msg) from exc

    # -- patrol tasks and covered cells --------------------------------------------------------
    def _patrol(self, r: Sequence[Any]) -> PatrolTaskRow:
        cells = tuple(int(c) for c in self._list_out(r[4]))
        return PatrolTaskRow(
            r[0], r[1], r[2], int(r[3]), cells, self._py_time(r[5]), self._py_time(r[6]), r[7], r[8],
            self._py_time(r[9]), r[10], self._opt_py_time(r[11]), self._opt_py_time(r[12]),
        )  # fmt: skip

    def insert_patrol_tasks(
        self,
        tasks: Sequence[PatrolTaskRow],
        audit: Sequence[AuditRow] = (),
        visits: Sequence[PatrolVisitRow] = (),
    ) -> None:
        """Store new patrol tasks, cells they covered already (a past patrol's) and audit rows, together."""
        rows = [
            (
                t.id, t.district_code, t.township_code, t.team_id, self._cells_in(t.cells),
                self._db_time(t.shift_start), self._db_time(t.shift_end), t.status, t.created_by,
                self._db_time(t.created_at), t.note, self._opt_db_time(t.started_at),
                self._opt_db_time(t.finished_at),
            )
            for t in tasks
        ]  # fmt: skip
        sql = self._q(f"INSERT INTO patrol_tasks ({_PATROL_COLUMNS}) VALUES ({_marks(_PATROL_COLUMNS)})")
        self._insert_all([(sql, rows), self._visits_batch(visits)], "patrol task already stored", audit)

    def transition_patrol(
        self, task_id: str, from_status: str, to_status: str, at: datetime, audit: Sequence[AuditRow] = ()
    ) -> bool:
        """Move a patrol task between statuses with its audit rows; False (nothing written) if not there."""
        when = self._db_time(at)
        sql = (
            "UPDATE patrol_tasks SET status = ?,"
            " started_at = CASE WHEN ? = 'active' THEN ? ELSE started_at END,"
            " finished_at = CASE WHEN ? = 'done' THEN ? ELSE finished_at END"
            " WHERE id = ? AND status = ?"
        )
        params = (to_status, to_status, when, to_status, when, task_id, from_status)

        def moved(counts: list[int]) -> None:
            if counts != [1]:
                raise _NotMoved

        try:
            self._write_all([(self._q(sql), params)], audit, check=moved)
        except _NotMoved:
            return False
        return True

    def patrol_task(self, task_id: str) -> PatrolTaskRow | None:
        """One patrol task, or None."""
        rows = self._read(self._q(f"SELECT {_PATROL_COLUMNS} FROM patrol_tasks WHERE id = ?"), (task_id,))
        return self._patrol(rows[0]) if rows else None

    def patrol_tasks(
        self,
        *,
        district_code: str | None = None,
        township_code: str | None = None,
        team_id: int | None = None,
        ending_after: datetime | None = None,
        starting_from: datetime | None = None,
        starting_before: datetime | None = None,
        limit: int | None = 500,
    ) -> list[PatrolTaskRow]:
        """Patrol tasks, newest shift first, filtered by district, township, team, and shift times."""
        where, params = where_given(
            [
                ("district_code = ?", district_code),
                ("township_code = ?", township_code),
                ("team_id = ?", team_id),
                ("shift_end > ?", self._opt_db_time(ending_after)),
                ("shift_start >= ?", self._opt_db_time(starting_from)),
                ("shift_start < ?", self._opt_db_time(starting_before)),
            ]
        )
        sql = f"SELECT {_PATROL_COLUMNS} FROM patrol_tasks{where} ORDER BY shift_start DESC"
        if limit is not None:
            sql, params = sql + " LIMIT ?", (*params, limit)
        return [self._patrol(r) for r in self._read(self._q(sql), params)]

    def _visits_batch(self, visits: Sequence[PatrolVisitRow]) -> tuple[str, list[tuple[Any, ...]]]:
        sql = self._q(
            f"INSERT INTO patrol_visits ({_VISIT_COLUMNS}) VALUES ({_marks(_VISIT_COLUMNS)})"
            " ON CONFLICT (task_id, cell) DO NOTHING"
        )
        rows = [
            (v.task_id, v.team_id, v.township_code, int(v.cell), self._db_time(v.at), v.source)
            for v in visits
        ]
        return sql, rows

    def add_patrol_visits(self, visits: Sequence[PatrolVisitRow]) -> int:
        """Record covered cells; a cell already covered by the same task keeps its first time."""
        return self._write_many(*self._visits_batch(visits))

    def patrol_visits(
        self,
        *,
        township_code: str | None = None,
        team_id: int | None = None,
        task_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        district_code: str | None = None,
    ) -> list[PatrolVisitRow]:
        """Covered cells, oldest first, filtered by township, team, task, time and district."""
        where, params = where_given(
            [
                ("township_code = ?", township_code),
                ("team_id = ?", team_id),
                ("task_id = ?", task_id),
                ("at >= ?", self._opt_db_time(since)),
                ("at < ?", self._opt_db_time(until)),
                ("township_code IN (SELECT code FROM townships WHERE district_code = ?)", district_code),
            ]
        )
        sql = f"SELECT {_VISIT_COLUMNS} FROM patrol_visits{where} ORDER BY at, task_id, cell"
        return [
            PatrolVisitRow(r[0], int(r[1]), r[2], int(r[3]), self._py_time(r[4]), r[5])
            for r in self._read(self._q(sql), params)
        ]

    # -- premises and joint inspections ----------------------------------------------------------
    def insert_premises(
        self,
        premises: Sequence[PremisesRow],
        inspections: Sequence[InspectionRow] = (),
        audit: Sequence[AuditRow] = (),
    ) -> None:
        """Store premises with their inspections and audit rows, all or none (a stored id: DuplicateError)."""
        rows = [
            (
                p.id, p.district_code, p.name, p.kind, p.lat, p.lng, int(p.cell), p.village_code,
                p.township_code, self._texts_in(p.items), self._texts_in(p.departments),
            )
            for p in premises
        ]  # fmt: skip
        sql = self._q(f"INSERT INTO premises ({_PREMISES_COLUMNS}) VALUES ({_marks(_PREMISES_COLUMNS)})")
        refusal = "premises or inspection already stored (or an inspection of unknown premises)"
        self._insert_all([(sql, rows), self._inspections_batch(inspections)], refusal, audit)

    def premises(
        self, *, township_code: str | None = None, district_code: str | None = None
    ) -> list[PremisesRow]:
        """Premises, optionally of one township or one district, by id."""
        where, params = where_given(
            [("township_code = ?", township_code), ("district_code = ?", district_code)]
        )
        rows = self._read(self._q(f"SELECT {_PREMISES_COLUMNS} FROM premises{where} ORDER BY id"), params)
        return [
            PremisesRow(
                r[0], r[1], r[2], r[3], float(r[4]), float(r[5]), int(r[6]), r[7], r[8],
                tuple(self._list_out(r[9])), tuple(self._list_out(r[10])),
            )
            for r in rows
        ]  # fmt: skip

    def _inspections_batch(self, inspections: Sequence[InspectionRow]) -> tuple[str, list[tuple[Any, ...]]]:
        columns = "id, premises_id, department, planned_on, status, items, visit_id, created_by, created_at"
        rows = [
            (
                i.id, i.premises_id, i.department, self._db_date(i.planned_on), i.status,
                self._texts_in(i.items), i.visit_id, i.created_by, self._db_time(i.created_at),
            )
            for i in inspections
        ]  # fmt: skip
        return self._q(f"INSERT INTO inspections ({columns}) VALUES ({_marks(columns)})"), rows

    def insert_inspections(
        self, inspections: Sequence[InspectionRow], audit: Sequence[AuditRow] = ()
    ) -> None:
        """Store planned inspections and their audit rows in one transaction."""
        refusal = "inspection not stored (duplicate id or unknown premises)"
        self._insert_all([self._inspections_batch(inspections)], refusal, audit)

    def inspections(
        self,
        *,
        premises_ids: Sequence[str] | None = None,
        since: date | None = None,
        district_code: str | None = None,
    ) -> list[InspectionRow]:
        """Inspections, by planned day then id, optionally of some premises, one district, from a day on."""
        conditions: list[tuple[str, Any]] = [
            ("planned_on >= ?", None if since is None else self._db_date(since)),
            ("premises_id IN (SELECT id FROM premises WHERE district_code = ?)", district_code),
        ]
        where, params = where_given(conditions)
        if premises_ids is not None:
            ids = tuple(premises_ids)
            of = f"premises_id IN ({', '.join('?' * len(ids))})" if ids else "1 = 0"
            where, params = (f"{where} AND {of}" if where else f" WHERE {of}"), (*params, *ids)
        sql = f"SELECT {_INSPECTION_COLUMNS} FROM inspections{where} ORDER BY planned_on, id"
        return [
            InspectionRow(
                r[0], r[1], r[2], self._py_date(r[3]), r[4], r[5], self._py_time(r[6]),
                tuple(self._list_out(r[7])), r[8],
            )
            for r in self._read(self._q(sql), params)
        ]  # fmt: skip

    def set_inspection_visits(self, visits: Mapping[str, str], audit: Sequence[AuditRow] = ()) -> None:
        """Set the merged visit id of inspections, and append the audit rows, in one transaction."""
        sql = self._q("UPDATE inspections SET visit_id = ? WHERE id = ?")
        self._write_batches([(sql, [(v, k) for k, v in visits.items()])], audit)
