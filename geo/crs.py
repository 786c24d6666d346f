"""Coordinate systems used in China: WGS84, GCJ-02 and BD-09, vectorised over arrays.

Every function takes and returns ``(lat, lng)`` in that order, in degrees, as numpy
arrays (scalars are accepted and come back as 0-d arrays). Points outside China are
returned unshifted, as the GCJ-02 rules prescribe. CGCS2000 is treated as WGS84: the
two differ by centimetres, far below what a patrol map can show.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, TypeAlias

import numpy as np
import numpy.typing as npt
import pyproj
import shapely
from shapely.geometry.base import BaseGeometry

FloatArray: TypeAlias = npt.NDArray[np.float64]
CrsName: TypeAlias = Literal["wgs84", "cgcs2000", "gcj02", "bd09"]
CRS_NAMES: tuple[CrsName, ...] = ("wgs84", "cgcs2000", "gcj02", "bd09")
Converter: TypeAlias = Callable[[npt.ArrayLike, npt.ArrayLike], tuple["FloatArray", "FloatArray"]]

_KRASOVSKY_A_M = 6378245.0
_KRASOVSKY_EE = 0.00669342162296594323
_BD_X_PI = np.pi * 3000.0 / 180.0
_INVERSE_TOLERANCE_DEG = 1e-10
_INVERSE_MAX_ITERATIONS = 30
_WGS84_GEOD = pyproj.Geod(ellps="WGS84")


def in_china(lat: npt.ArrayLike, lng: npt.ArrayLike) -> npt.NDArray[np.bool_]:
    """Return whether each point lies in the bounding box where GCJ-02 applies.

    Parameters
    ----------
    lat, lng : array_like
        Latitude and longitude in degrees.

    Returns
    -------
    numpy.ndarray of bool
    """
    lat_a = np.asarray(lat, dtype=np.float64)
    lng_a = np.asarray(lng, dtype=np.float64)
    return (lng_a >= 72.004) & (lng_a <= 137.8347) & (lat_a >= 0.8293) & (lat_a <= 55.8271)


def _offset_deg(lat: FloatArray, lng: FloatArray) -> tuple[FloatArray, FloatArray]:
    x = lng - 105.0
    y = lat - 35.0
    common = (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
    dlat += common
    dlat += (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
    dlat += (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    dlng = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
    dlng += common
    dlng += (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
    dlng += (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    radlat = lat / 180.0 * np.pi
    magic = 1.0 - _KRASOVSKY_EE * np.sin(radlat) ** 2
    sqrtmagic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_KRASOVSKY_A_M * (1.0 - _KRASOVSKY_EE)) / (magic * sqrtmagic) * np.pi)
    dlng = (dlng * 180.0) / (_KRASOVSKY_A_M / sqrtmagic * np.cos(radlat) * np.pi)
    return dlat, dlng


def _as_arrays(lat: npt.ArrayLike, lng: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    lat_a = np.asarray(lat, dtype=np.float64)
    lng_a = np.asarray(lng, dtype=np.float64)
    if lat_a.shape != lng_a.shape:
        msg = f"lat and lng must have the same shape, got {lat_a.shape} and {lng_a.shape}"
        raise ValueError(msg)
    return lat_a, lng_a


def wgs84_to_gcj02(lat: npt.ArrayLike, lng: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Shift WGS84 coordinates to GCJ-02 (the system of AMap and Tencent maps).

    Parameters
    ----------
    lat, lng : array_like
        WGS84 latitude and longitude in degrees.

    Returns
    -------
    tuple of numpy.ndarray
        GCJ-02 ``(lat, lng)``; points outside China are returned unchanged.

    Examples
    --------
    >>> lat, lng = wgs84_to_gcj02(37.065, 128.543)
    >>> round(float(lng), 6), round(float(lat), 6)
    (128.548205, 37.065651)
    """
    lat_a, lng_a = _as_arrays(lat, lng)
    dlat, dlng = _offset_deg(lat_a, lng_a)
    inside = in_china(lat_a, lng_a)
    return np.where(inside, lat_a + dlat, lat_a), np.where(inside, lng_a + dlng, lng_a)


