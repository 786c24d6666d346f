"""Incident services: report, route, flag duplicates, move through the loop, bulk create.

Every service call is made as a :class:`~patrol.roles.Principal` and checks what that
principal may see and do. Writes go through the store protocol in one transaction each.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from typing import Any

import h3.api.basic_int as h3i
import numpy as np
import numpy.typing as npt
import pandas as pd

from geo.crs import geodesic_m, to_wgs84
from geo.grid import cells_to_latlng
from patrol.areas import AreaIndex
from patrol.audit import audit_row
from patrol.catalog import Catalog, load_catalog
from patrol.incident import (
    COPIED_STATES,
    OPEN_STATES,
    RUNNING_STATES,
    SUPERVISION_AFTER_DAYS,
    SUPERVISION_LEVELS,
    URGENT_RESPONSE_MINUTES,
    URGENT_SOURCES,
    Action,
    ConflictError,
    Event,
    Incident,
    MissingFieldError,
    Source,
    State,
    WorkflowError,
)
from patrol.permissions import (
    AccessDeniedError,
    allowed,
    check_act,
    check_import,
    check_read,
    check_township,
    creates_in,
    mask_name,
    mask_phone,
    sees_personal_data,
)
from patrol.plausibility import (
    DEFAULT_WINDOW,
    MAX_CHARS,
    TimeWindow,
    check_text,
    first_reason,
    text_refusals,
)
from patrol.refusals import Reason, Refusal
from patrol.repeats import closed_cases, link_repeats
from patrol.roles import Principal
from patrol.routing import OutsideDistrictError, Router, Routes
from patrol.stages import StageClock, stage_clocks
from patrol.workdays import LOCAL_TZ as LOCAL_TZ  # re-exported: pages and services read the zone here
from patrol.workdays import add_working_days, add_working_days_one
from store.protocol import Store, VersionConflict
from store.rows import EventRow, IncidentBatch, IncidentRow, datetime_column, datetime_to_us
from store.rows import IncidentQuery as IncidentQuery  # the services' filter: pages take it from here

DUPLICATE_RADIUS_M = 50.0
DUPLICATE_WINDOW_H = 72.0


def local_day(at: datetime) -> str:
    """The local calendar day (YYYY-MM-DD) of a time."""
    return at.astimezone(LOCAL_TZ).strftime("%Y-%m-%d")


def local_minutes(at: datetime | None) -> str:
    """A time as local minutes (``YYYY-MM-DD HH:MM``), ``—`` for none.

    A stored time too close to the end of the calendar to shift to local time (a year-9999
    row let in before times were checked) is shown in UTC instead of breaking the page.
    """
    if at is None:
        return "—"
    try:
        return at.astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M")
    except OverflowError:
        return at.strftime("%Y-%m-%d %H:%M UTC")


def response_minutes(source: str, item_minutes: int) -> int:
    """Response time target: 15 minutes for hotline and petition sources, else the item's."""
    return min(URGENT_RESPONSE_MINUTES, item_minutes) if source in URGENT_SOURCES else item_minutes


def overdue_query(
    now: datetime, township_codes: tuple[str, ...] | None = None, limit: int = 500
) -> IncidentQuery:
    """Incidents overdue at ``now``: open, clock running (not held), past due; most overdue first."""
    return IncidentQuery(
        states=RUNNING,
        due_before=now,
        township_codes=township_codes,
        limit=limit,
        order_by="due_at",
        newest_first=False,
    )


RUNNING = tuple(sorted(s.value for s in RUNNING_STATES))
COPIED = tuple(sorted(s.value for s in COPIED_STATES))
# who raises supervision when a case's lateness calls for it (patrol.incident.SUPERVISION_AFTER_DAYS)
AUTO_SUPERVISOR = Principal("自动督办", "command_center")


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


@dataclass(frozen=True)
class NewIncident:
    """What a person reports: an item at a point, with the point's coordinate system."""

    item_code: str
    lat: float
    lng: float
    source: Source | str = Source.PATROL
    description: str = ""
    crs: str = "wgs84"
    reporter_name: str = ""
    reporter_phone: str = ""
    reported_at: datetime | None = None
    external_id: str | None = None
    patrol_task_id: str | None = None


@dataclass(frozen=True)
class ReportResult:
    """The created incident and, if any, the open incident it probably duplicates."""

    incident: Incident
    suspected_duplicate: Incident | None


OUTSIDE_DISTRICT = Reason("outside the district", "reason.outside_district")
OUTSIDE_TOWNSHIP = Reason("outside your township", "reason.outside_township")


@dataclass
class BulkResult:
    """Outcome of a bulk create: how many were created, and why each refused row was refused."""

    created: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)
    duplicates_flagged: int = 0


@dataclass(frozen=True)
class Opinion:
    """A department's opinion in a consultation (会商意见): who gave it, when, what it says."""

    actor: str
    at: datetime
    text: str


