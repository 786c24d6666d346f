"""Contract suite for published evaluations on SQLite and PostGIS: later events never change them."""

from __future__ import annotations

import re
import sqlite3
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from patrol.evaluation import EvaluationService
from patrol.incidents import IncidentService, NewIncident
from patrol.kpis import month_kpis
from patrol.permissions import AccessDeniedError
from patrol.refusals import Refusal
from patrol.roles import Principal
from store.protocol import DuplicateError
from tests.conftest import close_incident, raw_sql

OCT = datetime(2026, 10, 12, 2, 0, tzinfo=UTC)
PUBLISH = datetime(2026, 11, 3, 1, 0, tzinfo=UTC)
CC = Principal("值班长", "command_center")
CHECKER = Principal("监督员", "command_center")  # who verifies is never who submitted
POINTS = [(30.7552, 120.7601), (30.7461, 120.7702), (30.7204, 120.8301), (30.6602, 120.8011)]


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        self.at += timedelta(seconds=1)
        return self.at


@pytest.fixture
def october(district_store):
    """Four incidents reported in October 2026, one of them closed on time; the rest still open."""
    clock = Clock(OCT)
    svc = IncidentService(district_store, clock=clock)
    made = [svc.report(CC, NewIncident("PARK_COMPOUND", lat, lng, "patrol", f"事件{k}")).incident
            for k, (lat, lng) in enumerate(POINTS)]  # fmt: skip
    close_incident(svc, made[0], CC, CHECKER)
    return svc, clock, made


def test_a_published_month_keeps_its_figures_when_later_events_change_the_live_ones(district_store, october):
    svc, clock, made = october
    clock.at = PUBLISH
    evaluations = EvaluationService(district_store, clock=clock)
    ev = evaluations.publish(CC, "2026-10")
    assert (ev.version, ev.received, ev.reason) == (1, 4, "")
    published = ev.table("township").set_index("group")
    live = month_kpis(district_store, "2026-10", "township", clock.at).set_index("group")
    assert published["closed"].to_dict() == live["closed"].to_dict()
    assert int(ev.table(None)["closed"].iloc[0]) == 1

    # a month later a second case of October is closed: the live figure moves, the published one not
    clock.at = PUBLISH + timedelta(days=30)
    close_incident(svc, made[1], CC, CHECKER)
    assert int(month_kpis(district_store, "2026-10", None, clock.at)["closed"].iloc[0]) == 2
    again = evaluations.latest(CC, "2026-10")
    assert again is not None and again.version == 1 and int(again.table(None)["closed"].iloc[0]) == 1
    assert again.inputs_hash == ev.inputs_hash

    # a correction is a new version with its reason; both stay readable, and the diff names the change
    with pytest.raises(Refusal, match="needs its reason") as refused:
        evaluations.publish(CC, "2026-10")
    assert refused.value.key == "refuse.correction_reason"
    fixed = evaluations.publish(CC, "2026-10", "  补录办结后重算  ")
    assert (fixed.version, fixed.reason) == (2, "补录办结后重算")
    assert fixed.inputs_hash != ev.inputs_hash
    assert [e.version for e in evaluations.versions(CC, "2026-10")] == [1, 2]
    diff = evaluations.diff(CC, "2026-10", 1, 2, None)
    closed = diff[diff["figure"] == "closed"]
    assert closed[["old", "new"]].values.tolist() == [[1, 2]]
    assert [a.action for a in district_store.audit_log()] == ["evaluation.publish"] * 2


def test_a_period_not_over_a_bad_code_and_a_role_other_than_the_command_centre_are_refused(
    district_store, october
):
    _, clock, _ = october
    clock.at = datetime(2026, 10, 31, 15, 59, tzinfo=UTC)  # 23:59 on 31 October, Beijing time
    evaluations = EvaluationService(district_store, clock=clock)
    with pytest.raises(Refusal) as refused:
        evaluations.publish(CC, "2026-10")
    assert refused.value.key == "refuse.period_open"
    with pytest.raises(Refusal) as refused:
        evaluations.publish(CC, "2026-Q5")
    assert refused.value.key == "refuse.period"
    with pytest.raises(AccessDeniedError):
        EvaluationService(district_store, clock=lambda: PUBLISH).publish(
            Principal("中队长", "captain", township_code="330402008"), "2026-10"
        )
    with pytest.raises(AccessDeniedError):
        EvaluationService(district_store).versions(
            Principal("中队长", "captain", township_code="330402008"), "2026-10"
        )
    assert district_store.evaluations(district_store.district().code) == []
    assert district_store.audit_log() == []


