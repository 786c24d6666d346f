"""Contract suite for incidents: the same tests on SQLite and PostGIS."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta

import pandas as pd
import psycopg
import pytest

from patrol.incident import Action, ConflictError, State
from patrol.incidents import IncidentService, NewIncident, local_day
from patrol.permissions import AccessDeniedError
from patrol.refusals import Refusal
from patrol.roles import Principal
from patrol.users import UserService
from store.batch import IncidentBatch
from store.protocol import DuplicateError, StoreError
from store.rows import IncidentQuery, RollupQuery, state_bucket
from tests.conftest import close_incident

IMPORTER = Principal("导入员", "admin")

CC = Principal("指挥员", "command_center")
CHECKER = Principal("值班长", "command_center")  # who verifies is never who submitted
NOW = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)
POINTS = [
    (30.7552, 120.7601),
    (30.7461, 120.7702),
    (30.7204, 120.8301),
    (30.6602, 120.8011),
    (30.7702, 120.8602),
]


@pytest.fixture
def svc(district_store) -> IncidentService:
    clock = iter(NOW + timedelta(seconds=i) for i in range(100_000))
    return IncidentService(district_store, clock=lambda: next(clock))


def _report(svc: IncidentService, k: int = 0, item: str = "PARK_COMPOUND", **kw):
    lat, lng = POINTS[k % len(POINTS)]
    return svc.report(CC, NewIncident(item, lat, lng, kw.pop("source", "patrol"), f"事件{k}", **kw)).incident


def _recount(store) -> list[tuple[int, str, str, str, str, int]]:
    counts: Counter[tuple[int, str, str, str, str]] = Counter()
    offset = 0
    while True:
        page = store.list_incidents(IncidentQuery(limit=1000, offset=offset))
        for r in page:
            counts[(r.cell, r.day, r.item_code, state_bucket(r.state), r.township_code)] += 1
        if len(page) < 1000:
            break
        offset += 1000
    return sorted((*k, n) for k, n in counts.items())


def test_a_report_is_stored_with_its_number_route_and_creation_event(svc):
    inc = _report(svc)
    got = svc.get(CC, inc.id)
    assert got.number.startswith("NH-20261127-") and len(got.number) == len("NH-20261127-0001")
    assert got.state == State.DISCOVERED and got.version == 1
    assert got.village_code and got.team_id > 0 and got.township_code == got.village_code[:9]
    (event,) = svc.timeline(CC, inc.id)
    assert event.action == Action.CREATE and event.actor == "指挥员" and event.payload == {"via": "report"}
    assert got.routing_reason and got.handler  # how it was routed is on its row


def test_numbers_are_consecutive_per_day(svc, district_store):
    a, b = _report(svc, 0), _report(svc, 1)
    assert int(b.number[-4:]) == int(a.number[-4:]) + 1
    assert district_store.allocate_numbers({"X-1": 5, "X-2": 1}) == {"X-1": 1, "X-2": 1}
    assert district_store.allocate_numbers({"X-1": 2}) == {"X-1": 6}


def test_transitions_are_stored_with_events_and_versions(svc):
    inc = _report(svc)
    svc.act(CC, inc.id, "assess", expected_version=1)
    svc.act(CC, inc.id, "dispatch", expected_version=2, team_id=inc.team_id, outcome="simple", note="派单")
    got = svc.get(CC, inc.id)
    assert got.state == State.HANDLING and got.version == 3 and got.first_response_at is not None
    events = svc.timeline(CC, inc.id)
    assert [e.to_state.value for e in events] == ["discovered", "assessing", "handling"]
    assert events[-1].note == "派单" and events[-1].payload["outcome"] == "simple"


def test_first_offence_without_penalty_is_decided_only_for_an_item_on_its_list(svc):
    listed, unlisted = _report(svc, 0, "STREET_VENDING"), _report(svc, 1, "ILLEGAL_BUILD")
    assert (
        svc.catalog.item("STREET_VENDING").first_offence
        and not svc.catalog.item("ILLEGAL_BUILD").first_offence
    )
    captain = Principal("甲", "captain", township_code=unlisted.township_code)
    other = Principal("乙", "captain", township_code=listed.township_code)
    for inc in (listed, unlisted):
        svc.act(CC, inc.id, "assess", expected_version=1)
    with pytest.raises(Refusal, match="not on the list") as refused:
        svc.act(
            captain, unlisted.id, "dispatch", expected_version=2, team_id=unlisted.team_id,
            outcome="first_offence_no_penalty",
        )  # fmt: skip
    assert refused.value.key == "refuse.first_offence_not_listed"
    assert svc.get(CC, unlisted.id).state == State.ASSESSING and len(svc.timeline(CC, unlisted.id)) == 2
    got = svc.act(
        other, listed.id, "dispatch", expected_version=2, team_id=listed.team_id,
        outcome="first_offence_no_penalty",
    )  # fmt: skip
    assert got.assessment_outcome == "first_offence_no_penalty"


def test_a_grid_worker_reports_but_only_two_certified_officers_of_the_township_handle_a_formal_case(
    svc, district_store
):
    inc = _report(svc)
    teams = sorted(t.id for t in svc.teams.values() if svc.team_township[t.id] == inc.township_code)
    elsewhere = next(t.id for t in svc.teams.values() if svc.team_township[t.id] != inc.township_code)
    users = UserService(district_store)
    for name, role, team in (
        ("officer-a", "inspector", teams[0]), ("officer-b", "inspector", teams[-1]),
        ("officer-far", "inspector", elsewhere), ("grid-a", "grid_member", inc.team_id),
    ):  # fmt: skip
        users.create(None, name, "a long enough password 1", role, display_name=name.upper(), team_id=team)
    grid = Principal("grid-a", "grid_member", team_id=inc.team_id)
    assert svc.report(grid, NewIncident("CLUTTER", *POINTS[0], "patrol", "楼道堆物")).incident.id
    svc.act(CC, inc.id, "assess", expected_version=1)
    svc.act(
        CC, inc.id, "dispatch", expected_version=2, team_id=inc.team_id, outcome="case", reason="拒不改正"
    )
    with pytest.raises(AccessDeniedError):
        svc.act(
            grid, inc.id, "submit", expected_version=3, result="已处置", officers=["officer-a", "officer-b"]
        )
    assert set(svc.certified_officers(CC, svc.get(CC, inc.id))) == {"officer-a", "officer-b"}
    for officers, key in (
        (["officer-a"], "refuse.case_two_officers"),
        (["officer-a", "officer-far"], "refuse.not_certified_officer"),
        (["officer-a", "grid-a"], "refuse.not_certified_officer"),
        (["officer-a", "nobody"], "refuse.not_certified_officer"),
    ):
        with pytest.raises(Refusal) as refused:
            svc.act(CC, inc.id, "submit", expected_version=3, result="已处置", officers=officers)
        assert refused.value.key == key, officers
    assert svc.get(CC, inc.id).state == State.HANDLING
    done = svc.act(
        CC, inc.id, "submit", expected_version=3, result="已处置", officers=["officer-a", "officer-b"]
    )
    assert done.state == State.VERIFYING
    assert svc.timeline(CC, inc.id)[-1].payload["officers"] == [
        "OFFICER-A（officer-a）",
        "OFFICER-B（officer-b）",
    ]


def test_the_stage_clocks_of_a_case_are_read_from_its_log_by_whoever_may_see_it(svc):
    inc = _report(svc)
    svc.act(CC, inc.id, "assess", expected_version=1)
    got = svc.act(CC, inc.id, "dispatch", expected_version=2, team_id=inc.team_id, outcome="simple")
    clocks = svc.stage_clocks(CC, got)
    assert [(c.stage, c.ended is None) for c in clocks] == [
        ("response", False),
        ("assessment", False),
        ("handling", True),
    ]
    assert clocks[-1].due == got.due_at
    other = next(c for c in svc.areas.townships if c != inc.township_code)
    with pytest.raises(AccessDeniedError):
        svc.stage_clocks(Principal("乙", "captain", township_code=other), got)


def test_a_case_is_copied_to_the_departments_its_item_names_once_taken_on_and_they_only_read_it(svc):
    inc = _report(svc, 0, "NOISE_SOCIAL")  # 社会生活噪声: handled by the township, copied to public security
    assert svc.catalog.item("NOISE_SOCIAL").copies() == ["ga"]
    police, market = (
        Principal("公安联络员", "liaison", department="ga"),
        Principal("市场", "liaison", department="scjg"),
    )
    svc.act(CC, inc.id, "assess", expected_version=1)
    with pytest.raises(AccessDeniedError):  # not yet taken on: nothing to tell
        svc.get(police, inc.id)
    assert svc.copied(police) == []
    got = svc.act(
        CC, inc.id, "dispatch", expected_version=2, team_id=inc.team_id, outcome="simple", copies=["scjg"]
    )
    assert svc.timeline(CC, inc.id)[-1].payload["copies"] == ["ga"]  # the catalog's word, not the caller's
    assert svc.get(police, inc.id).id == inc.id and len(svc.timeline(police, inc.id)) == 3
    assert [i.id for i in svc.copied(police)] == [inc.id] and svc.copied(market) == []
    assert [i.id for i in svc.copied(police, only_open=True)] == [inc.id]  # still being handled
    with pytest.raises(AccessDeniedError):
        svc.get(market, inc.id)
    for action in ("submit", "accept", "return", "supervise"):
        with pytest.raises((AccessDeniedError, ValueError)):
            svc.act(police, inc.id, action, expected_version=got.version, result="x", reason="x", level=1)
    assert svc.get(CC, inc.id).version == got.version
    closed = close_incident(svc, _report(svc, 1, "NOISE_SOCIAL"), CC, CHECKER)
    assert closed.state == State.CLOSED
    assert {i.id for i in svc.copied(police)} == {inc.id, closed.id}
    assert [i.id for i in svc.copied(police, only_open=True)] == [inc.id]  # the closed one is filed away


def test_two_captains_assigning_the_same_incident_one_wins_the_other_is_told(svc):
    inc = _report(svc)
    svc.act(CC, inc.id, "assess", expected_version=1)
    captain = Principal("甲", "captain", township_code=inc.township_code)
    svc.act(captain, inc.id, "dispatch", expected_version=2, team_id=inc.team_id, outcome="simple")
    with pytest.raises(ConflictError, match="changed by someone else"):
        svc.act(
            captain,
            inc.id,
            "dispatch",
            expected_version=2,
            team_id=inc.team_id,
            outcome="case",
            reason="多次劝导拒不改正",
        )
    assert svc.get(CC, inc.id).assessment_outcome == "simple"
    assert len(svc.timeline(CC, inc.id)) == 3


def test_a_stale_write_is_refused_by_the_store_itself(svc, district_store):
    inc = _report(svc)
    row = district_store.get_incident(inc.id)
    svc.act(CC, inc.id, "assess", expected_version=1)
    with pytest.raises(StoreError, match="changed by someone else"):
        district_store.update_incident(row._replace(state="assessing", version=2), 1, [])


def test_a_change_that_lands_between_the_stores_version_read_and_its_write_is_refused(
    svc, district_store, monkeypatch
):
    inc = _report(svc)
    store = district_store
    stale = store.get_incident(inc.id)
    read = store._read
    raced = []

    def read_then_let_another_writer_in(sql, params):
        rows = read(sql, params)
        if "SELECT state, version" in sql and not raced:
            raced.append(True)
            svc.act(CC, inc.id, "assess", expected_version=1)  # lands after the read, before the write
        return rows

    monkeypatch.setattr(store, "_read", read_then_let_another_writer_in)
    rejected = stale._replace(state="rejected", version=2)
    with pytest.raises(StoreError, match="changed by someone else"):
        store.update_incident(rejected, 1, [])
    monkeypatch.undo()
    assert raced and store.get_incident(inc.id).state == "assessing"
    assert [e.to_state for e in store.events(inc.id)] == ["discovered", "assessing"]
    assert sorted(store.rollup_rows()) == _recount(store)


def _raw_sql(store, sql: str) -> None:
    if store.url.startswith("sqlite"):
        store._conn().execute(sql)
    else:
        with psycopg.connect(store.url, autocommit=True) as conn:
            conn.execute(sql.encode())


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE incident_events SET note = 'x'",
        "DELETE FROM incident_events",
        "TRUNCATE incident_events",  # PostgreSQL; SQLite knows no TRUNCATE and reads it as DELETE
        "INSERT OR REPLACE INTO incident_events (incident_id, seq, district_code, action, to_state, actor,"
        " role, at, note, payload) SELECT incident_id, seq, district_code, action, to_state, 'mallory', role,"
        " at, 'rewritten', payload FROM incident_events",
    ],
    ids=["update", "delete", "truncate", "insert-or-replace"],
)
def test_the_event_log_is_append_only(svc, district_store, sql):
    inc = _report(svc)
    before = district_store.events(inc.id)
    if sql.startswith("TRUNCATE") and district_store.url.startswith("sqlite"):
        sql = "DELETE FROM incident_events"
    if sql.startswith("INSERT OR REPLACE") and not district_store.url.startswith("sqlite"):
        sql = (
            sql.replace("INSERT OR REPLACE", "INSERT") + " ON CONFLICT (district_code, incident_id, seq)"
            " DO UPDATE SET actor = excluded.actor"
        )
    with pytest.raises(Exception, match="append-only"):
        _raw_sql(district_store, sql)
    assert district_store.events(inc.id) == before


def test_rollups_equal_a_direct_recount_after_a_random_mix_of_writes(svc, district_store):
    rng = random.Random(7)
    items = ["PARK_COMPOUND", "STREET_VENDING", "NOISE_SOCIAL", "SEWAGE", "FOOD_SAFETY"]
    ids = [_report(svc, k, rng.choice(items)).id for k in range(30)]
    for _ in range(100):
        inc = svc.get(CC, rng.choice(ids))
        take = (
            ("handover", {"department": inc.department})
            if inc.handler == "department"
            else ("dispatch", {"team_id": inc.team_id, "outcome": "simple"})
        )
        options = {
            State.DISCOVERED: [("assess", {})],
            State.ASSESSING: [take, ("reject", {"reason": "非执法事项"})],
            State.HANDED_OVER: [("accept", {}), ("return", {"reason": "属乡镇事项"})],
            State.RETURNED: [
                ("dispatch", {"team_id": inc.team_id, "outcome": "simple"}),
                ("dispute", {"reason": "部门事项"}),
            ],
            State.DISPUTED: [("rule", {"decision": rng.choice(["department", "township"])})],
            State.HANDLING: [("submit", {"result": "ok"}), ("consult", {"departments": ["ga"]})],
            State.CONSULTING: [("decide", {"decision": rng.choice(["handle", "close", "reject"])})],
            State.VERIFYING: [("verify", {"result": rng.choice(["pass", "fail"])})],
        }.get(inc.state, [])
        if options:
            action, fields = rng.choice(options)
            svc.act(
                CHECKER if action == "verify" else CC, inc.id, action, expected_version=inc.version, **fields
            )
    assert district_store.rollup_rows() == _recount(district_store)
    states = Counter(r.state for r in district_store.list_incidents(IncidentQuery(limit=1000)))
    assert len(states) >= 3 and states["transferred"] > 0  # the handover's final bucket is counted too
    assert district_store.state_counts() == dict(states)


def test_heatmap_counts_come_from_rollups_filtered_by_day_item_bucket_and_township(svc, district_store):
    a = _report(svc, 0, "PARK_COMPOUND")
    _report(svc, 0, "PARK_COMPOUND")
    _report(svc, 1, "STREET_VENDING")
    day = local_day(NOW)
    by_cell = dict(
        district_store.rollup_by_cell(RollupQuery(day_from=day, day_to=day, item_codes=("PARK_COMPOUND",)))
    )
    assert by_cell == {a.cell: 2}
    assert district_store.rollup_by_cell(RollupQuery(buckets=("closed",))) == []
    other = district_store.rollup_by_cell(RollupQuery(township_codes=("nowhere",)))
    assert other == []


def test_a_constraint_violation_mid_batch_leaves_nothing(svc, district_store):
    _report(svc)
    before = (district_store.state_counts(), district_store.rollup_rows())
    row = district_store.list_incidents(IncidentQuery(limit=1))[0]
    fresh = row._replace(id="fresh-id", number="NH-X-0001", external_id=None)
    clash = row._replace(number="NH-X-0002")  # same id as the stored incident
    with pytest.raises(DuplicateError):
        district_store.insert_incidents(IncidentBatch.from_rows([fresh, clash], []))
    assert (district_store.state_counts(), district_store.rollup_rows()) == before
    assert district_store.get_incident("fresh-id") is None


def test_a_connection_dropped_mid_write_leaves_nothing_and_the_store_recovers(
    svc, district_store, monkeypatch
):
    first = _report(svc)
    before = (
        district_store.state_counts(),
        district_store.rollup_rows(),
        len(district_store.events(first.id)),
    )
    store = district_store
    if store.url.startswith("sqlite"):
        import store.sqlite as backend

        def drop(cur, rows):  # reached after the incident, its event and its rollups were written
            store._conn().close()
            raise backend.sqlite3.OperationalError("disk I/O error")

        monkeypatch.setattr(store, "_append_audit", drop)
        with pytest.raises(StoreError, match="nothing was saved"):
            _report(svc, 1)
    else:

        def terminate(cur, deltas):
            cur.execute("SELECT pg_terminate_backend(pg_backend_pid())")

        monkeypatch.setattr(type(store), "_apply_rollups", staticmethod(terminate))
        with pytest.raises(StoreError):
            _report(svc, 1)
    monkeypatch.undo()
    assert (store.state_counts(), store.rollup_rows(), len(store.events(first.id))) == before
    assert store.count_incidents(IncidentQuery()) == 1
    _report(svc, 2)  # the store reconnects and goes on
    assert store.count_incidents(IncidentQuery()) == 2


def test_lists_filter_and_count(svc, district_store):
    for k in range(6):
        _report(
            svc,
            k,
            "PARK_COMPOUND" if k % 2 else "STREET_VENDING",
            source="hotline_12345" if k < 2 else "patrol",
        )
    store = district_store
    assert store.count_incidents(IncidentQuery()) == 6
    assert store.count_incidents(IncidentQuery(item_codes=("PARK_COMPOUND",))) == 3
    assert store.count_incidents(IncidentQuery(sources=("hotline_12345",))) == 2
    assert store.count_incidents(IncidentQuery(states=("closed",))) == 0
    assert store.count_incidents(IncidentQuery(reported_from=NOW + timedelta(days=1))) == 0
    page = store.list_incidents(IncidentQuery(limit=4, offset=4))
    assert len(page) == 2


def test_external_ids_are_found_and_unique(svc, district_store):
    inc = _report(svc, 0, external_id="EXT-1")
    assert district_store.existing_external_ids("330402", ["EXT-1", "EXT-2"]) == {"EXT-1"}
    row = district_store.get_incident(inc.id)
    with pytest.raises(DuplicateError):
        district_store.insert_incidents(
            IncidentBatch.from_rows([row._replace(id="other", number="NH-Y-1")], [])
        )


def test_the_duplicate_rule_finds_only_open_incidents_of_the_same_item(svc):
    inc = _report(svc, 0)
    found = svc.find_duplicate("PARK_COMPOUND", inc.lat, inc.lng, NOW)
    assert found is not None and found.id == inc.id
    assert svc.find_duplicate("SEWAGE", inc.lat, inc.lng, NOW) is None
    svc.act(CC, inc.id, "assess", expected_version=1)
    svc.act(CC, inc.id, "reject", expected_version=2, reason="非执法事项")
    assert svc.find_duplicate("PARK_COMPOUND", inc.lat, inc.lng, NOW) is None


def test_a_bulk_import_writes_creation_events_and_rollups_equal_to_a_recount(svc, district_store):
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(3)
    n = 400
    frame = pd.DataFrame({
        "item_code": rng.choice(["PARK_COMPOUND", "SEWAGE", "CLUTTER"], n),
        "lat": 30.75 + rng.normal(0, 0.01, n), "lng": 120.78 + rng.normal(0, 0.01, n),
        "source": "hotline_12345",
        "reported_at": pd.Timestamp("2026-11-01", tz="UTC") + pd.to_timedelta(rng.integers(0, 20 * 86400, n), unit="s"),
    })  # fmt: skip
    _report(svc, 0)
    result = svc.create_many(frame, IMPORTER)
    assert result.created + len(result.rejected) == n and result.created > 300
    assert district_store.rollup_rows() == _recount(district_store)
    rows = district_store.list_incidents(IncidentQuery(limit=1000, newest_first=False))
    bulk = [r for r in rows if r.source == "hotline_12345"]
    assert [r.reported_at for r in bulk] == sorted(r.reported_at for r in bulk)
    events = district_store.events(bulk[0].id)
    assert [(e.seq, e.action, e.to_state, e.actor) for e in events] == [(1, "create", "discovered", "导入员")]
    assert all(r.response_minutes == 15 for r in bulk)


def test_dispatch_to_a_team_that_does_not_exist_is_refused_naming_the_field(svc):
    from patrol.incident import MissingFieldError

    inc = _report(svc)
    svc.act(CC, inc.id, "assess", expected_version=1)
    with pytest.raises(MissingFieldError, match="no team 999999") as exc:
        svc.act(CC, inc.id, "dispatch", expected_version=2, team_id=999999, outcome="simple")
    assert exc.value.fields == ("team_id",)
    assert svc.get(CC, inc.id).state == State.ASSESSING


def test_the_command_center_dispatching_to_another_townships_team_moves_the_incident_there(
    svc, district_store
):
    inc = _report(svc)
    other = next(t for t in district_store.teams() if _township_of(svc, t.id) != inc.township_code)
    svc.act(CC, inc.id, "assess", expected_version=1)
    moved = svc.act(CC, inc.id, "dispatch", expected_version=2, team_id=other.id, outcome="simple")
    assert moved.team_id == other.id and moved.township_code == _township_of(svc, other.id)
    stored = district_store.get_incident(inc.id)
    assert stored.township_code == moved.township_code
    captain = Principal("c", "captain", township_code=moved.township_code)
    assert [i.id for i in svc.list_incidents(captain, IncidentQuery())] == [inc.id]
    assert district_store.rollup_rows() == _recount(district_store)


def test_a_consultation_accepts_only_departments_of_the_catalog(svc):
    from patrol.incident import MissingFieldError

    inc = _report(svc)
    svc.act(CC, inc.id, "assess", expected_version=1)
    svc.act(CC, inc.id, "dispatch", expected_version=2, team_id=inc.team_id, outcome="simple")
    with pytest.raises(MissingFieldError, match="no department mafia") as exc:
        svc.act(CC, inc.id, "consult", expected_version=3, departments=["scjg", "mafia"])
    assert exc.value.fields == ("departments",)
    assert svc.act(CC, inc.id, "consult", expected_version=3, departments=["scjg"]).state == State.CONSULTING


def _township_of(svc, team_id: int) -> str:
    return svc.team_township[team_id]


def test_an_incident_frame_holds_the_same_values_as_the_columns_with_times_in_utc_and_nat_for_none(
    svc, district_store
):
    first = _report(svc, 0)
    for k in range(1, 4):
        _report(svc, k)
    svc.act(CC, first.id, "assess", expected_version=1)
    cols = ["id", "cell", "reported_at", "first_response_at", "closed_at", "state", "team_id"]
    expected = district_store.incident_columns(IncidentQuery(), cols)
    frame = district_store.incident_frame(IncidentQuery(), cols)
    assert len(frame) == 4 and list(frame.columns) == cols
    for c in ("reported_at", "first_response_at", "closed_at"):
        assert str(frame[c].dtype) == "datetime64[us, UTC]"
        assert [None if v is pd.NaT else v.to_pydatetime() for v in frame[c]] == expected[c]
    assert frame["first_response_at"].notna().sum() == 1 and frame["closed_at"].isna().all()
    for c in ("id", "cell", "state", "team_id"):
        assert frame[c].tolist() == expected[c]
    empty = district_store.incident_frame(IncidentQuery(reported_from=NOW + timedelta(days=9)), cols)
    assert empty.empty and str(empty["reported_at"].dtype) == "datetime64[us, UTC]"
    with pytest.raises(ValueError, match="password"):
        district_store.incident_frame(IncidentQuery(), ["id", "password"])


def test_the_most_overdue_incidents_come_first_when_listed_by_due_time(svc, district_store):
    # reported in this order, due in the opposite one (15, 5, 3 and 1 days to handle)
    items = ["ILLEGAL_BUILD", "CONSTRUCTION_WASTE", "PARK_COMPOUND", "STREET_VENDING"]
    made = [_report(svc, k, item) for k, item in enumerate(items)]
    store = district_store
    by_due = store.list_incidents(IncidentQuery(order_by="due_at", newest_first=False, limit=3))
    assert [r.item_code for r in by_due] == ["STREET_VENDING", "PARK_COMPOUND", "CONSTRUCTION_WASTE"]
    assert [r.id for r in store.list_incidents(IncidentQuery(newest_first=False))] == [m.id for m in made]
    assert store.list_incidents(IncidentQuery(order_by="due_at", limit=1))[0].item_code == "ILLEGAL_BUILD"
    with pytest.raises(ValueError, match="cannot order"):
        store.list_incidents(IncidentQuery(order_by="reporter_phone; DROP TABLE incidents"))  # type: ignore[arg-type]


def test_a_report_and_an_import_link_a_repeat_of_a_case_closed_in_the_same_cell_the_same_way(district_store):
    import pandas as pd

    clock = {"now": NOW - timedelta(days=50)}
    svc = IncidentService(district_store, clock=lambda: clock["now"])
    old = close_incident(
        svc, _report(svc, 0), CC, CHECKER
    )  # closed 50 days ago: too long ago to be repeated now
    clock["now"] = NOW - timedelta(days=5)
    first = close_incident(svc, _report(svc, 0), CC, CHECKER)  # closed 5 days ago
    clock["now"] = NOW
    again = svc.report(CC, NewIncident("PARK_COMPOUND", *POINTS[0], "hotline_12345", "又停满了"))
    other = svc.report(CC, NewIncident("STREET_VENDING", *POINTS[0], "hotline_12345", "摆摊"))
    assert again.incident.repeat_of == first.id and other.incident.repeat_of is None
    frame = pd.DataFrame({
        "item_code": ["PARK_COMPOUND", "PARK_COMPOUND", "PARK_COMPOUND"],
        "lat": [POINTS[0][0], POINTS[1][0], POINTS[0][0]], "lng": [POINTS[0][1], POINTS[1][1], POINTS[0][1]],
        "source": "hotline_12345",
        "reported_at": [NOW - timedelta(hours=1), NOW - timedelta(hours=1), NOW - timedelta(days=30)],
    })  # fmt: skip
    result = svc.create_many(frame, IMPORTER)
    assert result.created == 3
    imported = district_store.list_incidents(IncidentQuery(sources=("hotline_12345",), limit=10))
    by_place = {
        (round(r.lat, 4), r.reported_at): r.repeat_of for r in imported if r.item_code == "PARK_COMPOUND"
    }
    assert by_place[(POINTS[0][0], NOW - timedelta(hours=1))] == first.id  # same cell, 5 days after closing
    assert by_place[(POINTS[1][0], NOW - timedelta(hours=1))] is None  # another cell
    assert by_place[(POINTS[0][0], NOW - timedelta(days=30))] == old.id  # 20 days after the older case closed
    assert old.id != first.id


NEW_SINCE_0013 = ("request", "paused_at", "satisfaction", "callback_count", "supervision_level")
MIGRATIONS_SINCE = (
    "0013_requests_callbacks", "0014_handover_states", "0015_supervision", "0016_api", "0017_evidence",
    "0018_score_entries", "0019_user_district",
)  # fmt: skip


def test_a_store_of_the_previous_schema_upgrades_in_place_with_its_incidents_and_events_unchanged(
    svc, district_store
):
    from store import open_store
    from tests.conftest import raw_sql

    made = [_report(svc, k, source="hotline_12345") for k in range(3)]
    close_incident(svc, made[0], CC, Principal("值班长", "command_center"))
    store = district_store
    before = {r.id: r for r in store.list_incidents(IncidentQuery())}
    events = {i: store.events(i) for i in before}
    url = store.url
    # back to the columns of the migrations before 0013, as a store made by 206cd2b has them
    for column in NEW_SINCE_0013:
        raw_sql(store, f"ALTER TABLE incidents DROP COLUMN {column}")
    for table in (
        "api_outbox",
        "api_requests",
        "api_clients",
        "evidence",
        "score_entries",
        "evidence_content",
    ):  # 2f002ff had none
        raw_sql(store, f"DROP TABLE {table}")
    raw_sql(store, "ALTER TABLE users DROP COLUMN district_code")
    raw_sql(store, f"DELETE FROM schema_migrations WHERE name IN {MIGRATIONS_SINCE}")
    store.close()
    upgraded = open_store(url)
    try:
        assert upgraded.migrate() == list(MIGRATIONS_SINCE)
        after = {r.id: r for r in upgraded.list_incidents(IncidentQuery())}
        assert after.keys() == before.keys()
        for i, row in after.items():
            old = before[i]._asdict()
            new = row._asdict()
            assert {k: new[k] for k in old if k not in NEW_SINCE_0013} == {
                k: v for k, v in old.items() if k not in NEW_SINCE_0013
            }
            assert (
                row.request,
                row.paused_at,
                row.satisfaction,
                row.callback_count,
                row.supervision_level,
            ) == (None, None, None, 0, 0)
            assert upgraded.events(i) == events[i]
        again = IncidentService(upgraded, clock=lambda: NOW + timedelta(days=1))
        called = again.act(
            CC, made[0].id, "callback", expected_version=after[made[0].id].version, result="satisfied"
        )
        assert upgraded.get_incident(made[0].id).satisfaction == "satisfied" == called.satisfaction
    finally:
        upgraded.close()


def test_pending_requests_are_found_by_the_query_on_both_backends(svc, district_store):
    inc = _report(svc, 0)
    inc = svc.act(CC, inc.id, "assess", expected_version=inc.version)
    inc = svc.act(CC, inc.id, "dispatch", expected_version=inc.version, team_id=inc.team_id, outcome="simple")
    _report(svc, 1)
    svc.act(Principal("中队长", "captain", township_code=inc.township_code), inc.id, "request",
            expected_version=inc.version, kind="hold", reason="待法院裁定")  # fmt: skip
    assert [r.id for r in district_store.list_incidents(IncidentQuery(has_request=True))] == [inc.id]
    assert [i.id for i in svc.awaiting_decision(CC)] == [inc.id]
