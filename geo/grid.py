"""H3 grid: index point arrays, roll cells up to parents, fill polygons, own every cell.

Cells are H3 indexes held as ``int64`` (the h3 4.x integer API). Coordinates are
``(lat, lng)`` in that order, WGS84 degrees.
"""

from __future__ import annotations

import math
from typing import Literal, TypeAlias

import h3.api.basic_int as h3i
import numpy as np
import numpy.typing as npt
import shapely
from shapely.geometry import Polygon
from shapely.geometry.base import BaseGeometry

CellArray: TypeAlias = npt.NDArray[np.int64]
Containment: TypeAlias = Literal["center", "full", "overlap"]

DEFAULT_RESOLUTION = 10
_RES_SHIFT = 52
_RES_MASK = np.int64(0xF) << np.int64(_RES_SHIFT)
_MAX_RES = 15


def _check_res(res: int) -> int:
    if not isinstance(res, int | np.integer) or not 0 <= int(res) <= _MAX_RES:
        msg = f"H3 resolution must be an integer from 0 to 15, got {res!r}"
        raise ValueError(msg)
    return int(res)


def latlng_to_cells(lat: npt.ArrayLike, lng: npt.ArrayLike, res: int) -> CellArray:
    """Index arrays of points into H3 cells.

    Parameters
    ----------
    lat, lng : array_like
        WGS84 latitude and longitude in degrees, same shape.
    res : int
        H3 resolution, 0 to 15.

    Returns
    -------
    numpy.ndarray of int64
        One cell per point.

    Raises
    ------
    ValueError
        If the shapes differ, the resolution is invalid, or a coordinate is not finite
        or out of range.
    """
    res = _check_res(res)
    lat_a = np.asarray(lat, dtype=np.float64).ravel()
    lng_a = np.asarray(lng, dtype=np.float64).ravel()
    if lat_a.shape != lng_a.shape:
        msg = f"lat and lng must have the same length, got {lat_a.size} and {lng_a.size}"
        raise ValueError(msg)
    bad = ~(np.isfinite(lat_a) & np.isfinite(lng_a) & (np.abs(lat_a) <= 90) & (np.abs(lng_a) <= 180))
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        msg = (
            f"{int(bad.sum())} point(s) have invalid coordinates; first at index {first}: "
            f"lat={lat_a[first]!r}, lng={lng_a[first]!r}"
        )
        raise ValueError(msg)
    to_cell = h3i.latlng_to_cell
    return np.fromiter(
        (to_cell(a, b, res) for a, b in zip(lat_a.tolist(), lng_a.tolist(), strict=True)),
        dtype=np.int64,
        count=lat_a.size,
    )


def cells_to_parents(cells: npt.ArrayLike, res: int) -> CellArray:
    """Return the parent of each cell at a coarser resolution by bit operations.

    Equal to ``h3.cell_to_parent`` for every valid cell whose resolution is ``>= res``.

    Parameters
    ----------
    cells : array_like of int64
        H3 cells, all at a resolution of at least ``res``.
    res : int
        Parent resolution.

    Returns
    -------
    numpy.ndarray of int64

    Raises
    ------
    ValueError
        If a cell is finer than nothing, i.e. coarser than ``res``.
    """
    res = _check_res(res)
    c = np.asarray(cells, dtype=np.int64)
    cell_res = (c & _RES_MASK) >> np.int64(_RES_SHIFT)
    if c.size and int(cell_res.min()) < res:
        msg = f"cannot take parents at resolution {res} of cells at resolution {int(cell_res.min())}"
        raise ValueError(msg)
    unused_digits = np.int64((1 << (3 * (_MAX_RES - res))) - 1)
    return (c & ~_RES_MASK) | (np.int64(res) << np.int64(_RES_SHIFT)) | unused_digits


