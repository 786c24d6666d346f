"""Patrol routes: pick the cells worth visiting, order them (nearest neighbour + 2-opt), time them.

A route starts and ends at a start point (the grid's centre by default), visits each chosen
cell's centre once, and must fit the shift: travel at the mode's speed along straight lines
(times a detour factor) plus a fixed time per stop. The least risky stops are dropped until
it fits. Routes export as GPX (waypoints and a route) and GeoJSON for phones.
"""

from __future__ import annotations

import html
import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, TypeAlias

import numpy as np

from geo.crs import geodesic_m
from geo.grid import cell_ids, cells_to_latlng

TravelMode: TypeAlias = Literal["walk", "ebike", "car"]
SPEED_KMH: dict[str, float] = {"walk": 4.5, "ebike": 15.0, "car": 25.0}
DETOUR = 1.3  # streets are longer than straight lines


def _distance_matrix_m(lat: np.ndarray, lng: np.ndarray) -> np.ndarray:
    """Metres between every two stops, along the WGS84 ellipsoid."""
    lat, lng = np.asarray(lat, dtype=float), np.asarray(lng, dtype=float)
    return geodesic_m(lat[:, None], lng[:, None], lat[None, :], lng[None, :])


def tour_length(order: Sequence[int], dist: np.ndarray) -> float:
    """Length of a closed tour through ``order`` (index 0 is the start)."""
    path = [*order, order[0]]
    return float(sum(dist[a, b] for a, b in itertools.pairwise(path)))


def nearest_neighbour(dist: np.ndarray) -> list[int]:
    """A tour from node 0, always going to the nearest unvisited node."""
    n = dist.shape[0]
    order, left = [0], set(range(1, n))
    while left:
        here = order[-1]
        nxt = min(left, key=lambda j: (dist[here, j], j))
        order.append(nxt)
        left.remove(nxt)
    return order


def two_opt(order: list[int], dist: np.ndarray) -> list[int]:
    """Improve a closed tour by reversing segments while that shortens it (start fixed)."""
    best = list(order)
    n = len(best)
    improved = True
    while improved:
        improved = False
        for i in range(1, n - 1):
            for j in range(i + 1, n):
                a, b = best[i - 1], best[i]
                c, d = best[j], best[(j + 1) % n]
                if dist[a, c] + dist[b, d] < dist[a, b] + dist[c, d] - 1e-9:
                    best[i : j + 1] = reversed(best[i : j + 1])
                    improved = True
    return best


@dataclass(frozen=True)
class Stop:
    """One stop of a route: the cell, its centre, its risk and the expected arrival."""

    order: int
    cell: int
    lat: float
    lng: float
    risk: float
    arrival: datetime


@dataclass(frozen=True)
class Route:
    """An ordered patrol route that fits its shift."""

    start: tuple[float, float]
    stops: list[Stop]
    length_m: float
    end_at: datetime
    mode: str

    def to_geojson(self) -> str:
        """Stops as numbered points and the path as a line (WGS84)."""
        feats: list[dict[str, object]] = []
        for s in self.stops:
            props = {"order": s.order, "cell": cell_ids([s.cell])[0], "risk": round(s.risk, 3),
                     "arrival": s.arrival.isoformat()}  # fmt: skip
            feats.append(
                {
                    "type": "Feature",
                    "properties": props,
                    "geometry": {"type": "Point", "coordinates": [s.lng, s.lat]},
                }
            )
        line = [
            [self.start[1], self.start[0]],
            *([s.lng, s.lat] for s in self.stops),
            [self.start[1], self.start[0]],
        ]
        feats.append(
            {
                "type": "Feature",
                "properties": {"mode": self.mode, "length_m": round(self.length_m)},
                "geometry": {"type": "LineString", "coordinates": line},
            }
        )
        return json.dumps({"type": "FeatureCollection", "features": feats})

    def to_gpx(self, name: str) -> str:
        """GPX 1.1 with a waypoint per stop and the route (names escaped)."""
        wpts = "".join(
            f'<wpt lat="{s.lat:.7f}" lon="{s.lng:.7f}"><name>{s.order}</name>'
            f"<desc>{html.escape(cell_ids([s.cell])[0])} {s.arrival.isoformat()}</desc></wpt>"
            for s in self.stops
        )
        rte = "".join(
            f'<rtept lat="{s.lat:.7f}" lon="{s.lng:.7f}"><name>{s.order}</name></rtept>' for s in self.stops
        )
        return (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<gpx version="1.1" creator="GridPatrol" xmlns="http://www.topografix.com/GPX/1/1">'
            f"{wpts}<rte><name>{html.escape(name)}</name>{rte}</rte></gpx>"
        )


def plan_route(
    cells: Sequence[int],
    risks: Sequence[float],
    start: tuple[float, float],
    shift_start: datetime,
    shift_end: datetime,
    *,
    mode: TravelMode = "walk",
    minutes_per_stop: float = 10.0,
    max_stops: int = 20,
) -> Route:
    """Choose the riskiest cells (at most ``max_stops``) and order them into a route that fits.

    Raises
    ------
    ValueError
        For an unknown mode, a shift that ends before it starts, or mismatched inputs.
    """
    if mode not in SPEED_KMH:
        msg = f"travel mode must be one of {', '.join(SPEED_KMH)}, got {mode!r}"
        raise ValueError(msg)
    if shift_end <= shift_start:
        msg = "the shift must end after it starts"
        raise ValueError(msg)
    if len(cells) != len(risks):
        msg = f"cells and risks must have the same length, got {len(cells)} and {len(risks)}"
        raise ValueError(msg)
    ranked = sorted(zip(cells, risks, strict=True), key=lambda cr: (-cr[1], cr[0]))[:max_stops]
    speed_mps = SPEED_KMH[mode] * 1000 / 3600
    budget_s = (shift_end - shift_start).total_seconds()
    while True:
        c_lat, c_lng = cells_to_latlng([c for c, _ in ranked])
        lat = np.array([start[0], *c_lat.tolist()])
        lng = np.array([start[1], *c_lng.tolist()])
        dist = _distance_matrix_m(lat, lng) * DETOUR
        order = two_opt(nearest_neighbour(dist), dist) if len(ranked) > 1 else list(range(len(ranked) + 1))
        total_s = tour_length(order, dist) / speed_mps + len(ranked) * minutes_per_stop * 60
        if total_s <= budget_s or not ranked:
            break
        ranked = ranked[:-1]  # drop the least risky stop and try again
    stops, t = [], shift_start
    for k, (a, b) in enumerate(itertools.pairwise(order), start=1):
        t = t + timedelta(seconds=dist[a, b] / speed_mps)
        cell, risk = ranked[b - 1]
        stops.append(Stop(k, int(cell), float(lat[b]), float(lng[b]), float(risk), t))
        t = t + timedelta(minutes=minutes_per_stop)
    back = dist[order[-1], 0] / speed_mps if len(order) > 1 else 0.0
    return Route(
        start, stops, tour_length(order, dist) if len(order) > 1 else 0.0, t + timedelta(seconds=back), mode
    )
