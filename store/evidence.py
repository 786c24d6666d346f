"""Evidence files (证据材料), written once for both backends: rows, and each content once."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import astuple
from typing import Any

from store.rows import EVIDENCE_COLUMNS, AuditRow, EvidenceRow
from store.shared import SharedSql

_SELECT = f"SELECT {', '.join(EVIDENCE_COLUMNS)} FROM evidence"


def content_statements(sql: SharedSql, contents: dict[str, bytes]) -> list[tuple[str, Sequence[Any]]]:
    """Keep each content once by its hash (evidence files and the files of entered scores)."""
    insert = sql._q(
        "INSERT INTO evidence_content (sha256, data) VALUES (?, ?) ON CONFLICT (sha256) DO NOTHING"
    )
    return [(insert, (sha, data)) for sha, data in contents.items()]


class EvidenceTables(SharedSql):
    """The evidence queries; mixed into each store."""

    def _evidence(self, r: Sequence[Any]) -> EvidenceRow:
        return EvidenceRow(
            r[0], r[1], r[2], r[3], r[4], int(r[5]), r[6], r[7], r[8], self._py_time(r[9]), r[10]
        )

    def _evidence_statements(
        self, rows: Sequence[EvidenceRow], contents: dict[str, bytes]
    ) -> list[tuple[str, Sequence[Any]]]:
        marks = ", ".join("?" * len(EVIDENCE_COLUMNS))
        insert = self._q(f"INSERT INTO evidence ({', '.join(EVIDENCE_COLUMNS)}) VALUES ({marks})")
        return content_statements(self, contents) + [
            (insert, (*astuple(e)[:9], self._db_time(e.at), e.note)) for e in rows
        ]

    def add_evidence(self, row: EvidenceRow, data: bytes, audit: AuditRow) -> None:
        """Keep a file (its content once) and its audit row, in one transaction."""
        self._write_all(self._evidence_statements([row], {row.sha256: data}), [audit])

    def evidence_of(self, incident_ids: Sequence[str]) -> list[EvidenceRow]:
        """The evidence of these incidents, oldest first."""
        if not incident_ids:
            return []
        sql = self._q(
            f"{_SELECT} WHERE incident_id IN ({', '.join('?' * len(incident_ids))}) ORDER BY at, id"
        )
        return [self._evidence(r) for r in self._read(sql, list(incident_ids))]

    def evidence_row(self, evidence_id: str) -> EvidenceRow | None:
        """One evidence row by id, or None."""
        rows = self._read(self._q(f"{_SELECT} WHERE id = ?"), (evidence_id,))
        return self._evidence(rows[0]) if rows else None

    def evidence_content(self, sha256: str) -> bytes | None:
        """The stored bytes of a content hash, or None."""
        rows = self._read(self._q("SELECT data FROM evidence_content WHERE sha256 = ?"), (sha256,))
        return bytes(rows[0][0]) if rows else None

    def all_evidence(self) -> list[EvidenceRow]:
        """Every evidence row, by time (a store copy carries them all)."""
        return [self._evidence(r) for r in self._read(f"{_SELECT} ORDER BY at, id", ())]

    def restore_evidence(self, rows: Sequence[EvidenceRow], contents: dict[str, bytes]) -> None:
        """Load evidence as it was elsewhere, in one transaction."""
        self._write_all(self._evidence_statements(rows, contents))