def cells_resolution(cells: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """Return the resolution of each cell (bit field, no validation)."""
    c = np.asarray(cells, dtype=np.int64)
    return (c & _RES_MASK) >> np.int64(_RES_SHIFT)


def geometry_to_cells(geom: BaseGeometry, res: int, contain: Containment = "center") -> CellArray:
    """Fill a (multi)polygon with H3 cells.

    Parameters
    ----------
    geom : shapely Polygon or MultiPolygon
        WGS84, x = lng, y = lat.
    res : int
        H3 resolution.
    contain : {'center', 'full', 'overlap'}
        Keep cells whose centre lies inside, that lie fully inside, or that touch the
        shape at all.

    Returns
    -------
    numpy.ndarray of int64, sorted
    """
    res = _check_res(res)
    if geom.is_empty:
        return np.empty(0, dtype=np.int64)
    if geom.geom_type not in ("Polygon", "MultiPolygon"):
        msg = f"'geom' should be a Polygon or MultiPolygon, got {geom.geom_type}"
        raise ValueError(msg)
    shape = h3i.geo_to_h3shape(geom)
    cells = h3i.h3shape_to_cells_experimental(shape, res, contain)
    return np.sort(np.fromiter(cells, dtype=np.int64))


def cells_to_polygons(cells: npt.ArrayLike) -> npt.NDArray[np.object_]:
    """Return the hexagon of each cell as a shapely Polygon (x = lng, y = lat)."""
    out = [
        Polygon([(lng, lat) for lat, lng in h3i.cell_to_boundary(int(c))])
        for c in np.asarray(cells, dtype=np.int64)
    ]
    return np.array(out, dtype=object)


def cell_ids(cells: npt.ArrayLike) -> list[str]:
    """H3 cells as their hexadecimal ids (as other H3 tools write them), for files people open."""
    return [h3i.int_to_str(int(c)) for c in np.asarray(cells, dtype=np.int64).ravel()]


def cells_near(lat: float, lng: float, radius_m: float, res: int) -> CellArray:
    """Every cell of ``res`` that a circle of ``radius_m`` around the point can reach (a k-ring)."""
    edge_m = h3i.average_hexagon_edge_length(_check_res(res), unit="m")
    k = max(1, math.ceil(radius_m / (math.sqrt(3) * edge_m)) + 1)
    return np.array(sorted(h3i.grid_disk(h3i.latlng_to_cell(lat, lng, res), k)), dtype=np.int64)


def cells_from_ids(ids: list[str]) -> CellArray:
    """H3 cells from their hexadecimal ids (the inverse of :func:`cell_ids`)."""
    return np.array([h3i.str_to_int(i) for i in ids], dtype=np.int64)


def cell_boundary(cell: int) -> list[tuple[float, float]]:
    """The hexagon of one cell as ``(lat, lng)`` corners."""
    return [(float(lat), float(lng)) for lat, lng in h3i.cell_to_boundary(int(cell))]


def cells_to_latlng(cells: npt.ArrayLike) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Return the centre ``(lat, lng)`` arrays of the cells."""
    c = np.asarray(cells, dtype=np.int64)
    centres = np.array([h3i.cell_to_latlng(int(x)) for x in c], dtype=np.float64).reshape(-1, 2)
    return centres[:, 0], centres[:, 1]


def cell_owners(
    villages: npt.ArrayLike, res: int = DEFAULT_RESOLUTION
) -> tuple[CellArray, npt.NDArray[np.int64]]:
    """Give every cell that touches any village exactly one owning village (属地兜底).

    The owner is the village containing the cell centre; a cell whose centre lies in no
    village (it straddles the outer edge, or a gap between villages) goes to the
    nearest village. Ties go to the village that comes first.

    Parameters
    ----------
    villages : array_like of shapely geometries
        Village polygons, WGS84.
    res : int
        H3 resolution.

    Returns
    -------
    cells : numpy.ndarray of int64
        Sorted, unique.
    owner : numpy.ndarray of int64
        Index into ``villages`` of each cell's owner.
    """
    geoms = np.asarray(villages, dtype=object)
    if geoms.size == 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    district = shapely.union_all(geoms)
    cells = geometry_to_cells(district, res, "overlap")
    lat, lng = cells_to_latlng(cells)
    centres = np.asarray(shapely.points(lng, lat), dtype=object)
    tree = shapely.STRtree(geoms)
    owner = np.full(cells.size, -1, dtype=np.int64)
    pt_idx, poly_idx = first_match(*tree.query(centres, predicate="within"))
    owner[pt_idx] = poly_idx
    orphans = np.flatnonzero(owner < 0)
    if orphans.size:
        o_idx, n_idx = first_match(*tree.query_nearest(centres[orphans], all_matches=True))
        owner[orphans[o_idx]] = n_idx
    return cells, owner


def first_match(
    left: npt.NDArray[np.int64], right: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Reduce STRtree query pairs to one pair per left index, keeping the lowest right index.

    Parameters
    ----------
    left, right : numpy.ndarray of int64
        Pairs as returned by ``shapely.STRtree.query``.

    Returns
    -------
    tuple of numpy.ndarray
        Unique left indexes and, for each, the smallest matching right index.
    """
    order = np.lexsort((right, left))
    left, right = left[order], right[order]
    first = np.ones(left.size, dtype=bool)
    first[1:] = left[1:] != left[:-1]
    return left[first], right[first]
