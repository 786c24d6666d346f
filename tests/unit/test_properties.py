"""Property-based tests (hypothesis): random workflows and hostile import files."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from patrol.exporter import export_incidents
from patrol.importer import IncidentImportError, import_incidents
from patrol.incident import FINAL_STATES, TRANSITIONS, Action, Incident, Source, State, WorkflowError
from patrol.incidents import IncidentService
from patrol.refusals import Refusal
from patrol.roles import Principal
from store import open_store
from store.rows import IncidentQuery

IMPORTER = Principal("导入员", "admin")

T0 = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)

FIELDS = st.fixed_dictionaries(
    {},
    optional={
        "team_id": st.sampled_from([1, 2, 0, -1]),
        "outcome": st.sampled_from(["simple", "case", "enforce", "", "bogus"]),
        "reason": st.sampled_from(["现场核实", "", "x" * 300]),
        "canonical_id": st.sampled_from(["i0", ""]),
        "departments": st.sampled_from([["scjg"], [], ["scjg", "sthb"]]),
        "decision": st.sampled_from(["handle", "close", "reject", "maybe", ""]),
        "new_due_at": st.sampled_from([T0 + timedelta(days=9), T0 - timedelta(days=9), None]),
        "result": st.sampled_from(["pass", "fail", "", "perhaps", "satisfied", "dissatisfied"]),
        "kind": st.sampled_from(["defer", "hold", "", "forever"]),
        "department": st.sampled_from(["scjg", "zhzf", ""]),
        "level": st.sampled_from([1, 2, 3, 4, 0]),
        "opinion": st.sampled_from(["同意", ""]),
    },
)
ACTORS = st.sampled_from(["甲", "乙"])
STEPS = st.lists(st.tuples(st.sampled_from(list(Action)), FIELDS, ACTORS, st.integers(1, 6000)), max_size=25)


def _fresh() -> Incident:
    return Incident(
        id="i1", number="NH-20261127-0001", district_code="330402", item_code="PARK_COMPOUND",
        source=Source.HOTLINE, lat=30.75, lng=120.76, cell=1, village_code="v", township_code="t", team_id=1,
        handler="township", department="zhzf", routing_reason="r", description="d", reported_at=T0,
        due_at=T0 + timedelta(days=3), response_minutes=15,
    )  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(STEPS)
def test_random_action_sequences_never_reach_an_invalid_state_or_lose_an_event(steps):
    inc = _fresh()
    inc.record_creation("系统", "admin", T0)
    at = T0
    for action, fields, actor, minutes in steps:
        at += timedelta(minutes=minutes)
        before = (inc.state, inc.version, len(inc.pending), inc.due_at, inc.rework_count)
        asked = inc.request
        try:
            inc.apply(action, actor=actor, role="captain", at=at, **fields)
        except (WorkflowError, Refusal):
            # a refusal changes nothing at all
            assert (inc.state, inc.version, len(inc.pending), inc.due_at, inc.rework_count) == before
            continue
        act = Action(action)
        assert before[0] not in FINAL_STATES or act == Action.CALLBACK, "a final state accepted an action"
        assert (before[0], act) in TRANSITIONS
        assert inc.version == before[1] + 1 and len(inc.pending) == before[2] + 1
        event = inc.pending[-1]
        assert (event.from_state, event.to_state, event.action) == (before[0], inc.state, act)
        assert isinstance(inc.state, State)
        if act in (Action.APPROVE, Action.REFUSE):  # nobody decides their own request
            assert asked is not None and asked["by"] != actor
        if act in (Action.REQUEST, Action.APPROVE):  # never asked or granted once the due time has passed
            assert at <= before[3]
        if inc.state == State.DEFERRED:  # a held case's clock stands still
            assert not inc.is_overdue(at + timedelta(days=365))
    # the log replays to the final state: each event starts where the previous one ended
    states = [e.to_state for e in inc.pending]
    assert all(e.from_state == prev for e, prev in zip(inc.pending[1:], states, strict=False))
    assert inc.state == states[-1] and inc.version == len(inc.pending)


# -- hostile import files ------------------------------------------------------------------
GOOD_POINTS = [(30.7552, 120.7601), (30.7461, 120.7702), (30.7204, 120.8301)]
COORD = st.one_of(
    st.sampled_from([f"{a}" for p in GOOD_POINTS for a in p]),
    st.sampled_from(["", "NaN", "nan", "inf", "-inf", "1e309", "95", "-200", "30,75", "三十", " 30.75 "]),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
)
TEXT = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            '=HYPERLINK("http://evil","点我")', "+1+1", "-2+3", "@SUM(A1)", "=cmd|' /C calc'!A0",
            "<script>alert(1)</script>", "楼下\r\n乱停车", "x" * 20_000, "\x00\x01", "'; DROP TABLE incidents;--",
        ]
    ),
)  # fmt: skip
ROW = st.fixed_dictionaries(
    {
        "time": st.one_of(
            st.sampled_from(["2026-11-20 08:30", "2026/11/20", "昨天", "", "2026-13-45 99:99"]), TEXT
        ),
        "item": st.one_of(st.sampled_from(["PARK_COMPOUND", "SEWAGE", "小区乱停车", "", "=1+1"]), TEXT),
        "source": st.sampled_from(["patrol", "hotline_12345", "12345", "", "外星"]),
        "description": TEXT,
        "reporter_phone": st.sampled_from(["13812345678", "", "=1+2"]),
    }
)


def _write(rows: list[dict[str, str]], encoding: str) -> bytes:
    buf = io.StringIO()
    writer = csv.DictWriter(
        buf, fieldnames=["id", "time", "lat", "lng", "item", "source", "description", "reporter_phone"]
    )
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue().encode(encoding, errors="replace")


@pytest.fixture(scope="module")
def import_store(tmp_path_factory, demo_sqlite_url):
    import shutil

    dest = tmp_path_factory.mktemp("prop") / "store.sqlite"
    shutil.copy(demo_sqlite_url.removeprefix("sqlite:///"), dest)
    store = open_store(f"sqlite:///{dest}")
    yield store
    store.close()


@pytest.fixture(scope="module")
def import_svc(import_store):
    return IncidentService(import_store, clock=lambda: datetime(2026, 11, 27, tzinfo=UTC))


COUNTER = {"n": 0}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rows=st.lists(st.tuples(ROW, COORD, COORD), min_size=1, max_size=12),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "gbk"]),
)
def test_hostile_csv_rows_are_each_accepted_or_rejected_with_a_reason_and_exports_stay_inert(
    import_svc, import_store, tmp_path_factory, rows, encoding
):
    COUNTER["n"] += 1
    run = COUNTER["n"]
    folder = tmp_path_factory.mktemp("hostile")
    table = [{**r, "id": f"H{run}-{i}", "lat": lat, "lng": lng} for i, (r, lat, lng) in enumerate(rows)]
    path = folder / "in.csv"
    path.write_bytes(_write(table, encoding))
    before = import_store.count_incidents(IncidentQuery())
    try:
        report = import_incidents(import_svc, IMPORTER, path)
    except IncidentImportError:
        # a file the importer cannot read at all is refused as a whole: nothing stored
        assert import_store.count_incidents(IncidentQuery()) == before
        return
    assert report.accepted + len(report.rejected) + report.skipped_existing == report.total == len(table)
    for line, reason, _ in report.rejected:
        assert 2 <= line <= len(table) + 1 and reason
    again = import_incidents(import_svc, IMPORTER, path)
    assert again.accepted == 0 and again.skipped_existing == report.accepted
    if report.accepted:
        out = folder / "out.csv"
        export_incidents(import_svc, IMPORTER, out, "csv")
        exported = pd.read_csv(out, dtype=str, keep_default_na=False)
        for column in ("description", "reporter_name", "reporter_phone", "external_id"):
            for value in exported[column]:
                assert value[:1] not in ("=", "+", "-", "@") or _number(value), (column, value)
    report.write_rejects(folder / "rejects.csv")
    text = (folder / "rejects.csv").read_text(encoding="utf-8-sig")
    for record in csv.reader(io.StringIO(text)):
        for value in record:
            assert value[:1] not in ("=", "+", "-", "@") or _number(value)


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def test_a_binary_file_is_refused_with_a_message(import_svc, tmp_path):
    path = tmp_path / "junk.csv"
    path.write_bytes(bytes(range(256)) * 40)
    with pytest.raises(IncidentImportError):
        import_incidents(import_svc, IMPORTER, Path(path))
