"""A bounded load test on loopback, on both backends.

20 command-center sessions (AppTest, each in its own thread, rerunning the page after one
warm-up render) while 5 writers create and advance incidents for a fixed time. Afterwards: no errors, every incident's event
log is complete and gapless (nothing lost, nothing duplicated), and the rollups still equal a
recount. The p95 rerun time is written to test-artifacts/load-<backend>.json.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from data.demo_users import create_demo_users
from patrol.incident import ConflictError
from patrol.incidents import IncidentService, NewIncident
from patrol.roles import Principal
from store import open_store
from store.rows import IncidentQuery, state_bucket

APP = str(Path(__file__).resolve().parents[2] / "streamlit_app.py")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
SESSIONS, WRITERS, DURATION_S = 20, 5, 20.0
POINTS = [
    (30.7552, 120.7601),
    (30.7461, 120.7702),
    (30.7204, 120.8301),
    (30.6602, 120.8011),
    (30.7702, 120.8602),
]
CC = Principal("command", "command_center")  # a demo user: every rerun checks the user is still active
STEPS = (
    ("assess", {}),
    ("dispatch", {"outcome": "simple"}),
    ("submit", {"result": "已整改"}),
    ("verify", {"result": "pass"}),
)


def _writer(svc: IncidentService, k: int, stop: float, log: dict, errors: list) -> None:
    rng = random.Random(k)
    who = Principal(f"writer{k}", "command_center")
    checker = Principal(f"checker{k}", "command_center")  # who verifies is never who submitted
    mine: dict[str, int] = {}  # incident id -> how many steps done
    try:
        while time.monotonic() < stop:
            if not mine or rng.random() < 0.4:
                lat, lng = POINTS[rng.randrange(len(POINTS))]
                jitter = rng.uniform(-3e-4, 3e-4)
                inc = svc.report(
                    who, NewIncident("PARK_COMPOUND", lat + jitter, lng - jitter, "patrol", f"w{k}")
                ).incident
                mine[inc.id] = 0
                log[inc.id] = 1
                continue
            iid = rng.choice([i for i, n in mine.items() if n < len(STEPS)] or list(mine))
            done = mine[iid]
            if done >= len(STEPS):
                continue
            current = svc.get(who, iid)
            action, fields = STEPS[done]
            if action == "dispatch":
                fields = {**fields, "team_id": current.team_id}
            if rng.random() < 0.1:  # a stale write: must be refused and change nothing
                try:
                    svc.act(who, iid, action, expected_version=current.version - 1, **fields)
                except ConflictError:
                    pass
                else:
                    errors.append(f"stale write to {iid} accepted")
                continue
            svc.act(
                checker if action == "verify" else who,
                iid,
                action,
                expected_version=current.version,
                **fields,
            )
            mine[iid] = done + 1
            log[iid] += 1
    except Exception as exc:
        errors.append(f"writer {k}: {type(exc).__name__}: {exc}")


def _session(app: AppTest, k: int, stop: float, times: list, errors: list, harness: list) -> None:
    try:
        while time.monotonic() < stop:
            began = time.perf_counter()
            app.run()
            times.append(time.perf_counter() - began)
            if app.exception:
                errors.append(f"session {k}: {app.exception[0].message}")
                return
    except KeyError as exc:
        # Raised by AppTest.run() itself, not by the app (the app's exceptions land in app.exception):
        # it reads every widget of its previous tree back from session state (get_widget_states), and
        # fails when that run dropped the widget. Seen once, for a multiselect, with this machine
        # under heavy load (the cause of the drop not found); a server keeps no such tree.
        if str(exc.args[0] if exc.args else "").startswith("$$ID-"):
            harness.append(f"session {k}: KeyError: {exc}")
        else:
            errors.append(f"session {k}: KeyError: {exc}")
    except Exception as exc:
        errors.append(f"session {k}: {type(exc).__name__}: {exc}")


def _recount(store) -> list[tuple[int, str, str, str, str, int]]:
    counts: Counter[tuple[int, str, str, str, str]] = Counter()
    for r in store.list_incidents(IncidentQuery(limit=1_000_000)):
        counts[(r.cell, r.day, r.item_code, state_bucket(r.state), r.township_code)] += 1
    return sorted((*k, n) for k, n in counts.items())


@pytest.mark.parametrize("backend", ["sqlite", "postgis"])
def test_twenty_command_center_sessions_and_five_writers_lose_nothing(backend, request, monkeypatch):
    from data.demo_district import load_demo_district

    url = request.getfixturevalue("sqlite_url" if backend == "sqlite" else "postgis_url")
    store = open_store(url)
    store.migrate()
    load_demo_district(store, seed=0)
    create_demo_users(store)
    monkeypatch.setenv("GRIDPATROL_DB", url)
    # AppTest shares one mocked Streamlit Runtime per process; when 20 of them run at once, a
    # finishing run can tear it down under another's script thread ("Runtime hasn't been
    # created!"). That is the test harness, not the app: collect such thread exceptions, let
    # nothing else through, and count them in the result.
    harness: list[str] = []
    previous_hook = threading.excepthook

    def hook(args: threading.ExceptHookArgs) -> None:
        text = f"{args.exc_type.__name__}: {args.exc_value}"
        if args.exc_type is RuntimeError and "Runtime hasn't been created" in str(args.exc_value):
            harness.append(text)
        else:
            errors.append(f"thread {args.thread.name if args.thread else '?'}: {text}")

    threading.excepthook = hook
    request.addfinalizer(lambda: setattr(threading, "excepthook", previous_hook))
    # Each AppTest compiles the script in its own cache (the server compiles once, under a
    # lock); concurrent ast.parse for magic hits a CPython 3.11 race ("AST constructor
    # recursion depth mismatch", gh-106905). The app uses no magic: switch it off as the
    # server's config does.
    from streamlit import config as st_config

    magic = st_config.get_option("runner.magicEnabled")
    st_config.set_option("runner.magicEnabled", False)
    request.addfinalizer(lambda: st_config.set_option("runner.magicEnabled", magic))
    errors: list[str] = []
    # warm-up, before the clock: each session signs in and renders the command center once
    apps = [AppTest.from_file(APP, default_timeout=300) for _ in range(SESSIONS)]
    for app in apps:
        app.session_state["principal"] = CC
    warm = [threading.Thread(target=app.run) for app in apps]
    for t in warm:
        t.start()
    for t in warm:
        t.join()
    assert not any(app.exception for app in apps), [app.exception for app in apps if app.exception][:1]
    writer_stores = [open_store(url) for _ in range(WRITERS)]
    services = [IncidentService(s) for s in writer_stores]  # built before the clock starts
    stop = time.monotonic() + DURATION_S
    log: dict[str, int] = {}
    times: list[float] = []
    threads = [
        threading.Thread(target=_writer, args=(services[k], k, stop, log, errors)) for k in range(WRITERS)
    ]
    threads += [
        threading.Thread(target=_session, args=(apps[k], k, stop, times, errors, harness))
        for k in range(SESSIONS)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=DURATION_S + 300)
    assert not any(t.is_alive() for t in threads), "a thread did not finish"
    assert errors == []
    assert log, "the writers wrote nothing"
    stored = {r.id for r in store.list_incidents(IncidentQuery(limit=1_000_000))}
    assert stored == set(log)
    for iid, n in log.items():
        seqs = [e.seq for e in store.events(iid)]
        assert seqs == list(range(1, n + 1)), (iid, seqs, n)
    assert store.rollup_rows() == _recount(store)
    p50, p95 = (float(np.percentile(times, q)) for q in (50, 95))
    result = {
        "backend": backend, "sessions": SESSIONS, "writers": WRITERS, "seconds": DURATION_S,
        "reruns": len(times), "rerun_p50_s": round(p50, 3), "rerun_p95_s": round(p95, 3),
        "incidents": len(log), "events": sum(log.values()), "harness_runtime_races": len(harness),
    }  # fmt: skip
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / f"load-{backend}.json").write_text(json.dumps(result, indent=1))
    assert len(times) >= SESSIONS  # every session rendered at least once
    for s in writer_stores:
        s.close()
    store.close()