@dataclass(frozen=True)
class Consultation:
    """A consultation (会商): who called it and when, the departments invited, their opinions."""

    called_by: str | None
    called_at: datetime | None
    invited: tuple[str, ...]
    opinions: dict[str, Opinion]

    @property
    def missing(self) -> tuple[str, ...]:
        """Invited departments that have not given their opinion yet."""
        return tuple(d for d in self.invited if d not in self.opinions)


@dataclass
class Assigned:
    """What a bulk assignment did: numbers assigned, changed meanwhile, refused with the refusal."""

    done: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    refused: list[tuple[str, Exception]] = field(default_factory=list)


class IncidentService:
    """The incident use cases, as one principal or another."""

    def __init__(
        self,
        store: Store,
        catalog: Catalog | None = None,
        *,
        clock: Callable[[], datetime] | None = None,
        duplicate_radius_m: float = DUPLICATE_RADIUS_M,
        duplicate_window_h: float = DUPLICATE_WINDOW_H,
        time_window: TimeWindow = DEFAULT_WINDOW,
    ) -> None:
        self.store = store
        self.time_window = time_window
        self.catalog = catalog or load_catalog()
        self.clock = clock or (lambda: datetime.now(UTC))
        self.duplicate_radius_m = duplicate_radius_m
        self.duplicate_window = timedelta(hours=duplicate_window_h)
        self.areas = AreaIndex(store)
        district = store.district()
        assert district is not None  # AreaIndex refused an empty store
        self.district = district
        self.teams = {t.id: t for t in store.teams()}
        village_township = dict(zip(self.areas.village_codes, self.areas.village_townships, strict=True))
        self.team_township = {t.id: str(village_township[t.village_code]) for t in self.teams.values()}
        self.router = Router(self.areas, self.catalog, {t.village_code: t.id for t in self.teams.values()})
        edge_m = h3i.average_hexagon_edge_length(self.areas.res, unit="m")
        self._ring_k = max(1, math.ceil(duplicate_radius_m / (math.sqrt(3) * edge_m)) + 1)

    # -- reading ---------------------------------------------------------------------------
    def _load(self, incident_id: str) -> Incident:
        row = self.store.get_incident(incident_id) or self.store.find_incident(incident_id)
        if row is None:
            msg = f"no incident {incident_id!r}"
            raise KeyError(msg)
        return from_row(row)

    def get(self, who: Principal, incident_id: str) -> Incident:
        """One incident by id or number, if ``who`` may see it (reporter masked unless the role needs it)."""
        inc = self._load(incident_id)
        check_read(who, inc)
        return _masked_for(who, inc)

    def timeline(self, who: Principal, incident_id: str) -> list[Event]:
        """The full event log of an incident, if ``who`` may see it."""
        inc = self.get(who, incident_id)
        return [event_from_row(r) for r in self.store.events(inc.id)]

    def scoped(self, who: Principal, query: IncidentQuery) -> IncidentQuery:
        """Narrow a query to what ``who`` may see."""
        if who.role == "captain":
            if query.township_codes is not None and set(query.township_codes) - {who.township_code}:
                msg = f"captain of {who.township_code} may not list other townships"
                raise AccessDeniedError(msg)
            return _replace_query(query, township_codes=(str(who.township_code),))
        if who.on_team:
            return _replace_query(query, team_ids=(int(who.team_id or -1),))
        if who.role == "liaison":
            return _replace_query(query, consult_department=str(who.department))
        return query

    def awaiting_decision(self, who: Principal, limit: int = 100) -> list[Incident]:
        """What waits for the command centre: pending requests (延期/挂账), then disputes; oldest first."""
        asked = IncidentQuery(
            states=(State.HANDLING.value,), has_request=True, newest_first=False, limit=limit
        )
        disputed = IncidentQuery(states=(State.DISPUTED.value,), newest_first=False, limit=limit)
        return self.list_incidents(who, asked) + self.list_incidents(who, disputed)

    def supervised(self, who: Principal, limit: int = 100) -> list[Incident]:
        """Open cases under supervision (督办) that ``who`` may see, most overdue first."""
        query = IncidentQuery(
            states=RUNNING, min_supervision=1, order_by="due_at", newest_first=False, limit=limit
        )
        return self.list_incidents(who, query)

    def handovers(self, who: Principal, states: Sequence[State] = (State.HANDED_OVER,)) -> list[Incident]:
        """Handed-over incidents (移交) in ``states``: a liaison's department's, or those ``who`` may see."""
        query = IncidentQuery(
            states=tuple(s.value for s in states), order_by="reported_at", newest_first=False
        )
        if who.role == "liaison":
            query = _replace_query(query, departments=(str(who.department),))
        else:
            query = self.scoped(who, query)
        return [_masked_for(who, from_row(r)) for r in self.store.list_incidents(query)]

    def copied(self, who: Principal, limit: int = 200, *, only_open: bool = False) -> list[Incident]:
        """The cases copied (抄告) to a liaison's department, newest first (others: none)."""
        if who.role != "liaison" or not who.department:
            return []
        items = self.catalog.copied_items(who.department)
        if not items:
            return []
        states = tuple(s for s in COPIED if not only_open or State(s) in OPEN_STATES)
        query = IncidentQuery(item_codes=tuple(sorted(items)), states=states, limit=limit)
        return [_masked_for(who, from_row(r)) for r in self.store.list_incidents(query)]

    def list_incidents(self, who: Principal, query: IncidentQuery) -> list[Incident]:
        """Incidents matching ``query`` within what ``who`` may see."""
        return [_masked_for(who, from_row(r)) for r in self.store.list_incidents(self.scoped(who, query))]

    def count_incidents(self, who: Principal, query: IncidentQuery) -> int:
        """How many incidents match ``query`` within what ``who`` may see."""
        return self.store.count_incidents(self.scoped(who, query))

    # -- duplicates --------------------------------------------------------------------------
    def find_duplicate(self, item_code: str, lat: float, lng: float, at: datetime) -> Incident | None:
        """The nearest open incident of the same item within the radius and time window."""
        cell = h3i.latlng_to_cell(lat, lng, self.areas.res)
        ring = [int(c) for c in h3i.grid_disk(cell, self._ring_k)]
        candidates = self.store.open_incidents_near(item_code, ring, at - self.duplicate_window)
        earlier = [row for row in candidates if row.reported_at <= at]
        if not earlier:
            return None
        dist = geodesic_m(lat, lng, [r.lat for r in earlier], [r.lng for r in earlier])
        nearest = int(np.argmin(dist))
        return from_row(earlier[nearest]) if dist[nearest] <= self.duplicate_radius_m else None

    # -- creating --------------------------------------------------------------------------
    def _number_key(self, at: datetime) -> str:
        return f"{self.district.number_prefix}-{at.astimezone(LOCAL_TZ):%Y%m%d}"

    def build(self, cmd: NewIncident, at: datetime) -> Incident:
        """Route a report into a new incident (not yet stored, no number)."""
        try:
            item = self.catalog.item(cmd.item_code)
        except KeyError as exc:
            raise ValueError(str(exc.args[0])) from exc
        source = Source(cmd.source)
        lat_a, lng_a = to_wgs84(cmd.lat, cmd.lng, cmd.crs)
        lat, lng = float(lat_a), float(lng_a)
        routes = self.router.route([lat], [lng], [item.code])
        if not routes.ok[0]:
            msg = f"the point ({lat:.6f}, {lng:.6f}) lies outside the district"
            raise OutsideDistrictError(msg)
        reported = cmd.reported_at or at
        if reported.tzinfo is None:
            msg = "reported_at must carry a timezone"
            raise ValueError(msg)
        self.time_window.check(reported, at)
        for name in MAX_CHARS:
            check_text(name, getattr(cmd, name) or "")
        return Incident(
            id="", number="", district_code=self.district.code, item_code=item.code,
            source=source, lat=lat, lng=lng, cell=int(routes.cells[0]),
            village_code=str(routes.village_codes[0]), township_code=str(routes.township_codes[0]),
            team_id=int(routes.team_ids[0]), handler=str(routes.handlers[0]),
            department=str(routes.departments[0]), routing_reason=str(routes.reasons[0]),
            description=cmd.description, reported_at=reported,
            due_at=add_working_days_one(reported, item.handling_days),
            response_minutes=response_minutes(source.value, item.response_minutes),
            reporter_name=cmd.reporter_name, reporter_phone=cmd.reporter_phone,
            external_id=cmd.external_id, patrol_task_id=cmd.patrol_task_id,
        )  # fmt: skip

    def report(self, who: Principal, cmd: NewIncident, *, repeat_of: str | None = None) -> ReportResult:
        """Create an incident: route it, flag a suspected duplicate, record the creation.

        Raises
        ------
        ValueError
            For an unknown item, a bad coordinate system or a naive time.
        OutsideDistrictError
            If the point lies outside the district.
        AccessDeniedError
            If the principal may not report here.
        """
        now = self.clock()
        inc = self.build(cmd, now)
        check_act(who, inc, Action.CREATE)
        dup = self.find_duplicate(inc.item_code, inc.lat, inc.lng, inc.reported_at)
        if dup is not None:
            inc.suspected_duplicate_of = dup.id
        if repeat_of is None:  # a batch of one under the rule every import follows (patrol.repeats)
            one = pd.DataFrame(
                {"item_code": [inc.item_code], "cell": [inc.cell], "reported_at": [inc.reported_at]}
            )
            closed = closed_cases(self.store, [inc.item_code], [inc.cell], inc.reported_at, inc.reported_at)
            repeat_of = link_repeats(one, closed)[0]
        inc.repeat_of = repeat_of
        key = self._number_key(inc.reported_at)
        first = self.store.allocate_numbers({key: 1})[key]
        inc.number = f"{self._number_key(inc.reported_at)}-{first:04d}"
        inc.id = inc.number  # the human number is unique in the district and time-ordered
        inc.record_creation(
            who.name, who.role, now, note=cmd.description[:200],
            routing=inc.routing_reason, handler=inc.handler, department=inc.department,
            suspected_duplicate_of=inc.suspected_duplicate_of, repeat_of=repeat_of,
        )  # fmt: skip
        events = [event_to_row(e, inc.district_code) for e in inc.pending]
        self.store.insert_incidents(IncidentBatch.from_rows([to_row(inc, now)], events))
        inc.pending.clear()
        return ReportResult(inc, dup)

    def report_repeat(self, who: Principal, closed_id: str, cmd: NewIncident) -> ReportResult:
        """A complaint about a closed case: a new incident linked as a repeat (反复发案)."""
        old = self.get(who, closed_id)
        if old.state != State.CLOSED:
            msg = f"incident {old.number} is {old.state.value}, not closed: add to it instead of a repeat"
            raise ValueError(msg)
        return self.report(who, cmd, repeat_of=old.id)

    # -- the loop --------------------------------------------------------------------------
    def cell_places(self, cells: npt.ArrayLike) -> list[str | None]:
        """Each H3 cell (any resolution) named by the village its centre lies in: "township · village"."""
        lat, lng = cells_to_latlng(cells)
        return self.areas.places(lat, lng)

    def act(
        self,
        who: Principal,
        incident_id: str,
        action: Action | str,
        *,
        expected_version: int,
        note: str = "",
        **fields: Any,
    ) -> Incident:
        """Apply one workflow action as ``who``, refusing a stale version.

        Raises
        ------
        ConflictError
            If the incident changed since ``expected_version`` (nothing is written).
        AccessDeniedError, IllegalTransitionError, MissingFieldError
            As the permissions and the transition table say.
        """
        act = Action(action)
        check_text("note", note)
        for name, value in fields.items():
            if isinstance(value, str):
                check_text(name, value)
        inc = self._load(incident_id)
        check_act(who, inc, act)
        if inc.version != expected_version:
            msg = f"incident {inc.number} was changed by someone else (now version {inc.version}); reload it"
            raise ConflictError(msg)
        if act in (Action.DISPATCH, Action.REASSIGN) and fields.get("team_id") not in (None, ""):
            fields["township_code"] = self._check_team(who, fields["team_id"])
        if act == Action.HANDOVER and fields.get("department") not in (None, "", *self.catalog.departments):
            msg = f"no department {fields['department']} in the catalog"
            raise MissingFieldError(msg, ("department",))
        if act == Action.CONSULT:
            unknown = sorted(set(fields.get("departments") or ()) - set(self.catalog.departments))
            if unknown:
                msg = f"no department {', '.join(map(str, unknown))} in the catalog"
                raise MissingFieldError(msg, ("departments",))
        if (
            act == Action.REQUEST
            and fields.get("kind") == "defer"
            and isinstance(fields.get("new_due_at"), datetime)
        ):
            latest = self.latest_deferral(inc)
            if fields["new_due_at"] > latest:
                days = self.catalog.items[inc.item_code].handling_days
                msg = f"a deferral of {inc.number} may move its due time by {days} working days at most"
                raise Refusal(msg, "refuse.defer_too_long", days=days, latest=local_minutes(latest))
        item = self.catalog.item(inc.item_code)
        if (
            act == Action.DISPATCH
            and fields.get("outcome") == "first_offence_no_penalty"
            and not item.first_offence
        ):
            msg = f"{item.name_zh} is not on the list of first offences without penalty (首违不罚)"
            raise Refusal(msg, "refuse.first_offence_not_listed", item=item.name_zh)
        if act == Action.OPINION:  # a department speaks for itself, once per consultation
            fields["department"] = who.department if who.role == "liaison" else fields.get("department")
            if fields["department"] in self.consultation(inc).opinions:
                msg = f"{fields['department']} has given its opinion on {inc.number}"
                raise Refusal(msg, "refuse.opinion_given")
        fields.pop("copies", None)  # said by the catalog, not by the caller
        if act in (Action.DISPATCH, Action.HANDOVER):  # taken on or handed over: 抄告 as the item says
            copies = item.copies(fields.get("department") if act == Action.HANDOVER else None)
            if copies:
                fields["copies"] = copies
        if act == Action.SUBMIT and inc.assessment_outcome == "case" and fields.get("officers"):
            fields["officers"] = self._officers(who, inc, fields["officers"])
        if act == Action.DECIDE:
            self._check_decider(who, inc)
        if act == Action.VERIFY and self._submitted_by(inc) == who.name:  # never one's own result
            msg = f"{who.name} submitted the result of {inc.number}; someone else must verify it"
            raise Refusal(msg, "refuse.verify_own_result")
        if act == Action.MERGE and fields.get("canonical_id"):
            canonical = self._load(str(fields.get("canonical_id", "")))
            check_read(who, canonical)
            fields["canonical_id"] = canonical.id
        now = self.clock()
        inc.apply(act, actor=who.name, role=who.role, at=now, note=note, **fields)
        try:
            self.store.update_incident(
                to_row(inc, now), expected_version, [event_to_row(e, inc.district_code) for e in inc.pending]
            )
        except VersionConflict as exc:
            raise ConflictError(str(exc)) from exc
        inc.pending.clear()
        return inc

    def assign_many(
        self, who: Principal, incident_ids: Sequence[str], team_id: int, note: str = ""
    ) -> Assigned:
        """Give incidents to a team at once (网格调度): assess what is new, dispatch, or reassign.

        Each incident is a transaction of its own; one that cannot be assigned (another
        township's, a department's matter to hand over, a state with no assignment, or changed
        meanwhile) is reported and the others go on.
        """
        out = Assigned()
        for incident_id in incident_ids:
            inc = self.get(who, incident_id)
            try:
                if inc.state == State.DISCOVERED:
                    inc = self.act(who, inc.id, Action.ASSESS, expected_version=inc.version, note=note)
                if inc.state in (State.ASSESSING, State.RETURNED):
                    self.act(
                        who,
                        inc.id,
                        Action.DISPATCH,
                        expected_version=inc.version,
                        team_id=team_id,
                        outcome="simple",
                    )
                elif inc.state == State.HANDLING:
                    self.act(who, inc.id, Action.REASSIGN, expected_version=inc.version, team_id=team_id)
                else:
                    msg = f"{inc.number} is {inc.state.value}: nothing to assign"
                    raise Refusal(msg, "refuse.not_assignable", state=inc.state.value)
                out.done.append(inc.number)
            except ConflictError:
                out.conflicts.append(inc.number)
            except (WorkflowError, AccessDeniedError, Refusal) as exc:
                out.refused.append((inc.number, exc))
        return out

    def acceptance_due(self, inc: Incident) -> datetime | None:
        """By when the department must accept or return a handover (None: not handed over).

        Its accept hours in working time from the handover (the acceptance stage's clock).
        """
        if inc.state != State.HANDED_OVER:
            return None
        now = [c for c in self._stage_clocks(inc) if c.stage == "acceptance" and c.ended is None]
        return now[-1].due if now else None

    def stage_clocks(self, who: Principal, inc: Incident) -> list[StageClock]:
        """Each timed stage of the case (响应, 研判, 部门接收, 处置, 核查): limit, end, late or not."""
        check_read(who, inc)
        return self._stage_clocks(inc)

    def _stage_clocks(self, inc: Incident) -> list[StageClock]:
        return stage_clocks(inc, [event_from_row(r) for r in self.store.events(inc.id)], self.catalog)

    def escalate_overdue(
        self, township_codes: tuple[str, ...] | None = None, limit: int = 100_000
    ) -> list[str]:
        """Raise 督办 on every overdue case whose lateness calls for a higher level; their numbers.

        The database finds exactly the cases below the level their lateness calls for (the
        highest level first), so nothing waits behind cases already supervised enough. At most
        ``limit`` cases a run; idempotent, so the command page (a few at a time) and ``gridpatrol
        supervise`` (cron, all) may both run it as often as they like.
        """
        now = self.clock()
        raised: list[str] = []
        thresholds = sorted(zip(SUPERVISION_LEVELS, SUPERVISION_AFTER_DAYS, strict=True), reverse=True)
        for level, days in thresholds:
            query = IncidentQuery(
                states=RUNNING, due_before=now - timedelta(days=days), below_supervision=level,
                township_codes=township_codes, limit=limit - len(raised), order_by="due_at",
                newest_first=False,
            )  # fmt: skip
            for row in self.store.list_incidents(query) if query.limit > 0 else []:
                inc = from_row(row)
                late = (now - inc.due_at).days
                try:
                    self.act(
                        AUTO_SUPERVISOR, inc.id, Action.SUPERVISE, expected_version=inc.version, level=level,
                        reason=f"超期 {late} 天，自动督办",
                    )  # fmt: skip
                except ConflictError:  # changed meanwhile: the next run looks again
                    continue
                raised.append(inc.number)
        return raised

    def latest_deferral(self, inc: Incident) -> datetime:
        """The latest due time one deferral may ask: one more handling period of the item, in working days."""
        return add_working_days_one(inc.due_at, self.catalog.items[inc.item_code].handling_days)

    def consultation(self, inc: Incident) -> Consultation:
        """The current (latest) consultation of an incident, read from its timeline."""
        events = self.store.events(inc.id)
        start = max((k for k, e in enumerate(events) if e.action == Action.CONSULT.value), default=None)
        if start is None:
            return Consultation(None, None, (), {})
        called = events[start]
        opinions = {}
        for e in events[start + 1 :]:
            if e.action == Action.OPINION.value:
                payload = json.loads(e.payload)
                opinions[str(payload["department"])] = Opinion(e.actor, e.at, str(payload["opinion"]))
        invited = tuple(json.loads(called.payload).get("departments", []))
        return Consultation(called.actor, called.at, invited, opinions)

    def _check_decider(self, who: Principal, inc: Incident) -> None:
        """Refuse a decision by anyone but the caller, or before every invited department spoke.

        The command centre may decide at any time: a department that never answers blocks nothing.
        """
        if who.role == "command_center":
            return
        talk = self.consultation(inc)
        if talk.called_by is not None and who.name != talk.called_by:
            msg = f"{talk.called_by} called the consultation on {inc.number}: they or the command centre rule"
            raise Refusal(msg, "refuse.decide_not_caller", caller=talk.called_by)
        if talk.missing:
            msg = f"the consultation on {inc.number} waits for {', '.join(talk.missing)}"
            raise Refusal(msg, "refuse.opinions_missing", departments="、".join(talk.missing))

    def certified_officers(self, who: Principal, inc: Incident) -> dict[str, str]:
        """The certified officers (执法队员) of the incident's township: user name → display name.

        Two of them sign the result of a formal case (立案).
        """
        check_read(who, inc)
        return {
            u.username: u.display_name or u.username
            for u in self.store.users()
            if u.active
            and u.role == "inspector"
            and u.team_id is not None
            and self.team_township.get(u.team_id) == inc.township_code
        }

    def _officers(self, who: Principal, inc: Incident, names: Any) -> list[str]:
        """Check the officers named for a formal case's result; return them as "name（user）"."""
        officers = self.certified_officers(who, inc)
        wanted = list(dict.fromkeys(str(n).strip() for n in names if str(n).strip()))
        unknown = [n for n in wanted if n not in officers]
        if unknown:
            msg = f"{', '.join(unknown)}: not a certified officer (执法队员) of township {inc.township_code}"
            raise Refusal(msg, "refuse.not_certified_officer", names="、".join(unknown))
        return [f"{officers[n]}（{n}）" for n in wanted]

    def _submitted_by(self, inc: Incident) -> str | None:
        """Who handed in the incident's latest handling result (None if nobody has)."""
        submitted = [e for e in self.store.events(inc.id) if e.action == Action.SUBMIT.value]
        return submitted[-1].actor if submitted else None

    def actions_for(self, who: Principal, inc: Incident) -> list[Action]:
        """The actions ``who`` may take on the incident now.

        What the incident admits now (:meth:`Incident.available`), what the role may do, and the
        rules of duty: nobody verifies their own result or decides their own request (the same
        rules ``act`` enforces).
        """
        out = [a for a in inc.available(self.clock()) if allowed(who, a)]
        if Action.VERIFY in out and self._submitted_by(inc) == who.name:
            out.remove(Action.VERIFY)
        if inc.request is not None and inc.request["by"] == who.name:  # nobody decides their own request
            out = [a for a in out if a not in (Action.APPROVE, Action.REFUSE)]
        if Action.DECIDE in out or Action.OPINION in out:
            talk = self.consultation(inc)
            if Action.OPINION in out and (who.department not in talk.missing):  # invited, not yet spoken
                out.remove(Action.OPINION)
            if Action.DECIDE in out and who.role != "command_center":
                if talk.missing or (talk.called_by is not None and talk.called_by != who.name):
                    out.remove(Action.DECIDE)
        return out

    def _check_team(self, who: Principal, team_id: Any) -> str:
        """The township of an existing team ``who`` may assign to.

        Raises
        ------
        MissingFieldError
            If there is no such team.
        AccessDeniedError
            If a captain names a team of another township.
        """
        try:
            team = self.teams.get(int(team_id))
        except (TypeError, ValueError):
            team = None
        if team is None:
            msg = f"no team {team_id!r}"
            raise MissingFieldError(msg, ("team_id",))
        township = self.team_township[team.id]
        check_township(who, township, "assign to a team")
        return str(township)

    # -- bulk ------------------------------------------------------------------------------
    def prepare_many(
        self, frame: pd.DataFrame, *, who: Principal | None = None, flag_duplicates: bool = True
    ) -> tuple[pd.DataFrame, BulkResult]:
        """Route, number and time many reports at once; return one row per routable report.

        ``frame`` has columns item_code, lat, lng (WGS84), source, reported_at (tz-aware),
        and optionally description, external_id, reporter_name, reporter_phone. Rows that
        are implausible, cannot be routed, or (given ``who``) fall outside what ``who`` may
        create are refused in the result with their index and reason.
        """
        result = BulkResult()
        implausible = first_reason(
            self.time_window.refusals(frame["reported_at"], self.clock()),
            *(text_refusals(frame[name], name) for name in MAX_CHARS if name in frame),
        )
        routes = self.router.route(
            frame["lat"].to_numpy(), frame["lng"].to_numpy(), frame["item_code"].to_numpy()
        )
        outside = np.full(len(frame), "", dtype=object)
        outside[~routes.ok] = OUTSIDE_DISTRICT
        scope = np.full(len(frame), "", dtype=object)
        if who is not None and who.role == "captain":
            codes = routes.township_codes
            allowed = np.fromiter((creates_in(who, str(c)) for c in codes), bool, len(codes))
            scope[routes.ok & ~allowed] = OUTSIDE_TOWNSHIP
        reasons = first_reason(implausible, outside, scope)
        result.rejected.extend(
            (int(frame.index[i]), reasons[i]) for i in np.flatnonzero(reasons != "").tolist()
        )
        routed = np.flatnonzero(reasons == "")
        n = routed.size
        out = pd.DataFrame(index=range(n))
        if n == 0:
            return out, result
        # oldest first: numbers (and so ids) grow with time, and indexes are appended to;
        # one take of the frame in that order (each take copies every column)
        reported_all = pd.to_datetime(frame["reported_at"], utc=True)
        taken = routed[reported_all.iloc[routed].argsort(kind="stable").to_numpy()]
        df = frame.iloc[taken].reset_index(drop=True)
        routes = _take(routes, taken)
        ok = np.ones(n, dtype=bool)
        reported = reported_all.iloc[taken].reset_index(drop=True)
        items = _obj(df["item_code"].astype(str).to_numpy(dtype=object))
        sources = _obj(df["source"].astype(str).to_numpy(dtype=object))
        cat = self.catalog.items
        handling_days = items.map({c: i.handling_days for c, i in cat.items()}).to_numpy()
        item_minutes = items.map({c: i.response_minutes for c, i in cat.items()}).to_numpy()
        urgent = sources.isin([s.value for s in URGENT_SOURCES]).to_numpy()
        day_codes, day_names = _local_days(reported)
        out["number"] = _obj(self._allocate_bulk(day_codes, [d.replace("-", "") for d in day_names]))
        out["id"] = out["number"]
        out["item_code"] = items
        out["source"] = sources
        out["lat"] = df["lat"].to_numpy(float)
        out["lng"] = df["lng"].to_numpy(float)
        out["cell"] = routes.cells[ok]
        out["village_code"] = _obj(routes.village_codes[ok])
        out["township_code"] = _obj(routes.township_codes[ok])
        out["team_id"] = routes.team_ids[ok]
        out["handler"] = _obj(routes.handlers[ok])
        out["department"] = _obj(routes.departments[ok])
        out["routing_reason"] = _obj(routes.reasons[ok])
        out["reported_at"] = reported
        out["day"] = _obj(np.array(day_names, dtype=object)[day_codes])
        out["due_at"] = add_working_days(reported, handling_days)  # working days, the one rule of both paths
        out["response_minutes"] = np.where(
            urgent, np.minimum(URGENT_RESPONSE_MINUTES, item_minutes), item_minutes
        )
        for col in ("description", "reporter_name", "reporter_phone"):
            out[col] = _obj(df[col].fillna("").astype(str).to_numpy(dtype=object)) if col in df else ""
        out["external_id"] = (
            _obj(df["external_id"].astype(object).where(df["external_id"].notna(), None).to_numpy())
            if "external_id" in df
            else None
        )
        out["suspected_duplicate_of"] = None
        if flag_duplicates:
            out["suspected_duplicate_of"] = _obj(self._bulk_duplicates(out, reported, out["id"].tolist()))
            result.duplicates_flagged = int(out["suspected_duplicate_of"].notna().sum())
        closed = closed_cases(self.store, items, out["cell"], reported.min(), reported.max())
        out["repeat_of"] = _obj(link_repeats(out, closed))
        return out, result

    def create_many(
        self,
        frame: pd.DataFrame,
        who: Principal,
        *,
        flag_duplicates: bool = True,
        source: str | None = None,
    ) -> BulkResult:
        """Create many incidents at once (import) as ``who``: routing, numbers, creation events, rollups.

        The incidents that can be routed commit together in one transaction, written
        column by column so that a million rows stay fast. The creation events name ``who``;
        given a ``source`` (the file's name), an audit row of the batch commits with it, so an
        import killed later still leaves a record of every batch it stored.

        Raises
        ------
        AccessDeniedError
            If the role may not import (a captain's rows outside their township are refused
            one by one instead).
        """
        check_import(who)
        now = np.datetime64(datetime_to_us(self.clock()), "us")
        prepared, result = self.prepare_many(frame, who=who, flag_duplicates=flag_duplicates)
        n = len(prepared)
        if n == 0:
            return result
        numbers = prepared["number"].tolist()
        suspected = [s if isinstance(s, str) else None for s in prepared["suspected_duplicate_of"].tolist()]
        columns = (
            "item_code", "source", "lat", "lng", "cell", "village_code", "township_code", "team_id",
            "handler",
            "department", "routing_reason", "description", "reporter_name", "reporter_phone", "day",
            "response_minutes", "external_id",
        )  # fmt: skip
        incidents: dict[str, Any] = {
            **{c: prepared[c].to_numpy() for c in columns},
            "id": numbers,
            "number": numbers,
            "district_code": self.district.code,
            "reported_at": datetime_column(prepared["reported_at"]),
            "due_at": datetime_column(prepared["due_at"]),
            "state": State.DISCOVERED.value,
            "version": 1,
            "first_response_at": None,
            "closed_at": None,
            "rework_count": 0,
            "deferral_count": 0,
            "assessment_outcome": None,
            "consult_departments": "[]",
            "duplicate_of": None,
            "repeat_of": prepared["repeat_of"].to_numpy() if "repeat_of" in prepared else None,
            "suspected_duplicate_of": suspected,
            "patrol_task_id": None,
            "request": None,
            "paused_at": None,
            "satisfaction": None,
            "callback_count": 0,
            "supervision_level": 0,
            "last_seq": 1,
            "updated_at": now,
        }
        # routing and duplicate flags are on each incident row; the creation event says how it came
        creation = {
            "action": Action.CREATE.value,
            "to_state": State.DISCOVERED.value,
            "actor": who.name,
            "role": who.role,
            "at": now,
            "note": "",
            "payload": json.dumps({"via": "bulk import"}, ensure_ascii=False),
        }
        audit = (
            (
                audit_row(
                    who, self.clock(), "import_batch", "import", source, None,
                    {"created": n, "first": numbers[0], "last": numbers[-1],
                     "refused": len(result.rejected), "suspected_duplicates": result.duplicates_flagged},
                ),
            )
            if source is not None
            else ()
        )  # fmt: skip
        self.store.insert_incidents(IncidentBatch.new_incidents(incidents, n, creation, audit))
        result.created = n
        return result

    def _allocate_bulk(self, day_codes: npt.NDArray[np.intp], day_keys: Sequence[str]) -> list[str]:
        """Consecutive numbers per day (``day_keys[day_codes[i]]`` is row i's YYYYMMDD), in row order."""
        numbers: list[str] = [""] * len(day_codes)
        order = np.argsort(day_codes, kind="stable")
        groups = np.split(order, np.flatnonzero(np.diff(day_codes[order])) + 1)
        prefix = self.district.number_prefix
        keys = [f"{prefix}-{day_keys[int(day_codes[idx[0]])]}" for idx in groups]
        firsts = self.store.allocate_numbers({key: len(idx) for key, idx in zip(keys, groups, strict=True)})
        for key, idx in zip(keys, groups, strict=True):
            first = firsts[key]
            for i, number in zip(np.asarray(idx).tolist(), range(first, first + len(idx)), strict=True):
                numbers[i] = f"{key}-{number:04d}"
        return numbers

    def _bulk_duplicates(self, df: pd.DataFrame, reported: pd.Series, ids: Sequence[str]) -> list[str | None]:
        """Suspected duplicates of a batch, against the store and earlier rows of the batch."""
        from patrol.duplicates import flag_duplicates

        items = df["item_code"].to_numpy(dtype=object)
        lat, lng = df["lat"].to_numpy(float), df["lng"].to_numpy(float)
        return flag_duplicates(
            self.store, items, lat, lng, reported, list(ids), self.duplicate_radius_m, self.duplicate_window
        )


