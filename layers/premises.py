"""Premises layer for joint inspections: one circle per premises, coloured by kind, warnings in red."""

from __future__ import annotations

import html
from collections.abc import Collection, Mapping, Sequence

import folium

from geo.crs import from_wgs84
from layers.base import Basemap, CircleMarkers
from store.rows import PremisesRow

KIND_COLOURS = {
    "restaurant": "#e6550d",
    "gas_outlet": "#d62728",
    "site": "#8c564b",
    "internet_cafe": "#6a51a3",
    "market": "#31a354",
    "study_base": "#3182bd",
    "fitness": "#17becf",
}


def premises_layer(
    premises: Sequence[PremisesRow],
    *,
    name: str,
    kind_labels: Mapping[str, str],
    details: Mapping[str, str] | None = None,
    warned: Collection[str] = (),
    basemap: Basemap | None = None,
) -> folium.FeatureGroup:
    """Circles at the premises (tooltip: name, kind and ``details[id]``, all escaped).

    Premises in ``warned`` get a thick red ring: different departments within 30 days.
    """
    basemap = basemap or Basemap()
    lats = [p.lat for p in premises]
    lngs = [p.lng for p in premises]
    if basemap.display_crs != "wgs84" and premises:
        la, ln = from_wgs84(lats, lngs, basemap.display_crs)
        lats, lngs = la.tolist(), ln.tolist()
    group = folium.FeatureGroup(name=name)
    points = []
    for p, y, x in zip(premises, lats, lngs, strict=True):
        extra = (details or {}).get(p.id, "")
        tip = " · ".join(html.escape(t) for t in (p.name, kind_labels.get(p.kind, p.kind), extra) if t)
        warn = p.id in warned
        points.append(
            [y, x, 7 if warn else 5, "#cb181d" if warn else "#333", 3 if warn else 1,
             KIND_COLOURS.get(p.kind, "#777"), tip]
        )  # fmt: skip
    group.add_child(CircleMarkers(points))
    return group
