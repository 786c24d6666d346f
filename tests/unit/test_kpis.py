"""KPI formulas on hand-computed cases, zero denominators, and the ranking rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from patrol.kpis import (
    MIN_CASES_TO_RANK,
    change_arrow,
    compute_kpis,
    month_bounds,
    previous_months,
    rank,
    ratio,
)

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)


def row(**kw):
    base = {
        "reported_at": T0, "first_response_at": T0 + timedelta(minutes=10), "due_at": T0 + timedelta(days=3),
        "closed_at": None, "state": "handling", "source": "patrol", "township_code": "A", "team_id": 1,
        "item_code": "X", "rework_count": 0, "deferral_count": 0, "consult_departments": "[]", "repeat_of": None,
        "satisfaction": None, "supervision_level": 0,
    }  # fmt: skip
    base.update(kw)
    return base


def frame(rows):
    f = pd.DataFrame(rows)
    for c in ("reported_at", "first_response_at", "due_at", "closed_at"):
        f[c] = pd.to_datetime(f[c], utc=True)
    return f


def test_a_hand_made_month_gives_the_hand_computed_figures():
    rows = [
        # closed on time, answered in 10 min, hotline, the caller satisfied
        row(state="closed", closed_at=T0 + timedelta(days=1), source="hotline_12345", satisfaction="satisfied"),
        # closed late, answered in 30 min, hotline, reworked once, the caller dissatisfied
        row(state="closed", closed_at=T0 + timedelta(days=5), source="hotline_12345",
            first_response_at=T0 + timedelta(minutes=30), rework_count=1, satisfaction="dissatisfied"),
        # on an approved hold (挂账) past its original due: its clock is stopped, neither due nor overdue
        row(state="deferred", first_response_at=T0 + timedelta(minutes=50)),
        # open, overdue, consulted earlier (the consultation has decided), repeat of an old case
        row(state="handling", consult_departments='["ga"]', repeat_of="NH-1", first_response_at=None,
            supervision_level=1),
        # open, not yet due, citizen
        row(state="handling", source="citizen", due_at=NOW + timedelta(days=2), first_response_at=T0 + timedelta(minutes=20)),
        # given a later due time by an approved deferral (延期), closed before it: on time
        row(state="closed", deferral_count=1, due_at=T0 + timedelta(days=10), closed_at=T0 + timedelta(days=8)),
    ]  # fmt: skip
    k = compute_kpis(frame(rows), None, NOW).iloc[0]
    assert (k.received, k.to_close, k.closed, k.due, k.deferred, k.on_time) == (6, 6, 3, 4, 1, 2)
    assert k.closure_rate == pytest.approx(3 / 6)
    assert k.on_time_rate == pytest.approx(2 / 4)  # judged against the approved due time
    assert k.response_median_min == pytest.approx(20.0)  # 10, 30, 50, 20, 10
    assert k.response_p90_min == pytest.approx(42.0)  # numpy linear interpolation of 10, 10, 20, 30, 50
    assert k.urgent_within_15_share == pytest.approx(1 / 2)
    assert k.rework_rate == pytest.approx(1 / 3)
    assert k.consultation_share == pytest.approx(1 / 6)
    assert k.repeat_rate == pytest.approx(1 / 6)
    assert k.proactive_share == pytest.approx(3 / 6)  # rows 3, 4 and 6 were found on patrol
    assert k.overdue_open == 1  # the consulted one; the held one's clock is stopped
    assert (k.called_back, k.satisfaction_rate) == (2, pytest.approx(1 / 2))
    assert k.supervised == 1  # the overdue consulted one, raised to 督办


def test_a_case_waiting_for_a_consultations_decision_is_neither_due_nor_overdue():
    rows = [
        row(state="consulting", consult_departments='["ga"]'),  # past its due time, in consultation
        row(state="closed", closed_at=T0 + timedelta(days=1)),
    ]
    k = compute_kpis(frame(rows), None, NOW).iloc[0]
    assert (k.received, k.to_close, k.due, k.on_time, k.overdue_open) == (2, 2, 1, 1, 0)


def test_rejecting_a_report_that_is_no_enforcement_matter_or_merging_a_duplicate_costs_no_rate():
    rows = [
        row(state="closed", closed_at=T0 + timedelta(days=1)),  # closed on time
        row(state="closed", closed_at=T0 + timedelta(days=5)),  # closed late
        row(state="rejected"),  # not an enforcement matter: rightly refused
        row(state="merged"),  # the duplicate of another case
    ]
    k = compute_kpis(frame(rows), None, NOW).iloc[0]
    assert (k.received, k.to_close, k.closed, k.due, k.on_time) == (4, 2, 2, 2, 1)
    assert k.closure_rate == pytest.approx(1.0)  # 2 ÷ 4 when rejected and merged counted
    assert k.on_time_rate == pytest.approx(0.5)  # 1 ÷ 4 when they counted as due and not on time
    assert k.overdue_open == 0 and k.proactive_share == pytest.approx(1.0)


def test_zero_denominators_give_none_not_zero():
    k = compute_kpis(
        frame(
            [row(state="handling", due_at=NOW + timedelta(days=1), first_response_at=None, source="citizen")]
        ),
        None,
        NOW,
    ).iloc[0]
    assert k.received == 1
    assert k.on_time_rate is None or pd.isna(k.on_time_rate)
    assert k.rework_rate is None or pd.isna(k.rework_rate)
    assert k.response_median_min is None or pd.isna(k.response_median_min)
    assert k.urgent_within_15_share is None or pd.isna(k.urgent_within_15_share)
    assert ratio(1, 0) is None and ratio(0, 4) == 0


def test_an_empty_month_has_zero_counts_and_no_rates():
    empty = frame([row()]).iloc[0:0]
    k = compute_kpis(empty, None, NOW).iloc[0]
    assert k.received == 0 and (k.closure_rate is None or pd.isna(k.closure_rate))


def test_groups_below_the_minimum_are_shown_but_not_ranked():
    table = pd.DataFrame(
        {
            "group": ["big-good", "big-bad", "small-perfect"],
            "received": [MIN_CASES_TO_RANK, MIN_CASES_TO_RANK + 5, 3],
            "on_time_rate": [0.9, 0.5, 1.0],
            "closure_rate": [0.9, 0.8, 1.0],
            "response_median_min": [10.0, 5.0, 1.0],
        }
    )
    ranked = rank(table)
    assert list(ranked["rank"]) == [1, 2, None]
    assert list(ranked["ranked"]) == [True, True, False]


def test_ties_on_on_time_rate_go_to_the_higher_closure_then_faster_response():
    table = pd.DataFrame({"group": ["a", "b", "c"], "received": [50, 50, 50], "on_time_rate": [0.8, 0.8, 0.8],
                          "closure_rate": [0.7, 0.9, 0.9], "response_median_min": [5.0, 20.0, 10.0]})  # fmt: skip
    assert list(rank(table).sort_values("rank")["group"]) == ["c", "b", "a"]


def test_kpis_per_township_cover_every_township():
    rows = [
        row(township_code="A"),
        row(township_code="B"),
        row(township_code="B", state="closed", closed_at=T0),
    ]
    out = compute_kpis(frame(rows), "township", NOW)
    assert list(out["group"]) == ["A", "B"] and list(out["received"]) == [1, 2]


def test_month_helpers():
    start, end = month_bounds("2026-11")
    assert start.isoformat() == "2026-11-01T00:00:00+08:00" and end.isoformat() == "2026-12-01T00:00:00+08:00"
    assert previous_months("2026-02", 3) == ["2025-12", "2026-01", "2026-02"]
    with pytest.raises(ValueError, match="2026-11"):
        month_bounds("Nov 2026")
    assert change_arrow(0.8, 0.7) == "↑" and change_arrow(0.6, 0.7) == "↓" and change_arrow(0.7, 0.7) == "→"
    assert change_arrow(None, 0.7) == ""


def test_each_groups_row_is_the_kpis_of_that_group_alone():
    import random

    rng = random.Random(7)
    rows = [
        row(
            team_id=rng.choice([1, 2, 3, 4]),
            state=rng.choice(["closed", "handling", "deferred", "consulting", "rejected"]),
            closed_at=T0 + timedelta(days=rng.uniform(0, 6)),
            first_response_at=None if rng.random() < 0.2 else T0 + timedelta(minutes=rng.uniform(1, 90)),
            source=rng.choice(["patrol", "hotline_12345", "petition", "citizen"]),
            deferral_count=int(rng.random() < 0.2),
            satisfaction=rng.choice([None, "satisfied", "basic", "dissatisfied"]),
            rework_count=int(rng.random() < 0.2),
            due_at=T0 + timedelta(days=rng.uniform(1, 40)),
        )
        for _ in range(200)
    ]
    f = frame(rows)
    by_team = compute_kpis(f, "team", NOW).set_index("group")
    for team, part in f.groupby("team_id"):
        alone = compute_kpis(part, None, NOW).iloc[0]
        got = by_team.loc[team]
        for column in (
            "received",
            "to_close",
            "closed",
            "due",
            "deferred",
            "on_time",
            "overdue_open",
            "called_back",
        ):
            assert got[column] == alone[column], (team, column)
        for column in ("closure_rate", "on_time_rate", "response_median_min", "response_p90_min",
                       "urgent_within_15_share", "rework_rate", "proactive_share", "satisfaction_rate"):  # fmt: skip
            assert got[column] == pytest.approx(alone[column]), (team, column)


def test_groups_equal_on_every_key_share_a_rank_and_the_next_rank_counts_them():
    table = pd.DataFrame(
        {
            "group": ["d", "a", "b", "c"],
            "received": [50, 50, 50, 50],
            "on_time_rate": [0.9, 0.8, 0.8, 0.7],
            "closure_rate": [0.9, 0.9, 0.9, 0.9],
            "response_median_min": [10.0, 12.0, 12.0, 9.0],
        }
    )
    assert dict(zip(rank(table)["group"], rank(table)["rank"], strict=True)) == {
        "d": 1,
        "a": 2,
        "b": 2,
        "c": 4,
    }


def test_the_change_since_last_period_says_its_size_in_percentage_points():
    from patrol.kpis import change_text

    assert change_text(0.812, 0.78) == "↑ 3.2" and change_text(0.5, 0.505) == "↓ 0.5"
    assert change_text(0.7, 0.7) == "→ 0.0" and change_text(None, 0.7) == "" and change_text(0.7, None) == ""


def test_a_township_uses_an_empowered_item_when_it_handled_one_case_of_it_itself():
    from patrol.kpis import empowered_use

    f = pd.DataFrame(
        {
            "township_code": ["A", "A", "A", "B"],
            "item_code": ["PARK", "NOISE", "GAS", "PARK"],
            "handler": ["township", "department", "township", "township"],
        }
    )
    use = empowered_use(
        f, {"A": frozenset({"PARK", "NOISE", "WASTE"}), "B": frozenset(), "C": frozenset({"PARK"})}
    )
    got = use.set_index("group")
    assert (
        got.loc["A", "empowered_items"] == 3 and got.loc["A", "empowered_used"] == 1
    )  # NOISE went to a department
    assert got.loc["A", "empowered_use_share"] == pytest.approx(1 / 3)  # GAS is not empowered to A
    assert pd.isna(got.loc["B", "empowered_use_share"]) and got.loc["C", "empowered_used"] == 0
