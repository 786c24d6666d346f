"""Patrol tasks: a grid captain sends a team over cells in a shift window."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from patrol.permissions import AccessDeniedError
from patrol.roles import Principal
from store.protocol import Store
from store.rows import PatrolTaskRow

MAX_TASK_CELLS = 2000


class PatrolService:
    """Create and read patrol tasks as a principal."""

    def __init__(self, store: Store, clock: Callable[[], datetime] | None = None) -> None:
        self.store = store
        self.clock = clock or (lambda: datetime.now(UTC))
        district = store.district()
        self.district_code = district.code if district else ""
        villages = {v.code: v.township_code for v in store.villages()}
        self.team_township = {t.id: villages[t.village_code] for t in store.teams()}

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
        if who.role not in ("captain", "command_center"):
            msg = f"a {who.role} may not plan patrols"
            raise AccessDeniedError(msg)
        township = self.team_township.get(int(team_id))
        if township is None:
            msg = f"no team {team_id}"
            raise ValueError(msg)
        if who.role == "captain" and township != who.township_code:
            msg = f"captain of {who.township_code} may not plan for a team of {township}"
            raise AccessDeniedError(msg)
        unique = tuple(sorted({int(c) for c in cells}))
        if not unique:
            msg = "a patrol needs at least one cell"
            raise ValueError(msg)
        if len(unique) > MAX_TASK_CELLS:
            msg = f"a patrol of {len(unique)} cells is too large (at most {MAX_TASK_CELLS})"
            raise ValueError(msg)
        if shift_start.tzinfo is None or shift_end.tzinfo is None:
            msg = "shift times must carry a timezone"
            raise ValueError(msg)
        if shift_end <= shift_start:
            msg = "the shift must end after it starts"
            raise ValueError(msg)
        now = self.clock()
        task = PatrolTaskRow(
            id=f"PT-{now:%Y%m%d%H%M%S}-{os.urandom(3).hex()}", district_code=self.district_code,
            township_code=township, team_id=int(team_id), cells=unique, shift_start=shift_start,
            shift_end=shift_end, status="planned", created_by=who.name, created_at=now, note=note,
        )  # fmt: skip
        self.store.insert_patrol_task(task)
        return task

    def current_for_team(self, team_id: int, now: datetime | None = None) -> PatrolTaskRow | None:
        """The team's planned or active task whose shift covers ``now`` (or is next today)."""
        at = now or self.clock()
        tasks = self.store.patrol_tasks(team_id=team_id, ending_after=at)
        running = [t for t in tasks if t.status in ("planned", "active") and t.shift_start <= at]
        return running[0] if running else None

    def for_township(self, township_code: str | None) -> list[PatrolTaskRow]:
        """Recent tasks of a township (all townships when None)."""
        return self.store.patrol_tasks(township_code=township_code)
