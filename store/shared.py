"""Queries written once for both backends: each store supplies four small hooks.

A mixin built on :class:`SharedSql` writes its SQL with ``?`` placeholders; ``_q`` turns them
into the backend's own, and the hooks give one read, one transaction of several statements
(with its audit rows), and how a time is stored.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any, NamedTuple

from store.protocol import DuplicateError
from store.rows import AuditRow


def where_given(conditions: Sequence[tuple[str, Any]]) -> tuple[str, tuple[Any, ...]]:
    """`` WHERE`` and the conditions whose value is given (None: no condition), with their values."""
    given = [(c, v) for c, v in conditions if v is not None]
    return (" WHERE " + " AND ".join(c for c, _ in given) if given else ""), tuple(v for _, v in given)


class Bulk(NamedTuple):
    """Many rows for one table, loaded the engine's fastest way (PostgreSQL: COPY)."""

    table: str
    columns: tuple[str, ...]
    rows: Sequence[Sequence[Any]]

    def insert(self, mark: str) -> str:
        """The INSERT that loads one row (where the engine has nothing faster)."""
        marks = ", ".join([mark] * len(self.columns))
        return f"INSERT INTO {self.table} ({', '.join(self.columns)}) VALUES ({marks})"


Batch = tuple[str, Sequence[Sequence[Any]]] | Bulk  # a statement run once for each of its rows, or a load


class SharedSql:
    """The hooks each backend supplies to the shared queries."""

    _mark = "?"
    _keep_ids = ""  # what an INSERT with explicit identity values needs (PostgreSQL: OVERRIDING SYSTEM VALUE)
    _after_id_restore: tuple[tuple[str, Sequence[Any]], ...] = ()  # and after it (move the sequence on)
    _after_audit_restore: tuple[tuple[str, Sequence[Any]], ...] = ()  # after audit rows kept their seq
    _json_in = ""  # the cast a JSON parameter takes (PostgreSQL: ::jsonb)
    _json_out = ""  # the cast that reads a JSON column as text (PostgreSQL: ::text)

    # -- hooks each backend supplies ---------------------------------------------------------
    def _read(self, sql: str, params: Sequence[Any]) -> list[Any]:
        raise NotImplementedError

    @contextmanager
    def _write_cursor(self) -> Iterator[Any]:
        """One write transaction: a DB-API cursor, committed when the block ends, rolled back if it raises."""
        raise NotImplementedError
        yield

    _integrity_errors: tuple[type[Exception], ...] = ()  # what the engine raises on a unique key taken

    def _load(self, cur: Any, bulk: Bulk) -> None:
        """Load many rows into one table (PostgreSQL overrides it with COPY)."""
        cur.executemany(bulk.insert(self._mark), bulk.rows)

    def _append_audit(self, cur: Any, audit: Sequence[AuditRow]) -> None:
        """Append audit rows in the transaction of ``cur``."""
        if audit:
            cur.executemany(
                self._q(
                    "INSERT INTO audit_log (at, actor, role, action, entity, entity_id, before, after)"
                    f" VALUES (?, ?, ?, ?, ?, ?, ?{self._json_in}, ?{self._json_in})"
                ),
                [
                    (self._db_time(a.at), a.actor, a.role, a.action, a.entity, a.entity_id, a.before, a.after)
                    for a in audit
                ],
            )

    @contextmanager
    def _unit_of_work(self) -> Iterator[Any]:
        """A write transaction whose unique-key violation is a DuplicateError (nothing is written)."""
        try:
            with self._write_cursor() as cur:
                yield cur
        except self._integrity_errors as exc:
            msg = f"already stored: {str(exc).splitlines()[0]}"
            raise DuplicateError(msg) from exc

    def _write_all(
        self,
        statements: Sequence[tuple[str, Sequence[Any]]],
        audit: Sequence[AuditRow] = (),
        *,
        check: Callable[[list[int]], None] | None = None,
    ) -> list[int]:
        """Run the statements and append the audit rows in one transaction; their row counts.

        ``check`` sees the row counts before the audit rows are added; what it raises rolls the
        whole transaction back. Raises DuplicateError on a unique key already taken.
        """
        with self._unit_of_work() as cur:
            counts = [cur.execute(sql, params).rowcount for sql, params in statements]
            if check is not None:
                check(counts)
            self._append_audit(cur, audit)
        return counts

    def _write_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> int:
        """Run one statement for each row in one transaction; the rows it changed.

        Raises DuplicateError on a unique key already taken.
        """
        with self._unit_of_work() as cur:
            cur.executemany(sql, rows)
            return int(cur.rowcount)

    def _write_batches(self, batches: Sequence[Batch], audit: Sequence[AuditRow] = ()) -> None:
        """Run each statement once for each of its rows (or load a Bulk), then the audit rows, together.

        Raises DuplicateError on a unique key already taken.
        """
        with self._unit_of_work() as cur:
            for batch in batches:
                if isinstance(batch, Bulk):
                    self._load(cur, batch)
                else:
                    cur.executemany(*batch)
            self._append_audit(cur, audit)

    def _db_time(self, value: datetime) -> Any:
        raise NotImplementedError

    def _py_time(self, value: Any) -> datetime:
        raise NotImplementedError

    def _db_date(self, value: date) -> Any:
        raise NotImplementedError

    def _py_date(self, value: Any) -> date:
        raise NotImplementedError

    def _cells_in(self, cells: Sequence[int]) -> Any:
        """A list of H3 cells as the engine keeps it."""
        raise NotImplementedError

    def _texts_in(self, texts: Sequence[str]) -> Any:
        """A list of texts as the engine keeps it."""
        raise NotImplementedError

    def _list_out(self, value: Any) -> list[Any]:
        """A kept list (of cells or texts) read back."""
        raise NotImplementedError

    _in_chunk = 500  # values one IN condition binds at most (SQLite binds 32,766 variables a statement)

    def _in_list(self, column: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
        """``column`` is one of ``values``: the condition (``?`` marks) and its parameters."""
        raise NotImplementedError

    # -- built on the hooks -------------------------------------------------------------------
    def _in_chunks(self, column: str, values: Sequence[Any]) -> Iterator[tuple[str, list[Any]]]:
        """``column`` is one of ``values``, as few conditions as the engine can bind."""
        for start in range(0, len(values), self._in_chunk):
            yield self._in_list(column, values[start : start + self._in_chunk])

    def _opt_db_time(self, value: datetime | None) -> Any:
        return None if value is None else self._db_time(value)

    def _opt_py_time(self, value: Any) -> datetime | None:
        return None if value is None else self._py_time(value)

    def _q(self, sql: str) -> str:
        return sql.replace("?", self._mark)