def _invert(
    forward: Converter, lat: FloatArray, lng: FloatArray, start: tuple[FloatArray, FloatArray]
) -> tuple[FloatArray, FloatArray]:
    """Solve ``forward(x) = (lat, lng)`` by fixed-point iteration from ``start``."""
    est_lat, est_lng = start
    for _ in range(_INVERSE_MAX_ITERATIONS):
        fwd_lat, fwd_lng = forward(est_lat, est_lng)
        err_lat, err_lng = fwd_lat - lat, fwd_lng - lng
        est_lat = est_lat - err_lat
        est_lng = est_lng - err_lng
        if np.all(np.abs(err_lat) < _INVERSE_TOLERANCE_DEG) and np.all(
            np.abs(err_lng) < _INVERSE_TOLERANCE_DEG
        ):
            break
    return est_lat, est_lng


def gcj02_to_wgs84(lat: npt.ArrayLike, lng: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Recover WGS84 coordinates from GCJ-02 by fixed-point iteration.

    The one-step approximation found in many snippets is off by up to a few metres;
    iterating the forward shift until it reproduces the input converges to well below
    a millimetre inside China.

    Parameters
    ----------
    lat, lng : array_like
        GCJ-02 latitude and longitude in degrees.

    Returns
    -------
    tuple of numpy.ndarray
        WGS84 ``(lat, lng)``; points outside China are returned unchanged.
    """
    lat_a, lng_a = _as_arrays(lat, lng)
    inside = in_china(lat_a, lng_a)
    est_lat, est_lng = _invert(wgs84_to_gcj02, lat_a, lng_a, (lat_a.copy(), lng_a.copy()))
    return np.where(inside, est_lat, lat_a), np.where(inside, est_lng, lng_a)


def gcj02_to_bd09(lat: npt.ArrayLike, lng: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Convert GCJ-02 to BD-09 (Baidu maps).

    Parameters
    ----------
    lat, lng : array_like
        GCJ-02 latitude and longitude in degrees.

    Returns
    -------
    tuple of numpy.ndarray
        BD-09 ``(lat, lng)``.
    """
    lat_a, lng_a = _as_arrays(lat, lng)
    z = np.sqrt(lng_a**2 + lat_a**2) + 0.00002 * np.sin(lat_a * _BD_X_PI)
    theta = np.arctan2(lat_a, lng_a) + 0.000003 * np.cos(lng_a * _BD_X_PI)
    return z * np.sin(theta) + 0.006, z * np.cos(theta) + 0.0065


def _bd09_to_gcj02_approx(lat: npt.ArrayLike, lng: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """The closed-form BD-09 → GCJ-02 approximation (off by up to ~0.2 m).

    Parameters
    ----------
    lat, lng : array_like
        BD-09 latitude and longitude in degrees.

    Returns
    -------
    tuple of numpy.ndarray
        GCJ-02 ``(lat, lng)``.
    """
    lat_a, lng_a = _as_arrays(lat, lng)
    x = lng_a - 0.0065
    y = lat_a - 0.006
    z = np.sqrt(x * x + y * y) - 0.00002 * np.sin(y * _BD_X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _BD_X_PI)
    return z * np.sin(theta), z * np.cos(theta)


def bd09_to_gcj02(lat: npt.ArrayLike, lng: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Convert BD-09 (Baidu maps) to GCJ-02, refining the closed form by iteration.

    Parameters
    ----------
    lat, lng : array_like
        BD-09 latitude and longitude in degrees.

    Returns
    -------
    tuple of numpy.ndarray
        GCJ-02 ``(lat, lng)``.
    """
    lat_a, lng_a = _as_arrays(lat, lng)
    return _invert(gcj02_to_bd09, lat_a, lng_a, _bd09_to_gcj02_approx(lat_a, lng_a))


def wgs84_to_bd09(lat: npt.ArrayLike, lng: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Convert WGS84 to BD-09 through GCJ-02."""
    return gcj02_to_bd09(*wgs84_to_gcj02(lat, lng))


def bd09_to_wgs84(lat: npt.ArrayLike, lng: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Convert BD-09 to WGS84 through GCJ-02 (iterative inverse)."""
    return gcj02_to_wgs84(*bd09_to_gcj02(lat, lng))


def _identity(lat: npt.ArrayLike, lng: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    return _as_arrays(lat, lng)


_TO_WGS84: dict[str, Converter] = {
    "wgs84": _identity,
    "cgcs2000": _identity,
    "gcj02": gcj02_to_wgs84,
    "bd09": bd09_to_wgs84,
}
_FROM_WGS84: dict[str, Converter] = {
    "wgs84": _identity,
    "cgcs2000": _identity,
    "gcj02": wgs84_to_gcj02,
    "bd09": wgs84_to_bd09,
}


def check_crs_name(crs: str) -> CrsName:
    """Return ``crs`` lower-cased if it names a supported system, else raise ValueError."""
    name = crs.strip().lower().replace("-", "").replace("_", "")
    if name not in CRS_NAMES:
        msg = f"unknown coordinate system {crs!r}; expected one of {', '.join(CRS_NAMES)}"
        raise ValueError(msg)
    return name  # type: ignore[return-value]


def to_wgs84(lat: npt.ArrayLike, lng: npt.ArrayLike, crs: str) -> tuple[FloatArray, FloatArray]:
    """Convert ``(lat, lng)`` given in ``crs`` to WGS84.

    Raises
    ------
    ValueError
        If ``crs`` is not one of wgs84, cgcs2000, gcj02, bd09.
    """
    return _TO_WGS84[check_crs_name(crs)](lat, lng)


def from_wgs84(lat: npt.ArrayLike, lng: npt.ArrayLike, crs: str) -> tuple[FloatArray, FloatArray]:
    """Convert WGS84 ``(lat, lng)`` to ``crs`` (for display on a GCJ-02 or BD-09 basemap)."""
    return _FROM_WGS84[check_crs_name(crs)](lat, lng)


def geometry_to_wgs84(geom: BaseGeometry, crs: str) -> BaseGeometry:
    """Convert every vertex of a shapely geometry from ``crs`` to WGS84."""
    convert = _TO_WGS84[check_crs_name(crs)]

    def _xy(coords: FloatArray) -> FloatArray:
        lat, lng = convert(coords[:, 1], coords[:, 0])
        return np.column_stack([lng, lat])

    return shapely.transform(geom, _xy)


_WGS84_A_M = 6378137.0
_WGS84_E2 = 6.69437999014e-3


def geodesic_m(
    lat1: npt.ArrayLike, lng1: npt.ArrayLike, lat2: npt.ArrayLike, lng2: npt.ArrayLike
) -> FloatArray:
    """Return the distance in metres between point pairs along the WGS84 ellipsoid.

    The arguments broadcast against each other (a point against many, or pair by pair);
    the result has their broadcast shape. This is the distance every "within R metres" rule
    of the domain is judged by, so the same two points get the same answer whichever way
    (one report or a whole import) they arrive.
    """
    arrays = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (lat1, lng1, lat2, lng2)))
    a_lat, a_lng, b_lat, b_lng = (a.ravel() for a in arrays)
    _, _, dist = _WGS84_GEOD.inv(a_lng, a_lat, b_lng, b_lat)
    return np.asarray(dist, dtype=np.float64).reshape(arrays[0].shape)


def metres_per_degree(lat: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Return metres per degree of latitude and of longitude at each latitude (WGS84).

    Parameters
    ----------
    lat : array_like
        Latitude in degrees.

    Returns
    -------
    tuple of numpy.ndarray
        ``(m_per_deg_lat, m_per_deg_lng)``.
    """
    phi = np.radians(np.asarray(lat, dtype=np.float64))
    w = 1.0 - _WGS84_E2 * np.sin(phi) ** 2
    m_lat = _WGS84_A_M * (1.0 - _WGS84_E2) / w**1.5 * np.pi / 180.0
    m_lng = _WGS84_A_M / np.sqrt(w) * np.cos(phi) * np.pi / 180.0
    return m_lat, m_lng


def area_m2(geoms: npt.ArrayLike) -> FloatArray:
    """Area in m² of WGS84 geometries, scaled at each geometry's own centroid latitude.

    Edges are straight in longitude/latitude, as the data is drawn; a projection would
    bend them and give thin slivers (between polygons that share an edge in lon/lat) a
    spurious area. The local scale is exact to well under 1% for district-sized shapes.

    Parameters
    ----------
    geoms : array_like of shapely geometries
        WGS84 (x = lng, y = lat).

    Returns
    -------
    numpy.ndarray of float64
    """
    g = np.asarray(geoms, dtype=object)
    out = np.zeros(g.size, dtype=np.float64)
    full = ~shapely.is_empty(g)
    if full.any():
        lat = shapely.get_y(shapely.centroid(g[full]))
        m_lat, m_lng = metres_per_degree(lat)
        out[full] = np.asarray(shapely.area(g[full]), dtype=np.float64) * m_lat * m_lng
    return out
