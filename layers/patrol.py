"""Patrol route layer: the path and numbered stops with their expected arrival times."""

from __future__ import annotations

import html
from collections.abc import Sequence

import folium

from geo.crs import from_wgs84
from layers.base import Basemap


def route_layer(
    start: tuple[float, float],
    stops: Sequence[tuple[int, float, float, str]],
    *,
    name: str,
    basemap: Basemap | None = None,
    color: str = "#0050b3",
) -> folium.FeatureGroup:
    """A closed path from ``start`` (lat, lng) through ``stops`` (order, lat, lng, label) and back.

    Labels are HTML-escaped; stops are drawn as numbered circles.
    """
    basemap = basemap or Basemap()
    lats = [start[0], *(s[1] for s in stops), start[0]]
    lngs = [start[1], *(s[2] for s in stops), start[1]]
    if basemap.display_crs != "wgs84":
        la, ln = from_wgs84(lats, lngs, basemap.display_crs)
        lats, lngs = la.tolist(), ln.tolist()
    group = folium.FeatureGroup(name=name)
    folium.PolyLine(list(zip(lats, lngs, strict=True)), color=color, weight=3, opacity=0.8).add_to(group)
    folium.CircleMarker(
        [lats[0], lngs[0]], radius=7, color="#000", fill=True, fill_color="#fff", tooltip="▶"
    ).add_to(group)
    for (order, _, _, label), y, x in zip(stops, lats[1:-1], lngs[1:-1], strict=True):
        folium.Marker(
            [y, x],
            tooltip=html.escape(label),
            icon=folium.DivIcon(
                html=(
                    f'<div style="background:{color};color:#fff;border-radius:10px;width:20px;height:20px;'
                    f'text-align:center;font:bold 11px/20px sans-serif">{int(order)}</div>'
                ),
                icon_size=(20, 20),
                icon_anchor=(10, 10),
            ),
        ).add_to(group)
    return group
