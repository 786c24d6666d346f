"""Entered scores of the composite evaluation (综合评价), written once for both backends."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import astuple
from typing import Any

from store.evidence import content_statements
from store.rows import SCORE_ENTRY_COLUMNS, AuditRow, ScoreEntryRow
from store.shared import SharedSql

_SELECT = f"SELECT {', '.join(SCORE_ENTRY_COLUMNS)} FROM score_entries"


class ScoreTables(SharedSql):
    """The score-entry queries; mixed into each store."""

    def _score(self, r: Sequence[Any]) -> ScoreEntryRow:
        return ScoreEntryRow(
            r[0], r[1], r[2], r[3], r[4], float(r[5]), r[6], r[7], r[8], r[9], r[10], self._py_time(r[11])
        )

    def _score_statements(
        self, rows: Sequence[ScoreEntryRow], contents: dict[str, bytes]
    ) -> list[tuple[str, Sequence[Any]]]:
        marks = ", ".join("?" * len(SCORE_ENTRY_COLUMNS))
        insert = self._q(f"INSERT INTO score_entries ({', '.join(SCORE_ENTRY_COLUMNS)}) VALUES ({marks})")
        return content_statements(self, contents) + [
            (insert, (*astuple(e)[:11], self._db_time(e.at))) for e in rows
        ]

    def add_score_entries(
        self,
        rows: Sequence[ScoreEntryRow],
        audit: Sequence[AuditRow],
        contents: dict[str, bytes] | None = None,
    ) -> None:
        """Keep entered scores (an attached file's content once) and their audit rows, in one transaction."""
        self._write_all(self._score_statements(rows, contents or {}), audit)

    def score_entries(self, district_code: str, period: str | None = None) -> list[ScoreEntryRow]:
        """Entered scores of a district (of one period), oldest first: the newest of a sub-item counts."""
        if period is None:
            sql, params = f"{_SELECT} WHERE district_code = ? ORDER BY at, id", (district_code,)
        else:
            sql = f"{_SELECT} WHERE district_code = ? AND period = ? ORDER BY at, id"
            params = (district_code, period)  # type: ignore[assignment]
        return [self._score(r) for r in self._read(self._q(sql), params)]

    def restore_score_entries(self, rows: Sequence[ScoreEntryRow], contents: dict[str, bytes]) -> None:
        """Load entered scores as they were elsewhere, in one transaction."""
        self._write_all(self._score_statements(rows, contents))
