"""Codes become words: an event's details and an audit change read as labelled names, never ids or JSON."""

from __future__ import annotations

from patrol.catalog import load_catalog
from patrol.labels import Labels


def _labels(lang: str = "zh") -> Labels:
    return Labels(lang, load_catalog(), {101: "竹庄社区网格团队"}, {"330402008": "解放街道"})  # type: ignore[arg-type]


def test_a_dispatch_event_names_the_team_and_the_outcome_not_their_codes():
    text = _labels().details({"team_id": 101, "outcome": "case", "township_code": "330402008"})
    assert text == "派往团队：竹庄社区网格团队；研判结论：立案查处；乡镇/街道：解放街道"
    assert (
        _labels().details({"outcome": "enforce"}) == "研判结论：立案处置（旧记录）"
    )  # events before 2026-12


def test_consulted_departments_and_a_verification_read_as_names_and_words():
    names = _labels()
    assert "scjg" not in names.details({"departments": ["scjg"]})
    assert names.details({"result": "fail"}) == "结果：不通过（返工）"


def test_an_audit_change_lists_only_what_changed_as_old_to_new():
    before = '{"role": "planner", "active": true, "updated_at": "2026-01-01T00:00:00+00:00"}'
    after = '{"role": "captain", "active": true, "updated_at": "2026-02-01T00:00:00+00:00"}'
    assert _labels().changes(before, after) == "身份：规划研判 → 中队长/网格长"


def test_an_unknown_field_is_shown_by_its_name_and_an_unknown_team_by_its_number():
    names = _labels("en")
    assert names.details({"something_new": 3}) == "something_new：3"
    assert names.team(7) == "Team 7"


def test_an_import_of_past_records_reads_as_labelled_counts_in_both_languages():
    # the three import_history rows the demo writes (patrol.incidents / patrols / inspections)
    rows = (
        {"events": 16454, "incidents": 2876},
        {"covered_cells": 19990, "patrols": 2647},
        {"inspections": 543, "premises": 412},
    )
    assert [_labels().changes(None, r) for r in rows] == [
        "事件记录数：16454；事件数：2876",
        "覆盖网格数：19990；巡查任务数：2647",
        "检查数：543；检查对象数：412",
    ]
    assert _labels("en").changes(None, rows[1]) == "Covered cells：19990；Patrols：2647"


def test_every_field_of_every_audit_row_the_demo_writes_reads_as_words_in_both_languages(
    demo_incidents_sqlite_url,
):
    import re

    from patrol.audit import as_mapping
    from store import open_store

    store = open_store(demo_incidents_sqlite_url)
    try:
        rows = store.audit_log(limit=100_000)
        townships = {t.code: t.name for t in store.townships()}
        districts = {d.code: d.name for d in store.districts()}
    finally:
        store.close()
    assert {r.action for r in rows} >= {
        "create_user",
        "evaluation.publish",
        "evaluation.score",
        "import_history",
    }
    for lang in ("zh", "en"):
        names = Labels(lang, load_catalog(), {}, townships, districts)  # type: ignore[arg-type]
        unnamed = {
            (r.action, k)
            for r in rows
            for k in {*as_mapping(r.before or {}), *as_mapping(r.after or {})} - {"updated_at", "created_at"}
            if names.field(k) == k
        }
        assert unnamed == set(), lang
        shown = [names.changes(r.before, r.after) for r in rows]
        assert not [
            s for s in shown if re.search(r"：3304\d{2}(\d{3})?(；|$)", s)
        ]  # places by name, not code
