"""The audit log: every change outside the incident event log, append-only, with before and after.

Incident transitions are recorded in their own append-only event log (actor, role, time, from,
to, payload); the audit page and export show both. Nothing in the code updates or deletes an
audit row, and the database refuses it (triggers on both backends).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from patrol.permissions import AccessDeniedError
from patrol.roles import Principal
from patrol.spreadsheet import rows_csv_bytes
from patrol.workdays import local_minutes
from store.protocol import Store
from store.rows import AuditRow

if TYPE_CHECKING:
    from patrol.labels import Labels

SYSTEM = Principal("system", "admin")


def audit_row(
    who: Principal | None,
    at: datetime,
    action: str,
    entity: str,
    entity_id: str,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
) -> AuditRow:
    """One audit row (``who`` None: the system, e.g. the command line)."""
    actor = who or SYSTEM
    return AuditRow(
        0, at, actor.name, actor.role, action, entity, str(entity_id),
        json.dumps(dict(before or {}), ensure_ascii=False, default=str, sort_keys=True),
        json.dumps(dict(after or {}), ensure_ascii=False, default=str, sort_keys=True),
    )  # fmt: skip


class AuditService:
    """Write audit rows; read them (admins only)."""

    def __init__(self, store: Store, clock: Callable[[], datetime] | None = None) -> None:
        self._store = store
        self.clock = clock or (lambda: datetime.now(UTC))

    def record(
        self,
        who: Principal | None,
        action: str,
        entity: str,
        entity_id: str,
        before: Mapping[str, Any] | None = None,
        after: Mapping[str, Any] | None = None,
    ) -> None:
        """Append one audit row now."""
        self._store.append_audit([audit_row(who, self.clock(), action, entity, entity_id, before, after)])

    def entries(
        self,
        who: Principal,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        actor: str | None = None,
        entity: str | None = None,
        limit: int = 1000,
    ) -> list[AuditRow]:
        """Audit rows and incident events (as audit rows, ``seq`` = the event's), newest first (admins only).

        Raises
        ------
        AccessDeniedError
            For any role but admin.
        """
        if who.role != "admin":
            msg = f"a {who.role} may not read the audit log"
            raise AccessDeniedError(msg)
        out = self._store.audit_log(since=since, until=until, actor=actor, entity=entity, limit=limit)
        if entity in (None, "incident"):
            for e in self._store.recent_events(since=since, until=until, actor=actor, limit=limit):
                out.append(
                    AuditRow(
                        e.seq,
                        e.at,
                        e.actor,
                        e.role,
                        e.action,
                        "incident",
                        e.incident_id,
                        json.dumps({"state": e.from_state}, ensure_ascii=False),
                        json.dumps(
                            {"state": e.to_state, "note": e.note, **as_mapping(e.payload)}, ensure_ascii=False
                        ),
                    )
                )
        out.sort(key=lambda x: x.at, reverse=True)
        return out[:limit]

    def export_csv(self, who: Principal, labels: Labels | None = None, **filters: Any) -> bytes:
        """The audit view as CSV (UTF-8 with BOM for Excel; formula-like cells neutralised).

        With ``labels`` the headers, roles, operations and changes are in the reader's
        language (the raw before/after records stay in the last two columns, as evidence);
        without, the columns are the raw field names for machines.
        """
        entries = self.entries(who, **filters)
        if labels is None:
            header = ["at", "actor", "role", "action", "entity", "entity_id", "before", "after"]
            rows = [
                [e.at.isoformat(), e.actor, e.role, e.action, e.entity, e.entity_id, e.before, e.after]
                for e in entries
            ]
            return rows_csv_bytes(header, rows)
        tr = labels.tr
        header = [
            tr("audit.at"), tr("audit.actor"), tr("app.role"), tr("audit.action"), tr("audit.entity"),
            tr("audit.entity_id"), tr("audit.change"), tr("audit.before_raw"), tr("audit.after_raw"),
        ]  # fmt: skip
        rows = [
            [
                local_minutes(e.at),
                e.actor,
                labels.role(e.role),
                labels.action(e.action),
                labels.entity(e.entity),
                e.entity_id,
                labels.changes(e.before, e.after),
                e.before,
                e.after,
            ]
            for e in entries
        ]
        return rows_csv_bytes(header, rows)


def as_mapping(payload: Any) -> dict[str, Any]:
    """A stored JSON object (or a mapping) as a dict; any other value under the key ``payload``."""
    if isinstance(payload, str):
        try:
            value = json.loads(payload)
        except ValueError:
            return {"payload": payload}
        return value if isinstance(value, dict) else {"payload": value}
    return dict(payload) if isinstance(payload, Mapping) else {}
