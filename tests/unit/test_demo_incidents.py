"""The demo incident generator: realistic, varied, valid histories, deterministic per seed."""

from __future__ import annotations

import itertools
from collections import Counter

import pandas as pd
import pytest

from data.demo_incidents import generate_demo_incidents
from patrol.incident import FINAL_STATES, Action, Incident, Source, State
from patrol.incident_repository import event_from_row, from_row
from patrol.incidents import LOCAL_TZ, IncidentService
from store import open_store
from store.rows import IncidentQuery

END = pd.Timestamp("2026-11-27", tz="Asia/Shanghai").to_pydatetime()
N = 4000


def _generate(url: str, seed: int = 0):
    store = open_store(url)
    svc = IncidentService(store, clock=lambda: END)
    result = generate_demo_incidents(svc, N, seed=seed, end=END)
    rows = store.list_incidents(IncidentQuery(limit=N * 2, newest_first=False))
    return store, result, rows


@pytest.fixture(scope="module")
def demo(demo_sqlite_url, tmp_path_factory):
    import shutil
    from pathlib import Path

    dest = tmp_path_factory.mktemp("demo_inc") / "d.sqlite"
    shutil.copy(Path(demo_sqlite_url.removeprefix("sqlite:///")), dest)
    store, result, rows = _generate(f"sqlite:///{dest}")
    yield store, result, rows
    store.close()


def test_nearly_all_requested_incidents_are_made_and_stored(demo):
    _store, result, rows = demo
    assert 0.9 * N <= result.created <= N
    assert len(rows) == result.created == sum(result.by_state.values())


def test_the_same_seed_gives_the_same_incidents(demo, district_sqlite_url):
    _, _, rows = demo
    store, _, again = _generate(district_sqlite_url)
    store.close()
    key = lambda r: (r.number, r.item_code, round(r.lat, 9), r.state, r.reported_at)  # noqa: E731
    assert [key(r) for r in again] == [key(r) for r in rows]


def test_the_year_has_every_outcome_of_the_loop(demo):
    _, result, _ = demo
    for state in ("closed", "rejected", "merged", "handling"):
        assert result.by_state.get(state, 0) > 0, state
    # of the cases the township keeps (not merged duplicates, not accepted by a department), most are closed
    kept = sum(result.by_state.values()) - result.by_state["merged"] - result.by_state.get("transferred", 0)
    assert result.by_state["closed"] > 0.8 * kept


def test_some_are_deferred_consulted_reworked_and_overdue(demo):
    _store, _, rows = demo
    assert sum(r.deferral_count for r in rows) > 0
    assert sum(r.rework_count for r in rows) > 0
    assert sum(r.consult_departments != "[]" for r in rows) > 0
    overdue_open = [r for r in rows if State(r.state) not in FINAL_STATES and r.due_at < END]
    late_closed = [r for r in rows if r.closed_at and r.closed_at > r.due_at and r.state == "closed"]
    assert overdue_open and late_closed


def test_deferrals_are_asked_and_decided_by_different_people_and_callbacks_near_the_reforms_satisfaction(
    demo,
):
    store, _, rows = demo
    decided: Counter[str] = Counter()
    for row in rows:
        events = store.events(row.id)
        asked_by = None
        for e in events:
            if e.action == "request":
                asked_by = e.actor
            if e.action in ("approve", "refuse"):
                assert e.actor != asked_by and e.role == "command_center"  # never one's own request
                decided[e.action] += 1
    assert decided["approve"] > decided["refuse"] > 0  # most granted, some refused
    called = [r for r in rows if r.satisfaction is not None]
    assert called and all(r.source in ("hotline_12345", "petition") for r in called)
    satisfied = sum(r.satisfaction in ("satisfied", "basic") for r in called) / len(called)
    assert 0.95 < satisfied < 0.995, satisfied  # the reform reports ≥ 98 %
    assert any(r.satisfaction == "dissatisfied" and r.callback_count >= 1 for r in rows)


def test_sources_come_in_realistic_proportions(demo):
    _, _, rows = demo
    share = Counter(r.source for r in rows)
    total = sum(share.values())
    assert 0.30 < share[Source.PATROL.value] / total < 0.46
    assert 0.24 < share[Source.HOTLINE.value] / total < 0.36
    assert share[Source.PETITION.value] > 0


def test_noise_comes_at_night_parking_in_the_evening_construction_waste_by_day(demo):
    _, _, rows = demo

    def share(item, hours):
        hs = [r.reported_at.astimezone(LOCAL_TZ).hour for r in rows if r.item_code == item]
        return sum(h in hours for h in hs) / len(hs)

    night = set(range(20, 24)) | {0, 1}
    assert share("NOISE_SOCIAL", night) > 0.5
    assert share("PARK_COMPOUND", set(range(17, 23))) > 0.5
    assert share("CONSTRUCTION_WASTE", set(range(7, 19))) > 0.7


def test_incidents_cluster_in_hot_spots(demo):
    _, _, rows = demo
    per_cell = Counter(r.cell for r in rows)
    top = sum(n for _, n in per_cell.most_common(max(1, len(per_cell) // 10)))
    assert top / len(rows) > 0.3


def test_every_history_replays_through_the_transition_table(demo):
    from patrol.catalog import load_catalog
    from patrol.workdays import add_working_days_one

    catalog = load_catalog()
    store, _, rows = demo
    for row in rows[:: max(1, len(rows) // 300)]:
        stored = from_row(row)
        events = [event_from_row(e) for e in store.events(row.id)]
        assert events[0].action == Action.CREATE
        created_due = add_working_days_one(stored.reported_at, catalog.items[row.item_code].handling_days)
        replay = Incident(**{**stored.__dict__, "state": State.DISCOVERED, "version": 1, "pending": [],
                             "rework_count": 0, "deferral_count": 0, "due_at": created_due, "request": None,
                             "paused_at": None, "satisfaction": None, "callback_count": 0, "closed_at": None, "supervision_level": 0,
                             "first_response_at": None})  # fmt: skip
        for e in events[1:]:
            replay.apply(e.action, actor=e.actor, role=e.role, at=e.at, **_fields(e.payload))
        assert replay.state == stored.state and replay.version == stored.version
        assert (replay.due_at, replay.deferral_count, replay.rework_count) == (
            stored.due_at,
            stored.deferral_count,
            stored.rework_count,
        )  # approved deferrals and holds moved the due time exactly as stored
        assert (replay.satisfaction, replay.callback_count, replay.request, replay.supervision_level) == (
            stored.satisfaction,
            stored.callback_count,
            stored.request,
            stored.supervision_level,
        )
        assert [e.seq for e in events] == list(range(1, len(events) + 1))
        assert all(a.at <= b.at for a, b in itertools.pairwise(events))


def _fields(payload):
    out = dict(payload)
    if "new_due_at" in out:
        from datetime import datetime

        out["new_due_at"] = datetime.fromisoformat(out["new_due_at"])
    return out


def test_repeats_are_linked_by_the_rule_of_every_import(demo):
    from patrol.repeats import REPEAT_WINDOW

    _store, _result, rows = demo
    by_id = {r.id: r for r in rows}
    repeats = [r for r in rows if r.repeat_of is not None]
    assert 0.01 * len(rows) < len(repeats) < 0.6 * len(rows)  # the repeat rate is no longer 0 everywhere
    for r in repeats:
        case = by_id[r.repeat_of]
        assert (case.item_code, case.cell, case.state) == (r.item_code, r.cell, "closed")
        assert case.closed_at < r.reported_at <= case.closed_at + REPEAT_WINDOW
