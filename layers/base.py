"""Base map and area boundary layers (pure builders: data in, folium objects out)."""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

import folium
import numpy as np
import shapely
from branca.element import MacroElement
from jinja2 import Template
from shapely.geometry import mapping
from shapely.geometry.base import BaseGeometry

from geo.crs import from_wgs84
from layers.assets import localize

BasemapKind: TypeAlias = Literal["none", "offline", "osm", "amap", "tianditu", "custom"]
BASEMAP_KINDS: tuple[BasemapKind, ...] = ("none", "offline", "osm", "amap", "tianditu", "custom")

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


_LABEL_ZOOMS = range(10, 18)
_LABEL_CSS = (
    "<style>.gp-label{font:12px/1.2 sans-serif;color:#333;text-align:center;"
    "white-space:nowrap;text-shadow:0 0 3px #fff,0 0 3px #fff;pointer-events:none}"
    ".gp-label.gp-village{font-size:11px;color:#1f4e99}"
    # a label marked gp-minzN shows from zoom N on (ZoomClasses keeps gp-geN on the map)
    + "".join(f".leaflet-container:not(.gp-ge{z}) .gp-minz{z}{{display:none}}" for z in _LABEL_ZOOMS)
    + ".gp-paper.leaflet-container{background:#f3f1ea}</style>"
)


class ZoomClasses(MacroElement):
    """Keep classes ``gp-geN`` on the map's container for every N ≤ the current zoom.

    Labels marked ``gp-minzN`` are hidden by CSS below zoom N, so a name appears only
    where there is room for it (village names at captain and inspector zoom). ``paper``
    gives a map without tiles a paper-coloured ground instead of Leaflet's grey.
    """

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        (function (map) {
            var zooms = {{ this.zooms|tojson }};
            if ({{ this.paper|tojson }}) { map.getContainer().classList.add("gp-paper"); }
            function mark() {
                var z = map.getZoom(), el = map.getContainer();
                zooms.forEach(function (n) { el.classList.toggle("gp-ge" + n, z >= n); });
            }
            map.on("zoomend", mark);
            map.whenReady(mark);
        })({{ this._parent.get_name() }});
        {% endmacro %}
        """
    )

    def __init__(self, *, paper: bool = False) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._name = "ZoomClasses"
        self.zooms = list(_LABEL_ZOOMS)
        self.paper = paper


@dataclass(frozen=True)
class Basemap:
    """Which tiles to draw under the data, and in which coordinate system they are.

    ``none`` (the default) draws no tiles: village outlines and names stand in for them.
    ``offline`` draws the tile package the app serves itself (``url`` is its route).
    AMap tiles are in GCJ-02, so data drawn over them is shifted from WGS84 for display;
    ``crs`` says the same of an offline or custom package.
    """

    kind: BasemapKind = "none"
    url: str = ""
    key: str = ""
    attribution: str = ""
    crs: str = "wgs84"
    min_zoom: int = 0
    max_zoom: int = 18  # beyond it the deepest tiles are enlarged

    @property
    def display_crs(self) -> str:
        """The coordinate system the map is drawn in."""
        return "gcj02" if self.kind == "amap" else self.crs


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
        control_scale=False,  # the metric-only scale comes with layers.locale.map_locale
        prefer_canvas=False,
        height=height,
        zoom_snap=0.25,  # a fitted district fills the map rather than the next whole zoom level down
    )
    localize(m)
    root: Any = m.get_root()
    root.header.add_child(folium.Element(_LABEL_CSS))
    # no tiles: a paper-coloured ground rather than Leaflet's grey
    m.add_child(ZoomClasses(paper=basemap.kind == "none"))
    if basemap.kind != "none":
        url, attribution = _TILES.get(basemap.kind, (basemap.url, basemap.attribution or basemap.kind))
        url = url.replace("{key}", basemap.key)
        subdomains = (
            "1234" if basemap.kind == "amap" else ("01234567" if basemap.kind == "tianditu" else "abc")
        )
        folium.TileLayer(
            tiles=url,
            attr=basemap.attribution or attribution,
            name=basemap.kind,
            subdomains=subdomains,
            min_zoom=basemap.min_zoom,
            max_native_zoom=basemap.max_zoom,
            max_zoom=max(basemap.max_zoom, 19),
        ).add_to(m)
    # fitted without animation: an animated fit finishes a frame later and would undo the
    # view that KeepView restores right after it
    fit = folium.FitBounds([[miny, minx], [maxy, maxx]])
    fit.options["animate"] = False
    m.add_child(fit)
    return m


class MapLabels(MacroElement):
    """Text labels at points, drawn by one loop in the browser (one element, not one per label).

    Rendering a folium ``Marker`` with a ``DivIcon`` per name costs about a millisecond each
    on the server; a district's 180 village names drawn that way took 0.2–0.3 s per rerun.
    The texts are HTML-escaped here and set as text content in the browser.
    """

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        (function (group) {
            {{ this.points|tojson }}.forEach(function (p) {
                var div = document.createElement("div");
                div.className = {{ this.css|tojson }};
                div.textContent = p[2];
                L.marker([p[0], p[1]], {
                    interactive: false, keyboard: false,
                    icon: L.divIcon({
                        html: div.outerHTML, className: "", iconSize: [80, 16], iconAnchor: [40, 8]
                    })
                }).addTo(group);
            });
        })({{ this._parent.get_name() }});
        {% endmacro %}
        """
    )

    def __init__(self, points: Sequence[tuple[float, float, str]], css: str) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._name = "MapLabels"
        self.points = [[round(lat, 6), round(lng, 6), str(text)] for lat, lng, text in points]
        self.css = css


