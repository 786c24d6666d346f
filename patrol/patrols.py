"""Patrol tasks: a grid captain sends a team over cells in a shift window; inspectors walk it.

Status of a task: planned → active → done, or planned → cancelled. The first check-in or
uploaded track starts a planned task. Covered cells come from check-ins (the cell of the point
and cells whose centre is within ``CHECKIN_RADIUS_M``) and from GPX tracks (cells the track
passes through and cells whose centre is within ``geo.tracks.DEFAULT_BUFFER_M`` of it).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import numpy.typing as npt

from geo.crs import to_wgs84
from geo.grid import DEFAULT_RESOLUTION, latlng_to_cells
from geo.tracks import DEFAULT_BUFFER_M, covered_cells, read_gpx
from patrol.audit import audit_row
from patrol.district import district_context
from patrol.permissions import AccessDeniedError, check_import, check_township, within_township
from patrol.plausibility import check_text
from patrol.refusals import Refusal
from patrol.roles import Principal
from patrol.routing import OutsideDistrictError
from store.protocol import DuplicateError, Store
from store.rows import PatrolTaskRow, PatrolVisitRow

MAX_TASK_CELLS = 2000
CHECKIN_RADIUS_M = 50.0
PATROL_TRANSITIONS: dict[str, frozenset[str]] = {
    "planned": frozenset({"active", "cancelled"}),
    "active": frozenset({"done"}),
    "done": frozenset(),
    "cancelled": frozenset(),
}


class PatrolStateError(ValueError):
    """The patrol task is not in a status that allows this."""


@dataclass(frozen=True)
class Coverage:
    """What a check-in or a track added to a task."""

    task: PatrolTaskRow
    cells: tuple[int, ...]
    new_cells: int
    planned_covered: int


class PatrolService:
    """Create and read patrol tasks as a principal."""

    def __init__(self, store: Store, clock: Callable[[], datetime] | None = None) -> None:
        self._store = store
        self.clock = clock or (lambda: datetime.now(UTC))
        context = district_context(store) if store.district() is not None else None
        self.district_code = context.code if context else ""
        self.team_township = dict(context.team_township) if context else {}
        self.res = context.h3_resolution if context else DEFAULT_RESOLUTION
        self._district_cells = context.cells if context else np.empty(0, dtype=np.int64)

    def create(
        self,
        who: Principal,
        team_id: int,
        cells: Sequence[int],
        shift_start: datetime,
        shift_end: datetime,
        note: str = "",
    ) -> PatrolTaskRow:
        """Plan a patrol of ``cells`` for a team.

        Raises
        ------
        ValueError
            For an unknown team, no cells, too many cells or a shift that ends before it starts.
        AccessDeniedError
            If a captain plans for another township's team, or the role may not plan.
        """
        if who.role not in _PLANNERS:
            msg = f"a {who.role} may not plan patrols"
            raise AccessDeniedError(msg)
        check_text("note", note)
        township = self.team_township.get(int(team_id))
        if township is None:
            msg = f"no team {team_id}"
            raise ValueError(msg)
        check_township(who, township, "plan a patrol for a team")
        unique = tuple(sorted({int(c) for c in cells}))
        if not unique:
            msg = "a patrol needs at least one cell"
            raise Refusal(msg, "refuse.patrol_no_cells")
        if len(unique) > MAX_TASK_CELLS:
            msg = f"a patrol of {len(unique)} cells is too large (at most {MAX_TASK_CELLS})"
            raise Refusal(msg, "refuse.patrol_too_large", n=len(unique), most=MAX_TASK_CELLS)
        if shift_start.tzinfo is None or shift_end.tzinfo is None:
            msg = "shift times must carry a timezone"
            raise ValueError(msg)
        if shift_end <= shift_start:
            msg = "the shift must end after it starts"
            raise Refusal(msg, "refuse.shift_order")
        now = self.clock()
        # the id is the plan's content: the same plan submitted twice (a double click, two
        # reruns racing) is one task, and the database's key decides which write came first
        content = f"{self.district_code}|{team_id}|{unique}|{shift_start.timestamp()}|{shift_end.timestamp()}"
        key = hashlib.sha1(content.encode()).hexdigest()[:10]
        task = PatrolTaskRow(
            id=f"PT-{shift_start.astimezone(UTC):%Y%m%d}-{key}", district_code=self.district_code,
            township_code=township, team_id=int(team_id), cells=unique, shift_start=shift_start,
            shift_end=shift_end, status="planned", created_by=who.name, created_at=now, note=note,
        )  # fmt: skip
        record = audit_row(
            who, now, "create_patrol", "patrol", task.id, None,
            {"team_id": task.team_id, "cells": len(task.cells), "shift_start": task.shift_start,
             "shift_end": task.shift_end},
        )  # fmt: skip
        try:
            self._store.insert_patrol_tasks([task], [record])  # the task and its record commit together
        except DuplicateError:
            same = self._store.patrol_task(task.id)
            if same is not None and same.status in ("planned", "active"):
                return same
            msg = (
                "the same patrol (team, cells and shift) was already planned and has ended; change the shift"
            )
            raise Refusal(msg, "refuse.patrol_ended") from None
        return task

    def add_history(
        self, who: Principal, tasks: Sequence[PatrolTaskRow], visits: Sequence[PatrolVisitRow], source: str
    ) -> None:
        """Store past patrols with the cells they covered (the demo's weeks, another system's record).

        They are stored together with an audit row of the import from ``source``.

        Raises
        ------
        AccessDeniedError
            If the role may not bring records in, or (a captain) for another township's patrol.
        ValueError
            For a patrol of another district, of an unknown status or team, or a visit of no given patrol.
        """
        check_import(who, "patrols", (t.township_code for t in tasks))
        wrong = [
            t.id
            for t in tasks
            if t.district_code != self.district_code
            or t.status not in PATROL_TRANSITIONS
            or self.team_township.get(t.team_id) != t.township_code
        ]
        unknown = sorted({v.task_id for v in visits} - {t.id for t in tasks})
        if wrong or unknown:
            msg = f"not this district's teams or statuses: {wrong[:5]}; visits of no patrol: {unknown[:5]}"
            raise ValueError(msg)
        after = {"patrols": len(tasks), "covered_cells": len(visits)}
        record = audit_row(who, self.clock(), "import_history", "import", source, None, after)
        self._store.insert_patrol_tasks(tasks, [record], visits)

    def current_for_team(
        self, team_id: int, now: datetime | None = None, chosen: str | None = None
    ) -> PatrolTaskRow | None:
        """The patrol a report of the team belongs to now.

        The ``chosen`` one (the patrol the inspector came from) if it is the team's and under
        way; else the one the team has started, whatever its planned shift (people start early and
        run late; of several, the one started last), else a planned one whose shift covers
        ``now``.
        """
        if chosen is not None:
            picked = self._store.patrol_task(chosen)
            if picked is not None and picked.team_id == team_id and picked.status == "active":
                return picked
        at = now or self.clock()
        tasks = self._store.patrol_tasks(team_id=team_id, starting_before=at + timedelta(days=1), limit=50)
        active = [t for t in tasks if t.status == "active"]
        if active:
            return max(active, key=lambda t: t.started_at or t.shift_start)
        planned = [t for t in tasks if t.status == "planned" and t.shift_start <= at < t.shift_end]
        return planned[0] if planned else None

    def for_township(self, township_code: str | None) -> list[PatrolTaskRow]:
        """Recent tasks of a township (all townships when None)."""
        return self._store.patrol_tasks(township_code=township_code)

    # -- execution ---------------------------------------------------------------------
    def get(self, who: Principal, task_id: str) -> PatrolTaskRow:
        """One task, if ``who`` may see it.

        Raises
        ------
        KeyError
            If there is no such task.
        AccessDeniedError
            For a task of another township (captain) or team (inspector), or a role without patrols.
        """
        task = self._store.patrol_task(task_id)
        if task is None:
            msg = f"no patrol task {task_id}"
            raise KeyError(msg)
        _check_task(who, task)
        return task

    def workable_teams(self, who: Principal) -> list[int]:
        """The teams whose patrols ``who`` may work on: their own, a captain's township's, or all."""
        if who.on_team:
            return [int(who.team_id or 0)]
        return [t for t, township in self.team_township.items() if within_township(who, township)]

    def for_team(
        self, who: Principal, team_id: int, ending_after: datetime | None = None
    ) -> list[PatrolTaskRow]:
        """A team's tasks, newest first (an inspector only their own team's)."""
        township = self.team_township.get(int(team_id))
        if township is None:
            msg = f"no team {team_id}"
            raise ValueError(msg)
        probe = PatrolTaskRow(
            "", self.district_code, township, int(team_id), (), _EPOCH, _EPOCH, "planned", "", _EPOCH
        )
        _check_task(who, probe)
        return self._store.patrol_tasks(team_id=int(team_id), ending_after=ending_after)

    def start(self, who: Principal, task_id: str, at: datetime | None = None) -> PatrolTaskRow:
        """Start a planned patrol (planned → active)."""
        return self._move(who, task_id, "active", at)

    def finish(self, who: Principal, task_id: str, at: datetime | None = None) -> PatrolTaskRow:
        """Finish an active patrol (active → done)."""
        return self._move(who, task_id, "done", at)

    def cancel(self, who: Principal, task_id: str, at: datetime | None = None) -> PatrolTaskRow:
        """Cancel a planned patrol (planned → cancelled); only captains and the command center."""
        if who.role not in _PLANNERS:
            msg = f"a {who.role} may not cancel patrols"
            raise AccessDeniedError(msg)
        return self._move(who, task_id, "cancelled", at)

    def check_in(
        self,
        who: Principal,
        task_id: str,
        lat: float,
        lng: float,
        crs: str = "wgs84",
        at: datetime | None = None,
    ) -> Coverage:
        """Check in at a point: the cells around it count as covered; a planned task starts.

        Raises
        ------
        PatrolStateError
            If the task is done or cancelled.
        OutsideDistrictError
            If the point is outside the district (nothing is recorded).
        ValueError
            For coordinates that are not finite numbers.
        """
        when = at or self.clock()
        self.get(who, task_id)
        la, ln = _to_wgs84([lat], [lng], crs)
        own = latlng_to_cells(la, ln, self.res)
        if not self._inside(own).size:
            msg = f"the point {lat:.6f}, {lng:.6f} is outside the district"
            raise OutsideDistrictError(msg)
        task = self._ready(who, task_id, when, allow_done=False)
        cells = self._inside(np.union1d(own, covered_cells(la, ln, self.res, buffer_m=CHECKIN_RADIUS_M)))
        return self._record(task, cells, when, "checkin")

    def upload_track(
        self, who: Principal, task_id: str, gpx_text: str, at: datetime | None = None
    ) -> Coverage:
        """Add the cells a GPX track covered; a planned task starts, a done one still takes its track.

        Raises
        ------
        geo.tracks.TrackError
            For a file that is not a usable GPX track.
        PatrolStateError
            If the task was cancelled.
        OutsideDistrictError
            If no point of the track is inside the district.
        """
        when = at or self.clock()
        la, ln = read_gpx(gpx_text)
        if not (np.isfinite(la).all() and np.isfinite(ln).all()):
            msg = "the GPX track has points without finite coordinates"
            raise Refusal(msg, "refuse.gpx_coordinates")
        self.get(who, task_id)
        cells = np.union1d(
            latlng_to_cells(la, ln, self.res), covered_cells(la, ln, self.res, DEFAULT_BUFFER_M)
        )
        inside = self._inside(cells)
        if not inside.size:
            msg = "no point of the track is inside the district"
            raise OutsideDistrictError(msg)
        task = self._ready(who, task_id, when, allow_done=True)
        visit_at = min(when, task.finished_at or task.shift_end)
        return self._record(task, inside, visit_at, "track")

    def _ready(self, who: Principal, task_id: str, when: datetime, *, allow_done: bool) -> PatrolTaskRow:
        task = self.get(who, task_id)
        if task.status == "planned":
            return self._move(who, task_id, "active", when)
        if task.status == "active" or (allow_done and task.status == "done"):
            return task
        msg = f"patrol {task_id} is {task.status}: nothing can be recorded on it"
        raise PatrolStateError(msg)

    def _inside(self, cells: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """The cells that belong to the district."""
        if not self._district_cells.size:
            return np.empty(0, dtype=np.int64)
        pos = np.minimum(np.searchsorted(self._district_cells, cells), self._district_cells.size - 1)
        return np.asarray(cells[self._district_cells[pos] == cells], dtype=np.int64)

    def _record(
        self, task: PatrolTaskRow, cells: npt.NDArray[np.int64], at: datetime, source: str
    ) -> Coverage:
        visits = [
            PatrolVisitRow(task.id, task.team_id, task.township_code, int(c), at, source) for c in cells
        ]
        new = self._store.add_patrol_visits(visits)
        planned = set(task.cells)
        covered = {v.cell for v in self._store.patrol_visits(task_id=task.id)}
        return Coverage(task, tuple(int(c) for c in cells), new, len(planned & covered))

    def _move(self, who: Principal, task_id: str, to: str, at: datetime | None) -> PatrolTaskRow:
        task = self.get(who, task_id)
        if to not in PATROL_TRANSITIONS[task.status]:
            msg = f"patrol {task_id} is {task.status} and cannot become {to}"
            raise PatrolStateError(msg)
        when = at or self.clock()
        record = audit_row(
            who, self.clock(), f"patrol_{to}", "patrol", task_id, {"status": task.status}, {"status": to}
        )
        if not self._store.transition_patrol(task_id, task.status, to, when, [record]):
            msg = f"patrol {task_id} was changed by someone else; reload it"
            raise PatrolStateError(msg)
        moved = self._store.patrol_task(task_id)
        assert moved is not None
        return moved


_PLANNERS = ("captain", "command_center")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _check_task(who: Principal, task: PatrolTaskRow) -> None:
    """Raise AccessDeniedError unless ``who`` may see and work on the task."""
    if who.role == "command_center":
        return
    if who.role == "captain" and within_township(who, task.township_code):
        return
    if who.on_team and task.team_id == who.team_id:
        return
    msg = f"a {who.role} may not work on patrol {task.id or 'of team ' + str(task.team_id)}"
    raise AccessDeniedError(msg)


def _to_wgs84(
    lat: Sequence[float], lng: Sequence[float], crs: str
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    la_in, ln_in = np.asarray(lat, dtype=float), np.asarray(lng, dtype=float)
    if not (np.isfinite(la_in).all() and np.isfinite(ln_in).all()):
        msg = "coordinates must be finite numbers"
        raise Refusal(msg, "refuse.coordinates")
    la, ln = to_wgs84(la_in, ln_in, crs)
    return np.asarray(la, dtype=float), np.asarray(ln, dtype=float)
