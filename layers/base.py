"""Base map and area boundary layers (pure builders: data in, folium objects out)."""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

import folium
import numpy as np
import shapely
from shapely.geometry import mapping
from shapely.geometry.base import BaseGeometry

from geo.crs import from_wgs84
from layers.assets import localize

BasemapKind: TypeAlias = Literal["none", "osm", "amap", "tianditu", "custom"]
BASEMAP_KINDS: tuple[BasemapKind, ...] = ("none", "osm", "amap", "tianditu", "custom")

_TILES: dict[str, tuple[str, str]] = {
    "osm": ("https://tile.openstreetmap.org/{z}/{x}/{y}.png", "© OpenStreetMap contributors"),
    "amap": (
        "https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8&x={x}&y={y}&z={z}",
        "© 高德地图 AMap",
    ),
    "tianditu": (
        "https://t{s}.tianditu.gov.cn/vec_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0"
        "&LAYER=vec&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}&tk={key}",
        "© 天地图 Tianditu",
    ),
}


_LABEL_CSS = (
    "<style>.gp-label{font:12px/1.2 sans-serif;color:#333;text-align:center;"
    "white-space:nowrap;text-shadow:0 0 3px #fff,0 0 3px #fff;pointer-events:none}</style>"
)


@dataclass(frozen=True)
class Basemap:
    """Which tiles to draw under the data, and in which coordinate system they are.

    ``none`` (the default, for offline networks) draws no tiles. AMap tiles are in
    GCJ-02, so data drawn over them is shifted from WGS84 for display.
    """

    kind: BasemapKind = "none"
    url: str = ""
    key: str = ""
    attribution: str = ""

    @property
    def display_crs(self) -> str:
        """The coordinate system the map is drawn in."""
        return "gcj02" if self.kind == "amap" else "wgs84"


def to_display(geom: BaseGeometry, basemap: Basemap) -> BaseGeometry:
    """Shift a WGS84 geometry to the basemap's display system (GCJ-02 for AMap)."""
    if basemap.display_crs == "wgs84":
        return geom

    def _xy(coords: np.ndarray) -> np.ndarray:
        lat, lng = from_wgs84(coords[:, 1], coords[:, 0], basemap.display_crs)
        return np.column_stack([lng, lat])

    return shapely.transform(geom, _xy)


def base_map(
    bounds: tuple[float, float, float, float],
    basemap: Basemap | None = None,
    *,
    height: int = 560,
) -> folium.Map:
    """Create a map fitted to ``bounds`` = (min_lng, min_lat, max_lng, max_lat), WGS84.

    All JS and CSS come from the app's static folder (offline).
    """
    basemap = basemap or Basemap()
    box = to_display(shapely.box(*bounds), basemap)
    minx, miny, maxx, maxy = box.bounds
    m = folium.Map(
        location=[(miny + maxy) / 2, (minx + maxx) / 2],
        tiles=None,
        zoom_start=11,
        control_scale=True,
        prefer_canvas=False,
        height=height,
    )
    localize(m)
    root: Any = m.get_root()
    root.header.add_child(folium.Element(_LABEL_CSS))
    if basemap.kind in _TILES or basemap.kind == "custom":
        url, attribution = _TILES.get(basemap.kind, (basemap.url, basemap.attribution or "custom tiles"))
        url = url.replace("{key}", basemap.key)
        subdomains = (
            "1234" if basemap.kind == "amap" else ("01234567" if basemap.kind == "tianditu" else "abc")
        )
        folium.TileLayer(
            tiles=url, attr=basemap.attribution or attribution, name=basemap.kind, subdomains=subdomains
        ).add_to(m)
    m.fit_bounds([[miny, minx], [maxy, maxx]])
    return m


def area_layer(
    geoms: Sequence[BaseGeometry],
    names: Sequence[str],
    codes: Sequence[str],
    *,
    name: str,
    color: str,
    weight: float,
    basemap: Basemap | None = None,
    fill_opacity: float = 0.0,
    labels: bool = False,
    show: bool = True,
) -> folium.FeatureGroup:
    """Boundary outlines with an escaped tooltip, optionally labelled at a point inside.

    Parameters
    ----------
    geoms : sequence of shapely geometries
        WGS84 polygons.
    names, codes : sequence of str
        Shown in the tooltip (HTML-escaped) and used as labels.
    name : str
        Layer name in the layer control.
    """
    basemap = basemap or Basemap()
    group = folium.FeatureGroup(name=name, show=show)
    features: list[dict[str, Any]] = []
    for geom, nm, code in zip(geoms, names, codes, strict=True):
        features.append(
            {
                "type": "Feature",
                "properties": {"label": f"{html.escape(str(nm))} ({html.escape(str(code))})"},
                "geometry": mapping(to_display(geom, basemap)),
            }
        )
    folium.GeoJson(
        {"type": "FeatureCollection", "features": features},
        style_function=lambda _f: {
            "color": color,
            "weight": weight,
            "fillColor": color,
            "fillOpacity": fill_opacity,
        },
        tooltip=folium.GeoJsonTooltip(fields=["label"], labels=False),
        smooth_factor=1.0,
    ).add_to(group)
    if labels:
        for geom, nm in zip(geoms, names, strict=True):
            p = to_display(geom.representative_point(), basemap)
            folium.Marker(
                [shapely.get_y(p), shapely.get_x(p)],
                icon=folium.DivIcon(
                    html=f'<div class="gp-label">{html.escape(str(nm))}</div>',
                    icon_size=(80, 16),
                    icon_anchor=(40, 8),
                ),
            ).add_to(group)
    return group
