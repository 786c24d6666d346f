"""A store moves between backends intact: SQLite → PostGIS → SQLite is identical by content hash."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cli import main
from patrol.portability import CopyError, content_hashes
from store import open_store


@pytest.fixture
def demo_copy(demo_incidents_sqlite_url, tmp_path) -> str:
    """The demo store (3,000 incidents with their events, patrols, inspections, users) plus audit rows."""
    from patrol.users import UserService

    dest = tmp_path / "source.sqlite"
    shutil.copy(Path(demo_incidents_sqlite_url.removeprefix("sqlite:///")), dest)
    url = f"sqlite:///{dest}"
    store = open_store(url)
    store.migrate()
    users = UserService(store)
    users.update(None, "planner", display_name="规划员 王")
    users.set_password(None, "planner", "Nanhu-planning-2026")
    _api_client_with_news(store)
    store.close()
    return url


def _api_client_with_news(store) -> None:
    """A hotline client that created two incidents; their changes queued, one delivered."""
    from datetime import UTC, datetime

    from patrol.api_clients import ApiClientService
    from patrol.evidence import EvidenceService
    from patrol.incidents import IncidentService, NewIncident
    from patrol.roles import Principal
    from store.rows import ApiRequestRow
    from tests.conftest import picture

    ApiClientService(store).create(None, "hotline", "command_center", webhook_url="http://127.0.0.1:9/x")
    svc = IncidentService(store, clock=lambda: datetime(2026, 11, 27, 2, 0, tzinfo=UTC))
    command = Principal("command", "command_center")
    for k in range(2):
        inc = svc.report(command, NewIncident("PARK_COMPOUND", 30.7552 + k / 1000, 120.7601)).incident
        store.link_api_request(ApiRequestRow(inc.id, "hotline", f"token-{inc.id}", svc.clock()))
        svc.act(command, inc.id, "assess", expected_version=inc.version)
        EvidenceService(store, svc).add(command, inc.id, "现场.jpg", picture("JPEG"), stage="report")
    first = store.outbox("hotline", limit=1)[0]
    store.outbox_delivered("hotline", [first.id], svc.clock())
    from patrol.evaluation import EvaluationService

    township = store.townships()[0].code
    EvaluationService(store, clock=svc.clock).enter_score(
        command, "2026-11", township, "B6", 1.5, "案卷评查表", ("评查表.pdf", b"%PDF-1.7 review")
    )


def test_a_demo_store_copied_to_postgis_and_back_is_identical_by_hash(
    demo_copy, postgis_url, tmp_path, capsys
):
    back = f"sqlite:///{tmp_path / 'back.sqlite'}"
    assert main(["copy-store", demo_copy, postgis_url]) == 0
    assert main(["copy-store", postgis_url, back]) == 0
    out = capsys.readouterr().out
    assert out.count("verified: identical counts and content hashes") == 2
    stores = [open_store(u) for u in (demo_copy, postgis_url, back)]
    hashes = [content_hashes(s) for s in stores]
    for s in stores:
        s.close()
    assert hashes[0] == hashes[1] == hashes[2]
    counts = {table: n for table, (n, _) in hashes[0].items()}
    assert counts["incidents"] > 2500 and counts["events"] > counts["incidents"]
    assert (
        min(counts[t] for t in ("patrol_tasks", "patrol_visits", "premises", "inspections", "users", "audit"))
        > 0
    )
    assert counts["evaluations"] >= 12  # the demo's published months, quarters and half-year
    assert (counts["api_clients"], counts["api_requests"], counts["api_outbox"]) == (1, 2, 2)
    assert counts["evidence"] == 2  # one photo attached to two cases, and a score's review sheet:
    assert counts["evidence_content"] == 2
    assert counts["score_entries"] > 13 * 21  # the demo's entered scores and the one above


def test_the_copied_store_keeps_working_new_numbers_and_audit_rows_follow_the_old_ones(
    demo_copy, postgis_url
):
    from datetime import UTC, datetime

    from patrol.incidents import IncidentService, NewIncident
    from patrol.roles import Principal

    main(["copy-store", demo_copy, postgis_url])
    store = open_store(postgis_url)
    svc = IncidentService(store, clock=lambda: datetime(2026, 11, 26, 3, 0, tzinfo=UTC))
    before = store.audit_log(limit=1)[0].seq
    inc = svc.report(
        Principal("command", "command_center"), NewIncident("PARK_COMPOUND", 30.7552, 120.7601)
    ).incident
    assert store.get_incident(inc.id) is not None  # its number did not collide with a copied one
    from store.rows import ApiRequestRow

    copied = store.outbox_rows()
    store.link_api_request(ApiRequestRow(inc.id, "hotline", "token-new", svc.clock()))
    svc.act(Principal("command", "command_center"), inc.id, "assess", expected_version=inc.version)
    assert store.outbox_rows()[-1].id > max(o.id for o in copied)  # the outbox's ids go on after the copy
    store.append_audit([store.audit_log(limit=1)[0]])
    assert store.audit_log(limit=1)[0].seq == before + 1
    store.close()


def test_copying_into_a_store_that_is_not_empty_is_refused(demo_copy, tmp_path, capsys):
    other = f"sqlite:///{tmp_path / 'other.sqlite'}"
    assert main(["copy-store", demo_copy, other]) == 0
    assert main(["copy-store", demo_copy, other]) == 2
    assert "not empty" in capsys.readouterr().err
    with pytest.raises(CopyError):
        from patrol.portability import copy_store

        copy_store(open_store(demo_copy), open_store(other))


def test_a_city_store_of_two_districts_is_copied_district_by_district(sqlite_url, postgis_url, capsys):
    for district in ("330402", "330411"):
        argv = [
            "demo",
            "--db",
            sqlite_url,
            "--district",
            district,
            "--incidents",
            "120",
            "--end",
            "2026-11-27",
        ]
        assert main(argv) == 0
    assert main(["copy-store", sqlite_url, postgis_url]) == 0
    assert "verified: identical counts and content hashes" in capsys.readouterr().out
    src, dst = open_store(sqlite_url), open_store(postgis_url)
    try:
        assert content_hashes(src) == content_hashes(dst)
        assert [d.code for d in dst.districts()] == ["330402", "330411"]
        for code in ("330402", "330411"):
            assert dst.area_counts(code) == src.area_counts(code)
            assert len(dst.evaluations(code)) == len(src.evaluations(code)) > 0
            assert dst.state_counts(code) == src.state_counts(code)
    finally:
        src.close()
        dst.close()
