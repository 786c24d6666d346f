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


def test_a_photo_is_kept_with_who_gave_it_when_and_at_which_stage_and_read_back_byte_for_byte(svc):
    inc = _report(svc)
    captain = Principal("中队长", "captain", township_code=inc.township_code)
    ev = EvidenceService(svc)
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
    [audit] = svc.store.audit_log(entity="incident")
    assert (audit.action, audit.entity_id, audit.actor) == ("attach_evidence", inc.id, "中队长")


def test_the_same_photo_attached_twice_is_stored_once(svc):
    first, second = _report(svc), _report(svc, (P[0] + 0.001, P[1]))
    ev = EvidenceService(svc)
    a = ev.add(COMMAND, first.id, "a.jpg", JPEG)
    b = ev.add(COMMAND, second.id, "b.jpg", JPEG)
    assert a.sha256 == b.sha256 and a.id != b.id
    assert ev.read(COMMAND, b.id)[1] == JPEG
    assert len(svc.store.all_evidence()) == 2


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
def test_a_file_is_judged_by_its_content_and_size_and_a_refused_one_leaves_nothing(svc, name, data, key):
    inc = _report(svc)
    with pytest.raises(Refusal) as refused:
        EvidenceService(svc).add(COMMAND, inc.id, name, data)
    assert refused.value.key == key
    assert svc.store.all_evidence() == [] and svc.store.audit_log(entity="incident") == []


def test_pdf_png_and_webp_are_recognised_by_their_first_bytes():
    assert [sniff(x) for x in (JPEG, PNG, PDF, WEBP, b"RIFF\x00\x00\x00\x00WAVE")] == [
        "image/jpeg", "image/png", "application/pdf", "image/webp", None,
    ]  # fmt: skip


def test_only_those_who_work_on_an_incident_add_evidence_and_only_those_who_see_it_read_it(svc):
    inc = _report(svc)
    other = _report(svc, OTHER)
    assert other.township_code != inc.township_code
    ev = EvidenceService(svc)
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


def test_evidence_is_kept_as_it_was_given_even_against_sql_behind_the_stores_back(svc):
    inc = _report(svc)
    row = EvidenceService(svc).add(COMMAND, inc.id, "a.jpg", JPEG)
    for statement in (
        f"UPDATE evidence SET note = 'x' WHERE id = '{row.id}'",
        f"DELETE FROM evidence WHERE id = '{row.id}'",
    ):
        with pytest.raises(Exception, match="evidence is kept"):
            raw_sql(svc.store, statement)
    assert svc.store.evidence_row(row.id) == row
