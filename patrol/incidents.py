"""Incident services: report, route, flag duplicates, move through the loop, bulk create.

Every service call is made as a :class:`~patrol.roles.Principal` and checks what that
principal may see and do. Incidents are read and written through their repository
(patrol.incident_repository), one transaction a change; the district's areas, teams and
routing index come from the district context (patrol.district), shared while the areas stay.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy.typing as npt
import pandas as pd

from geo.crs import to_wgs84
from geo.grid import cells_to_latlng
from patrol.audit import AuditService, audit_row
from patrol.catalog import Catalog, load_catalog
from patrol.consultation import Consultation, latest_consultation
from patrol.district import DistrictContext, district_context
from patrol.incident import (
    COPIED_STATES,
    OPEN_STATES,
    RUNNING_STATES,
    SUPERVISION_AFTER_DAYS,
    SUPERVISION_LEVELS,
    Action,
    ConflictError,
    Event,
    Incident,
    MissingFieldError,
    Source,
    State,
    WorkflowError,
)
from patrol.incident_repository import IncidentRepository, from_row
from patrol.intake import VIA_IMPORT, VIA_REPORT, IncidentFactory, creation_payload, response_targets
from patrol.intake import BulkResult as BulkResult  # re-exported: the importer and tests take them here
from patrol.intake import NewIncident as NewIncident
from patrol.intake import ReportResult as ReportResult
from patrol.permissions import (
    AccessDeniedError,
    OutOfScopeError,
    allowed,
    check_act,
    check_import,
    check_read,
    check_township,
    masked_for,
)
from patrol.plausibility import (
    DEFAULT_WINDOW,
    MAX_CHARS,
    TimeWindow,
    check_text,
)
from patrol.refusals import Refusal
from patrol.repeats import closed_cases, link_repeats
from patrol.roles import Principal
from patrol.routing import OutsideDistrictError, Router
from patrol.stages import StageClock, stage_clocks
from patrol.workdays import LOCAL_TZ as LOCAL_TZ  # re-exported: pages and services read the zone here
from patrol.workdays import add_working_days_one
from patrol.workdays import local_day as local_day  # re-exported with the zone
from patrol.workdays import local_minutes as local_minutes
from store.protocol import Store
from store.rows import IncidentQuery as IncidentQuery  # the services' filter: pages take it from here

DUPLICATE_RADIUS_M = 50.0
DUPLICATE_WINDOW_H = 72.0


RUNNING = tuple(sorted(s.value for s in RUNNING_STATES))
COPIED = tuple(sorted(s.value for s in COPIED_STATES))
# who raises supervision when a case's lateness calls for it (patrol.incident.SUPERVISION_AFTER_DAYS)
AUTO_SUPERVISOR = Principal("自动督办", "command_center")


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
        context: DistrictContext | None = None,
    ) -> None:
        self._store = store
        self.incidents = IncidentRepository(store)
        self.time_window = time_window
        self.catalog = catalog or load_catalog()
        self.clock = clock or (lambda: datetime.now(UTC))
        self.audit = AuditService(store, self.clock)
        self.duplicate_radius_m = duplicate_radius_m
        self.duplicate_window = timedelta(hours=duplicate_window_h)
        self.context = context or district_context(store)
        self.areas = self.context.areas
        self.district = self.context.district
        self.teams = dict(self.context.teams)
        self.team_township = dict(self.context.team_township)
        self.router = Router(self.areas, self.catalog, dict(self.context.village_team))
        self.intake = IncidentFactory(
            store, self.catalog, self.router, self.district, clock=self.clock, time_window=time_window,
            duplicate_radius_m=duplicate_radius_m, duplicate_window=self.duplicate_window,
        )  # fmt: skip

    # -- reading ---------------------------------------------------------------------------
    def _load(self, incident_id: str) -> Incident:
        inc = self.incidents.get(incident_id)
        if inc is None:
            msg = f"no incident {incident_id!r}"
            raise KeyError(msg)
        return inc

    def get(self, who: Principal, incident_id: str) -> Incident:
        """One incident by id or number, if ``who`` may see it (reporter masked unless the role needs it)."""
        inc = self._load(incident_id)
        check_read(who, inc)
        return masked_for(who, inc)

    def timeline(self, who: Principal, incident_id: str) -> list[Event]:
        """The full event log of an incident, if ``who`` may see it."""
        inc = self.get(who, incident_id)
        return self.incidents.events(inc.id)

    def scoped(self, who: Principal, query: IncidentQuery) -> IncidentQuery:
        """Narrow a query to what ``who`` may see."""
        if who.role == "captain":
            if query.township_codes is not None and set(query.township_codes) - {who.township_code}:
                msg = f"captain of {who.township_code} may not list other townships"
                raise AccessDeniedError(msg)
            return replace(query, township_codes=(str(who.township_code),))
        if who.on_team:
            return replace(query, team_ids=(int(who.team_id or -1),))
        if who.role == "liaison":
            return replace(query, consult_department=str(who.department))
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
            query = replace(query, departments=(str(who.department),))
        else:
            query = self.scoped(who, query)
        return [masked_for(who, inc) for inc in self.incidents.find(query)]

    def copied(self, who: Principal, limit: int = 200, *, only_open: bool = False) -> list[Incident]:
        """The cases copied (抄告) to a liaison's department, newest first (others: none)."""
        if who.role != "liaison" or not who.department:
            return []
        items = self.catalog.copied_items(who.department)
        if not items:
            return []
        states = tuple(s for s in COPIED if not only_open or State(s) in OPEN_STATES)
        query = IncidentQuery(item_codes=tuple(sorted(items)), states=states, limit=limit)
        return [masked_for(who, inc) for inc in self.incidents.find(query)]

    def list_incidents(self, who: Principal, query: IncidentQuery) -> list[Incident]:
        """Incidents matching ``query`` within what ``who`` may see."""
        return [masked_for(who, inc) for inc in self.incidents.find(self.scoped(who, query))]

    def count_incidents(self, who: Principal, query: IncidentQuery) -> int:
        """How many incidents match ``query`` within what ``who`` may see."""
        return self.incidents.count(self.scoped(who, query))

    def known_external_ids(self, external_ids: Sequence[str]) -> set[str]:
        """Which of these external ids (another system's case numbers) the district already holds.

        Whoever asks: an import skips them and a partner's retry finds its request, even one
        the partner may not read (it is then told so instead of filing the case twice).
        """
        return self.incidents.known_external_ids(self.district.code, external_ids) if external_ids else set()

    # -- creating: one factory for a report (a batch of one) and an import (patrol.intake) ----
    def find_duplicate(self, item_code: str, lat: float, lng: float, at: datetime) -> Incident | None:
        """The open incident a report of the item here and now would duplicate, or None.

        The rule every new incident is flagged by; the report page warns of it before sending.
        """
        row = self.intake.nearest_open(item_code, lat, lng, at)
        return None if row is None else from_row(row)

    def report(self, who: Principal, cmd: NewIncident, *, repeat_of: str | None = None) -> ReportResult:
        """Create one incident as ``who``, by the factory's rules (:mod:`patrol.intake`).

        A report is one case, so it is built as one (an import's frame costs a report six times
        over), with the factory's pieces: the router, the creation scope, the response-time and
        due-time rules, the daily numbers, the duplicate and repeat rules and the creation event.

        Raises
        ------
        ValueError
            For an unknown item, a bad coordinate system or a naive time.
        ImplausibleInputError
            For a time outside the plausible window or a text too long or with control characters.
        OutsideDistrictError
            If the point lies outside the district.
        AccessDeniedError
            If the principal may not report here.
        """
        now = self.clock()
        if not allowed(who, Action.CREATE):
            msg = f"a {who.role} may not create incidents"
            raise AccessDeniedError(msg)
        try:
            item = self.catalog.item(cmd.item_code)
        except KeyError as exc:
            raise ValueError(str(exc.args[0])) from exc
        source = Source(cmd.source)
        lat_a, lng_a = to_wgs84(cmd.lat, cmd.lng, cmd.crs)
        lat, lng = float(lat_a), float(lng_a)
        reported = cmd.reported_at or now
        if reported.tzinfo is None:
            msg = "reported_at must carry a timezone"
            raise ValueError(msg)
        self.time_window.check(reported, now)
        for name in MAX_CHARS:
            check_text(name, getattr(cmd, name) or "")
        routes = self.router.route([lat], [lng], [item.code])
        where = f"({lat:.6f}, {lng:.6f})"
        if not routes.ok[0]:
            msg = f"the point {where} lies outside the district"
            raise OutsideDistrictError(msg)
        refused = self.intake.out_of_scope(who, routes)[0]
        if refused:
            msg = f"{who.role} {who.name} may not report at {where}: {refused}"
            raise OutOfScopeError(msg, refused.key, refused.values)
        dup = self.intake.nearest_open(item.code, lat, lng, reported)
        if repeat_of is None:  # a batch of one under the rule every import follows (patrol.repeats)
            one = pd.DataFrame(
                {"item_code": [item.code], "cell": [int(routes.cells[0])], "reported_at": [reported]}
            )
            closed = closed_cases(self._store, [item.code], [int(routes.cells[0])], reported, reported)
            repeat_of = link_repeats(one, closed)[0]
        number = self.intake.number(reported)
        inc = Incident(
            id=number, number=number, district_code=self.district.code, item_code=item.code,
            source=source, lat=lat, lng=lng, cell=int(routes.cells[0]),
            village_code=str(routes.village_codes[0]), township_code=str(routes.township_codes[0]),
            team_id=int(routes.team_ids[0]), handler=str(routes.handlers[0]),
            department=str(routes.departments[0]), routing_reason=str(routes.reasons[0]),
            description=cmd.description, reported_at=reported,
            due_at=add_working_days_one(reported, item.handling_days),
            response_minutes=int(response_targets(pd.Series([source.value]), [item.response_minutes])[0]),
            reporter_name=cmd.reporter_name, reporter_phone=cmd.reporter_phone,
            external_id=cmd.external_id, patrol_task_id=cmd.patrol_task_id,
            suspected_duplicate_of=None if dup is None else dup.id, repeat_of=repeat_of,
        )  # fmt: skip
        inc.record_creation(who.name, who.role, now, **creation_payload(VIA_REPORT))
        self.incidents.add(inc, now)
        return ReportResult(inc, None if dup is None else from_row(dup))

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
        self.incidents.save(inc, expected_version, now)
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
        return stage_clocks(inc, self.incidents.events(inc.id), self.catalog)

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
            for inc in self.incidents.find(query) if query.limit > 0 else []:
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
        return latest_consultation(self.incidents.events(inc.id))

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
            for u in self._store.users()
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
        submitted = [e for e in self.incidents.events(inc.id) if e.action == Action.SUBMIT]
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
    def create_many(
        self,
        frame: pd.DataFrame,
        who: Principal,
        *,
        flag_duplicates: bool = True,
        source: str | None = None,
    ) -> BulkResult:
        """Import many incidents at once as ``who`` through the one factory (:mod:`patrol.intake`).

        Raises
        ------
        AccessDeniedError
            If the role may not import (a captain's rows outside their township are refused
            one by one instead).
        """
        check_import(who)
        return self.intake.create(frame, who, via=VIA_IMPORT, flag_duplicates=flag_duplicates, source=source)[
            1
        ]

    def add_histories(self, who: Principal, incidents: Sequence[Incident], source: str) -> None:
        """Store cases made by the factory and played through their past (the demo's months).

        Each carries its creation and every later event as pending events; they are stored
        together in one transaction with an audit row of the import from ``source``.

        Raises
        ------
        AccessDeniedError
            If the role may not import.
        """
        check_import(who)
        foreign = {inc.district_code for inc in incidents} - {self.district.code}
        if foreign:
            msg = f"cases of district {', '.join(sorted(foreign))} cannot be stored in {self.district.code}"
            raise ValueError(msg)
        if incidents:
            after = {"incidents": len(incidents), "events": sum(len(inc.pending) for inc in incidents)}
            record = audit_row(who, self.clock(), "import_history", "import", source, None, after)
            self.incidents.add_histories(incidents, [record])