def test_the_database_refuses_to_change_or_remove_a_published_evaluation_and_a_taken_version(
    district_store, october
):
    _, clock, _ = october
    clock.at = PUBLISH
    ev = EvaluationService(district_store, clock=clock).publish(CC, "2026-10")
    (row,) = district_store.evaluations(district_store.district().code, "2026-10")
    assert row.inputs_hash == ev.inputs_hash and row.published_by == "值班长"
    with pytest.raises(DuplicateError):
        district_store.insert_evaluation(row, district_store.audit_log()[0])
    sqlite = district_store.url.startswith("sqlite")
    for sql in (
        "UPDATE evaluations SET received = 0",
        "DELETE FROM evaluations",
        *(() if sqlite else ("TRUNCATE evaluations",)),
    ):
        with pytest.raises((sqlite3.DatabaseError, psycopg.Error), match="immutable"):
            raw_sql(district_store, sql)
    assert district_store.evaluations(district_store.district().code, "2026-10") == [row]
    assert len(district_store.audit_log()) == 1  # the refused duplicate wrote no audit row


# -- the composite evaluation (综合评价): entered scores and joint inspections --------------------


def _points(ev_or_items, township: str, item: str):  # type: ignore[no-untyped-def]
    items = ev_or_items.composite()[1] if hasattr(ev_or_items, "composite") else ev_or_items
    row = items[(items["group"] == township) & (items["item"] == item)]
    return row["points"].iloc[0]


def test_an_entered_score_counts_in_the_composite_and_a_published_one_keeps_the_points_it_was_published_with(
    district_store, october
):
    svc, clock, made = october
    township = made[0].township_code
    clock.at = PUBLISH
    evaluations = EvaluationService(district_store, clock=clock)
    entry = evaluations.enter_score(
        CC, "2026-10", township, "A4", 2, "巡查台账第 10 册", ("台账.pdf", b"%PDF-1")
    )
    assert re.fullmatch(r"SC-\d{14}-00000-[0-9a-f]{16}", entry.id)  # 64 random bits: two never meet
    ev = evaluations.publish(CC, "2026-10")
    assert _points(ev, township, "A4") == 2.0
    summary = ev.composite()[0].set_index("group")
    assert summary.loc[township, "missing"] == 20  # the other 20 entered sub-items score 0, flagged
    assert evaluations.attachment(CC, "2026-10", entry.id) == b"%PDF-1"
    # an attachment is found by its entry, never by a hash the caller names
    assert evaluations.attachment(CC, "2026-11", entry.id) is None
    assert evaluations.attachment(CC, "2026-10", entry.sha256) is None

    (stored,) = district_store.evaluations(district_store.district().code, "2026-10")

    # entered again after publishing, and a case of October closed: the live composite moves,
    # the published one not, to the byte
    clock.at = PUBLISH + timedelta(days=2)
    evaluations.enter_score(CC, "2026-10", township, "A4", 3, "复核后更正：巡查台账第 10、11 册")
    close_incident(svc, made[1], CC, CHECKER)
    assert district_store.evaluations(district_store.district().code, "2026-10") == [stored]
    assert _points(evaluations.live_composite("2026-10")[1], township, "A4") == 3.0
    again = evaluations.latest(CC, "2026-10")
    assert again is not None and _points(again, township, "A4") == 2.0 and again.inputs_hash == ev.inputs_hash
    fixed = evaluations.publish(CC, "2026-10", "考核分复核更正")
    assert _points(fixed, township, "A4") == 3.0 and fixed.inputs_hash != ev.inputs_hash
    diff = evaluations.diff(CC, "2026-10", 1, 2, "composite_items")
    a4 = diff[(diff["item"] == "A4") & (diff["figure"] == "points")]
    assert a4[["group", "old", "new"]].values.tolist() == [[township, 2.0, 3.0]]
    entries = evaluations.score_entries(CC, "2026-10")
    assert [(e.item_code, e.points, e.entered_by) for e in entries] == [
        ("A4", 2.0, "值班长"),
        ("A4", 3.0, "值班长"),
    ]
    assert entries[0].filename == "台账.pdf" and len(entries[0].sha256) == 64 and entries[1].sha256 == ""
    assert [a.action for a in district_store.audit_log()].count("evaluation.score") == 2


