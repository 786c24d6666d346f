"""Periods of an evaluation: months, quarters, half-years and years, in local time."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pytest

from patrol.evaluation import HASHED_COLUMNS, Period, fingerprint, recent_periods
from patrol.kpis import figure_text
from patrol.refusals import Refusal


@pytest.mark.parametrize(
    ("code", "kind", "first", "last"),
    [
        ("2026-11", "month", "2026-11", "2026-11"),
        ("2026-q4", "quarter", "2026-10", "2026-12"),
        ("2026-H1", "half", "2026-01", "2026-06"),
        (" 2026 ", "year", "2026-01", "2026-12"),
    ],
)
def test_a_period_code_names_its_months(code, kind, first, last):
    p = Period.parse(code)
    assert (p.kind, p.months[0], p.months[-1]) == (kind, first, last)
    assert len(p.months) == {"month": 1, "quarter": 3, "half": 6, "year": 12}[kind]


def test_a_period_starts_and_ends_at_local_midnight():
    q = Period.parse("2026-Q4")
    assert q.start.astimezone(UTC) == datetime(2026, 9, 30, 16, 0, tzinfo=UTC)
    assert q.end.astimezone(UTC) == datetime(2026, 12, 31, 16, 0, tzinfo=UTC)


@pytest.mark.parametrize("code", ["2026-13", "2026-Q5", "2026-H3", "26", "", "2026-11-01", "Q4"])
def test_a_bad_period_code_is_refused_with_the_accepted_forms(code):
    with pytest.raises(Refusal, match="2026-Q4") as refused:
        Period.parse(code)
    assert refused.value.key == "refuse.period"


def test_previous_and_recent_periods_cross_the_year():
    assert Period.parse("2026-01").previous().code == "2025-12"
    assert Period.parse("2026-Q1").previous().code == "2025-Q4"
    assert Period.parse("2026-H1").previous().code == "2025-H2"
    assert Period.parse("2026").previous().code == "2025"
    assert [p.code for p in recent_periods("quarter", "2026-02", 3)] == ["2026-Q1", "2025-Q4", "2025-Q3"]
    assert Period.containing("half", "2026-07").code == "2026-H2"


def _frame(n: int) -> pd.DataFrame:
    t = pd.Timestamp("2026-10-02", tz="UTC")
    return pd.DataFrame(
        {c: [f"{c}{k}" for k in range(n)] for c in HASHED_COLUMNS}
        | {c: [t + pd.Timedelta(hours=k) for k in range(n)] for c in ("reported_at", "due_at")}
    )


def test_the_fingerprint_changes_with_any_input_or_the_moment_and_not_with_row_order():
    at = datetime(2026, 11, 3, tzinfo=UTC)
    frame = _frame(5)
    base = fingerprint(frame, at)
    assert fingerprint(frame.iloc[::-1], at) == base
    changed = frame.copy()
    changed.loc[2, "state"] = "closed"
    assert fingerprint(changed, at) != base
    assert fingerprint(frame.iloc[:4], at) != base
    assert fingerprint(frame, datetime(2026, 11, 4, tzinfo=UTC)) != base


def test_figures_read_as_percentages_minutes_and_whole_counts():
    assert figure_text("on_time_rate", 0.78263) == "78.3%"
    assert figure_text("response_median_min", 12.345) == "12.3"
    assert figure_text("received", 12.0) == "12"
    assert figure_text("closure_rate", None) == "—"
    assert figure_text("closure_rate", float("nan")) == "—"


def test_a_version_published_before_a_figure_was_defined_reads_with_that_figure_empty():
    import json

    from patrol.evaluation import _evaluation
    from store.rows import EvaluationRow

    old = {
        "group": "330402008",
        "received": 30,
        "closed": 20,
        "closure_rate": 2 / 3,
        "rank": 1,
        "ranked": True,
    }
    row = EvaluationRow(
        "330402", "2026-10", 1, datetime(2026, 11, 3, tzinfo=UTC), "值班长", "command_center", "", "ab" * 32, 30,
        json.dumps({"township": [old], "all": [old | {"group": "all"}]}),
    )  # fmt: skip
    table = _evaluation(row).table("township")
    assert table.loc[0, "closure_rate"] == pytest.approx(2 / 3) and table.loc[0, "rank"] == 1
    assert "to_close" in table.columns and pd.isna(table.loc[0, "to_close"])
