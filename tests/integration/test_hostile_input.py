"""Hostile and implausible input, refused the same way on both backends; stored data never crashes a reader."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path

import pytest

from patrol.importer import import_incidents
from patrol.incidents import IncidentService, NewIncident
from patrol.plausibility import ImplausibleInputError
from patrol.roles import Principal
from store.rows import IncidentQuery

IMPORTER = Principal("导入员", "admin")

NOW = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)
CC = Principal("指挥员", "command_center")
P = (30.7552, 120.7601)
GOOD = {"id": "A1", "time": "2026-11-20 08:30", "lat": str(P[0]), "lng": str(P[1]), "item": "PARK_COMPOUND",
        "source": "patrol", "description": "小区乱停车"}  # fmt: skip


@pytest.fixture
def svc(district_store) -> IncidentService:
    return IncidentService(district_store, clock=lambda: NOW)


def _csv(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return path


def test_rows_dated_outside_the_plausible_window_are_refused_with_the_same_reason_on_both_backends(
    svc, tmp_path
):
    rows = [
        GOOD,
        {**GOOD, "id": "Y9999", "time": "9999-12-31 23:59"},
        {**GOOD, "id": "Y2030", "time": "2030-01-01 00:00"},
        {**GOOD, "id": "Y1677", "time": "1677-09-22 00:00"},
        {**GOOD, "id": "Y1999", "time": "1999-12-31 00:00"},
        {**GOOD, "id": "TOMORROW", "time": "2026-11-27 20:00"},
    ]
    report = import_incidents(svc, IMPORTER, _csv(tmp_path / "dates.csv", rows))
    why = "time outside 2000-01-01 to 2026-11-28 (UTC)"
    assert report.accepted == 2
    assert [(line, reason) for line, reason, _ in report.rejected] == [(3, why), (4, why), (5, why), (6, why)]
    assert sorted(i.external_id for i in svc.list_incidents(CC, IncidentQuery())) == ["A1", "TOMORROW"]


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("description", "违停\x00", "description holds a control character"),
        ("description", "违停\x1b[31m", "description holds a control character"),
        ("description", "x" * 2001, "description longer than 2000 characters"),
        ("reporter_name", "张\n三", "reporter_name holds a control character"),
        ("reporter_phone", "138\t0000", "reporter_phone holds a control character"),
    ],
)
def test_text_with_control_characters_or_beyond_its_length_is_refused_by_name(
    svc, tmp_path, field, value, reason
):
    row = {**GOOD, "reporter_name": "张三", "reporter_phone": "13800000000", field: value}
    mapping = tmp_path / "m.toml"
    mapping.write_text('[columns]\nreporter_name = "reporter_name"\nreporter_phone = "reporter_phone"\n')
    from patrol.importer import load_mapping

    report = import_incidents(svc, IMPORTER, _csv(tmp_path / "t.csv", [row]), mapping=load_mapping(mapping))
    assert report.accepted == 0
    assert [r for _, r, _ in report.rejected] == [reason]


def test_a_multiline_description_is_kept(svc, tmp_path):
    report = import_incidents(
        svc, IMPORTER, _csv(tmp_path / "ml.csv", [{**GOOD, "description": "第一行\r\n第二行\t完"}])
    )
    assert report.accepted == 1
    (inc,) = svc.list_incidents(CC, IncidentQuery())
    assert inc.description == "第一行\r\n第二行\t完"


def test_a_single_report_dated_in_the_far_future_or_with_a_nul_byte_is_refused_naming_the_field(svc):
    with pytest.raises(ImplausibleInputError, match="reported_at 9999-12-31"):
        svc.report(CC, NewIncident("PARK_COMPOUND", *P, reported_at=datetime(9999, 12, 31, tzinfo=UTC)))
    with pytest.raises(ImplausibleInputError, match="description holds a control character"):
        svc.report(CC, NewIncident("PARK_COMPOUND", *P, description="a\x00b"))
    assert svc.count_incidents(CC, IncidentQuery()) == 0


def _two_townships(svc) -> tuple[dict[str, str], dict[str, str], str]:
    """A row in 解放街道's first village and one in another township; the first one's code."""

    def township(lat: float, lng: float) -> str:
        return str(svc.router.route([lat], [lng], ["PARK_COMPOUND"]).township_codes[0])

    here = township(*P)
    other = next(
        (lat, lng)
        for lat, lng in [(30.7204, 120.8301), (30.6602, 120.8011), (30.7702, 120.8602)]
        if township(lat, lng) != here
    )
    far = {**GOOD, "id": "FAR", "lat": str(other[0]), "lng": str(other[1])}
    return GOOD, far, here


@pytest.mark.parametrize("role", ["inspector", "planner", "liaison"])
def test_roles_that_do_not_import_are_refused_before_the_file_is_read(svc, tmp_path, role):
    from patrol.permissions import AccessDeniedError

    who = Principal("x", role, team_id=1, department="scjg")  # type: ignore[arg-type]
    with pytest.raises(AccessDeniedError, match="may not import"):
        import_incidents(svc, who, _csv(tmp_path / "i.csv", [GOOD]))
    assert svc.count_incidents(CC, IncidentQuery()) == 0


def test_a_captain_imports_only_into_their_township_and_the_events_name_them(svc, tmp_path):
    near, far, township = _two_townships(svc)
    captain = Principal("captain-x", "captain", township_code=township)
    report = import_incidents(svc, captain, _csv(tmp_path / "c.csv", [near, far]))
    assert report.accepted == 1 and [r for _, r, _ in report.rejected] == ["outside your township"]
    (inc,) = svc.list_incidents(CC, IncidentQuery())
    (event,) = svc.timeline(CC, inc.id)
    assert (event.actor, event.role) == ("captain-x", "captain")


def test_each_committed_batch_of_an_import_is_audited_with_it_even_if_a_later_batch_fails(
    svc, district_store, tmp_path, monkeypatch
):
    import patrol.importer as importer

    rows = [{**GOOD, "id": f"B{i}", "time": f"2026-11-{10 + i} 08:30"} for i in range(3)]
    monkeypatch.setattr(importer, "BATCH_ROWS", 1)
    real = district_store.insert_incidents
    calls = []

    def dies_on_the_third(batch):
        calls.append(batch)
        if len(calls) == 3:
            raise KeyboardInterrupt  # the operator's Ctrl-C, or a killed process
        real(batch)

    monkeypatch.setattr(district_store, "insert_incidents", dies_on_the_third)
    with pytest.raises(KeyboardInterrupt):
        import_incidents(svc, IMPORTER, _csv(tmp_path / "k.csv", rows))
    batches = [a for a in district_store.audit_log() if a.action == "import_batch"]
    assert len(batches) == 2 and {a.actor for a in batches} == {"导入员"}
    assert svc.count_incidents(CC, IncidentQuery()) == 2


def test_exports_are_scoped_to_the_reader_masked_for_planners_and_audited(svc, district_store, tmp_path):
    from patrol.exporter import export_incidents
    from patrol.permissions import AccessDeniedError

    near, far, township = _two_townships(svc)
    rows = [{**r, "reporter_name": "张三", "reporter_phone": "13812345678"} for r in (near, far)]
    mapping = tmp_path / "m.toml"
    mapping.write_text('[columns]\nreporter_name = "reporter_name"\nreporter_phone = "reporter_phone"\n')
    from patrol.importer import load_mapping

    import_incidents(svc, IMPORTER, _csv(tmp_path / "e.csv", rows), mapping=load_mapping(mapping))
    captain = Principal("captain-x", "captain", township_code=township)
    assert export_incidents(svc, captain, tmp_path / "cap.csv", "csv") == 1
    planner = Principal("p", "planner")
    assert export_incidents(svc, planner, tmp_path / "plan.csv", "csv") == 2
    text = (tmp_path / "plan.csv").read_text(encoding="utf-8-sig")
    assert "13812345678" not in text and "138****5678" in text
    with pytest.raises(AccessDeniedError):
        export_incidents(svc, planner, tmp_path / "full.csv", "csv", personal_data=True)
    with pytest.raises(AccessDeniedError):
        export_incidents(svc, Principal("l", "liaison", department="scjg"), tmp_path / "l.csv", "csv")
    exports = [a for a in district_store.audit_log() if a.action == "export_incidents"]
    assert [a.actor for a in exports] == ["p", "captain-x"]


def test_a_nul_byte_in_a_note_a_patrol_or_a_display_name_is_refused_the_same_on_both_backends(
    svc, district_store
):
    from patrol.patrols import PatrolService
    from patrol.users import UserService

    inc = svc.report(CC, NewIncident("PARK_COMPOUND", *P)).incident
    with pytest.raises(ImplausibleInputError, match="note holds a control character"):
        svc.act(CC, inc.id, "assess", expected_version=1, note="看过\x00")
    svc.act(CC, inc.id, "assess", expected_version=1, note="看过\n两行")
    with pytest.raises(ImplausibleInputError, match="reason holds a control character"):
        svc.act(CC, inc.id, "reject", expected_version=2, reason="\x00")
    with pytest.raises(ImplausibleInputError, match="note holds"):
        PatrolService(district_store).create(
            CC, inc.team_id, [inc.cell], NOW, NOW.replace(hour=6), note="\x00"
        )
    with pytest.raises(ImplausibleInputError, match="display_name holds"):
        UserService(district_store).create(None, "wang", "Nanhu-grid-2026", "planner", display_name="王\x00")
    assert svc.get(CC, inc.id).version == 2 and district_store.users() == []
