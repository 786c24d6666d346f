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
import numpy as np
import numpy.typing as npt

from geo.crs import from_wgs84
from geo.grid import cell_boundary, cell_ids, cells_to_latlng, cells_to_parents
from layers.base import Basemap
from layers.legend import class_breaks, legend_box, range_labels

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


def legend_html(title: str, breaks: Sequence[float], *, integral: bool, percent: bool = False) -> str:
    """The legend of a choropleth: one swatch per class with its range."""
    labels = range_labels(breaks, integral=integral, percent=percent)
    return legend_box(title, list(zip(palette(len(breaks)), labels, strict=True)))


def _value_text(value: float, percent: bool) -> str:
    if percent:
        return f"{value:.0%}"
    return f"{value:,.0f}" if value == round(value) else f"{value:,.1f}"


def ring(cell: int, basemap: Basemap) -> list[list[float]]:
    """The closed ring (lng, lat) of a cell's hexagon in the basemap's display system."""
    pts = cell_boundary(cell)
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
    percent: bool = False,
) -> tuple[folium.FeatureGroup, str]:
    """The choropleth layer and its legend HTML (add the legend with :func:`add_legend`).

    Every hexagon's feature carries its cell id (``cell``) so a click can select it.
    """
    basemap = basemap or Basemap()
    breaks = class_breaks(hexes.counts, len(PALETTE))
    integral = bool(np.all(hexes.counts == np.round(hexes.counts)))
    colours = palette(len(breaks))
    chosen = {int(c) for c in selected}
    features: list[dict[str, Any]] = []
    for cell, count in zip(hexes.cells.tolist(), hexes.counts.tolist(), strict=True):
        features.append(
            {
                "type": "Feature",
                "properties": {
                    "cell": cell_ids([cell])[0],
                    "n": count,
                    "fill": _colour(count, breaks, colours),
                    "sel": cell in chosen,
                    "tip": f"{html.escape(tooltip_label)}: {_value_text(count, percent)}",
                },
                "geometry": {"type": "Polygon", "coordinates": [ring(cell, basemap)]},
            }
        )
    group = folium.FeatureGroup(name=name)
    if not features:  # nothing to draw (e.g. a new district without incidents)
        return group, legend_html(legend_title, breaks, integral=integral, percent=percent)
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
    return group, legend_html(legend_title, breaks, integral=integral, percent=percent)


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
