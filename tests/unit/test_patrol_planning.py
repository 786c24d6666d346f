"""Patrol planning: risk and its backtest, routes that fit the shift, coverage from a GPX track."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import h3.api.basic_int as h3i
import numpy as np
import pandas as pd
import pytest

from geo.tracks import TrackError, covered_cells, read_gpx
from patrol.risk import backtest, next_shift, risk_scores
from patrol.route import _distance_matrix_m, nearest_neighbour, plan_route, tour_length, two_opt

NOW = datetime(2026, 11, 27, 0, 0, tzinfo=UTC)
CENTRE = h3i.latlng_to_cell(30.75, 120.76, 10)


def frame(rows):
    f = pd.DataFrame(rows, columns=["cell", "item_code", "reported_at"])
    f["reported_at"] = pd.to_datetime(f["reported_at"], utc=True)
    return f


def test_recent_and_severe_incidents_weigh_more():
    rows = [
        (1, "A", NOW - timedelta(days=1)),
        (2, "A", NOW - timedelta(days=30)),
        (3, "B", NOW - timedelta(days=1)),
    ]
    r = risk_scores(frame(rows), {"A": 1, "B": 4}, NOW)
    assert list(r.index) == [3, 1, 2]
    assert r[1] == pytest.approx(0.5 ** (1 / 14)) and r[2] == pytest.approx(0.5 ** (30 / 14))


def test_risk_ignores_incidents_at_or_after_now():
    rows = [(1, "A", NOW - timedelta(days=1)), (9, "A", NOW), (9, "A", NOW + timedelta(days=1))]
    assert list(risk_scores(frame(rows), {"A": 1}, NOW).index) == [1]


def test_a_cell_busy_at_night_ranks_higher_for_a_night_shift():
    night = [(1, "A", pd.Timestamp("2026-11-20 14:00", tz="UTC")) for _ in range(10)]  # Friday 22:00 Beijing
    day = [(2, "A", pd.Timestamp("2026-11-20 02:00", tz="UTC")) for _ in range(10)]  # 10:00 Beijing
    f = frame(night + day)
    shift = (
        pd.Timestamp("2026-11-27 21:00", tz="Asia/Shanghai").to_pydatetime(),
        pd.Timestamp("2026-11-27 23:00", tz="Asia/Shanghai").to_pydatetime(),
    )
    r = risk_scores(f, {"A": 1}, NOW, shift=shift)
    assert r.index[0] == 1 and r[1] > r[2]


def test_the_backtest_ranks_with_past_data_only():
    # each week's incidents sit in a cell never seen before: no ranking from the past can hit them
    rows = [
        (100 + w, "A", NOW - timedelta(weeks=w) + timedelta(days=2)) for w in range(1, 9) for _ in range(5)
    ]
    bt = backtest(frame(rows), {"A": 1}, NOW, weeks=6, ks=(1, 5))
    assert bt.weeks == 6
    assert bt.ours == {1: 0.0, 5: 0.0} and bt.naive == {1: 0.0, 5: 0.0}


def test_the_backtest_rewards_a_persistent_hot_spot():
    rows = [(1, "A", NOW - timedelta(days=d)) for d in range(1, 60)]
    bt = backtest(frame(rows), {"A": 1}, NOW, weeks=4, ks=(1,))
    assert bt.ours[1] == 1.0 and bt.naive[1] == 1.0


def test_two_opt_never_lengthens_the_nearest_neighbour_tour():
    rng = np.random.default_rng(0)
    lat, lng = 30.75 + rng.normal(0, 0.01, 25), 120.76 + rng.normal(0, 0.01, 25)
    dist = _distance_matrix_m(lat, lng)
    nn = nearest_neighbour(dist)
    opt = two_opt(nn, dist)
    assert sorted(opt) == list(range(25)) and opt[0] == 0
    assert tour_length(opt, dist) <= tour_length(nn, dist) + 1e-6


def test_a_route_visits_every_stop_once_and_ends_within_the_shift():
    cells = list(h3i.grid_disk(CENTRE, 6))
    risks = list(np.linspace(1, 0.1, len(cells)))
    start = h3i.cell_to_latlng(CENTRE)
    begin = datetime(2026, 11, 28, 0, 0, tzinfo=UTC)
    route = plan_route(
        cells, risks, start, begin, begin + timedelta(hours=2), mode="walk", minutes_per_stop=8, max_stops=15
    )
    visited = [s.cell for s in route.stops]
    assert len(visited) == len(set(visited)) and 0 < len(visited) <= 15
    assert route.end_at <= begin + timedelta(hours=2)
    assert all(a.arrival < b.arrival for a, b in zip(route.stops, route.stops[1:], strict=False))
    top = {c for c, _ in sorted(zip(cells, risks, strict=True), key=lambda x: -x[1])[: len(visited)]}
    assert set(visited) == top  # the riskiest cells that fit


def test_a_short_shift_drops_the_least_risky_stops():
    cells = list(h3i.grid_disk(CENTRE, 8))
    risks = list(np.linspace(1, 0.1, len(cells)))
    begin = datetime(2026, 11, 28, tzinfo=UTC)
    long = plan_route(
        cells, risks, h3i.cell_to_latlng(CENTRE), begin, begin + timedelta(hours=4), max_stops=30
    )
    short = plan_route(
        cells, risks, h3i.cell_to_latlng(CENTRE), begin, begin + timedelta(minutes=45), max_stops=30
    )
    assert len(short.stops) < len(long.stops)
    assert short.end_at <= begin + timedelta(minutes=45)


def test_routes_export_as_gpx_and_geojson_that_read_back():
    import json

    cells = list(h3i.grid_disk(CENTRE, 2))
    begin = datetime(2026, 11, 28, tzinfo=UTC)
    route = plan_route(
        cells, [1.0] * len(cells), h3i.cell_to_latlng(CENTRE), begin, begin + timedelta(hours=3), max_stops=5
    )
    lat, _lng = read_gpx(route.to_gpx("<b>巡查</b>"))
    assert len(lat) == len(route.stops)
    assert "<b>" not in route.to_gpx("<b>巡查</b>")
    doc = json.loads(route.to_geojson())
    assert sum(f["geometry"]["type"] == "Point" for f in doc["features"]) == len(route.stops)


@pytest.mark.parametrize("mode", ["plane", "teleport"])
def test_an_unknown_travel_mode_is_refused(mode):
    with pytest.raises(ValueError, match="travel mode"):
        plan_route([CENTRE], [1.0], (30.75, 120.76), NOW, NOW + timedelta(hours=1), mode=mode)  # type: ignore[arg-type]


def test_a_synthetic_track_covers_the_cells_along_it():
    start = h3i.cell_to_latlng(CENTRE)
    lat = np.linspace(start[0], start[0] + 0.01, 50)  # ~1.1 km north
    lng = np.full(50, start[1])
    gpx = '<gpx xmlns="http://www.topografix.com/GPX/1/1"><trk><trkseg>' + "".join(
        f'<trkpt lat="{a}" lon="{b}"/>' for a, b in zip(lat, lng, strict=True)) + "</trkseg></trk></gpx>"  # fmt: skip
    la, ln = read_gpx(gpx)
    cells = set(covered_cells(la, ln, 10, buffer_m=40).tolist())
    assert CENTRE in cells
    # brute force: every cell near the line whose centre is within 40 m of it
    import shapely

    from geo.crs import metres_per_degree

    m_lat, m_lng = metres_per_degree(start[0])
    line = shapely.LineString([(0, 0), (0, 0.01 * float(m_lat))])
    near = {c for p in zip(la, ln, strict=True) for c in h3i.grid_disk(h3i.latlng_to_cell(p[0], p[1], 10), 2)}
    expected = set()
    for c in near:
        y, x = h3i.cell_to_latlng(c)
        if line.distance(shapely.Point((x - start[1]) * float(m_lng), (y - start[0]) * float(m_lat))) <= 40:
            expected.add(c)
    assert cells == expected and len(cells) >= 5


def test_a_broken_gpx_is_refused_in_one_line():
    with pytest.raises(TrackError, match="not a GPX file"):
        read_gpx("<gpx><trk>")
    with pytest.raises(TrackError, match="no track"):
        read_gpx('<gpx xmlns="http://www.topografix.com/GPX/1/1"></gpx>')


def test_the_next_shift_starts_tomorrow_when_todays_has_begun():
    start, end = next_shift(datetime(2026, 11, 27, 3, 0, tzinfo=UTC), start_hour=8, hours=4)  # 11:00 Beijing
    assert start.isoformat().startswith("2026-11-28T08:00") and (end - start) == timedelta(hours=4)


def test_a_cell_with_no_incidents_in_the_shift_hours_keeps_a_positive_risk():
    # two night incidents, and a morning shift: the hour factor shrinks, it never zeroes the risk
    night = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)  # 23:00 in Jiaxing
    rows = [(1, "A", night), (2, "A", night - timedelta(days=1))]
    morning = datetime(2026, 11, 27, 0, 0, tzinfo=UTC)  # 08:00 local
    r = risk_scores(frame(rows), {"A": 1}, NOW, shift=(morning, morning + timedelta(hours=4)))
    assert (r > 0).all() and len(r) == 2
    assert r[1] > r[2]  # the more recent one still ranks first


def test_a_stop_is_explained_by_its_most_frequent_items_with_their_counts():
    import pandas as pd

    from patrol.risk import risk_reasons

    frame = pd.DataFrame(
        {
            "cell": [1, 1, 1, 1, 2, 2, 3],
            "item_code": ["PARK", "PARK", "NOISE", "GAS", "GAS", "NOISE", "PARK"],
        }
    )
    why = risk_reasons(frame, [1, 2, 4])
    assert why == {1: [("PARK", 2), ("GAS", 1)], 2: [("GAS", 1), ("NOISE", 1)], 4: []}
