"""Hot spots: Getis-Ord Gi* over H3 cells (esda), k-ring neighbours, FDR-corrected classes.

Each cell's Gi* compares the sum of counts in its k-ring (itself included) with what the
whole area would give; a z-score far above zero is a hot spot, far below a cold spot.
p-values are two-sided; with ``fdr=True`` the significance thresholds are corrected for the
many cells tested at once (Benjamini-Hochberg, esda.fdr). Classes: ±3 at 99%, ±2 at 95%,
±1 at 90% confidence, 0 not significant.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import h3.api.basic_int as h3i
import numpy as np
import numpy.typing as npt

CONFIDENCE = ((3, 0.01), (2, 0.05), (1, 0.10))


@dataclass(frozen=True)
class HotSpots:
    """Gi* results per cell: z-score, two-sided p-value and class (-3..3)."""

    cells: npt.NDArray[np.int64]
    values: npt.NDArray[np.float64]
    z: npt.NDArray[np.float64]
    p: npt.NDArray[np.float64]
    klass: npt.NDArray[np.int64]

    def count(self, klass: int) -> int:
        """Number of cells in one class."""
        return int((self.klass == klass).sum())


def neighbours(cells: npt.ArrayLike, k: int = 1) -> dict[int, list[int]]:
    """Positions of each cell's k-ring neighbours within ``cells`` (self excluded)."""
    c = np.asarray(cells, dtype=np.int64)
    index = {int(cell): i for i, cell in enumerate(c.tolist())}
    out: dict[int, list[int]] = {}
    for i, cell in enumerate(c.tolist()):
        ring = h3i.grid_disk(cell, k)
        out[i] = sorted(index[n] for n in ring if n != cell and n in index)
    return out


def gi_star(cells: npt.ArrayLike, values: npt.ArrayLike, k: int = 1, *, fdr: bool = True) -> HotSpots:
    """Getis-Ord Gi* of ``values`` over ``cells`` with k-ring neighbours (esda.G_Local, star=True).

    Parameters
    ----------
    cells : array_like of int64
        All cells of the study area at one resolution, including cells with zero counts.
    values : array_like
        Count (or rate) per cell.
    k : int
        Neighbourhood radius in grid steps (1 = the six neighbours).
    fdr : bool
        Correct the significance thresholds for multiple testing.
    """
    import esda
    from libpysal.weights import W

    c = np.asarray(cells, dtype=np.int64)
    y = np.asarray(values, dtype=np.float64)
    if c.size != y.size:
        msg = f"cells and values must have the same length, got {c.size} and {y.size}"
        raise ValueError(msg)
    if c.size < 3 or not np.any(y != y[0]):
        zeros = np.zeros(c.size)
        return HotSpots(c, y, zeros, np.ones(c.size), np.zeros(c.size, dtype=np.int64))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # islands and disconnected components are expected at edges
        w = W(neighbours(c, k), silence_warnings=True)
        g = esda.G_Local(y, w, transform="B", permutations=0, star=True)
    z = np.nan_to_num(np.asarray(g.Zs, dtype=np.float64))
    p = np.minimum(1.0, 2.0 * np.asarray(g.p_norm, dtype=np.float64))
    klass = np.zeros(c.size, dtype=np.int64)
    for level, alpha in reversed(CONFIDENCE):  # 90% first, overwritten by stronger levels
        threshold = float(esda.fdr(p, alpha)) if fdr else alpha
        significant = p <= threshold
        klass[significant & (z > 0)] = level
        klass[significant & (z < 0)] = -level
    return HotSpots(c, y, z, p, klass)
