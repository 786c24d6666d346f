"""Contract suite for patrol execution, coverage and joint inspections: SQLite and PostGIS."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta

import h3.api.basic_int as h3i
import numpy as np
import pytest

from geo.tracks import TrackError
from patrol.catalog import load_catalog
from patrol.incidents import IncidentService, NewIncident
from patrol.inspections import InspectionService
from patrol.patrols import PatrolService, PatrolStateError
from patrol.permissions import AccessDeniedError
from patrol.roles import Principal
from patrol.routing import OutsideDistrictError
from store.protocol import DuplicateError
from store.rows import InspectionRow, PatrolVisitRow, PremisesRow

CC = Principal("指挥员", "command_center")
NOW = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)
POINT = (30.7552, 120.7601)


@pytest.fixture
def setup(district_store):
    """A patrol service, the team owning POINT, and a planned task over the point's cell and its ring."""
    inc = IncidentService(district_store, clock=lambda: NOW).report(
        CC, NewIncident("PARK_COMPOUND", *POINT, "patrol", "测试")
    )
    team, township = inc.incident.team_id, inc.incident.township_code
    svc = PatrolService(district_store, clock=lambda: NOW)
    cell = h3i.latlng_to_cell(*POINT, svc.res)
    task = svc.create(CC, team, sorted(h3i.grid_disk(cell, 1)), NOW, NOW + timedelta(hours=4))
    return svc, task, team, township, cell


def test_the_first_check_in_starts_a_planned_patrol_and_covers_the_cell_of_the_point(setup, district_store):
    svc, task, team, _township, cell = setup
    inspector = Principal("巡查员", "inspector", team_id=team)
    cov = svc.check_in(inspector, task.id, *POINT, at=NOW + timedelta(minutes=5))
    assert cell in cov.cells and cov.new_cells == len(cov.cells) >= 1
    assert cov.planned_covered == len(set(cov.cells) & set(task.cells))
    got = svc.get(inspector, task.id)
    assert got.status == "active" and got.started_at == NOW + timedelta(minutes=5)
    again = svc.check_in(inspector, task.id, *POINT, at=NOW + timedelta(minutes=9))
    assert again.new_cells == 0
    (visit,) = [v for v in district_store.patrol_visits(task_id=task.id) if v.cell == cell]
    assert visit.at == NOW + timedelta(minutes=5) and visit.source == "checkin" and visit.team_id == team


def test_a_finished_patrol_takes_no_more_check_ins_and_nothing_is_recorded(setup, district_store):
    svc, task, _team, _, _ = setup
    svc.start(CC, task.id, at=NOW)
    done = svc.finish(CC, task.id, at=NOW + timedelta(hours=3))
    assert done.status == "done" and done.finished_at == NOW + timedelta(hours=3)
    with pytest.raises(PatrolStateError):
        svc.check_in(CC, task.id, *POINT)
    with pytest.raises(PatrolStateError):
        svc.finish(CC, task.id)
    assert district_store.patrol_visits(task_id=task.id) == []


def test_a_point_outside_the_district_is_refused_and_the_patrol_stays_planned(setup, district_store):
    svc, task, _, _, _ = setup
    with pytest.raises(OutsideDistrictError):
        svc.check_in(CC, task.id, 39.9, 116.4)
    with pytest.raises(ValueError, match="finite"):
        svc.check_in(CC, task.id, float("nan"), 120.76)
    assert svc.get(CC, task.id).status == "planned"
    assert district_store.patrol_visits(task_id=task.id) == []