def _obj(values: Any) -> pd.Series:
    """A column kept as plain Python objects (no conversion to Arrow strings and back)."""
    return pd.Series(np.asarray(values, dtype=object), dtype=object)


def _local_days(reported: pd.Series) -> tuple[npt.NDArray[np.intp], list[str]]:
    """Local calendar days of UTC times (China keeps UTC+8 all year), vectorised.

    Returns a code per time and the distinct days as YYYY-MM-DD, ``names[codes[i]]`` being
    the day of time i: a year of reports has a few hundred days, each formatted once.
    """
    offset = LOCAL_TZ.utcoffset(datetime(2000, 1, 1))
    assert offset is not None
    utc = reported.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy(dtype="datetime64[s]")
    local = (utc + np.timedelta64(int(offset.total_seconds()), "s")).astype("datetime64[D]")
    codes, uniques = pd.factorize(local.astype(np.int64))
    names: list[str] = np.datetime_as_string(uniques.astype("datetime64[D]"), unit="D").tolist()
    return codes, names


def _take(routes: Routes, idx: npt.NDArray[np.int64]) -> Routes:
    """The routes of the points at ``idx``, in that order."""
    return Routes(*(getattr(routes, f.name)[idx] for f in fields(Routes)))


def _masked_for(who: Principal, inc: Incident) -> Incident:
    """The incident as ``who`` may see it: reporter name and phone masked unless the role needs them."""
    if sees_personal_data(who) or not (inc.reporter_name or inc.reporter_phone):
        return inc
    from dataclasses import replace

    return replace(
        inc, reporter_name=mask_name(inc.reporter_name), reporter_phone=mask_phone(inc.reporter_phone)
    )


def _replace_query(q: IncidentQuery, **changes: Any) -> IncidentQuery:
    from dataclasses import replace

    return replace(q, **changes)
