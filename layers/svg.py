"""A static SVG choropleth of areas, for printable reports (no JavaScript, no tiles)."""

from __future__ import annotations

import html
from collections.abc import Sequence

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from layers.hexes import palette
from layers.legend import class_breaks, range_labels


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
    no_data: str = "—",
    percent: bool = False,
    width: int = 640,
) -> str:
    """Areas coloured by value in at most five classes with clean round bounds, with a legend.

    Grey where there is no value. Each area is labelled with its name only (its value is in
    its tooltip and in the report's table), so labels do not run into each other. Longitude
    is scaled by cos(latitude) so that shapes keep their proportions. Text is HTML-escaped.
    """
    minx, miny, maxx, maxy = shapely.total_bounds(np.asarray(geoms, dtype=object))
    kx = float(np.cos(np.radians((miny + maxy) / 2)))
    scale = (width - 20) / max((maxx - minx) * kx, 1e-9)
    map_height = int((maxy - miny) * scale) + 50

    def to_xy(x: float, y: float) -> tuple[float, float]:
        return 10 + (x - minx) * kx * scale, 40 + (maxy - y) * scale

    known = [float(v) for v in values if v is not None and not np.isnan(v)]
    breaks = class_breaks(known, 5, step=0.05 if percent else None)
    colours = palette(max(len(breaks), 1))
    items = []
    for geom, value, label in zip(geoms, values, labels, strict=True):
        if value is None or np.isnan(value):
            fill, shown = "#dddddd", no_data
        else:
            k = next((i for i, b in enumerate(breaks) if value <= b + 1e-12), len(breaks) - 1)
            fill, shown = colours[k], f"{value:.1%}" if percent else f"{value:g}"
        c = geom.representative_point()
        cx, cy = to_xy(c.x, c.y)
        items.append(
            f'<path d="{_path(geom, to_xy)}" fill="{fill}" stroke="#555" stroke-width="0.8">'
            f"<title>{html.escape(label)} {html.escape(shown)}</title></path>"
            f'<text x="{cx:.1f}" y="{cy:.1f}" font-size="10" text-anchor="middle" paint-order="stroke"'
            f' stroke="#fff" stroke-width="2.5">{html.escape(label)}</text>'
        )
    entries = list(zip(colours, range_labels(breaks, integral=False, percent=percent), strict=False))
    entries.append(("#dddddd", no_data))
    legend = "".join(
        f'<rect x="{10 + 110 * i}" y="{map_height + 4}" width="14" height="14"'
        f' fill="{colour}" stroke="#555"/>'
        f'<text x="{28 + 110 * i}" y="{map_height + 16}" font-size="11">{html.escape(text)}</text>'
        for i, (colour, text) in enumerate(entries)
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{map_height + 28}"'
        ' font-family="sans-serif">'
        f'<text x="10" y="20" font-size="14" font-weight="bold">{html.escape(title)}</text>'
        + "".join(items)
        + legend
        + "</svg>"
    )