def test_a_gpx_track_covers_the_cells_along_it_even_after_the_patrol_is_done(setup, district_store):
    svc, task, _, _, cell = setup
    lat, lng = h3i.cell_to_latlng(cell)
    pts = [(lat + d, lng + d) for d in np.linspace(-0.002, 0.002, 9)]
    gpx = (
        '<gpx version="1.1" xmlns="http://www.topografix.com/GPX/1/1"><trk><trkseg>'
        + "".join(f'<trkpt lat="{a:.7f}" lon="{b:.7f}"/>' for a, b in pts)
        + "</trkseg></trk></gpx>"
    )
    svc.start(CC, task.id, at=NOW)
    svc.finish(CC, task.id, at=NOW + timedelta(hours=1))
    cov = svc.upload_track(CC, task.id, gpx, at=NOW + timedelta(hours=5))
    through = {h3i.latlng_to_cell(a, b, svc.res) for a, b in pts}
    assert through <= set(cov.cells) and cell in cov.cells
    assert {v.source for v in district_store.patrol_visits(task_id=task.id)} == {"track"}
    # a late upload is dated at the end of the patrol, not at the upload
    assert {v.at for v in district_store.patrol_visits(task_id=task.id)} == {NOW + timedelta(hours=1)}
    with pytest.raises(TrackError):
        svc.upload_track(CC, task.id, "<gpx></gpx>")


def test_a_cancelled_patrol_refuses_tracks(setup):
    svc, task, _, _, cell = setup
    svc.cancel(CC, task.id)
    lat, lng = h3i.cell_to_latlng(cell)
    gpx = f'<gpx><wpt lat="{lat}" lon="{lng}"/></gpx>'
    with pytest.raises(PatrolStateError):
        svc.upload_track(CC, task.id, gpx)


def test_patrols_are_refused_to_other_teams_townships_and_roles(setup):
    svc, task, team, township, _ = setup
    other_team = next(t for t, tw in svc.team_township.items() if t != team)
    other_township = next(tw for tw in svc.team_township.values() if tw != township)
    for who in (
        Principal("别队", "inspector", team_id=other_team),
        Principal("别镇", "captain", township_code=other_township),
        Principal("规划", "planner"),
        Principal("管理", "admin"),
    ):
        with pytest.raises(AccessDeniedError):
            svc.check_in(who, task.id, *POINT)
        with pytest.raises(AccessDeniedError):
            svc.get(who, task.id)
    with pytest.raises(AccessDeniedError):
        svc.cancel(Principal("巡查员", "inspector", team_id=team), task.id)
    assert svc.get(Principal("本镇", "captain", township_code=township), task.id).status == "planned"


def test_only_one_of_two_racing_transitions_wins(setup, district_store):
    _svc, task, _, _, _ = setup
    assert district_store.transition_patrol(task.id, "planned", "active", NOW)
    assert not district_store.transition_patrol(task.id, "planned", "cancelled", NOW)
    assert district_store.patrol_task(task.id).status == "active"


def test_patrol_tasks_are_filtered_by_shift_start(setup, district_store):
    svc, task, team, _, cell = setup
    later = svc.create(CC, team, [cell], NOW + timedelta(days=3), NOW + timedelta(days=3, hours=2))
    got = district_store.patrol_tasks(starting_from=NOW + timedelta(days=1), limit=None)
    assert [t.id for t in got] == [later.id]
    got = district_store.patrol_tasks(team_id=team, starting_before=NOW + timedelta(days=1))
    assert [t.id for t in got] == [task.id]
    assert len(district_store.patrol_tasks(limit=1)) == 1


def _premises(store, township: str, village: str, cell: int, k: int) -> PremisesRow:
    lat, lng = h3i.cell_to_latlng(cell)
    return PremisesRow(
        f"P{k}",
        "330402",
        f"店{k}",
        "restaurant",
        lat,
        lng,
        cell,
        village,
        township,
        ("CATERING_FUMES",),
        ("zhzf", "scjg"),
    )