class CircleMarkers(MacroElement):
    """Many circle markers drawn by one loop in the browser (one element, not one per point).

    Each point is ``[lat, lng, radius, colour, weight, fill, tooltip_html, popup_html]`` (the
    popup may be left out); texts must be escaped by the caller (they are shown as HTML).
    streamlit-folium reports a click on one by its tooltip, as for a folium marker. Rendering a
    folium ``CircleMarker`` per point with its tooltip costs about 2 ms each on the server
    (470 premises: ~1 s a rerun).
    """

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        (function (group) {
            {{ this.points|tojson }}.forEach(function (p) {
                var c = L.circleMarker([p[0], p[1]], {
                    radius: p[2], color: p[3], weight: p[4], fill: true, fillColor: p[5], fillOpacity: 0.9
                }).addTo(group);
                if (p[6]) { c.bindTooltip(p[6]); }
                if (p[7]) { c.bindPopup(p[7], {maxWidth: 320}); }
            });
        })({{ this._parent.get_name() }});
        {% endmacro %}
        """
    )

    def __init__(self, points: Sequence[Sequence[Any]]) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._name = "CircleMarkers"
        self.points = [[round(float(p[0]), 6), round(float(p[1]), 6), *p[2:]] for p in points]


class KeepView(MacroElement):
    """Remember the user's centre and zoom in the browser tab and restore them when the map is redrawn.

    Streamlit redraws a map whenever its content changes (a selection, a new colour, a
    refresh), and the new map starts at its fitted bounds. This element saves the view on
    every move under ``key`` in the tab's ``sessionStorage`` and restores it when a map with
    the same key and the same fitted extent is drawn again; a new extent (another township
    chosen) starts fitted.
    """

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        (function (map) {
            var key = {{ this.storage_key|tojson }};
            var store = null;
            try { store = window.sessionStorage; } catch (e) { store = null; }
            if (!store) { return; }
            try {
                var saved = JSON.parse(store.getItem(key) || "null");
                if (saved && isFinite(saved.lat) && isFinite(saved.lng) && isFinite(saved.zoom)) {
                    map.setView([saved.lat, saved.lng], saved.zoom, {animate: false});
                }
            } catch (e) { /* a damaged entry: start fitted */ }
            map.on("moveend", function () {
                var c = map.getCenter();
                try {
                    store.setItem(key, JSON.stringify({lat: c.lat, lng: c.lng, zoom: map.getZoom()}));
                } catch (e) { /* storage full or denied: the view is simply not kept */ }
            });
        })({{ this._parent.get_name() }});
        {% endmacro %}
        """
    )

    def __init__(self, key: str, extent: Sequence[float]) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._name = "KeepView"
        signature = ",".join(f"{v:.5f}" for v in extent)
        self.storage_key = f"gridpatrol-view:{key}:{signature}"


def keep_view(m: folium.Map, key: str) -> folium.Map:
    """Add :class:`KeepView` to a map (last, so it runs after the map has been fitted)."""
    extent: list[float] = []
    for child in m._children.values():
        if isinstance(child, folium.FitBounds):
            extent = [float(v) for corner in child.bounds for v in corner]
    m.add_child(KeepView(key, extent))
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
    label_min_zoom: int | None = None,
    label_class: str = "",
    show: bool = True,
) -> folium.FeatureGroup:
    """Boundary outlines with an escaped tooltip, optionally labelled at a point inside.

    Parameters
    ----------
    geoms : sequence of shapely geometries
        WGS84 polygons.
    names, codes : sequence of str
        The tooltip shows ``name (code)`` (HTML-escaped; the code may be any qualifier, such as
        a village's township, and is left out when empty); names are the labels.
    name : str
        Layer name in the layer control.
    label_min_zoom : int, optional
        Show the labels only from this zoom on (10–17), where there is room for them.
    """
    basemap = basemap or Basemap()
    css = " ".join(
        c for c in ("gp-label", label_class, f"gp-minz{label_min_zoom}" if label_min_zoom else "") if c
    )
    group = folium.FeatureGroup(name=name, show=show)
    features: list[dict[str, Any]] = []
    for geom, nm, code in zip(geoms, names, codes, strict=True):
        features.append(
            {
                "type": "Feature",
                "properties": {
                    "label": html.escape(str(nm)) + (f" ({html.escape(str(code))})" if code else "")
                },
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
        points = [to_display(geom.representative_point(), basemap) for geom in geoms]
        group.add_child(
            MapLabels(
                [(shapely.get_y(p), shapely.get_x(p), str(nm)) for p, nm in zip(points, names, strict=True)],
                css,
            )
        )
    return group
