"""Hot spot layer: Gi* classes on hexagons with a diverging legend that says what they mean."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

import folium

from geo.grid import cell_ids
from geo.hotspots import HotSpots
from layers.base import Basemap
from layers.hexes import filled_cells_layer, ring
from layers.legend import legend_box

CLASS_COLOURS = {3: "#b2182b", 2: "#ef8a62", 1: "#fddbc7", -1: "#d1e5f0", -2: "#67a9cf", -3: "#2166ac"}


def hotspot_layer(
    hs: HotSpots, *, name: str, labels: Mapping[int, str], title: str, basemap: Basemap | None = None
) -> tuple[folium.FeatureGroup, str]:
    """Significant cells coloured by class (hot red, cold blue), and the legend HTML."""
    basemap = basemap or Basemap()
    features: list[dict[str, Any]] = []
    for cell, klass, z, value in zip(
        hs.cells.tolist(), hs.klass.tolist(), hs.z.tolist(), hs.values.tolist(), strict=True
    ):
        if klass == 0:
            continue
        features.append(
            {
                "type": "Feature",
                "properties": {
                    "fill": CLASS_COLOURS[klass],
                    "tip": f"{html.escape(labels[klass])} · z={z:.2f} · n={value:g} · {cell_ids([cell])[0]}",
                },
                "geometry": {"type": "Polygon", "coordinates": [ring(cell, basemap)]},
            }
        )
    legend = legend_box(title, [(CLASS_COLOURS[k], labels[k]) for k in (3, 2, 1, -1, -2, -3)])
    return filled_cells_layer(features, name, 0.75), legend


EMERGING_COLOURS = {
    "new_hot": "#fdae61",
    "consecutive_hot": "#f46d43",
    "intensifying_hot": "#a50026",
    "persistent_hot": "#d73027",
    "diminishing_hot": "#fee090",
    "sporadic_hot": "#fdd0a2",
    "oscillating_hot": "#e08214",
    "historical_hot": "#bcbddc",
    "new_cold": "#abd9e9",
    "consecutive_cold": "#74add1",
    "intensifying_cold": "#313695",
    "persistent_cold": "#4575b4",
    "diminishing_cold": "#e0f3f8",
    "sporadic_cold": "#c6dbef",
    "oscillating_cold": "#8073ac",
    "historical_cold": "#d9d9d9",
}


def emerging_layer(
    cells: Sequence[int],
    categories: Sequence[str],
    *,
    name: str,
    labels: Mapping[str, str],
    title: str,
    basemap: Basemap | None = None,
) -> tuple[folium.FeatureGroup, str]:
    """Cells coloured by emerging hot/cold spot category, and a legend of the categories shown."""
    basemap = basemap or Basemap()
    shown = [c for c in EMERGING_COLOURS if c in set(categories)]
    features = [
        {"type": "Feature", "properties": {"fill": EMERGING_COLOURS[cat], "tip": html.escape(labels[cat])},
         "geometry": {"type": "Polygon", "coordinates": [ring(int(cell), basemap)]}}
        for cell, cat in zip(cells, categories, strict=True)
        if cat in EMERGING_COLOURS
    ]  # fmt: skip
    return filled_cells_layer(features, name, 0.8), legend_box(
        title, [(EMERGING_COLOURS[c], labels[c]) for c in shown]
    )
