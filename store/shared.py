"""Queries written once for both backends: each store supplies four small hooks.

A mixin built on :class:`SharedSql` writes its SQL with ``?`` placeholders; ``_q`` turns them
into the backend's own, and the hooks give one read, one transaction of several statements
(with its audit rows), and how a time is stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from store.rows import AuditRow


class SharedSql:
    """The hooks each backend supplies to the shared queries."""

    _mark = "?"
    _keep_ids = ""  # what an INSERT with explicit identity values needs (PostgreSQL: OVERRIDING SYSTEM VALUE)
    _after_id_restore: tuple[tuple[str, Sequence[Any]], ...] = ()  # and after it (move the sequence on)

    # -- hooks each backend supplies ---------------------------------------------------------
    def _read(self, sql: str, params: Sequence[Any]) -> list[Any]:
        raise NotImplementedError

    def _write_all(
        self, statements: Sequence[tuple[str, Sequence[Any]]], audit: Sequence[AuditRow] = ()
    ) -> list[int]:
        """Run the statements and append the audit rows in one transaction; their row counts.

        Raises DuplicateError on a unique key already taken.
        """
        raise NotImplementedError

    def _db_time(self, value: datetime) -> Any:
        raise NotImplementedError

    def _py_time(self, value: Any) -> datetime:
        raise NotImplementedError

    def _q(self, sql: str) -> str:
        return sql.replace("?", self._mark)
