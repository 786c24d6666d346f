"""Patrol tracks: read GPX, and the H3 cells a track covered (within a buffer of it)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import numpy.typing as npt
import shapely

from geo.crs import metres_per_degree
from geo.grid import cells_to_latlng, geometry_to_cells

DEFAULT_BUFFER_M = 30.0


class TrackError(ValueError):
    """The GPX file cannot be used (one-line reason)."""


def read_gpx(text: str) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Track points (or route points, or waypoints) of a GPX document as ``(lat, lng)`` arrays.

    Raises
    ------
    TrackError
        If the text is not GPX or holds no points.
    """
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        msg = f"not a GPX file: {exc}"
        raise TrackError(msg) from exc
    points = []
    for tag in ("trkpt", "rtept", "wpt"):
        points = [p for p in root.iter() if p.tag.rsplit("}", 1)[-1] == tag]
        if points:
            break
    if not points:
        msg = "the GPX file holds no track, route or waypoints"
        raise TrackError(msg)
    try:
        lat = np.array([float(p.attrib["lat"]) for p in points])
        lng = np.array([float(p.attrib["lon"]) for p in points])
    except (KeyError, ValueError) as exc:
        msg = f"a GPX point lacks a valid lat/lon: {exc}"
        raise TrackError(msg) from exc
    return lat, lng


def covered_cells(
    lat: npt.ArrayLike, lng: npt.ArrayLike, res: int, buffer_m: float = DEFAULT_BUFFER_M
) -> npt.NDArray[np.int64]:
    """Cells whose centre lies within ``buffer_m`` metres of the track (sorted)."""
    la = np.asarray(lat, dtype=float)
    ln = np.asarray(lng, dtype=float)
    if la.size == 0:
        return np.empty(0, dtype=np.int64)
    m_lat, m_lng = metres_per_degree(float(la.mean()))
    # work in local metres so that the buffer is round
    x, y = (ln - ln.mean()) * float(m_lng), (la - la.mean()) * float(m_lat)
    track = shapely.LineString(np.column_stack([x, y])) if la.size > 1 else shapely.Point(x[0], y[0])
    zone = track.buffer(buffer_m)
    lon_lat_zone = shapely.transform(
        zone,
        lambda xy: np.column_stack(
            [xy[:, 0] / float(m_lng) + ln.mean(), xy[:, 1] / float(m_lat) + la.mean()]
        ),
    )
    candidates = geometry_to_cells(lon_lat_zone, res, "overlap")
    c_lat, c_lng = cells_to_latlng(candidates)
    cx, cy = (c_lng - ln.mean()) * float(m_lng), (c_lat - la.mean()) * float(m_lat)
    inside = shapely.contains_xy(zone, cx, cy)
    return np.asarray(candidates[inside], dtype=np.int64)
