"""The HTTP API's tables, written once for both backends: clients, their requests, the outbox.

Each backend supplies four small hooks (its placeholder, how it stores a time, one read and
one transaction of several statements); the queries are the same text on both engines.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from store.rows import (
    API_CLIENT_COLUMNS,
    API_REQUEST_COLUMNS,
    OUTBOX_COLUMNS,
    ApiClientRow,
    ApiRequestRow,
    AuditRow,
    EventRow,
    OutboxRow,
)
from store.shared import SharedSql

# What a client hears about: a change of state, and the callback (回访) result
OUTBOX_ACTIONS = frozenset({"callback"})


def outbox_worthy(event: EventRow) -> bool:
    """Whether an event is a status change a client system is told about."""
    return event.from_state != event.to_state or event.action in OUTBOX_ACTIONS


class ApiTables(SharedSql):
    """The API's queries; mixed into each store, which supplies the hooks of SharedSql."""

    def _outbox_statement(self, events: Sequence[EventRow]) -> tuple[str, list[Any]]:
        """The INSERT that queues ``events`` (status changes only) for the clients of their incident."""
        params = [
            (e.incident_id, e.seq, e.action, e.to_state, self._db_time(e.at), self._db_time(e.at),
             e.incident_id)
            for e in events if outbox_worthy(e)
        ]  # fmt: skip
        sql = self._q(
            "INSERT INTO api_outbox (client, incident_id, seq, action, to_state, at, next_attempt_at)"
            " SELECT client, ?, ?, ?, ?, ?, ? FROM api_requests WHERE incident_id = ?"
        )
        return sql, params

    def _client(self, r: Sequence[Any]) -> ApiClientRow:
        return ApiClientRow(
            r[0], r[1], r[2], None if r[3] is None else int(r[3]), r[4], r[5], r[6], r[7], r[8], int(r[9]),
            self._py_time(r[10]), None if r[11] is None else self._py_time(r[11]),
        )  # fmt: skip

    def _client_params(self, c: ApiClientRow) -> tuple[Any, ...]:
        return (
            c.name, c.role, c.township_code, c.team_id, c.department, c.key_hash, c.source, c.crs,
            c.webhook_url,
            c.rate_per_minute, self._db_time(c.created_at),
            None if c.revoked_at is None else self._db_time(c.revoked_at),
        )  # fmt: skip

    def insert_api_client(self, client: ApiClientRow, audit: AuditRow) -> None:
        """Store a new client (its key hashed) and its audit row in one transaction."""
        marks = ", ".join("?" * len(API_CLIENT_COLUMNS))
        sql = f"INSERT INTO api_clients ({', '.join(API_CLIENT_COLUMNS)}) VALUES ({marks})"
        self._write_all([(self._q(sql), self._client_params(client))], [audit])

    def update_api_client(self, client: ApiClientRow, audit: AuditRow) -> None:
        """Change a client (revoke it, set its webhook or limit) and record it, in one transaction."""
        sets = ", ".join(f"{c} = ?" for c in API_CLIENT_COLUMNS[1:])
        sql = self._q(f"UPDATE api_clients SET {sets} WHERE name = ?")
        params = self._client_params(client)
        self._write_all([(sql, (*params[1:], client.name))], [audit])

    def api_clients(self) -> list[ApiClientRow]:
        """Every client, revoked ones too, by name."""
        sql = f"SELECT {', '.join(API_CLIENT_COLUMNS)} FROM api_clients ORDER BY name"
        return [self._client(r) for r in self._read(sql, ())]

    def api_client_by_hash(self, key_hash: str) -> ApiClientRow | None:
        """The client whose key hashes to ``key_hash``, or None."""
        sql = self._q(f"SELECT {', '.join(API_CLIENT_COLUMNS)} FROM api_clients WHERE key_hash = ?")
        rows = self._read(sql, (key_hash,))
        return self._client(rows[0]) if rows else None

    def link_api_request(self, row: ApiRequestRow) -> ApiRequestRow:
        """Record that a client created (or claimed) an incident; the link already stored wins."""
        found = self.api_requests(incident_ids=(row.incident_id,))
        if not found:  # a concurrent link of the same incident wins quietly (ON CONFLICT)
            sql = self._q(
                f"INSERT INTO api_requests ({', '.join(API_REQUEST_COLUMNS)}) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (incident_id) DO NOTHING"
            )
            self._write_all([(sql, (row.incident_id, row.client, row.token, self._db_time(row.created_at)))])
            found = self.api_requests(incident_ids=(row.incident_id,))
        return found[0]

    def api_requests(
        self, *, incident_ids: Sequence[str] | None = None, token: str | None = None
    ) -> list[ApiRequestRow]:
        """Client links of these incidents, or the one of a token."""
        where: list[str] = []
        params: list[Any] = []
        if incident_ids is not None:
            where.append(
                f"incident_id IN ({', '.join('?' * len(incident_ids))})" if incident_ids else "1 = 0"
            )
            params.extend(incident_ids)
        if token is not None:
            where.append("token = ?")
            params.append(token)
        sql = f"SELECT {', '.join(API_REQUEST_COLUMNS)} FROM api_requests"
        if where:
            sql += " WHERE " + " AND ".join(where)
        return [
            ApiRequestRow(r[0], r[1], r[2], self._py_time(r[3])) for r in self._read(self._q(sql), params)
        ]

    def _outbox_row(self, r: Sequence[Any]) -> OutboxRow:
        return OutboxRow(
            int(r[0]), r[1], r[2], int(r[3]), r[4], r[5], self._py_time(r[6]), int(r[7]),
            self._py_time(r[8]), None if r[9] is None else self._py_time(r[9]), r[10],
        )  # fmt: skip

    def outbox(
        self, client: str, *, due_at: datetime | None = None, after_id: int = 0, limit: int = 100
    ) -> list[OutboxRow]:
        """A client's undelivered status changes in the order they happened.

        ``due_at``: only those whose next attempt is due by then (a webhook's retries wait);
        ``after_id``: only those after one already read (polling pages on).
        """
        sql = (
            f"SELECT {', '.join(OUTBOX_COLUMNS)} FROM api_outbox"
            " WHERE client = ? AND delivered_at IS NULL AND id > ?"
        )
        params: list[Any] = [client, after_id]
        if due_at is not None:
            sql += " AND next_attempt_at <= ?"
            params.append(self._db_time(due_at))
        sql += " ORDER BY id LIMIT ?"
        params.append(limit)
        return [self._outbox_row(r) for r in self._read(self._q(sql), params)]

    def outbox_delivered(
        self, client: str, ids: Sequence[int], at: datetime, audit: Sequence[AuditRow] = ()
    ) -> int:
        """Mark a client's changes delivered (acknowledged), with any audit rows; the number newly marked."""
        if not ids:
            return 0
        sql = self._q(
            "UPDATE api_outbox SET delivered_at = ? WHERE client = ? AND delivered_at IS NULL"
            f" AND id IN ({', '.join('?' * len(ids))})"
        )
        return self._write_all([(sql, (self._db_time(at), client, *ids))], audit)[0]

    def outbox_failed(self, outbox_id: int, next_attempt_at: datetime, error: str) -> None:
        """Count a failed delivery and when to try again."""
        sql = self._q(
            "UPDATE api_outbox SET attempts = attempts + 1, next_attempt_at = ?, last_error = ? WHERE id = ?"
        )
        self._write_all([(sql, (self._db_time(next_attempt_at), error[:500], outbox_id))])

    def outbox_rows(self) -> list[OutboxRow]:
        """Every outbox row, delivered ones too, by id (a store copy carries them all)."""
        sql = f"SELECT {', '.join(OUTBOX_COLUMNS)} FROM api_outbox ORDER BY id"
        return [self._outbox_row(r) for r in self._read(sql, ())]

    def restore_api(
        self, clients: Sequence[ApiClientRow], requests: Sequence[ApiRequestRow], outbox: Sequence[OutboxRow]
    ) -> None:
        """Load clients, their requests and the outbox as they were elsewhere (ids kept), in one go."""
        marks = ", ".join("?" * len(API_CLIENT_COLUMNS))
        statements: list[tuple[str, Sequence[Any]]] = [
            (self._q(f"INSERT INTO api_clients ({', '.join(API_CLIENT_COLUMNS)}) VALUES ({marks})"),
             self._client_params(c))
            for c in clients
        ]  # fmt: skip
        statements += [
            (self._q(f"INSERT INTO api_requests ({', '.join(API_REQUEST_COLUMNS)}) VALUES (?, ?, ?, ?)"),
             (r.incident_id, r.client, r.token, self._db_time(r.created_at)))
            for r in requests
        ]  # fmt: skip
        insert = self._q(
            f"INSERT INTO api_outbox ({', '.join(OUTBOX_COLUMNS)}) {self._keep_ids}"
            f" VALUES ({', '.join('?' * len(OUTBOX_COLUMNS))})"
        )
        statements += [
            (insert, (o.id, o.client, o.incident_id, o.seq, o.action, o.to_state, self._db_time(o.at),
                      o.attempts, self._db_time(o.next_attempt_at),
                      None if o.delivered_at is None else self._db_time(o.delivered_at), o.last_error))
            for o in outbox
        ]  # fmt: skip
        statements += self._after_id_restore
        self._write_all(statements)
