"""Scenario targeting: concentration, recurrence, a backtest that cannot see the future, recommendations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from patrol.scenarios import coverage_backtest, lorenz, recommend, recurrence_share, top_share

NOW = datetime(2026, 11, 27, tzinfo=UTC)


def incidents(rows):
    f = pd.DataFrame(rows, columns=["cell", "reported_at", "township_code", "item_code"])
    f["reported_at"] = pd.to_datetime(f["reported_at"], utc=True)
    return f


def test_top_share_and_lorenz_on_hand_made_counts():
    counts = [50, 10, 10, 10, 10, 5, 5, 0, 0, 0]
    assert top_share(counts) == pytest.approx(50 / 100)
    x, y = lorenz(counts)
    assert x[0] == 0 and y[0] == 0 and x[-1] == 1 and y[-1] == pytest.approx(1)
    assert y[1] == pytest.approx(0.5)
    assert top_share([]) is None


def test_recurrence_counts_repeats_in_the_same_cell_within_30_days():
    f = incidents([
        (1, NOW - timedelta(days=40), "t", "X"), (1, NOW - timedelta(days=20), "t", "X"),  # repeat after 20 days
        (1, NOW - timedelta(days=1), "t", "X"),  # repeat after 19 days
        (2, NOW - timedelta(days=100), "t", "X"), (2, NOW - timedelta(days=10), "t", "X"),  # 90 days: not a repeat
    ])  # fmt: skip
    assert recurrence_share(f) == pytest.approx(2 / 5)


def test_the_backtest_only_uses_months_before_the_one_it_predicts():
    # months 11..1 ago: every incident in cell 1; the last month: every incident in cell 2, never seen before.
    rows = [(1, NOW - timedelta(days=30.4 * age + 5), "t", "X") for age in range(1, 12) for _ in range(5)]
    rows += [(2, NOW - timedelta(days=5), "t", "X") for _ in range(5)]
    cov = coverage_backtest(incidents(rows), NOW, ks=(1,))
    # months 10..1 are predicted perfectly from the past (cell 1); month 0 (cell 2) cannot be: 10 of 11 tests
    assert cov[1] == pytest.approx(10 / 11)


def test_the_backtest_gains_nothing_from_a_future_hot_cell():
    rows = [(c, NOW - timedelta(days=30.4 * age + 3), "t", "X") for age in range(1, 6) for c in (1, 2, 3)]
    rows += [
        (9, NOW - timedelta(days=2), "t", "X") for _ in range(50)
    ]  # a new hot spot in the last month only
    cov = coverage_backtest(incidents(rows), NOW, ks=(1, 3))
    assert cov[3] == pytest.approx(4 / 5)  # months 3..0: the last month scores 0


def test_recommendations_fill_each_townships_visits_with_the_busiest_cells():
    rows = [
        (c, NOW - timedelta(days=d), "A", "X") for c, n in ((1, 12), (2, 6), (3, 1)) for d in range(1, n + 1)
    ]
    rows += [(7, NOW - timedelta(days=2), "B", "X")]
    out = recommend(incidents(rows), NOW, {"A": 1.0, "B": 1.0}, minutes_per_visit=30)
    a = out[out["township_code"] == "A"]
    assert list(a["cell"]) == [1, 2]  # 60 minutes / 30 per visit = 2 visits
    assert a["expected_per_week"].iloc[0] == pytest.approx(12 / 12)
    assert list(out[out["township_code"] == "B"]["cell"]) == [7]
    with pytest.raises(ValueError, match="positive"):
        recommend(incidents(rows), NOW, {"A": 1.0}, minutes_per_visit=0)


def test_a_theme_with_no_incidents_has_no_figures():
    assert coverage_backtest(incidents([]), NOW, ks=(5,)) == {5: None}
    assert recurrence_share(incidents([])) is None
    _x, y = lorenz(np.zeros(3))
    assert list(y) == [0.0, 1.0]