def test_premises_and_inspections_round_trip_and_a_duplicate_premises_stores_nothing(setup, district_store):
    _svc, _, _, township, cell = setup
    store = district_store
    village = next(v.code for v in store.villages() if v.township_code == township)
    store.insert_premises([_premises(store, township, village, cell, 1)])
    with pytest.raises(DuplicateError):
        store.insert_premises(
            [_premises(store, township, village, cell, 2), _premises(store, township, village, cell, 1)]
        )
    assert [p.id for p in store.premises()] == ["P1"]
    assert store.premises(township_code=township)[0].departments == ("zhzf", "scjg")
    row = InspectionRow("I1", "P1", "zhzf", date(2026, 12, 1), "planned", "队长", NOW, ("CATERING_FUMES",))
    store.insert_inspections([row])
    with pytest.raises(DuplicateError):
        store.insert_inspections(
            [InspectionRow("I2", "NOPE", "zhzf", date(2026, 12, 1), "planned", "队长", NOW)]
        )
    store.set_inspection_visits({"I1": "V-1"})
    (got,) = store.inspections(premises_ids=["P1"], since=date(2026, 11, 30))
    assert got == row.__class__(**{**row.__dict__, "visit_id": "V-1"})
    assert store.inspections(since=date(2026, 12, 2)) == []


def test_the_inspection_service_merges_departments_into_one_visit_and_stores_it(setup, district_store):
    _svc, _, _, township, cell = setup
    store = district_store
    village = next(v.code for v in store.villages() if v.township_code == township)
    store.insert_premises([_premises(store, township, village, cell, 1)])
    ins = InspectionService(store, load_catalog(), clock=lambda: NOW)
    captain = Principal("队长", "captain", township_code=township)
    a = ins.plan(captain, "P1", "zhzf", date(2026, 12, 1), ["CATERING_FUMES"])
    b = ins.plan(captain, "P1", "scjg", date(2026, 12, 4))
    c = ins.plan(captain, "P1", "sthb", date(2026, 12, 20))
    assert all(re.fullmatch(r"IN-\d{14}-[0-9a-f]{16}", i.id) for i in (a, b, c))  # never meet in a second
    visits, warnings = ins.merge(captain, since=date(2026, 11, 27))
    assert [v.inspection_ids for v in visits] == [(a.id, b.id), (c.id,)]
    assert visits[0].departments == ("scjg", "zhzf")
    assert [(w.first.id, w.second.id, w.days_apart) for w in warnings] == [(visits[0].id, visits[1].id, 19)]
    stored = {i.id: i.visit_id for i in store.inspections()}
    assert stored == {a.id: visits[0].id, b.id: visits[0].id, c.id: visits[1].id}
    other = next(t.code for t in store.townships() if t.code != township)
    with pytest.raises(AccessDeniedError):
        ins.plan(Principal("别镇", "captain", township_code=other), "P1", "zhzf", date(2026, 12, 1))
    with pytest.raises(ValueError, match="past"):
        ins.plan(captain, "P1", "zhzf", date(2026, 11, 1))
    with pytest.raises(ValueError, match="department"):
        ins.plan(captain, "P1", "nope", date(2026, 12, 1))


def test_a_patrol_started_before_its_planned_shift_is_the_teams_current_one(setup):
    svc, task, team, _, _ = setup
    later = svc.create(CC, team, list(task.cells), NOW + timedelta(hours=6), NOW + timedelta(hours=8))
    inspector = Principal("巡查员", "inspector", team_id=team)
    early = NOW + timedelta(hours=5)  # an hour before its planned start, after the first one's end
    assert svc.current_for_team(team, early) is None
    svc.start(inspector, later.id, at=early)
    assert svc.current_for_team(team, early + timedelta(minutes=10)).id == later.id
    assert svc.current_for_team(team, NOW + timedelta(hours=9)).id == later.id  # still going after its shift
    svc.finish(inspector, later.id, at=NOW + timedelta(hours=9))
    assert svc.current_for_team(team, NOW + timedelta(hours=9, minutes=1)) is None


