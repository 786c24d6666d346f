"""Interactions: server time of each page's interactions, replayed as its users make them, p50/p95.

Each role signs in (a first run that warms the caches), then for each of its pages: the page
switch, the first two filters (each choice changed back and forth), and where the page has
them the map's own interactions: a zoom on the command centre's heat map; a click on an
incident, a drawn area and an assignment on the dispatch map. Every interaction is one
Streamlit rerun in AppTest (the page script, the services and the store: what the server
does before the browser draws). Budget: p95 ≤ 1 s on the demo store, ≤ 1.5 s at 1M incidents.

What AppTest cannot replay is left out and named in the report: a choice on the import
page needs an uploaded file.
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench.common import Figure, Report
from bench.stores import END, demo_store
from patrol.incidents import LOCAL_TZ

APP = str(Path(__file__).resolve().parents[1] / "streamlit_app.py")
REPEATS = 4  # each interaction, back and forth
TOWNSHIP = "330402008"


@dataclass
class Timings:
    """Seconds per interaction, by page."""

    by_page: dict[str, list[float]] = field(default_factory=dict)
    by_kind: dict[str, list[float]] = field(default_factory=dict)
    each: list[tuple[float, str]] = field(default_factory=list)

    def add(self, page: str, kind: str, seconds: float, what: str = "") -> None:
        self.by_page.setdefault(page, []).append(seconds)
        self.by_kind.setdefault(kind, []).append(seconds)
        self.each.append((seconds, f"{page} {kind} {what}".strip()))

    def slowest(self, n: int = 8) -> str:
        return "; ".join(f"{what} {s:.2f} s" for s, what in sorted(self.each, reverse=True)[:n])


def _principals(url: str) -> dict[str, Any]:
    """Each role's demo user as it signs in (its stored scope: a captain's district too)."""
    from patrol.roles import Principal
    from patrol.users import UserService, principal_of
    from store import open_store

    names = {
        "command_center": "command", "captain": f"captain-{TOWNSHIP}", "inspector": "inspector-1",
        "liaison": "liaison-scjg", "planner": "planner", "admin": "admin",
    }  # fmt: skip
    store = open_store(url)
    try:
        users = {u.username: u for u in UserService(store).users(Principal("bench", "admin"))}
    finally:
        store.close()
    return {role: principal_of(users[name]) for role, name in names.items()}


def _bench_store(n: int) -> tuple[str, Path]:
    """A private copy of the demo store of ``n`` incidents, with the demo users and patrols."""
    from data.demo_evaluations import publish_demo_evaluations
    from data.demo_patrols import generate_demo_patrols
    from data.demo_users import create_demo_users
    from store import open_store

    folder = Path(tempfile.mkdtemp(prefix="gp-bench-ui-"))
    path = folder / "store.sqlite"
    shutil.copy(demo_store(n).removeprefix("sqlite:///"), path)
    url = f"sqlite:///{path}"
    store = open_store(url)
    end = pd.Timestamp(END, tz=LOCAL_TZ).to_pydatetime()
    generate_demo_patrols(store, seed=1, end=end)
    publish_demo_evaluations(store, end)  # as `gridpatrol demo` does: the months over by then are published
    create_demo_users(store)
    store.close()
    return url, folder


def _timed(at: Any, act: Callable[[], Any]) -> float:
    act()
    t = time.perf_counter()
    at.run()
    seconds = time.perf_counter() - t
    if at.exception:
        raise RuntimeError(at.exception[0].message)
    return seconds


def _choices() -> dict[str, list[tuple[str, list[Any]]]]:
    """Per page, the filters a user changes most, each with two values to go back and forth between."""
    from patrol.catalog import load_catalog
    from patrol.roles import ROLES
    from patrol.route import SPEED_KMH

    themes = list(load_catalog().themes)
    return {
        "command": [("cc_days", [7, 30]), ("cc_states", [["open"], []]), ("cc_townships", [[TOWNSHIP], []])],
        "hotspots": [("hs_days", [30, 90]), ("hs_k", [2, 1])],
        "scenarios": [("sc_theme", themes[:2])],
        "coverage": [("cov_township", [TOWNSHIP, None]), ("cov_stale", [7, 14])],
        "inspections": [("ji_township", [TOWNSHIP, None])],
        "ranking": [("rank_by", ["team", "township"]), ("rank_view", ["quarter", "month"])],
        "composite": [("comp_view", ["quarter", "month"])],
        "patrol": [("pp_mode", list(SPEED_KMH)[:2]), ("pp_minutes", [5, 10])],
        "consultations": [("consult_open", [False, True])],
        "audit": [("audit_days", [30, 7]), ("audit_entity", ["incident", None])],
        "users": [("users_role", list(ROLES)[:2])],
        "report": [("report_lat", [30.75, 30.76])],
    }


def _filters(at: Any, timings: Timings, page: str) -> None:
    """The page's filters, each changed back and forth (as a user's choice reaches the server)."""
    for key, values in _choices().get(page, []):
        for i in range(REPEATS):
            value = values[i % len(values)]
            seconds = _timed(at, partial(at.session_state.__setitem__, key, value))
            timings.add(page, "filter", seconds, f"{key}={value}")


def _command_map(at: Any, timings: Timings) -> None:
    for i in range(REPEATS):
        zoom = 14 if i % 2 == 0 else 12
        half = 0.02 if zoom == 14 else 0.08
        view = {
            "zoom": zoom,
            "bounds": {
                "_southWest": {"lat": 30.755 - half, "lng": 120.76 - half},
                "_northEast": {"lat": 30.755 + half, "lng": 120.76 + half},
            },
        }
        timings.add("command", "map zoom", _timed(at, partial(at.session_state.__setitem__, "cc_map", view)))


def _dispatch_map(at: Any, timings: Timings) -> None:
    labels = at.multiselect(key="dispatch_selected").options
    titles = [label.rsplit(" · ", 1)[0] for label in labels]
    for i in range(REPEATS):
        click = {"last_object_clicked_tooltip": titles[i % len(titles)], "all_drawings": None}
        timings.add(
            "dispatch",
            "map click",
            _timed(at, partial(at.session_state.__setitem__, "dispatch_map", click)),
        )
    lng, lat, d = 120.76, 30.755, 0.01 + 0.005 * np.arange(REPEATS)
    for i in range(REPEATS):
        ring = [
            [lng - d[i], lat - d[i]],
            [lng + d[i], lat - d[i]],
            [lng + d[i], lat + d[i]],
            [lng - d[i], lat + d[i]],
        ]
        drawing = {
            "type": "Feature",
            "properties": {},
            "geometry": {"type": "Polygon", "coordinates": [[*ring, ring[0]]]},
        }
        value = {"last_object_clicked_tooltip": None, "all_drawings": [drawing]}
        timings.add(
            "dispatch",
            "map drawing",
            _timed(at, partial(at.session_state.__setitem__, "dispatch_map", value)),
        )
    for _ in range(2):
        if not at.multiselect(key="dispatch_selected").value:
            break
        # the assignment reruns twice (the click, then st.rerun to redraw the new states): both count
        timings.add("dispatch", "assignment", _timed(at, lambda: at.button(key="dispatch_assign").click()))


def replay(url: str) -> tuple[Timings, dict[str, float]]:
    """Replay every role's pages; return the timings and each role's first (cold) run."""
    from streamlit.testing.v1 import AppTest

    from app_pages.navigation import PAGE_FILES, PAGES_BY_ROLE
    from app_pages.startup import warm_up

    os.environ["GRIDPATROL_DB"] = url
    warm_up()  # as serve.py does in the background when the server starts
    timings, cold = Timings(), {}
    for role, who in _principals(url).items():
        at = AppTest.from_file(APP, default_timeout=600)
        at.session_state["principal"] = who
        t = time.perf_counter()
        at.run()
        cold[role] = time.perf_counter() - t
        for page in PAGES_BY_ROLE[role]:
            if page == "incident":
                continue  # opened from a list with an incident chosen; its actions are covered by tests
            timings.add(page, "page switch", _timed(at, partial(at.switch_page, PAGE_FILES[page][0])))
            _filters(at, timings, page)
            if page == "command":
                _command_map(at, timings)
            if page == "dispatch":
                _dispatch_map(at, timings)
        sys.stderr.write(f"  {role}: {sum(len(v) for v in timings.by_page.values())} interactions so far\n")
    return timings, cold


def _p(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def run(sizes: tuple[int, ...] = (20_000, 1_000_000)) -> Report:
    report = Report("Interactions: server time per page (p50 / p95 of every replayed interaction)")
    skipped = "not replayed: a choice on the import page (AppTest cannot upload a file)"
    for n in sizes:
        url, folder = _bench_store(n)
        try:
            timings, cold = replay(url)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        budget = 1.5 if n >= 1_000_000 else 1.0
        for page, values in sorted(timings.by_page.items()):
            p50, p95 = _p(values, 50), _p(values, 95)
            report.figures.append(
                Figure(f"{page}, {n:,} incidents: p95", "s", p95, max(values) - min(values), len(values),
                       budget=budget, note=f"p50 {p50:.2f} s, max {max(values):.2f} s")
            )  # fmt: skip
        for kind, values in sorted(timings.by_kind.items()):
            report.figures.append(
                Figure(f"all pages, {kind}, {n:,} incidents: p95", "s", _p(values, 95),
                       max(values) - min(values), len(values), budget=budget,
                       note=f"p50 {_p(values, 50):.2f} s")
            )  # fmt: skip
        every = [v for values in timings.by_page.values() for v in values]
        report.figures.append(
            Figure(f"every interaction, {n:,} incidents: p95", "s", _p(every, 95), max(every) - min(every),
                   len(every), budget=budget,
                   note=f"p50 {_p(every, 50):.2f} s; {skipped}; first run per role (cold caches, not an "
                        f"interaction): " + ", ".join(f"{r} {s:.1f} s" for r, s in cold.items()))
        )  # fmt: skip
        report.figures[-1].note += "; slowest: " + timings.slowest()
        sys.stderr.write(f"{n:,}: p50 {statistics.median(every):.2f} s, p95 {_p(every, 95):.2f} s\n")
        sys.stderr.write(f"slowest: {timings.slowest(20)}\n")
    return report


if __name__ == "__main__":
    sizes = tuple(int(s) for s in sys.argv[1].split(",")) if len(sys.argv) > 1 else (20_000, 1_000_000)
    r = run(sizes)
    r.write("interactions")
    sys.stdout.write(r.markdown() + "\n")
