"""Exact point → village assignment, fast through the H3 cell map.

A point whose H3 cell lies, with a safety margin, strictly inside one village belongs to
that village: a lookup. Every other point (cells on a boundary, or outside the district)
goes through an exact containment test against the village polygons, prefiltered by
bounding box in an STRtree. The answer is the same as
``geopandas.sjoin(points, villages, predicate="within")``: a point on a shared edge is
within neither village and gets none.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import shapely

from geo.grid import (
    CellArray,
    cell_owners,
    cells_to_polygons,
    first_match,
    geometry_to_cells,
    latlng_to_cells,
)

# Straight lat/lng edges of a hexagon differ from H3's true (gnomonic) cell edges by far
# less than this; the margin makes "cell inside village" safe for every point of the cell.
_CELL_MARGIN_DEG = 1e-5

NO_VILLAGE = -1
_NEEDS_TEST = -2


@dataclass(frozen=True)
class Assignment:
    """Result of assigning points: village index per point (``-1`` for none) and cells."""

    village: npt.NDArray[np.int64]
    cells: CellArray

    @property
    def outside(self) -> npt.NDArray[np.bool_]:
        """Mask of points that fell in no village (outside the district or on an edge)."""
        return np.asarray(self.village == NO_VILLAGE, dtype=bool)

    @property
    def n_outside(self) -> int:
        """Number of points with no village."""
        return int(self.outside.sum())


class PointAssigner:
    """Assign points to villages exactly, using the H3 cell map to skip most tests.

    Parameters
    ----------
    villages : array_like of shapely geometries
        Village polygons in WGS84 (x = lng, y = lat).
    res : int
        H3 resolution of the cell map.
    cells, owner : numpy.ndarray, optional
        A precomputed cell → owner map (as returned by :func:`geo.grid.cell_owners`);
        computed when omitted.

    Examples
    --------
    >>> from shapely.geometry import box
    >>> a = PointAssigner([box(120.0, 30.0, 120.01, 30.01)], res=9)
    >>> a.assign([30.005, 31.0], [120.005, 121.0]).village.tolist()
    [0, -1]
    """

    def __init__(
        self,
        villages: npt.ArrayLike,
        res: int,
        cells: CellArray | None = None,
        owner: npt.NDArray[np.int64] | None = None,
    ) -> None:
        self.villages = np.asarray(villages, dtype=object)
        self.res = res
        if cells is None or owner is None:
            cells, owner = cell_owners(self.villages, res)
        self.cells = np.asarray(cells, dtype=np.int64)
        self.owner = np.asarray(owner, dtype=np.int64)
        shapely.prepare(self.villages)
        self._tree = shapely.STRtree(self.villages)
        self._lookup_cells, self._lookup_owner = self._build_lookup()

    def _build_lookup(self) -> tuple[CellArray, npt.NDArray[np.int64]]:
        """Cells near the district, with their owner where the cell is safely inside it.

        A point whose cell is not in the lookup at all is outside every village: the
        lookup holds every cell touching the district grown by the margin. A cell with
        ``_NEEDS_TEST`` straddles a boundary and its points are tested exactly.
        """
        if self.cells.size == 0:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
        hexes = shapely.buffer(cells_to_polygons(self.cells), _CELL_MARGIN_DEG, quad_segs=1)
        inside = shapely.contains_properly(self.villages[self.owner], hexes)
        district = shapely.buffer(shapely.union_all(self.villages), _CELL_MARGIN_DEG)
        near = geometry_to_cells(district, self.res, "overlap")
        lookup = np.full(near.size, _NEEDS_TEST, dtype=np.int64)
        pos = np.searchsorted(near, self.cells)
        if not np.array_equal(near[np.minimum(pos, near.size - 1)], self.cells):
            msg = "the cell map does not match the villages it was built for"
            raise ValueError(msg)
        lookup[pos] = np.where(inside, self.owner, _NEEDS_TEST)
        return near, lookup

    @property
    def n_interior_cells(self) -> int:
        """Number of cells resolved by lookup alone."""
        return int((self._lookup_owner >= 0).sum())

    def assign(self, lat: npt.ArrayLike, lng: npt.ArrayLike, cells: CellArray | None = None) -> Assignment:
        """Assign each ``(lat, lng)`` point to the village it lies within.

        Parameters
        ----------
        lat, lng : array_like
            WGS84 coordinates in degrees.
        cells : numpy.ndarray of int64, optional
            The points' H3 cells at this assigner's resolution, if already indexed.

        Returns
        -------
        Assignment
        """
        lat_a = np.asarray(lat, dtype=np.float64).ravel()
        lng_a = np.asarray(lng, dtype=np.float64).ravel()
        if cells is None:
            cells = latlng_to_cells(lat_a, lng_a, self.res)
        village = np.full(lat_a.size, NO_VILLAGE, dtype=np.int64)
        if self._lookup_cells.size:
            pos = np.searchsorted(self._lookup_cells, cells)
            pos = np.minimum(pos, self._lookup_cells.size - 1)
            near = self._lookup_cells[pos] == cells
            village[near] = self._lookup_owner[pos[near]]
        todo = np.flatnonzero(village == _NEEDS_TEST)
        village[todo] = NO_VILLAGE
        if todo.size:
            pts = shapely.points(lng_a[todo], lat_a[todo])
            # the first village in input order wins where polygons overlap
            pt_idx, poly_idx = first_match(*self._tree.query(pts, predicate="within"))
            village[todo[pt_idx]] = poly_idx
        return Assignment(village=village, cells=np.asarray(cells, dtype=np.int64))
