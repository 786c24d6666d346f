"""Contract suite for published evaluations on SQLite and PostGIS: later events never change them."""

from __future__ import annotations

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
