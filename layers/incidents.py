"""Incident markers (clustered above a threshold), the kernel heat layer, selection highlight."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import folium
import numpy as np
from folium import plugins

from geo.crs import from_wgs84
from layers.assets import localize
from layers.base import Basemap, CircleMarkers
from layers.legend import Swatch

CLUSTER_ABOVE = 300
STATE_COLOURS = {
    "discovered": "#d7301f",
    "assessing": "#fc8d59",
    "handling": "#2b8cbe",
    "consulting": "#756bb1",
    "deferred": "#969696",
    "verifying": "#41ab5d",
    "closed": "#005a32",
    "rejected": "#737373",
    "merged": "#bdbdbd",
}


@dataclass(frozen=True)
class MarkerData:
    """What a marker shows: position (WGS84), state, and texts (escaped when drawn)."""

    id: str
    lat: float
    lng: float
    state: str
    title: str
    detail: str
    overdue: bool = False


def _display(lat: Sequence[float], lng: Sequence[float], basemap: Basemap) -> tuple[np.ndarray, np.ndarray]:
    la, ln = np.asarray(lat, dtype=float), np.asarray(lng, dtype=float)
    if basemap.display_crs == "wgs84":
        return la, ln
    return from_wgs84(la, ln, basemap.display_crs)


def marker_layer(
    markers: Sequence[MarkerData],
    *,
    name: str,
    basemap: Basemap | None = None,
    selected: Sequence[str] = (),
    cluster_above: int = CLUSTER_ABOVE,
) -> folium.FeatureGroup:
    """Circle markers coloured by state; a MarkerCluster when there are many.

    Every user-supplied text is HTML-escaped; the tooltip is the marker's title (number and
    item), which a click returns to the page: titles must be unique on one map.
    """
    basemap = basemap or Basemap()
    group = folium.FeatureGroup(name=name)
    target: folium.FeatureGroup | plugins.MarkerCluster = group
    if len(markers) > cluster_above:
        target = localize(plugins.MarkerCluster(name=name, disable_clustering_at_zoom=17))
        target.add_to(group)
    lat, lng = _display([m.lat for m in markers], [m.lng for m in markers], basemap)
    chosen = set(selected)
    points = []
    for m, y, x in zip(markers, lat.tolist(), lng.tolist(), strict=True):
        is_sel = m.id in chosen
        points.append(
            [
                y, x, 9 if is_sel else 6,
                "#0050b3" if is_sel else ("#000" if m.overdue else "#fff"),
                3 if is_sel or m.overdue else 1,
                STATE_COLOURS.get(m.state, "#333"),
                html.escape(m.title),
                f"<b>{html.escape(m.title)}</b><br>{html.escape(m.detail)}",
            ]
        )  # fmt: skip
    target.add_child(CircleMarkers(points))
    return group


def marker_legend(
    states: Sequence[str],
    state_names: Mapping[str, str],
    *,
    selected: str | None = None,
    overdue: str | None = None,
) -> list[Swatch]:
    """Legend rows for :func:`marker_layer`: one dot per state shown, then the rings it uses."""
    rows = [Swatch(STATE_COLOURS[s], state_names.get(s, s), "dot") for s in STATE_COLOURS if s in set(states)]
    if selected:
        rows.append(Swatch("#0050b3", selected, "ring"))
    if overdue:
        rows.append(Swatch("#000", overdue, "ring"))
    return rows


def heat_layer(
    lat: Sequence[float],
    lng: Sequence[float],
    *,
    name: str,
    weights: Sequence[float] | None = None,
    basemap: Basemap | None = None,
) -> folium.FeatureGroup:
    """A kernel density heat layer of (weighted) points (Leaflet.heat, served locally); hidden at first."""
    basemap = basemap or Basemap()
    la, ln = _display(lat, lng, basemap)
    columns = (
        [la, ln]
        if weights is None
        else [la, ln, np.asarray(weights, dtype=float) / max(np.max(weights), 1.0)]
    )
    group = folium.FeatureGroup(name=name, show=False)
    localize(
        plugins.HeatMap(np.column_stack(columns).round(6).tolist(), radius=14, blur=18, min_opacity=0.3)
    ).add_to(group)
    return group
