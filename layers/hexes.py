"""H3 hexagon choropleth with a legend, and the choice of resolution for a view.

A view never carries more than ``MAX_HEXES`` hexagons: the finest resolution whose
non-empty cells inside the view fit is chosen, coarser ones roll up by H3 parents.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import folium
import h3.api.basic_int as h3i
import numpy as np
import numpy.typing as npt

from geo.crs import from_wgs84
from geo.grid import cells_to_latlng, cells_to_parents
from layers.base import Basemap

MAX_HEXES = 5000
PALETTE = ("#ffffcc", "#fed976", "#feb24c", "#fd8d3c", "#f03b20", "#bd0026")
COARSEST_RES = 5


@dataclass(frozen=True)
class HexCounts:
    """Counts per cell at one resolution, ready to draw."""

    res: int
    cells: npt.NDArray[np.int64]
    counts: npt.NDArray[np.float64]


def resolution_for_zoom(zoom: float | None, finest: int) -> int:
    """The H3 resolution whose hexagons are some 10-30 pixels wide at a Leaflet zoom level.

    At zoom 11 a pixel is about 65 m in Jiaxing's latitude; each zoom step halves it and
    each H3 resolution shrinks edges by about 2.6.
    """
    if zoom is None:
        return min(finest, 8)
    table = {9: 6, 10: 7, 11: 8, 12: 9, 13: 9}
    if zoom <= 9:
        return min(finest, 6)
    return min(finest, table.get(int(zoom), 10))


def choose_resolution(
    cells: npt.ArrayLike,
    counts: npt.ArrayLike,
    bounds: tuple[float, float, float, float] | None,
    finest: int,
    max_hexes: int = MAX_HEXES,
) -> HexCounts:
    """Roll counts up to the finest resolution with at most ``max_hexes`` cells in view.

    Parameters
    ----------
    cells, counts : array_like
        Cells at resolution ``finest`` and their counts.
    bounds : (min_lng, min_lat, max_lng, max_lat) or None
        The view; None means everything.
    finest : int
        Resolution of ``cells``.
    """
    c = np.asarray(cells, dtype=np.int64)
    n = np.asarray(counts, dtype=np.float64)
    if c.size and bounds is not None:
        lat, lng = cells_to_latlng(c)
        minx, miny, maxx, maxy = bounds
        # a margin of about one coarse cell keeps hexes at the view edge
        pad_x, pad_y = (maxx - minx) * 0.05, (maxy - miny) * 0.05
        inside = (lng >= minx - pad_x) & (lng <= maxx + pad_x) & (lat >= miny - pad_y) & (lat <= maxy + pad_y)
        c, n = c[inside], n[inside]
    for res in range(finest, COARSEST_RES - 1, -1):
        parents = cells_to_parents(c, res) if res < finest else c
        uniq, inverse = np.unique(parents, return_inverse=True)
        if uniq.size <= max_hexes or res == COARSEST_RES:
            sums = np.bincount(inverse, weights=n, minlength=uniq.size) if uniq.size else np.empty(0)
            keep = min(uniq.size, max_hexes)
            order = np.argsort(-sums, kind="stable")[:keep]
            return HexCounts(res, uniq[order], np.asarray(sums[order], dtype=np.float64))
    raise AssertionError("unreachable")  # pragma: no cover


def class_breaks(values: npt.ArrayLike, k: int = len(PALETTE)) -> list[float]:
    """Upper bounds of ``k`` quantile classes, fewer when values are few or tied."""
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        return []
    distinct = np.unique(v)
    if distinct.size <= k:
        return [float(x) for x in distinct]
    # quantile upper bounds; ties (many cells with one incident) merge classes
    bins = np.quantile(v, np.linspace(0, 1, k + 1)[1:], method="higher")
    return sorted({float(b) for b in bins})


def palette(k: int) -> list[str]:
    """``k`` colours spread over the sequential palette, light to dark."""
    if k <= 1:
        return [PALETTE[-1]] * k
    return [PALETTE[round(j * (len(PALETTE) - 1) / (k - 1))] for j in range(k)]


def _colour(value: float, breaks: Sequence[float], colours: Sequence[str]) -> str:
    for b, c in zip(breaks, colours, strict=True):
        if value <= b:
            return c
    return colours[-1] if colours else PALETTE[-1]


def legend_box(title: str, entries: Sequence[tuple[str, str]]) -> str:
    """A small legend box: a title and one colour swatch per (colour, label); text escaped."""
    rows = "".join(
        f'<div><span style="display:inline-block;width:14px;height:10px;background:{colour};'
        f'border:1px solid #999;margin-right:4px"></span>{html.escape(label)}</div>'
        for colour, label in entries
    )
    return (
        '<div class="gp-legend" style="position:absolute;bottom:24px;right:10px;z-index:1000;background:#fff;'
        'padding:6px 8px;border:1px solid #bbb;border-radius:4px;font:12px sans-serif">'
        f"<b>{html.escape(title)}</b>{rows}</div>"
    )


def legend_html(title: str, breaks: Sequence[float], unit: str = "") -> str:
    """The legend of a choropleth: one swatch per class with its range."""
    labels = [
        f"{lo:g}–{b:g}" if i else f"≤ {b:g}"
        for i, (lo, b) in enumerate(zip([0.0, *breaks], breaks, strict=False))
    ]
    return legend_box(
        f"{title} ({unit})" if unit else title, list(zip(palette(len(breaks)), labels, strict=True))
    )


def ring(cell: int, basemap: Basemap) -> list[list[float]]:
    """The closed ring (lng, lat) of a cell's hexagon in the basemap's display system."""
    pts = h3i.cell_to_boundary(cell)
    lats = np.array([p[0] for p in pts])
    lngs = np.array([p[1] for p in pts])
    if basemap.display_crs != "wgs84":
        lats, lngs = from_wgs84(lats, lngs, basemap.display_crs)
    ring = [[round(float(x), 6), round(float(y), 6)] for x, y in zip(lngs, lats, strict=True)]
    return [*ring, ring[0]]


def hex_layer(
    hexes: HexCounts,
    *,
    name: str,
    legend_title: str,
    tooltip_label: str,
    basemap: Basemap | None = None,
    selected: Sequence[int] = (),
    unit: str = "",
) -> tuple[folium.FeatureGroup, str]:
    """The choropleth layer and its legend HTML (add the legend with :func:`add_legend`).

    Every hexagon's feature carries its cell id (``cell``) so a click can select it.
    """
    basemap = basemap or Basemap()
    breaks = class_breaks(hexes.counts)
    colours = palette(len(breaks))
    chosen = {int(c) for c in selected}
    features: list[dict[str, Any]] = []
    for cell, count in zip(hexes.cells.tolist(), hexes.counts.tolist(), strict=True):
        features.append(
            {
                "type": "Feature",
                "properties": {
                    "cell": h3i.int_to_str(cell),
                    "n": count,
                    "fill": _colour(count, breaks, colours),
                    "sel": cell in chosen,
                    "tip": f"{html.escape(tooltip_label)}: {count:g}",
                },
                "geometry": {"type": "Polygon", "coordinates": [ring(cell, basemap)]},
            }
        )
    group = folium.FeatureGroup(name=name)
    if not features:  # nothing to draw (e.g. a new district without incidents)
        return group, legend_html(legend_title, breaks, unit)
    folium.GeoJson(
        {"type": "FeatureCollection", "features": features},
        style_function=lambda f: {
            "fillColor": f["properties"]["fill"],
            "fillOpacity": 0.75,
            "color": "#0050b3" if f["properties"]["sel"] else "#888",
            "weight": 3 if f["properties"]["sel"] else 0.3,
        },
        highlight_function=lambda _f: {"weight": 2, "color": "#333"},
        tooltip=folium.GeoJsonTooltip(fields=["tip"], labels=False),
        name=name,
    ).add_to(group)
    return group, legend_html(legend_title, breaks, unit)


def filled_cells_layer(features: list[dict[str, Any]], name: str, opacity: float) -> folium.FeatureGroup:
    """Hexagon features filled with their ``fill`` property, tooltip from ``tip`` (already escaped)."""
    group = folium.FeatureGroup(name=name)
    if not features:  # folium refuses a tooltip field on an empty collection
        return group
    folium.GeoJson(
        {"type": "FeatureCollection", "features": features},
        style_function=lambda f: {
            "fillColor": f["properties"]["fill"],
            "fillOpacity": opacity,
            "color": "#666",
            "weight": 0.4,
        },
        tooltip=folium.GeoJsonTooltip(fields=["tip"], labels=False),
    ).add_to(group)
    return group


def add_legend(m: folium.Map, legend: str) -> None:
    """Put a legend box on the map."""
    root: Any = m.get_root()
    root.html.add_child(folium.Element(legend))


def cells_outline_layer(
    cells: Sequence[int], *, name: str, tooltip: str, color: str = "#1a7f37", basemap: Basemap | None = None
) -> folium.FeatureGroup:
    """Outlines of a set of cells, e.g. the cells a patrol task covers (tooltip escaped)."""
    basemap = basemap or Basemap()
    features = [
        {
            "type": "Feature",
            "properties": {"tip": html.escape(tooltip)},
            "geometry": {"type": "Polygon", "coordinates": [ring(int(c), basemap)]},
        }
        for c in cells
    ]
    group = folium.FeatureGroup(name=name)
    if not features:  # folium refuses a tooltip field on an empty collection
        return group
    folium.GeoJson(
        {"type": "FeatureCollection", "features": features},
        style_function=lambda _f: {
            "color": color,
            "weight": 2,
            "fillColor": color,
            "fillOpacity": 0.12,
            "dashArray": "4 3",
        },
        tooltip=folium.GeoJsonTooltip(fields=["tip"], labels=False),
    ).add_to(group)
    return group