def test_of_two_started_patrols_the_one_started_last_takes_the_teams_reports(setup):
    svc, task, team, _, _ = setup
    inspector = Principal("巡查员", "inspector", team_id=team)
    tomorrow = svc.create(CC, team, list(task.cells), NOW + timedelta(hours=20), NOW + timedelta(hours=22))
    svc.start(inspector, tomorrow.id, at=NOW)  # started early by mistake and left running
    svc.start(inspector, task.id, at=NOW + timedelta(minutes=30))
    assert svc.current_for_team(team, NOW + timedelta(minutes=40)).id == task.id
    # the patrol the inspector came from wins while it is under way
    assert svc.current_for_team(team, NOW + timedelta(minutes=40), chosen=tomorrow.id).id == tomorrow.id
    svc.finish(inspector, tomorrow.id, at=NOW + timedelta(minutes=50))
    assert svc.current_for_team(team, NOW + timedelta(hours=1), chosen=tomorrow.id).id == task.id


def test_the_same_plan_submitted_twice_makes_one_patrol_task(setup, district_store):
    svc, task, team, _township, _ = setup
    again = svc.create(CC, team, list(task.cells), task.shift_start, task.shift_end)
    assert again.id == task.id
    assert [t.id for t in district_store.patrol_tasks(team_id=team)] == [task.id]
    assert len([a for a in district_store.audit_log() if a.action == "create_patrol"]) == 1
    other = svc.create(CC, team, list(task.cells), task.shift_start, task.shift_end + timedelta(hours=1))
    assert other.id != task.id


def test_a_past_patrol_and_inspections_come_in_through_the_services_checked_as_any_import(
    setup, district_store
):
    svc, task, team, township, cell = setup
    store = district_store
    admin, captain = Principal("系统导入", "admin"), Principal("队长", "captain", township_code=township)
    other_township = next(t.code for t in store.townships() if t.code != township)
    past = task.__class__(**{**task.__dict__, "id": "PT-PAST", "status": "done", "started_at": NOW})
    visit = PatrolVisitRow("PT-PAST", team, township, cell, NOW, "checkin")

    with pytest.raises(AccessDeniedError):
        svc.add_history(Principal("巡查员", "inspector", team_id=team), [past], [visit], "t")
    with pytest.raises(AccessDeniedError):  # a captain brings in only their own township's patrols
        svc.add_history(Principal("队长", "captain", township_code=other_township), [past], [visit], "t")
    for wrong in ({"district_code": "330411"}, {"status": "lost"}, {"township_code": other_township}):
        with pytest.raises(ValueError, match="PT-PAST"):
            svc.add_history(admin, [past.__class__(**{**past.__dict__, **wrong})], [], "t")
    with pytest.raises(ValueError, match="visits of no patrol"):
        svc.add_history(admin, [], [visit], "t")
    assert [t.id for t in store.patrol_tasks(limit=None)] == [task.id]  # nothing was stored

    svc.add_history(captain, [past], [visit], "t")
    assert store.patrol_task("PT-PAST").status == "done"
    assert [v.cell for v in store.patrol_visits(task_id="PT-PAST")] == [cell]

    inspections = InspectionService(store, load_catalog(), clock=lambda: NOW)
    village = next(v.code for v in store.villages() if v.township_code == township)
    place = _premises(store, township, village, cell, 7)
    seen = InspectionRow("I-PAST", place.id, "zhzf", date(2026, 10, 1), "done", "队长", NOW, (), "V-PAST")
    with pytest.raises(ValueError, match="I-NOPE"):
        inspections.add_history(admin, [place], [seen, seen.__class__(**{**seen.__dict__, "id": "I-NOPE",
                                                                           "premises_id": "NOPE"})], "t")  # fmt: skip
    with pytest.raises(ValueError, match="P7"):
        inspections.add_history(
            admin, [place.__class__(**{**place.__dict__, "district_code": "330411"})], [], "t"
        )
    assert store.premises() == []
    inspections.add_history(admin, [place], [seen], "t")
    assert [i.id for i in store.inspections(premises_ids=[place.id], since=date(2026, 9, 1))] == ["I-PAST"]