def test_a_bad_score_is_refused_in_words_and_a_batch_with_one_stores_none(district_store, october):
    from patrol.evaluation import ScoreInput

    _, clock, made = october
    township = made[0].township_code
    evaluations = EvaluationService(district_store, clock=clock)
    captain = Principal("中队长", "captain", township_code=township)
    with pytest.raises(AccessDeniedError):
        evaluations.enter_score(captain, "2026-10", township, "A4", 2, "自评材料")
    for item, points, evidence, file, key in (
        ("A4", 3.5, "巡查台账", None, "refuse.score_range"),
        ("A4", -1, "巡查台账", None, "refuse.score_range"),
        ("A4", float("nan"), "巡查台账", None, "refuse.score_range"),
        ("B1", 5, "巡查台账", None, "refuse.score_item"),
        ("ZZ", 1, "巡查台账", None, "refuse.score_item"),
        ("A4", 2, "  无 ", None, "refuse.score_evidence"),
        ("A4", 2, "巡查台账", ("big.pdf", b"0" * (10 * 1024 * 1024 + 1)), "refuse.score_attachment"),
    ):
        with pytest.raises(Refusal) as refused:
            evaluations.enter_score(CC, "2026-10", township, item, points, evidence, file)
        assert refused.value.key == key, (item, points, evidence)
    with pytest.raises(Refusal) as refused:
        evaluations.enter_score(CC, "2026-10", "999999999", "A4", 2, "巡查台账")
    assert refused.value.key == "refuse.unknown_township"
    with pytest.raises(Refusal) as refused:
        evaluations.enter_scores(
            CC, "2026-10",
            [ScoreInput(township, "A4", 2, "巡查台账"), ScoreInput(township, "A5", 9, "巡查日志")],
        )  # fmt: skip
    assert refused.value.key == "refuse.score_range" and refused.value.values["item"] == "A5"
    assert evaluations.score_entries(CC, "2026-10") == [] and district_store.audit_log() == []


def test_the_database_keeps_an_entered_score_as_it_was_entered(district_store, october):
    _, clock, made = october
    evaluations = EvaluationService(district_store, clock=clock)
    evaluations.enter_score(CC, "2026-10", made[0].township_code, "A4", 2, "巡查台账")
    sqlite = district_store.url.startswith("sqlite")
    for sql in (
        "UPDATE score_entries SET points = 3",
        "DELETE FROM score_entries",
        *(() if sqlite else ("TRUNCATE score_entries",)),
    ):
        with pytest.raises((sqlite3.DatabaseError, psycopg.Error), match="kept as it was entered"):
            raw_sql(district_store, sql)
    assert [e.points for e in evaluations.score_entries(CC, "2026-10")] == [2.0]


def test_joint_inspection_plan_completion_counts_the_period_s_planned_inspections_done_and_is_published(
    district_store, october
):
    from datetime import date

    from store.rows import InspectionRow, PremisesRow

    _, clock, made = october
    first = made[0]
    store = district_store
    store.insert_premises(
        [PremisesRow("P1", "330402", "店1", "restaurant", first.lat, first.lng, first.cell, first.village_code,
                     first.township_code, ("CATERING_FUMES",), ("zhzf", "scjg"))]
    )  # fmt: skip

    def row(k: int, day: date, status: str) -> InspectionRow:
        return InspectionRow(f"IN{k}", "P1", "zhzf" if k % 2 else "scjg", day, status, "计划员", OCT)

    store.insert_inspections(
        [
            row(1, date(2026, 10, 5), "done"),
            row(2, date(2026, 10, 20), "planned"),  # missed
            row(3, date(2026, 10, 21), "cancelled"),  # not counted
            row(4, date(2026, 10, 31), "done"),
            row(5, date(2026, 11, 1), "planned"),  # November's
            row(6, date(2026, 9, 30), "done"),  # September's
        ]
    )
    clock.at = PUBLISH
    evaluations = EvaluationService(store, clock=clock)
    live = evaluations.live("2026-10", "township").set_index("group")
    township = first.township_code
    assert live.loc[township, ["joint_planned", "joint_done"]].tolist() == [3, 2]
    assert live.loc[township, "joint_inspection_completion"] == pytest.approx(2 / 3)
    others = live.drop(index=township)
    assert (others["joint_planned"] == 0).all() and others["joint_inspection_completion"].isna().all()
    ev = evaluations.publish(CC, "2026-10")
    c1 = ev.composite()[1]
    scored = c1[(c1["item"] == "C1")].set_index("group")
    assert scored.loc[township, "value"] == pytest.approx(2 / 3)
    assert scored.loc[township, "points"] == pytest.approx(4 * (2 / 3 - 0.5) / 0.5)
    assert scored.drop(index=township)["points"].isna().all()  # nothing planned: not scored
