"""Faults: a PostgreSQL server owned by these tests goes down and comes back; SQLite locked.

The machine's shared PostgreSQL is never stopped: the tests initdb their own cluster in a
temporary directory on a free port (as the ``postgres`` OS user when run as root).
"""

from __future__ import annotations

import os
import shutil
import socket
import sqlite3
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from streamlit.testing.v1 import AppTest

from data.demo_district import load_demo_district
from patrol.incidents import IncidentService, NewIncident
from patrol.roles import Principal
from store import StoreError, open_store
from store.rows import IncidentQuery, state_bucket
from store.sqlite import SQLiteStore

PG_BIN = Path("/usr/lib/postgresql/15/bin")
CC = Principal("cc", "command_center")
APP = str(Path(__file__).resolve().parents[2] / "streamlit_app.py")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class OwnServer:
    """A throwaway PostgreSQL cluster: start, stop (immediately, like a crash), start again."""

    def __init__(self, root: Path) -> None:
        self.dir = root / "pgdata"
        self.port = _free_port()
        self.as_postgres = os.geteuid() == 0
        root.mkdir(parents=True, exist_ok=True)
        if self.as_postgres:
            shutil.chown(root, "postgres")
        self._run(str(PG_BIN / "initdb"), "-D", str(self.dir), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *cmd: str) -> None:
        full = ["runuser", "-u", "postgres", "--", *cmd] if self.as_postgres else list(cmd)
        subprocess.run(full, check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        opts = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        log = str(self.dir.parent / "server.log")  # the server must not hold our pipes open
        self._run(
            str(PG_BIN / "pg_ctl"), "-D", str(self.dir), "-l", log, "-o", opts, "-w", "-t", "60", "start"
        )

    def stop(self) -> None:
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.dir), "-m", "immediate", "-w", "stop")

    def database(self, name: str) -> str:
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"


@pytest.fixture
def own_pg(postgis_server) -> Iterator[OwnServer]:
    if not (PG_BIN / "initdb").exists():
        pytest.fail(f"PostgreSQL 15 server binaries not found in {PG_BIN} (see .ci/run)")
    # not under pytest's private (0700, root-owned) temp dirs: the postgres user must reach it
    root = Path(tempfile.mkdtemp(prefix="gridpatrol-own-pg-"))
    root.chmod(0o755)
    server = OwnServer(root / "cluster")
    server.start()
    yield server
    try:
        server.stop()
    except subprocess.CalledProcessError:
        pass  # already stopped by the test
    shutil.rmtree(root, ignore_errors=True)


def _recount(store) -> list[tuple[int, str, str, str, str, int]]:
    counts: Counter[tuple[int, str, str, str, str]] = Counter()
    for r in store.list_incidents(IncidentQuery(limit=100_000)):
        counts[(r.cell, r.day, r.item_code, state_bucket(r.state), r.township_code)] += 1
    return sorted((*k, n) for k, n in counts.items())


def _report(svc, k: int):
    return svc.report(CC, NewIncident("PARK_COMPOUND", 30.7552, 120.7601 + k * 1e-4, "patrol", f"第{k}件"))


def test_postgis_down_at_start_is_one_clear_error(own_pg):
    url = own_pg.database("gp_down")
    own_pg.stop()
    began = time.monotonic()
    with pytest.raises(StoreError, match="cannot reach PostGIS"):
        open_store(url)
    assert time.monotonic() - began < 15


def test_a_server_going_away_mid_session_loses_nothing_and_the_store_recovers(own_pg):
    store = open_store(own_pg.database("gp_away"))
    store.migrate()
    load_demo_district(store, seed=0)
    svc = IncidentService(store)
    first = _report(svc, 0).incident
    svc.act(CC, first.id, "assess", expected_version=1)
    own_pg.stop()
    with pytest.raises(StoreError, match="unreachable or went away"):
        _report(svc, 1)
    with pytest.raises(StoreError):
        svc.act(CC, first.id, "reject", expected_version=2, reason="无效")
    own_pg.start()
    third = _report(svc, 2).incident  # the pool replaced its broken connections
    assert {r.id for r in store.list_incidents(IncidentQuery())} == {first.id, third.id}
    assert [e.action for e in store.events(first.id)] == ["create", "assess"]
    assert svc.get(CC, first.id).version == 2
    assert store.rollup_rows() == _recount(store)
    store.close()


def test_the_app_shows_a_banner_retries_with_backoff_and_recovers_when_postgis_returns(own_pg, monkeypatch):
    url = own_pg.database("gp_app")
    s = open_store(url)
    s.migrate()
    s.close()
    own_pg.stop()
    monkeypatch.setenv("GRIDPATROL_DB", url)
    monkeypatch.setenv("GRIDPATROL_RETRY_BASE_S", "0.01")
    app = AppTest.from_file(APP, default_timeout=120)
    app.run()
    assert not app.exception, app.exception
    assert any("数据存储不可用" in e.value for e in app.error)
    assert app.session_state["store_retry"] == 5  # five automatic retries, then the button
    assert any("5 次" in c.value for c in app.caption)
    own_pg.start()
    app.button(key="store_retry_button").click().run()
    assert not app.exception, app.exception
    assert not app.error
    assert any("尚未创建任何用户" in i.value for i in app.info)  # the sign-in page, on an empty store


def test_a_locked_sqlite_store_refuses_a_write_with_a_clear_error_and_keeps_the_data(tmp_path):
    path = tmp_path / "locked.sqlite"
    store = SQLiteStore(path, busy_timeout_s=0.2)
    store.migrate()
    blocker = sqlite3.connect(path)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StoreError, match="locked or read-only"):
            store.append_audit([])
    finally:
        blocker.rollback()
        blocker.close()
    store.append_audit([])  # works again once the lock is gone
    store.close()