def test_a_patrol_or_inspection_change_and_its_audit_row_commit_together_or_not_at_all(
    setup, district_store, monkeypatch
):
    svc, task, team, township, cell = setup
    store = district_store
    village = next(v.code for v in store.villages() if v.township_code == township)
    store.insert_premises([_premises(store, township, village, cell, 1)])
    ins = InspectionService(store, load_catalog(), clock=lambda: NOW)
    captain = Principal("队长", "captain", township_code=township)
    planned = ins.plan(captain, "P1", "zhzf", date(2026, 12, 1))
    audit_before = len(store.audit_log())

    def fail(cur, rows):  # the record of the change cannot be written
        raise RuntimeError("audit_log is full")

    monkeypatch.setattr(store, "_append_audit", fail)
    with pytest.raises(RuntimeError, match="audit_log is full"):
        svc.create(CC, team, [cell], NOW + timedelta(days=1), NOW + timedelta(days=1, hours=3))
    with pytest.raises(RuntimeError, match="audit_log is full"):
        svc.start(captain, task.id, at=NOW)
    with pytest.raises(RuntimeError, match="audit_log is full"):
        ins.plan(captain, "P1", "scjg", date(2026, 12, 2))
    with pytest.raises(RuntimeError, match="audit_log is full"):
        ins.merge(captain, since=date(2026, 11, 27))
    monkeypatch.undo()

    assert [t.id for t in store.patrol_tasks(limit=None)] == [task.id]  # nothing changed without its record
    assert store.patrol_task(task.id).status == "planned"
    assert [(i.id, i.visit_id) for i in store.inspections()] == [(planned.id, None)]
    assert len(store.audit_log()) == audit_before
    started = svc.start(captain, task.id, at=NOW - timedelta(minutes=5))  # dated earlier, recorded now
    assert (started.status, started.started_at) == ("active", NOW - timedelta(minutes=5))
    (entry,) = [a for a in store.audit_log() if a.action == "patrol_active"]
    assert entry.at == NOW


def test_past_patrols_and_inspections_come_in_with_their_audit_row_or_not_at_all(
    setup, district_store, monkeypatch
):
    svc, task, team, township, cell = setup
    store = district_store
    admin = Principal("系统导入", "admin")
    past = task.__class__(**{**task.__dict__, "id": "PT-PAST", "status": "done", "started_at": NOW})
    visit = PatrolVisitRow("PT-PAST", team, township, cell, NOW, "checkin")
    inspections = InspectionService(store, load_catalog(), clock=lambda: NOW)
    village = next(v.code for v in store.villages() if v.township_code == township)
    place = _premises(store, township, village, cell, 7)
    seen = InspectionRow("I-PAST", place.id, "zhzf", date(2026, 10, 1), "done", "队长", NOW, (), "V-PAST")
    audit_before = len(store.audit_log())

    def fail(cur, rows):  # the record of the import cannot be written
        raise RuntimeError("audit_log is full")

    monkeypatch.setattr(store, "_append_audit", fail)
    with pytest.raises(RuntimeError, match="audit_log is full"):
        svc.add_history(admin, [past], [visit], "旧系统")
    with pytest.raises(RuntimeError, match="audit_log is full"):
        inspections.add_history(admin, [place], [seen], "旧系统")
    monkeypatch.undo()
    assert store.patrol_task("PT-PAST") is None and store.patrol_visits(task_id="PT-PAST") == []
    assert store.premises() == [] and store.inspections() == []
    assert len(store.audit_log()) == audit_before

    svc.add_history(admin, [past], [visit], "旧系统")
    inspections.add_history(admin, [place], [seen], "旧系统")
    records = [
        (a.entity, a.entity_id, json.loads(a.after))
        for a in store.audit_log()
        if a.action == "import_history"
    ]
    assert sorted(records, key=str) == [
        ("import", "旧系统", {"covered_cells": 1, "patrols": 1}),
        ("import", "旧系统", {"inspections": 1, "premises": 1}),
    ]
