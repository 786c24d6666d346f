"""Patrol coverage: per team and week, and the cells nobody has walked for N days.

Definitions (one place, used by the page, the CLI and the tests):

- a team's *planned cells* in a week: the union of the cells of its tasks whose shift starts in
  the week (cancelled tasks excluded);
- *covered*: a planned cell with a visit (check-in or track) by one of those tasks;
  ``coverage = covered / planned``; cells visited that were not planned count as *off plan*;
- *patrol hours*: for each started task, (finished_at, or the shift end if it has not finished)
  minus started_at, never negative; planned tasks never started count 0 hours;
- *patrol-discovered incidents*: incidents of the team with source ``patrol`` reported in the
  week; per patrol hour = that count / patrol hours (empty when no hours);
- *proactive-discovery share*: patrol-discovered / all incidents of the team reported in the week.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta

import numpy as np
import numpy.typing as npt
import pandas as pd

from patrol.incidents import LOCAL_TZ
from store.protocol import Store
from store.rows import IncidentQuery, PatrolTaskRow, PatrolVisitRow

COLUMNS = (
    "team_id", "team", "township_code", "tasks", "patrol_hours", "planned_cells", "covered_cells",
    "coverage", "off_plan_cells", "incidents", "patrol_incidents", "per_patrol_hour", "proactive_share",
)  # fmt: skip


def week_bounds(spec: str) -> tuple[datetime, datetime]:
    """Local Monday 00:00 of an ISO week like ``2026-W47`` and the Monday after.

    Raises
    ------
    ValueError
        For anything that is not an ISO week.
    """
    try:
        year, week = spec.strip().upper().split("-W")
        monday = date.fromisocalendar(int(year), int(week), 1)
    except ValueError as exc:
        msg = f"not an ISO week (like 2026-W47): {spec!r}"
        raise ValueError(msg) from exc
    start = datetime(monday.year, monday.month, monday.day, tzinfo=LOCAL_TZ)
    return start, start + timedelta(days=7)


def week_of(moment: datetime) -> str:
    """The ISO week (``YYYY-Www``) of a moment, in local time."""
    year, week, _ = moment.astimezone(LOCAL_TZ).isocalendar()
    return f"{year}-W{week:02d}"


def _hours(task: PatrolTaskRow) -> float:
    if task.started_at is None:
        return 0.0
    end = task.finished_at or task.shift_end
    return max((end - task.started_at).total_seconds() / 3600.0, 0.0)


def team_week_coverage(
    tasks: Sequence[PatrolTaskRow],
    visits: Sequence[PatrolVisitRow],
    incidents: pd.DataFrame,
    teams: Mapping[int, tuple[str, str]],
) -> pd.DataFrame:
    """Coverage per team for the tasks of one week (see the module docstring).

    Parameters
    ----------
    tasks : sequence of PatrolTaskRow
        Tasks whose shift starts in the week.
    visits : sequence of PatrolVisitRow
        Visits of those tasks (others are ignored).
    incidents : pandas.DataFrame
        Columns ``team_id`` and ``source`` of the incidents reported in the week.
    teams : mapping
        Team id -> (name, township code) of every team to report; teams without tasks get a
        row with zero tasks and empty rates.
    """
    live = [t for t in tasks if t.status != "cancelled"]
    task_team = {t.id: t.team_id for t in live}
    planned: dict[int, set[int]] = {}
    hours: dict[int, float] = {}
    count: dict[int, int] = {}
    for t in live:
        planned.setdefault(t.team_id, set()).update(t.cells)
        hours[t.team_id] = hours.get(t.team_id, 0.0) + _hours(t)
        count[t.team_id] = count.get(t.team_id, 0) + 1
    visited: dict[int, set[int]] = {}
    for v in visits:
        team = task_team.get(v.task_id)
        if team is not None:
            visited.setdefault(team, set()).add(v.cell)
    inc = incidents[["team_id", "source"]] if len(incidents) else pd.DataFrame({"team_id": [], "source": []})
    all_n = inc.groupby("team_id").size()
    patrol_n = inc[inc["source"] == "patrol"].groupby("team_id").size()
    rows = []
    for team_id, (name, township) in teams.items():
        p, seen = planned.get(team_id, set()), visited.get(team_id, set())
        h = hours.get(team_id, 0.0)
        n_all, n_patrol = int(all_n.get(team_id, 0)), int(patrol_n.get(team_id, 0))
        rows.append(
            (
                team_id,
                name,
                township,
                count.get(team_id, 0),
                round(h, 2),
                len(p),
                len(p & seen),
                len(p & seen) / len(p) if p else np.nan,
                len(seen - p),
                n_all,
                n_patrol,
                n_patrol / h if h > 0 else np.nan,
                n_patrol / n_all if n_all else np.nan,
            )
        )
    return pd.DataFrame(rows, columns=list(COLUMNS))


def days_since_patrolled(
    cells: npt.ArrayLike, visits: Sequence[PatrolVisitRow], now: datetime
) -> npt.NDArray[np.float64]:
    """Days since each cell was last covered by any patrol (``inf`` if never)."""
    c = np.asarray(cells, dtype=np.int64)
    out = np.full(c.size, np.inf)
    if not visits or not c.size:
        return out
    last = pd.DataFrame({"cell": [v.cell for v in visits], "at": [v.at for v in visits]})
    last["at"] = pd.to_datetime(last["at"], utc=True)
    latest = last.groupby("cell")["at"].max()
    ts = pd.Timestamp(now)
    days = (ts - latest).dt.total_seconds().to_numpy() / 86400.0
    lookup = pd.Series(np.maximum(days, 0.0), index=latest.index.to_numpy(dtype=np.int64))
    found = lookup.reindex(c).to_numpy(dtype=float)
    return np.where(np.isnan(found), np.inf, found)


def coverage_for_week(store: Store, week: str, township_code: str | None = None) -> pd.DataFrame:
    """The team coverage table of one ISO week, read from the store (one township or all)."""
    start, end = week_bounds(week)
    tasks = store.patrol_tasks(
        township_code=township_code, starting_from=start, starting_before=end, limit=None
    )
    # a track may be uploaded after the shift: take visits up to a week after the week's end
    visits = store.patrol_visits(township_code=township_code, since=start, until=end + timedelta(days=7))
    frame = store.incident_frame(
        IncidentQuery(
            township_codes=None if township_code is None else (township_code,),
            reported_from=start,
            reported_to=end,
        ),
        ["team_id", "source"],
    )
    villages = {v.code: v.township_code for v in store.villages()}
    teams = {
        t.id: (t.name, villages[t.village_code])
        for t in store.teams()
        if township_code is None or villages[t.village_code] == township_code
    }
    return team_week_coverage(tasks, visits, frame, teams)


def stale_cells_for(
    store: Store, now: datetime, township_code: str | None = None, lookback_days: int = 90
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """Every cell of the district (or one township) and its days since last patrolled.

    ``inf`` where no patrol covered the cell in the last ``lookback_days`` days.
    """
    cells, owners = store.cell_map()
    if township_code is not None:
        villages = {v.code for v in store.villages(township_code)}
        keep = np.fromiter((o in villages for o in owners), dtype=bool, count=len(owners))
        cells = cells[keep]
    visits = store.patrol_visits(township_code=township_code, since=now - timedelta(days=lookback_days))
    return np.asarray(cells, dtype=np.int64), days_since_patrolled(cells, visits, now)
