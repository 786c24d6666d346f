"""Coverage-gap layer: cells no patrol has covered for N days, and patrol check-ins on a task."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

import folium
import numpy as np
import numpy.typing as npt

from geo.grid import cells_resolution, cells_to_parents
from layers.base import Basemap
from layers.hexes import MAX_HEXES, filled_cells_layer, ring
from layers.legend import legend_box

GAP_COLOURS = {"never": "#3f007d", "long": "#807dba", "stale": "#dadaeb"}
SHARE_BREAKS = ((0.25, "#efedf5"), (0.5, "#bcbddc"), (0.75, "#807dba"), (1.0, "#3f007d"))


def coverage_gap_layer(
    cells: npt.ArrayLike,
    days: npt.ArrayLike,
    stale_days: int,
    *,
    name: str,
    labels: Mapping[str, str],
    basemap: Basemap | None = None,
    max_hexes: int = MAX_HEXES,
) -> tuple[folium.FeatureGroup, str, int]:
    """Cells not patrolled for ``stale_days`` days, and the legend HTML, and the resolution drawn.

    When more than ``max_hexes`` cells are stale, draws their parents at the finest resolution
    that fits, coloured by the share of stale children. ``labels`` needs ``title``, ``never``,
    ``long``, ``stale``, ``share`` and ``days`` (a format with ``{n}``).
    """
    basemap = basemap or Basemap()
    c = np.asarray(cells, dtype=np.int64)
    d = np.asarray(days, dtype=np.float64)
    stale = d >= stale_days
    features: list[dict[str, Any]] = []
    if int(stale.sum()) <= max_hexes:
        res = int(cells_resolution(c[:1])[0]) if c.size else 0
        for cell, value in zip(c[stale].tolist(), d[stale].tolist(), strict=True):
            key = "never" if np.isinf(value) else "long" if value >= 2 * stale_days else "stale"
            tip = labels["never"] if key == "never" else labels["days"].format(n=int(value))
            features.append(_feature(cell, GAP_COLOURS[key], tip, basemap))
        entries = [
            (GAP_COLOURS["never"], labels["never"]),
            (GAP_COLOURS["long"], labels["long"]),
            (GAP_COLOURS["stale"], labels["stale"]),
        ]
        return filled_cells_layer(features, name, 0.6), legend_box(labels["title"], entries), res
    res = int(cells_resolution(c[:1])[0])
    while res > 0:
        res -= 1
        parents = cells_to_parents(c, res)
        uniq, inverse = np.unique(parents, return_inverse=True)
        share = np.bincount(inverse, weights=stale.astype(float)) / np.bincount(inverse)
        if int((share > 0).sum()) <= max_hexes:
            break
    for cell, value in zip(uniq.tolist(), share.tolist(), strict=True):
        if value <= 0:
            continue
        colour = next(col for b, col in SHARE_BREAKS if value <= b)
        features.append(_feature(cell, colour, f"{labels['share']}: {value:.0%}", basemap))
    lows = [0.0, *(b for b, _ in SHARE_BREAKS[:-1])]
    entries = [(col, f"{lo:.0%}–{b:.0%}") for lo, (b, col) in zip(lows, SHARE_BREAKS, strict=True)]
    title = f"{labels['title']} · {labels['share']}"
    return filled_cells_layer(features, name, 0.6), legend_box(title, entries), res


def _feature(cell: int, fill: str, tip: str, basemap: Basemap) -> dict[str, Any]:
    return {
        "type": "Feature",
        "properties": {"fill": fill, "tip": html.escape(tip)},
        "geometry": {"type": "Polygon", "coordinates": [ring(int(cell), basemap)]},
    }


def covered_cells_layer(
    cells: Sequence[int], *, name: str, tooltip: str, basemap: Basemap | None = None
) -> folium.FeatureGroup:
    """Cells a patrol has covered, filled green."""
    basemap = basemap or Basemap()
    return filled_cells_layer([_feature(int(c), "#1a9850", tooltip, basemap) for c in cells], name, 0.55)
