"""Coverage per team and week, stale cells, and merging joint inspections: hand-computed cases."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from patrol.coverage import days_since_patrolled, team_week_coverage, week_bounds, week_of
from patrol.inspections import merge_visits, repeat_warnings
from store.rows import InspectionRow, PatrolTaskRow, PatrolVisitRow

T0 = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)


def task(tid, team, cells, status="done", started=0.0, finished=2.0, hours=4):
    return PatrolTaskRow(
        tid, "D", "TW", team, tuple(cells), T0, T0 + timedelta(hours=hours), status, "c", T0, "",
        None if started is None else T0 + timedelta(hours=started),
        None if finished is None else T0 + timedelta(hours=finished),
    )  # fmt: skip


def visit(tid, team, cell, days=0.0):
    return PatrolVisitRow(tid, team, "TW", cell, T0 + timedelta(days=days), "checkin")


def test_week_bounds_are_local_mondays_and_bad_weeks_are_refused():
    start, end = week_bounds("2026-W48")
    assert start.isoformat() == "2026-11-23T00:00:00+08:00" and end - start == timedelta(days=7)
    assert week_of(start) == "2026-W48" and week_of(end - timedelta(seconds=1)) == "2026-W48"
    for bad in ("2026-48", "2026-W60", "W48", ""):
        with pytest.raises(ValueError, match="ISO week"):
            week_bounds(bad)


def test_coverage_counts_planned_covered_off_plan_hours_and_discovery_rates():
    tasks = [
        task("a", 1, [1, 2, 3, 4]),  # 2 h
        task("b", 1, [4, 5], status="active", finished=None),  # 0 → shift end: 4 h
        task("c", 1, [9], status="cancelled"),
        task("d", 2, [7], status="planned", started=None, finished=None),
    ]
    visits = [visit("a", 1, 1), visit("a", 1, 2), visit("b", 1, 5), visit("b", 1, 6), visit("c", 1, 9)]
    incidents = pd.DataFrame(
        {"team_id": [1, 1, 1, 2], "source": ["patrol", "patrol", "hotline_12345", "citizen"]}
    )
    got = team_week_coverage(
        tasks, visits, incidents, {1: ("一队", "TW"), 2: ("二队", "TW"), 3: ("三队", "TW")}
    )
    one, two, three = (got.iloc[i] for i in range(3))
    assert (one.tasks, one.planned_cells, one.covered_cells, one.off_plan_cells) == (2, 5, 3, 1)
    assert one.coverage == pytest.approx(3 / 5) and one.patrol_hours == pytest.approx(6.0)
    assert one.per_patrol_hour == pytest.approx(2 / 6) and one.proactive_share == pytest.approx(2 / 3)
    assert (two.tasks, two.patrol_hours, two.covered_cells) == (1, 0.0, 0)
    assert two.coverage == 0 and math.isnan(two.per_patrol_hour) and two.proactive_share == 0
    assert three.tasks == 0 and math.isnan(three.coverage) and math.isnan(three.proactive_share)


def test_days_since_patrolled_takes_the_latest_visit_and_never_is_infinite():
    visits = [visit("a", 1, 10, days=0), visit("b", 1, 10, days=3), visit("a", 1, 11, days=1)]
    got = days_since_patrolled(np.array([10, 11, 12]), visits, T0 + timedelta(days=5))
    assert got.tolist() == [2.0, 4.0, math.inf]
    assert days_since_patrolled([10], [], T0).tolist() == [math.inf]


def ins(iid, premises, dept, day, status="planned", visit_id=None):
    return InspectionRow(iid, premises, dept, date(2026, 12, day), status, "c", T0, (), visit_id)


def test_inspections_within_the_window_of_the_first_merge_into_one_visit():
    rows = [
        ins("1", "P", "zhzf", 1),
        ins("2", "P", "scjg", 8),
        ins("3", "P", "yjgl", 9),
        ins("4", "Q", "zhzf", 1),
    ]
    visits = merge_visits(rows, window_days=7)
    assert [(v.premises_id, v.day.day, v.inspection_ids) for v in visits] == [
        ("P", 1, ("1", "2")),
        ("P", 9, ("3",)),
        ("Q", 1, ("4",)),
    ]
    assert visits[0].departments == ("scjg", "zhzf")
    assert [len(v.inspection_ids) for v in merge_visits(rows, window_days=0)] == [1, 1, 1, 1]
    with pytest.raises(ValueError):
        merge_visits(rows, window_days=-1)


def test_cancelled_inspections_are_left_out_and_done_ones_keep_their_visit():
    rows = [
        ins("1", "P", "zhzf", 1, "done", "V1"),
        ins("2", "P", "scjg", 1, "done", "V1"),
        ins("3", "P", "ny", 2, "cancelled"),
    ]
    (v,) = merge_visits(rows)
    assert v.status == "done" and v.inspection_ids == ("1", "2")


def test_a_warning_only_for_a_new_department_within_thirty_days():
    rows = [ins("1", "P", "zhzf", 1), ins("2", "P", "zhzf", 20), ins("3", "P", "scjg", 30)]
    visits = merge_visits(rows, window_days=3)
    warnings = repeat_warnings(visits, warn_days=30)
    # day 1 → day 20 is the same department; day 20 → day 30 brings a new one within 30 days
    assert [(w.first.day.day, w.second.day.day, w.days_apart) for w in warnings] == [(20, 30, 10)]
    assert repeat_warnings(visits, warn_days=10) == []
