"""Users, sign-in failures, the audit log and published evaluations, written once for both backends."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import astuple
from datetime import datetime
from typing import Any

from store.protocol import DuplicateError
from store.rows import EVALUATION_COLUMNS, AuditRow, EvaluationRow, SignInFailures, UserRow
from store.shared import SharedSql, where_given

_USER_COLUMNS = (
    "username, display_name, role, township_code, team_id, department, password_hash, active, created_at,"
    " updated_at, district_code"
)
_INSERT_USER = f"INSERT INTO users ({_USER_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
_UPDATE_USER = (
    "UPDATE users SET display_name = ?, role = ?, township_code = ?, team_id = ?, department = ?,"
    " password_hash = ?, active = ?, created_at = ?, updated_at = ?, district_code = ? WHERE username = ?"
)
_ADD_SIGN_IN_FAILURE = (
    "INSERT INTO sign_in_failures (key, failures, first_at, last_at, locked) VALUES (?, 1, ?, ?, ?)"
    " ON CONFLICT (key) DO UPDATE SET failures = sign_in_failures.failures + 1, last_at = excluded.last_at"
)
_AUDIT_COLUMNS = "seq, at, actor, role, action, entity, entity_id, before, after"


def _one_row(counts: list[int], what: str) -> None:
    if counts[0] != 1:
        raise KeyError(what)


class PeopleTables(SharedSql):
    """Who signs in, what they changed and what was published: the queries; mixed into each store."""

    # -- users ----------------------------------------------------------------------------------
    def _user_values(self, u: UserRow) -> tuple[Any, ...]:
        return (
            u.username, u.display_name, u.role, u.township_code, u.team_id, u.department, u.password_hash,
            bool(u.active), self._db_time(u.created_at), self._db_time(u.updated_at), u.district_code,
        )  # fmt: skip

    def _user(self, r: Sequence[Any]) -> UserRow:
        team = None if r[4] is None else int(r[4])
        when = self._py_time(r[8]), self._py_time(r[9])
        return UserRow(r[0], r[1], r[2], r[3], team, r[5], r[6], bool(r[7]), *when, r[10])

    def insert_user(self, user: UserRow, audit: AuditRow) -> None:
        """Store a new user and its audit row in one transaction."""
        try:
            self._write_all([(self._q(_INSERT_USER), self._user_values(user))], [audit])
        except DuplicateError as exc:
            msg = f"user {user.username!r} already exists"
            raise DuplicateError(msg) from exc

    def update_user(self, user: UserRow, audit: AuditRow) -> None:
        """Replace a user's record and append its audit row in one transaction.

        Raises
        ------
        KeyError
            If there is no such user (nothing is written).
        """
        values = (*self._user_values(user)[1:], user.username)
        msg = f"no user {user.username!r}"
        self._write_all(
            [(self._q(_UPDATE_USER), values)], [audit], check=lambda counts: _one_row(counts, msg)
        )

    def get_user(self, username: str) -> UserRow | None:
        """One user, or None."""
        rows = self._read(self._q(f"SELECT {_USER_COLUMNS} FROM users WHERE username = ?"), (username,))
        return self._user(rows[0]) if rows else None

    def users(self) -> list[UserRow]:
        """Every user, by name."""
        return [self._user(r) for r in self._read(f"SELECT {_USER_COLUMNS} FROM users ORDER BY username", ())]

    # -- sign-in failures ------------------------------------------------------------------------
    def sign_in_failures(self, keys: Sequence[str]) -> dict[str, SignInFailures]:
        """The failure counts of these keys (absent keys have none)."""
        out: dict[str, SignInFailures] = {}
        for clause, values in self._in_chunks("key", keys):
            sql = "SELECT key, failures, first_at, last_at, locked FROM sign_in_failures WHERE "
            for k, n, a, b, locked in self._read(self._q(sql + clause), values):
                out[k] = SignInFailures(k, int(n), self._py_time(a), self._py_time(b), bool(locked))
        return out

    def add_sign_in_failure(self, keys: Sequence[str], at: datetime) -> dict[str, SignInFailures]:
        """Count one more failure for each key (one transaction); return the counts as they then stand."""
        when = self._db_time(at)
        self._write_all([(self._q(_ADD_SIGN_IN_FAILURE), (k, when, when, False)) for k in keys])
        return self.sign_in_failures(keys)

    def lock_sign_in(self, key: str, audit: AuditRow) -> None:
        """Lock a key until it is cleared, with its audit row, in one transaction."""
        self._write_all(
            [(self._q("UPDATE sign_in_failures SET locked = ? WHERE key = ?"), (True, key))], [audit]
        )

    def clear_sign_in_failures(self, keys: Sequence[str], audit: Sequence[AuditRow]) -> None:
        """Forget the failures (and lock) of these keys, with their audit rows, in one transaction."""
        delete = self._q("DELETE FROM sign_in_failures WHERE key = ?")
        self._write_all([(delete, (k,)) for k in keys], audit)

    # -- the audit log ---------------------------------------------------------------------------
    def append_audit(self, rows: Sequence[AuditRow]) -> None:
        """Append audit rows."""
        self._write_all([], rows)

    def audit_log(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        actor: str | None = None,
        entity: str | None = None,
        limit: int = 1000,
    ) -> list[AuditRow]:
        """Audit rows, newest first, filtered by time, actor and entity kind."""
        where, params = where_given(
            [
                ("at >= ?", self._opt_db_time(since)),
                ("at < ?", self._opt_db_time(until)),
                ("actor = ?", actor),
                ("entity = ?", entity),
            ]
        )
        text = self._json_out
        sql = (
            f"SELECT seq, at, actor, role, action, entity, entity_id, before{text}, after{text}"
            f" FROM audit_log{where} ORDER BY seq DESC LIMIT ?"
        )
        rows = self._read(self._q(sql), (*params, limit))
        return [AuditRow(int(r[0]), self._py_time(r[1]), *r[2:]) for r in rows]

    # -- published evaluations -------------------------------------------------------------------
    def _evaluation_statement(self, row: EvaluationRow) -> tuple[str, Sequence[Any]]:
        marks = ", ".join(["?"] * (len(EVALUATION_COLUMNS) - 1) + [f"?{self._json_in}"])
        values = astuple(row)
        sql = self._q(f"INSERT INTO evaluations ({', '.join(EVALUATION_COLUMNS)}) VALUES ({marks})")
        return sql, (*values[:3], self._db_time(row.published_at), *values[4:])

    def insert_evaluation(self, row: EvaluationRow, audit: AuditRow) -> None:
        """Store a published evaluation and its audit row in one transaction."""
        try:
            self._write_all([self._evaluation_statement(row)], [audit])
        except DuplicateError as exc:
            msg = f"evaluation {row.period} version {row.version} is already published"
            raise DuplicateError(msg) from exc

    def evaluations(self, district_code: str, period: str | None = None) -> list[EvaluationRow]:
        """Published evaluations of a district (of one period), by period then version."""
        columns = ", ".join([*EVALUATION_COLUMNS[:-1], f"figures{self._json_out}"])
        sql = f"SELECT {columns} FROM evaluations WHERE district_code = ?"
        params: tuple[Any, ...] = (district_code,)
        if period is not None:
            sql, params = sql + " AND period = ?", (district_code, period)
        rows = self._read(self._q(sql + " ORDER BY period, version"), params)
        return [EvaluationRow(r[0], r[1], r[2], self._py_time(r[3]), *r[4:]) for r in rows]

    # -- counters and restoring a copy -----------------------------------------------------------
    def number_sequences(self) -> dict[str, int]:
        """The last number handed out per number key (district prefix and day)."""
        return {k: int(n) for k, n in self._read("SELECT key, last FROM number_seq", ())}

    def restore(
        self, users: Sequence[UserRow], audit: Sequence[AuditRow], evaluations: Sequence[EvaluationRow] = ()
    ) -> None:
        """Load users, audit rows and evaluations as they were elsewhere, in one transaction."""
        j = self._json_in
        insert_audit = self._q(
            f"INSERT INTO audit_log ({_AUDIT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?{j}, ?{j})"
        )
        statements = [
            *(self._evaluation_statement(e) for e in evaluations),
            *((self._q(_INSERT_USER), self._user_values(u)) for u in users),
            *(
                (insert_audit, (a.seq, self._db_time(a.at), a.actor, a.role, a.action, a.entity, a.entity_id,
                                a.before, a.after))
                for a in audit
            ),
            *self._after_audit_restore,
        ]  # fmt: skip
        self._write_all(statements)
