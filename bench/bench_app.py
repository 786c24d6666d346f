"""Command center: server time of one rerun and the map payload, for 20k, 100k and 1M incidents.

The rerun is the whole page script run by Streamlit's AppTest (tiles, feed, heat counts
from the rollups, hexagons, map HTML), after a first run that warms the caches, as a
second browser poll would. The payload is the map HTML handed to the browser.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

import folium
import h3.api.basic_int as h3i
import pandas as pd
import shapely

from bench.common import Figure, Report
from bench.stores import END, demo_store
from geo.grid import cells_to_parents
from layers.base import area_layer, base_map
from layers.hexes import choose_resolution, hex_layer, resolution_for_zoom
from layers.legend import add_legend
from patrol.areas import area_overview
from patrol.catalog import load_catalog
from patrol.dashboard import HeatFilter, heat_counts
from patrol.workdays import LOCAL_TZ_NAME
from store import open_store
from store.rows import IncidentQuery

APP = str(Path(__file__).resolve().parents[1] / "streamlit_app.py")
RUNS = 5


def _rerun_seconds(url: str) -> tuple[float, float]:
    from streamlit.testing.v1 import AppTest

    from patrol.roles import Principal
    from patrol.users import UserService

    os.environ["GRIDPATROL_DB"] = url
    store = open_store(url)
    users = UserService(store)
    if store.get_user("bench") is None:  # every rerun checks the user exists: without one, the
        # page shown would be the sign-in form (the figure measured it until 2026-12-02)
        users.create(None, "bench", "centre-of-command-2026", "command_center")
    store.close()
    at = AppTest.from_file(APP, default_timeout=300)
    at.session_state["principal"] = Principal("bench", "command_center")
    at.run()
    if at.exception:
        raise RuntimeError(at.exception[0].message)
    if not at.header or "指挥中心" not in at.header[0].value:
        raise RuntimeError(f"not the command centre: {[h.value for h in at.header]}")
    times = []
    for _ in range(RUNS):
        t = time.perf_counter()
        at.run()
        times.append(time.perf_counter() - t)
    return statistics.median(times), max(times) - min(times)


def _payload_bytes(url: str, days: int, zoom: int | None) -> tuple[int, int]:
    store = open_store(url)
    catalog = load_catalog()
    areas = area_overview(store)
    now = pd.Timestamp(END, tz=LOCAL_TZ_NAME).to_pydatetime()
    cells, counts = heat_counts(store, catalog, HeatFilter(days=days), now)
    finest = resolution_for_zoom(zoom, areas.district.h3_resolution)
    hexes = choose_resolution(cells_to_parents(cells, finest), counts, None, finest)
    m = base_map(shapely.union_all([t.geometry for t in areas.townships]).bounds)
    towns = areas.townships
    geoms, names = [t.geometry for t in towns], [t.name for t in towns]
    codes = [t.code for t in towns]
    area_layer(geoms, names, codes, name="t", color="#555", weight=1.5, labels=True).add_to(m)
    layer, legend = hex_layer(hexes, name="h", legend_title="n", tooltip_label="n")
    layer.add_to(m)
    add_legend(m, legend)
    store.close()
    return len(m.get_root().render().encode()), int(hexes.cells.size)


MAX_BASELINE_MARKERS = 100_000


def _baseline_payload(url: str, days: int) -> int:
    """Bytes of what a notebook would draw: every non-empty res-10 cell and a marker per incident."""
    store = open_store(url)
    now = pd.Timestamp(END, tz=LOCAL_TZ_NAME).to_pydatetime()
    rows = store.incident_columns(
        IncidentQuery(reported_from=now - timedelta(days=days)), ["lat", "lng", "cell"]
    )
    store.close()
    counts = pd.Series(rows["cell"]).value_counts()
    features = [
        {"type": "Feature", "properties": {"n": int(n)},
         "geometry": {"type": "Polygon", "coordinates": [[[x, y] for y, x in h3i.cell_to_boundary(int(c))]]}}
        for c, n in zip(counts.index.tolist(), counts.tolist(), strict=True)
    ]  # fmt: skip
    m = folium.Map(location=[30.75, 120.8], zoom_start=11)
    folium.GeoJson({"type": "FeatureCollection", "features": features}).add_to(m)
    for y, x in zip(rows["lat"], rows["lng"], strict=True):
        folium.CircleMarker([y, x], radius=3).add_to(m)
    return len(m.get_root().render().encode())


def run(sizes: tuple[int, ...] = (20_000, 100_000, 1_000_000), backend: str = "sqlite") -> Report:
    report = Report(f"Command center: one rerun (server) and the map payload ({backend})")
    for n in sizes:
        url = demo_store(n, backend=backend)
        med, spread = _rerun_seconds(url)
        report.figures.append(
            Figure(
                f"command-center rerun, {n:,} incidents, {backend}",
                "s",
                med,
                spread,
                RUNS,
                budget=1.5 if n >= 1_000_000 else None,
            )
        )
        for days, zoom, label in ((30, None, "30 days, district view"), (365, 15, "365 days, finest hexes")):
            size, n_hex = _payload_bytes(url, days, zoom)
            base = _baseline_payload(url, days) / 1e6 if n <= MAX_BASELINE_MARKERS else None
            report.figures.append(
                Figure(f"map payload, {n:,} incidents, {label}, {backend}", "MB", size / 1e6, 0.0, 1, base,
                       "folium: every non-empty cell + a marker per incident" if base else "",
                       budget=3.0 if n >= 1_000_000 else None,
                       note=f"{n_hex:,} hexagons" + ("" if base else "; no baseline above 100k markers"))
            )  # fmt: skip
        sys.stderr.write(f"{n:,}: rerun {med:.2f} s\n")
    return report


if __name__ == "__main__":
    sizes = (
        tuple(int(s) for s in sys.argv[1].split(",")) if len(sys.argv) > 1 else (20_000, 100_000, 1_000_000)
    )
    r = run(sizes)
    r.write("app")
    sys.stdout.write(r.markdown() + "\n")
