"""A static SVG choropleth of areas, for printable reports (no JavaScript, no tiles)."""

from __future__ import annotations

import html
from collections.abc import Sequence

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from layers.hexes import palette


def _path(geom: BaseGeometry, to_xy) -> str:  # type: ignore[no-untyped-def]
    parts = []
    for poly in getattr(geom, "geoms", [geom]):
        for ring in [poly.exterior, *poly.interiors]:
            xy = [to_xy(x, y) for x, y in ring.coords]
            parts.append("M" + "L".join(f"{x:.1f},{y:.1f}" for x, y in xy) + "Z")
    return "".join(parts)


def choropleth_svg(
    geoms: Sequence[BaseGeometry],
    values: Sequence[float | None],
    labels: Sequence[str],
    *,
    title: str,
    width: int = 640,
) -> str:
    """Areas coloured by value in five equal-interval classes (grey where there is no value).

    Longitude is scaled by cos(latitude) so that shapes keep their proportions. Titles and
    labels are HTML-escaped.
    """
    minx, miny, maxx, maxy = shapely.total_bounds(np.asarray(geoms, dtype=object))
    kx = float(np.cos(np.radians((miny + maxy) / 2)))
    scale = (width - 20) / max((maxx - minx) * kx, 1e-9)
    height = int((maxy - miny) * scale) + 60

    def to_xy(x: float, y: float) -> tuple[float, float]:
        return 10 + (x - minx) * kx * scale, 40 + (maxy - y) * scale

    known = [v for v in values if v is not None and not np.isnan(v)]
    lo, hi = (min(known), max(known)) if known else (0.0, 1.0)
    colours = palette(5)
    items = []
    for geom, value, label in zip(geoms, values, labels, strict=True):
        if value is None or np.isnan(value):
            fill = "#dddddd"
        else:
            k = 0 if hi == lo else min(4, int((value - lo) / (hi - lo) * 5))
            fill = colours[k]
        c = geom.representative_point()
        cx, cy = to_xy(c.x, c.y)
        items.append(
            f'<path d="{_path(geom, to_xy)}" fill="{fill}" stroke="#555" stroke-width="0.8"/>'
            f'<text x="{cx:.1f}" y="{cy:.1f}" font-size="11" text-anchor="middle">{html.escape(label)}</text>'
        )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif">'
        f'<text x="10" y="20" font-size="14" font-weight="bold">{html.escape(title)}</text>'
        + "".join(items)
        + "</svg>"
    )
