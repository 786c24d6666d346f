"""Evidence (证据材料) on both backends: kept by content, read back byte for byte, never changed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from patrol.evidence import MAX_BYTES, EvidenceService, sniff
from patrol.incidents import IncidentService, NewIncident
from patrol.permissions import AccessDeniedError
from patrol.refusals import Refusal
from patrol.roles import Principal
from tests.conftest import picture, raw_sql

NOW = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
P = (30.7552, 120.7601)
OTHER = (30.6602, 120.8011)
JPEG, PNG, WEBP = picture("JPEG"), picture("PNG"), picture("WEBP")
PDF = b"%PDF-1.7\n" + b"%" * 64
COMMAND = Principal("值班长", "command_center")


@pytest.fixture
def svc(district_store) -> IncidentService:
    clock = iter(NOW + timedelta(seconds=i) for i in range(100_000))
    return IncidentService(district_store, clock=lambda: next(clock))


def _report(svc, at=P):
    return svc.report(COMMAND, NewIncident("PARK_COMPOUND", *at)).incident


def test_a_photo_is_kept_with_who_gave_it_when_and_at_which_stage_and_read_back_byte_for_byte(
    svc, district_store
):
    inc = _report(svc)
    captain = Principal("中队长", "captain", township_code=inc.township_code)
    ev = EvidenceService(district_store, svc)
    row = ev.add(captain, inc.number, "C:\\photos\\整改前.jpg", JPEG, stage="handling", note="整改前")
    assert (row.filename, row.content_type, row.size, row.stage) == (
        "整改前.jpg",
        "image/jpeg",
        len(JPEG),
        "handling",
    )
    assert (row.uploaded_by, row.role) == ("中队长", "captain")
    got, data = ev.read(Principal("规划", "planner"), row.id)
    assert got == row and data == JPEG
    assert [e.id for e in ev.of(captain, inc.id)] == [row.id]
    [audit] = district_store.audit_log(entity="incident")
    assert (audit.action, audit.entity_id, audit.actor) == ("attach_evidence", inc.id, "中队长")


def test_the_same_photo_attached_twice_is_stored_once(svc, district_store):
    first, second = _report(svc), _report(svc, (P[0] + 0.001, P[1]))
    ev = EvidenceService(district_store, svc)
    a = ev.add(COMMAND, first.id, "a.jpg", JPEG)
    b = ev.add(COMMAND, second.id, "b.jpg", JPEG)
    assert a.sha256 == b.sha256 and a.id != b.id
    assert ev.read(COMMAND, b.id)[1] == JPEG
    assert len(district_store.all_evidence()) == 2


@pytest.mark.parametrize(
    ("name", "data", "key"),
    [
        ("virus.jpg", b"MZ\x90\x00" + b"\x00" * 64, "refuse.evidence_type"),
        ("page.jpg", b"<html><script>alert(1)</script>", "refuse.evidence_type"),
        ("empty.png", b"", "refuse.evidence_empty"),
        ("cut.jpg", picture("JPEG", (400, 300))[:300], "refuse.evidence_corrupt"),
        ("fake.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "refuse.evidence_corrupt"),
        ("huge.jpg", JPEG[:4] + b"\x00" * MAX_BYTES, "refuse.evidence_size"),
    ],
)
def test_a_file_is_judged_by_its_content_and_size_and_a_refused_one_leaves_nothing(
    svc, district_store, name, data, key
):
    inc = _report(svc)
    with pytest.raises(Refusal) as refused:
        EvidenceService(district_store, svc).add(COMMAND, inc.id, name, data)
    assert refused.value.key == key
    assert district_store.all_evidence() == [] and district_store.audit_log(entity="incident") == []


def test_pdf_png_and_webp_are_recognised_by_their_first_bytes():
    assert [sniff(x) for x in (JPEG, PNG, PDF, WEBP, b"RIFF\x00\x00\x00\x00WAVE")] == [
        "image/jpeg", "image/png", "application/pdf", "image/webp", None,
    ]  # fmt: skip


def test_only_those_who_work_on_an_incident_add_evidence_and_only_those_who_see_it_read_it(
    svc, district_store
):
    inc = _report(svc)
    other = _report(svc, OTHER)
    assert other.township_code != inc.township_code
    ev = EvidenceService(district_store, svc)
    row = ev.add(COMMAND, inc.id, "a.jpg", JPEG)
    stranger = Principal("别的中队长", "captain", township_code=other.township_code)
    with pytest.raises(AccessDeniedError):
        ev.read(stranger, row.id)
    with pytest.raises(AccessDeniedError):
        ev.add(stranger, inc.id, "b.jpg", JPEG)
    with pytest.raises(AccessDeniedError):
        ev.add(Principal("规划", "planner"), inc.id, "b.jpg", JPEG)
    with pytest.raises(Refusal):
        ev.add(COMMAND, inc.id, "b.jpg", JPEG, stage="afterwards")
    with pytest.raises(KeyError):
        ev.read(COMMAND, "nope")


def test_evidence_is_kept_as_it_was_given_even_against_sql_behind_the_stores_back(svc, district_store):
    inc = _report(svc)
    row = EvidenceService(district_store, svc).add(COMMAND, inc.id, "a.jpg", JPEG)
    for statement in (
        f"UPDATE evidence SET note = 'x' WHERE id = '{row.id}'",
        f"DELETE FROM evidence WHERE id = '{row.id}'",
    ):
        with pytest.raises(Exception, match="evidence is kept"):
            raw_sql(district_store, statement)
    assert district_store.evidence_row(row.id) == row


def test_a_photos_camera_place_is_read_and_measured_against_the_incident_point(svc, district_store):
    inc = _report(svc)
    ev = EvidenceService(district_store, svc)
    near = picture(gps=(P[0] + 0.0009, P[1]))  # about 100 m north
    far = picture(gps=(OTHER[0], OTHER[1]), colour="blue")
    none = picture(colour="green")
    rows = [
        ev.add(COMMAND, inc.id, f"{k}.jpg", data, stage="report") for k, data in enumerate((near, far, none))
    ]
    places = [ev.place(COMMAND, row, data) for row, data in zip(rows, (near, far, none), strict=True)]
    assert places[2] is None
    assert 90 < places[0].distance_m < 110 and abs(places[0].lat - (P[0] + 0.0009)) < 1e-6
    assert places[1].distance_m > 10_000
    assert ev.read(COMMAND, rows[0].id)[1] == near  # kept byte for byte, metadata and all
    outsider = Principal(
        "乙", "captain", township_code=next(c for c in svc.areas.townships if c != inc.township_code)
    )
    with pytest.raises(AccessDeniedError):
        ev.place(outsider, rows[0], near)


def test_the_case_file_holds_the_incident_its_log_its_stages_and_its_evidence_for_whoever_may_see_it(
    svc, district_store
):
    import csv
    import hashlib
    import io
    import zipfile

    from patrol.dossier import incident_dossier

    inc = svc.report(
        COMMAND, NewIncident("PARK_COMPOUND", *P, "hotline_12345", "楼下乱停车", reporter_name="欧阳娜娜")
    ).incident
    svc.act(COMMAND, inc.id, "assess", expected_version=1)
    ev = EvidenceService(district_store, svc)
    photo = picture()
    ev.add(COMMAND, inc.id, "现场.jpg", photo, stage="report")
    ev.add(COMMAND, inc.id, "告知书.pdf", PDF, stage="other")
    planner = Principal("规划", "planner")
    z = zipfile.ZipFile(io.BytesIO(incident_dossier(ev, planner, inc.id)))
    assert sorted(z.namelist()) == [
        "evidence.csv", "evidence/01_report_现场.jpg", "evidence/02_other_告知书.pdf",
        "incident.csv", "stages.csv", "timeline.csv",
    ]  # fmt: skip
    assert z.read("evidence/01_report_现场.jpg") == photo
    listed = list(csv.DictReader(io.StringIO(z.read("evidence.csv").decode("utf-8-sig"))))
    assert [r["SHA-256"] for r in listed] == [
        hashlib.sha256(photo).hexdigest(),
        hashlib.sha256(PDF).hexdigest(),
    ]
    timeline = list(csv.DictReader(io.StringIO(z.read("timeline.csv").decode("utf-8-sig"))))
    assert [r["动作"] for r in timeline] == ["上报", "研判受理"]
    incident = z.read("incident.csv").decode("utf-8-sig")
    assert (
        inc.number in incident and "欧***" in incident and "欧阳娜娜" not in incident
    )  # masked for a planner
    stages = z.read("stages.csv").decode("utf-8-sig")
    assert "响应" in stages and "研判" in stages
    exported = [a for a in district_store.audit_log(entity="incident") if a.action == "export_dossier"]
    assert [(a.actor, a.entity_id) for a in exported] == [("规划", inc.id)]
    outsider = Principal(
        "乙", "captain", township_code=next(c for c in svc.areas.townships if c != inc.township_code)
    )
    with pytest.raises(AccessDeniedError):
        incident_dossier(ev, outsider, inc.id)
