"""The composite evaluation (综合评价): the shipped scheme, its rules, and how townships are scored and ranked."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pandas as pd
import pytest

from patrol.composite import SCHEME_DIR, SubItem, load_scheme, score_townships
from patrol.kpis import MIN_CASES_TO_RANK

COMPUTED = {
    "A1": "proactive_share", "A2": "urgent_within_15_share", "A3": "response_median_min",
    "B1": "on_time_rate", "B2": "closure_rate", "B3": "rework_rate", "B4": "repeat_rate",
    "B5": "empowered_use_share", "C1": "joint_inspection_completion", "D1": "supervised/received",
    "D2": "overdue_open", "E1": "satisfaction_rate",
}  # fmt: skip


def test_the_shipped_scheme_has_five_blocks_and_33_sub_items_worth_100_points():
    scheme = load_scheme()
    assert [b.code for b in scheme.blocks] == ["patrol", "case", "joint", "supervision", "public"]
    assert len(scheme.items) == 33 and sum(i.points for i in scheme.items) == 100
    assert {b.code: b.points for b in scheme.blocks} == {
        "patrol": 20, "case": 30, "joint": 15, "supervision": 15, "public": 20,
    }  # fmt: skip
    assert {i.code: i.figure for i in scheme.items if i.computed} == COMPUTED
    assert len(scheme.entered) == 21
    assert all(i.rule_zh and i.rule_en and i.name_zh and i.name_en for i in scheme.items)
    assert scheme.tie_order == ("case", "patrol", "public", "joint", "supervision")


def _broken(tmp_path: Path, change) -> Path:  # type: ignore[no-untyped-def]
    shutil.copy(SCHEME_DIR / "blocks.csv", tmp_path / "blocks.csv")
    with (SCHEME_DIR / "scheme.csv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    change(rows)
    with (tmp_path / "scheme.csv").open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return tmp_path


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda rows: rows[0].update(points="6"), "add up to 101, not 100"),
        (lambda rows: rows[0].update(source="speed"), "sub-item A1: unknown figure 'speed'"),
        (lambda rows: rows[0].update(full_at=""), "sub-item A1: a linear rule needs zero_at and full_at"),
        (lambda rows: rows[21].update(per="0"), "sub-item D2: a deduct rule needs per > 0"),
        (
            lambda rows: rows[3].update(source="closure_rate"),
            "sub-item A4: an entered sub-item names no figure",
        ),
        (lambda rows: rows[3].update(block="other"), "sub-item A4: unknown block 'other'"),
        (lambda rows: rows[4].update(code="A4"), "duplicate sub-item codes ['A4']"),
    ],
)
def test_a_broken_scheme_is_refused_naming_the_sub_item_and_the_problem(tmp_path, change, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace("[", r"\[")):
        load_scheme(_broken(tmp_path, change))


def test_a_linear_rule_scores_in_proportion_both_ways_and_stays_within_its_points():
    up = SubItem("X", "case", "", "", 8, "on_time_rate", "linear", zero_at=0.6, full_at=1.0)
    assert up.score(0.8) == pytest.approx(4.0)
    assert (up.score(0.5), up.score(1.0)) == (0.0, 8.0)
    down = SubItem("Y", "case", "", "", 4, "rework_rate", "linear", zero_at=0.2, full_at=0.0)
    assert down.score(0.05) == pytest.approx(3.0)
    assert (down.score(0.0), down.score(0.5)) == (4.0, 0.0)
    assert up.score(None) is None and up.score(float("nan")) is None


def test_a_deduct_rule_takes_points_off_per_case_down_to_none():
    item = SubItem("D2", "supervision", "", "", 4, "overdue_open", "deduct", per=0.5)
    assert (item.score(0), item.score(3), item.score(20)) == (4.0, 2.5, 0.0)


def _figures(**townships: dict) -> pd.DataFrame:  # type: ignore[type-arg]
    scheme = load_scheme()
    columns = {f for i in scheme.items if i.figure for f in i.figure.split("/")} | {"received"}
    rows = []
    for code, values in townships.items():
        row = {c: 0.0 for c in columns} | {"group": code, "received": 100, "overdue_open": 0}
        rows.append(row | values)
    return pd.DataFrame(rows)


def _full_marks() -> dict:  # type: ignore[type-arg]
    return {
        "proactive_share": 0.5, "urgent_within_15_share": 1.0, "response_median_min": 10.0,
        "on_time_rate": 1.0, "closure_rate": 1.0, "rework_rate": 0.0, "repeat_rate": 0.0,
        "empowered_use_share": 0.6, "joint_inspection_completion": 1.0, "supervised": 5,
        "satisfaction_rate": 0.99,
    }  # fmt: skip


def test_full_marks_everywhere_make_100_and_an_entered_sub_item_nobody_entered_scores_zero():
    scheme = load_scheme()
    entered = {("T1", i.code): i.points for i in scheme.entered}
    summary, details = score_townships(scheme, _figures(T1=_full_marks(), T2=_full_marks()), entered)
    by = summary.set_index("group")
    assert by.loc["T1", "total"] == 100.0 and by.loc["T1", "missing"] == 0
    assert by.loc["T2", "total"] == 55.0 and by.loc["T2", "missing"] == 21  # the 45 entered points missing
    assert by.loc["T1", "block:case"] == 30.0 and by.loc["T2", "block:case"] == 24.0
    assert (
        len(details) == 66
        and details[(details["group"] == "T2") & (details["item"] == "B6")]["points"].isna().all()
    )


def test_a_figure_with_nothing_to_compute_it_from_is_not_scored_and_the_total_is_scaled():
    scheme = load_scheme()
    entered = {(t, i.code): i.points for t in ("T1", "T2") for i in scheme.entered}
    no_inspection = _full_marks() | {"joint_inspection_completion": None, "satisfaction_rate": None}
    summary, _ = score_townships(scheme, _figures(T1=no_inspection, T2=_full_marks()), entered)
    by = summary.set_index("group")
    assert by.loc["T1", "scorable"] == 90.0  # 4 + 6 points could not be scored
    assert by.loc["T1", "total"] == 100.0 == by.loc["T2", "total"]
    # and not scored is not 0: half the on-time rate's points lost weighs the same in both
    half = {"on_time_rate": 0.8}
    summary, _ = score_townships(scheme, _figures(T1=no_inspection | half, T2=_full_marks() | half), entered)
    by = summary.set_index("group")
    assert by.loc["T1", "total"] == pytest.approx(86 / 90 * 100, abs=0.01)
    assert by.loc["T2", "total"] == pytest.approx(96.0, abs=0.01)


def test_a_ratio_figure_is_read_as_a_share_so_a_large_township_is_not_punished_for_its_size():
    scheme = load_scheme()
    entered = {(t, i.code): i.points for t in ("BIG", "SMALL") for i in scheme.entered}
    big = _full_marks() | {"supervised": 100}
    small = _full_marks() | {"supervised": 10}
    figures = _figures(BIG=big, SMALL=small)
    figures.loc[figures["group"] == "BIG", "received"] = 1000
    _, details = score_townships(scheme, figures, entered)
    d1 = details[details["item"] == "D1"].set_index("group")
    assert d1.loc["BIG", "value"] == d1.loc["SMALL", "value"] == pytest.approx(0.1)
    assert d1.loc["BIG", "points"] == d1.loc["SMALL", "points"] == 4.0


def test_a_small_township_is_shown_not_ranked_and_ties_go_to_the_case_block_then_share_a_rank():
    scheme = load_scheme()
    entered = {(t, i.code): i.points for t in ("A", "B", "C", "D", "E") for i in scheme.entered}
    # A and B: equal totals; B is better in 执法办案 (case, worth most), A in 巡查发现 (patrol); D is A again
    a = _full_marks() | {"on_time_rate": 0.9, "proactive_share": 0.5}  # case −2
    b = _full_marks() | {"on_time_rate": 1.0, "proactive_share": 0.3}  # patrol −2
    figures = _figures(A=a, B=b, C=_full_marks(), D=a, E=_full_marks() | {"supervised": 1})
    figures.loc[figures["group"] == "E", "received"] = MIN_CASES_TO_RANK - 1
    summary, _ = score_townships(scheme, figures, entered)
    by = summary.set_index("group")
    assert by.loc["A", "total"] == by.loc["B", "total"] == 98.0
    assert by.loc["E", "total"] == 100.0 and not by.loc["E", "ranked"] and by.loc["E", "rank"] is None
    assert by["rank"].to_dict() == {"A": 3, "B": 2, "C": 1, "D": 3, "E": None}
