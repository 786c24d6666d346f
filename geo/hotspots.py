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


def preload() -> None:
    """Import the statistics libraries Gi* needs (esda takes about 2 s to import).

    They are imported on first use so that the CLI and the tests start fast; the server
    calls this in the background at start, so the first planner to open the hot-spot page
    does not wait for it.
    """
    import esda  # noqa: F401
    from libpysal.weights import W  # noqa: F401
    from scipy.stats import norm  # noqa: F401


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


EMERGING_CLASSES = (
    "new", "consecutive", "intensifying", "persistent",
    "diminishing", "sporadic", "oscillating", "historical",
)  # fmt: skip
TREND_ALPHA = 0.05


def mann_kendall(series: npt.ArrayLike) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Mann-Kendall trend test along the last axis: z-score and two-sided p-value per row.

    ``S = Σ sign(x_j − x_i)`` over all pairs i < j, ``Var(S) = n(n−1)(2n+5)/18`` (no tie
    correction), ``z = (S ∓ 1)/√Var(S)`` (continuity correction).
    """
    from scipy.stats import norm

    x = np.atleast_2d(np.asarray(series, dtype=np.float64))
    n = x.shape[1]
    if n < 3:
        return np.zeros(x.shape[0]), np.ones(x.shape[0])
    i, j = np.triu_indices(n, k=1)
    s = np.sign(x[:, j] - x[:, i]).sum(axis=1)
    var = n * (n - 1) * (2 * n + 5) / 18.0
    z = np.where(s > 0, (s - 1) / np.sqrt(var), np.where(s < 0, (s + 1) / np.sqrt(var), 0.0))
    p = 2.0 * norm.sf(np.abs(z))
    return z, p


def emerging_classes(klass: npt.ArrayLike, z: npt.ArrayLike) -> list[str]:
    """Emerging hot/cold spot category of each cell from its Gi* classes and z-scores per slice.

    ``klass`` and ``z`` have one row per cell and one column per time slice, oldest first.
    Categories follow the usual space-time definitions (new, consecutive, intensifying,
    persistent, diminishing, sporadic, oscillating, historical), each as ``<name>_hot`` or
    ``<name>_cold``; ``no_pattern`` otherwise.
    """
    k = np.atleast_2d(np.asarray(klass))
    zz = np.atleast_2d(np.asarray(z, dtype=np.float64))
    t = k.shape[1]
    trend_z, trend_p = mann_kendall(zz)
    out: list[str] = []
    for row, tz, tp in zip(k, trend_z.tolist(), trend_p.tolist(), strict=True):
        label = "no_pattern"
        for sign, suffix in ((1, "hot"), (-1, "cold")):
            same = (row * sign) > 0
            other = (row * sign) < 0
            n_same = int(same.sum())
            share = n_same / t
            rising = tp < TREND_ALPHA and tz * sign > 0
            falling = tp < TREND_ALPHA and tz * sign < 0
            if same[-1]:
                if n_same == 1:
                    name = "new"
                elif share >= 0.9:
                    name = "intensifying" if rising else ("diminishing" if falling else "persistent")
                else:
                    run = int(np.argmin(same[::-1])) if not same.all() else t
                    if run >= 2 and not same[: t - run].any():
                        name = "consecutive"
                    elif other[:-1].any():
                        name = "oscillating"
                    else:
                        name = "sporadic"
                label = f"{name}_{suffix}"
                break
            if share >= 0.9:  # hot in nine slices of ten, but not in the last
                label = f"historical_{suffix}"
                break
        out.append(label)
    return out
