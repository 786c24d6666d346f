"""Contract suite for users and the audit log on SQLite and PostGIS: append-only in the database."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from patrol.audit import audit_row
from patrol.incidents import IncidentService, NewIncident
from patrol.roles import Principal
from store.protocol import DuplicateError
from store.rows import IncidentQuery, UserRow
from tests.conftest import raw_sql

NOW = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)
CC = Principal("cc", "command_center")


def _user(name: str, **kw) -> UserRow:
    values = {
        "display_name": name, "role": "planner", "township_code": None, "team_id": None, "department": None,
        "password_hash": "scrypt$1$1$1$AA==$AA==", "active": True, "created_at": NOW, "updated_at": NOW,
    }  # fmt: skip
    values.update(kw)
    return UserRow(name, **values)


def test_users_round_trip_and_a_taken_name_stores_nothing(store):
    store.insert_user(_user("a"), audit_row(None, NOW, "create_user", "user", "a"))
    with pytest.raises(DuplicateError):
        store.insert_user(_user("a", role="admin"), audit_row(None, NOW, "create_user", "user", "a"))
    assert store.get_user("a") == _user("a") and store.get_user("nobody") is None
    store.update_user(_user("a", active=False), audit_row(None, NOW, "update_user", "user", "a"))
    assert store.get_user("a").active is False
    with pytest.raises(KeyError):
        store.update_user(_user("ghost"), audit_row(None, NOW, "update_user", "user", "ghost"))
    # the failed insert and the failed update wrote no audit row
    assert [a.action for a in store.audit_log()] == ["update_user", "create_user"]


def test_the_database_refuses_to_update_or_delete_audit_rows(store):
    store.append_audit([audit_row(CC, NOW, "x", "user", "1", {"a": 1}, {"a": 2})])
    sqlite = store.url.startswith("sqlite")
    rewrite = (
        "INSERT OR REPLACE INTO audit_log SELECT seq, at, 'mallory', role, action, entity, entity_id, before,"
        " after FROM audit_log"
        if sqlite
        else "INSERT INTO audit_log SELECT seq, at, 'mallory', role, action, entity, entity_id, before, after"
        " FROM audit_log ON CONFLICT (seq) DO UPDATE SET actor = excluded.actor"
    )
    truncate = "DELETE FROM audit_log" if sqlite else "TRUNCATE audit_log"
    for sql in ("UPDATE audit_log SET actor = 'mallory'", "DELETE FROM audit_log", rewrite, truncate):
        with pytest.raises((sqlite3.DatabaseError, psycopg.Error), match="append-only"):
            raw_sql(store, sql)
    (row,) = store.audit_log()
    assert row.actor == "cc" and json.loads(row.before) == {"a": 1} and json.loads(row.after) == {"a": 2}


def test_audit_rows_filter_by_time_actor_and_entity_newest_first(store):
    rows = [
        audit_row(CC, NOW, "a1", "user", "u1"),
        audit_row(Principal("p", "planner"), NOW + timedelta(hours=1), "a2", "patrol", "t1"),
        audit_row(CC, NOW + timedelta(hours=2), "a3", "patrol", "t2"),
    ]
    store.append_audit(rows)
    assert [a.action for a in store.audit_log()] == ["a3", "a2", "a1"]
    assert [a.action for a in store.audit_log(entity="patrol", actor="cc")] == ["a3"]
    assert [
        a.action for a in store.audit_log(since=NOW + timedelta(minutes=30), until=NOW + timedelta(hours=2))
    ] == ["a2"]
    assert [a.action for a in store.audit_log(limit=1)] == ["a3"]


def test_recent_events_and_the_liaison_filter_work_on_both_backends(district_store):
    svc = IncidentService(district_store, clock=lambda: NOW)
    a = svc.report(CC, NewIncident("PARK_COMPOUND", 30.7552, 120.7601, "patrol", "a")).incident
    b = svc.report(CC, NewIncident("PARK_COMPOUND", 30.7461, 120.7702, "patrol", "b")).incident
    svc.act(CC, a.id, "assess", expected_version=1)
    svc.act(CC, a.id, "dispatch", expected_version=2, team_id=a.team_id, outcome="simple")
    svc.act(CC, a.id, "consult", expected_version=3, departments=["scjg", "sthb"])
    events = district_store.recent_events(limit=10)
    assert len(events) == 5 and {e.incident_id for e in events} == {a.id, b.id}
    assert district_store.recent_events(actor="nobody") == []
    assert (
        len(district_store.recent_events(since=NOW - timedelta(minutes=1), until=NOW + timedelta(minutes=1)))
        == 5
    )
    assert district_store.recent_events(since=NOW + timedelta(minutes=1)) == []
    assert district_store.recent_events(until=NOW - timedelta(minutes=1)) == []
    if hasattr(district_store, "_conn"):  # SQLite: the latest events are read from the index on time
        plan = " ".join(
            str(r) for r in district_store._conn().execute(
                "EXPLAIN QUERY PLAN SELECT * FROM incident_events WHERE at >= 0 ORDER BY at DESC LIMIT 5"
            )
        )  # fmt: skip
        assert "incident_events_at" in plan
        plan = " ".join(
            str(r) for r in district_store._conn().execute(
                "EXPLAIN QUERY PLAN SELECT id FROM incidents WHERE patrol_task_id IN ('PT-1') LIMIT 5"
            )
        )  # fmt: skip
        assert "incidents_patrol_task" in plan  # a patrol's reports without a scan of every incident
    got = district_store.list_incidents(IncidentQuery(consult_department="sthb"))
    assert [r.id for r in got] == [a.id]
    assert district_store.count_incidents(IncidentQuery(consult_department="ny")) == 0
    with pytest.raises(ValueError):
        IncidentQuery(consult_department="%").conditions()


def test_sign_in_failures_count_lock_and_clear_with_their_audit_rows(store):
    keys = ["user:cap", "client:10.0.0.1"]
    assert store.sign_in_failures(keys) == {}
    store.add_sign_in_failure(keys, NOW)
    counts = store.add_sign_in_failure(keys, NOW + timedelta(seconds=5))
    assert {k: (c.failures, c.first_at, c.last_at, c.locked) for k, c in counts.items()} == {
        k: (2, NOW, NOW + timedelta(seconds=5), False) for k in keys
    }
    store.lock_sign_in("user:cap", audit_row(None, NOW, "sign_in_locked", "user", "cap"))
    assert store.sign_in_failures(["user:cap"])["user:cap"].locked
    store.clear_sign_in_failures(["user:cap"], [audit_row(CC, NOW, "unlock_sign_in", "user", "cap")])
    assert list(store.sign_in_failures(keys)) == ["client:10.0.0.1"]
    assert [a.action for a in store.audit_log()] == ["unlock_sign_in", "sign_in_locked"]
