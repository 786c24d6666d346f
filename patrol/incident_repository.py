"""The Incident aggregate's repository: incidents and their event logs to and from the store.

The one place an :class:`~patrol.incident.Incident` becomes a stored row and back; services
ask it for aggregates and give it aggregates with their pending events to add or save.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import datetime

from patrol.incident import Action, ConflictError, Event, Incident, Source, State
from patrol.workdays import local_day
from store.batch import IncidentBatch
from store.protocol import Store, VersionConflict
from store.rows import AuditRow, EventRow, IncidentQuery, IncidentRow

PAGE = 50_000  # rows read at a time when every matching incident is read (an export)


class IncidentRepository:
    """Incidents as aggregates: read by id, number or query; added and saved with their new events."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def get(self, incident_id: str) -> Incident | None:
        """The incident with this id or number, or None."""
        row = self._store.get_incident(incident_id) or self._store.find_incident(incident_id)
        return None if row is None else from_row(row)

    def events(self, incident_id: str) -> list[Event]:
        """An incident's event log, in order."""
        return [event_from_row(r) for r in self._store.events(incident_id)]

    def find(self, query: IncidentQuery) -> list[Incident]:
        """The incidents matching ``query`` (paged as it says)."""
        return [from_row(r) for r in self._store.list_incidents(query)]

    def count(self, query: IncidentQuery) -> int:
        """How many incidents match ``query``."""
        return self._store.count_incidents(query)

    def rows(self, query: IncidentQuery, page: int = PAGE) -> Iterator[IncidentRow]:
        """Every incident matching ``query`` as stored (every field), oldest first, read in pages."""
        offset = 0
        while True:
            found = self._store.list_incidents(replace(query, limit=page, offset=offset, newest_first=False))
            yield from found
            if len(found) < page:
                return
            offset += page

    def known_external_ids(self, district_code: str, external_ids: Sequence[str]) -> set[str]:
        """Which of these external ids a stored incident of the district already carries."""
        return self._store.existing_external_ids(district_code, list(external_ids))

    def add(self, inc: Incident, now: datetime) -> None:
        """Store a new incident with its pending events (its creation) in one transaction."""
        events = [event_to_row(e, inc.district_code) for e in inc.pending]
        self._store.insert_incidents(IncidentBatch.from_rows([to_row(inc, now)], events))
        inc.pending.clear()

    def add_histories(self, incidents: Sequence[Incident], audit: Sequence[AuditRow] = ()) -> None:
        """Store incidents that carry their whole history as pending events, and ``audit``, together.

        Each is stored as of its last event (its ``updated_at``): a case played through past
        months (the demo's) arrives with every event it went through.
        """
        rows = [to_row(inc, inc.pending[-1].at) for inc in incidents]
        events = [event_to_row(e, inc.district_code) for inc in incidents for e in inc.pending]
        self._store.insert_incidents(IncidentBatch.from_rows(rows, events, audit))
        for inc in incidents:
            inc.pending.clear()

    def save(self, inc: Incident, expected_version: int, now: datetime) -> None:
        """Store a changed incident with its pending events, if nobody changed it since ``expected_version``.

        Raises
        ------
        ConflictError
            If someone else changed it meanwhile (nothing is written).
        """
        events = [event_to_row(e, inc.district_code) for e in inc.pending]
        try:
            self._store.update_incident(to_row(inc, now), expected_version, events)
        except VersionConflict as exc:
            raise ConflictError(str(exc)) from exc
        inc.pending.clear()


# -- mapping between the aggregate and the stored rows ------------------------------------
def to_row(inc: Incident, updated_at: datetime) -> IncidentRow:
    """The stored form of an incident."""
    return IncidentRow(
        inc.id, inc.district_code, inc.number, inc.external_id, inc.item_code, inc.source.value,
        inc.lat, inc.lng, inc.cell, inc.village_code, inc.township_code, inc.team_id, inc.handler,
        inc.department, inc.routing_reason, inc.description, inc.reporter_name, inc.reporter_phone,
        inc.reported_at, local_day(inc.reported_at), inc.due_at, inc.response_minutes, inc.state.value,
        inc.version, inc.first_response_at, inc.closed_at, inc.rework_count, inc.deferral_count,
        inc.assessment_outcome, json.dumps(list(inc.consult_departments), ensure_ascii=False),
        inc.duplicate_of, inc.repeat_of, inc.suspected_duplicate_of, inc.patrol_task_id,
        None if inc.request is None else json.dumps(inc.request, ensure_ascii=False), inc.paused_at,
        inc.satisfaction, inc.callback_count, inc.supervision_level, inc.last_seq, updated_at,
    )  # fmt: skip


def from_row(r: IncidentRow) -> Incident:
    """The aggregate of a stored incident."""
    return Incident(
        id=r.id, number=r.number, district_code=r.district_code, item_code=r.item_code,
        source=Source(r.source), lat=r.lat, lng=r.lng, cell=int(r.cell), village_code=r.village_code,
        township_code=r.township_code, team_id=int(r.team_id), handler=r.handler, department=r.department,
        routing_reason=r.routing_reason, description=r.description, reported_at=r.reported_at,
        due_at=r.due_at, response_minutes=int(r.response_minutes), reporter_name=r.reporter_name,
        reporter_phone=r.reporter_phone, external_id=r.external_id, state=State(r.state),
        version=int(r.version), first_response_at=r.first_response_at, closed_at=r.closed_at,
        rework_count=int(r.rework_count), deferral_count=int(r.deferral_count),
        assessment_outcome=r.assessment_outcome, consult_departments=tuple(json.loads(r.consult_departments)),
        duplicate_of=r.duplicate_of, repeat_of=r.repeat_of, suspected_duplicate_of=r.suspected_duplicate_of,
        patrol_task_id=r.patrol_task_id, request=None if r.request is None else json.loads(r.request),
        paused_at=r.paused_at, satisfaction=r.satisfaction, callback_count=int(r.callback_count),
        supervision_level=int(r.supervision_level),
        last_seq=int(r.last_seq), updated_at=r.updated_at,
    )  # fmt: skip


def event_to_row(e: Event, district_code: str) -> EventRow:
    """The stored form of an event."""
    return EventRow(
        e.incident_id, e.seq, district_code, e.action.value, e.from_state.value if e.from_state else None,
        e.to_state.value, e.actor, e.role, e.at, e.note, json.dumps(e.payload, ensure_ascii=False),
    )  # fmt: skip


def event_from_row(r: EventRow) -> Event:
    """The event of a stored row."""
    return Event(
        r.incident_id, int(r.seq), Action(r.action), State(r.from_state) if r.from_state else None,
        State(r.to_state), r.actor, r.role, r.at, r.note, json.loads(r.payload),
    )  # fmt: skip
