"""Leaflet and plugin assets served by the app itself, so maps render with no internet.

folium and its plugins point at public CDNs. Every builder here passes its elements
through :func:`localize`, which points them at copies under Streamlit's static folder
(``/app/static/vendor/…``), installed from the npm registry at set-up by
``tools/vendor_assets.py``.
"""

from __future__ import annotations

from typing import Any

STATIC_URL = "/app/static/vendor"

# local file (under static/vendor) → source, relative to node_modules/ or "folium:" for
# files shipped inside the folium package
VENDOR_FILES: dict[str, str] = {
    "leaflet/leaflet.js": "leaflet/dist/leaflet.js",
    "leaflet/leaflet.css": "leaflet/dist/leaflet.css",
    "leaflet/images": "leaflet/dist/images",
    "jquery/jquery.min.js": "jquery/dist/jquery.min.js",
    "bootstrap/bootstrap.bundle.min.js": "bootstrap/dist/js/bootstrap.bundle.min.js",
    "bootstrap/bootstrap.min.css": "bootstrap/dist/css/bootstrap.min.css",
    "fontawesome/css/all.min.css": "@fortawesome/fontawesome-free/css/all.min.css",
    "fontawesome/webfonts": "@fortawesome/fontawesome-free/webfonts",
    "awesome-markers/leaflet.awesome-markers.js": "leaflet.awesome-markers/dist/leaflet.awesome-markers.js",
    "awesome-markers/leaflet.awesome-markers.css": "leaflet.awesome-markers/dist/leaflet.awesome-markers.css",
    "awesome-markers/images": "leaflet.awesome-markers/dist/images",
    "draw/leaflet.draw.js": "leaflet-draw/dist/leaflet.draw.js",
    "draw/leaflet.draw.css": "leaflet-draw/dist/leaflet.draw.css",
    "draw/images": "leaflet-draw/dist/images",
    "markercluster/leaflet.markercluster.js": "leaflet.markercluster/dist/leaflet.markercluster.js",
    "markercluster/MarkerCluster.css": "leaflet.markercluster/dist/MarkerCluster.css",
    "markercluster/MarkerCluster.Default.css": "leaflet.markercluster/dist/MarkerCluster.Default.css",
    "fullscreen/Control.FullScreen.js": "leaflet.fullscreen/Control.FullScreen.js",
    "fullscreen/Control.FullScreen.css": "leaflet.fullscreen/Control.FullScreen.css",
    "fullscreen/icon-fullscreen.svg": "leaflet.fullscreen/icon-fullscreen.svg",
    "heat/leaflet_heat.min.js": "folium:templates/leaflet_heat.min.js",
    # the API's documentation page (gridpatrol api → /docs), offline too
    "swagger-ui/swagger-ui-bundle.js": "swagger-ui-dist/swagger-ui-bundle.js",
    "swagger-ui/swagger-ui.css": "swagger-ui-dist/swagger-ui.css",
}

# folium resource name → local file; a name mapped to None is dropped (not needed)
_BY_NAME: dict[str, str | None] = {
    "leaflet": "leaflet/leaflet.js",
    "leaflet_css": "leaflet/leaflet.css",
    "jquery": "jquery/jquery.min.js",
    "bootstrap": "bootstrap/bootstrap.bundle.min.js",
    "bootstrap_css": "bootstrap/bootstrap.min.css",
    "glyphicons_css": None,
    "awesome_markers": "awesome-markers/leaflet.awesome-markers.js",
    "awesome_markers_font_css": "fontawesome/css/all.min.css",
    "awesome_markers_css": "awesome-markers/leaflet.awesome-markers.css",
    "awesome_rotate_css": None,
    "leaflet_draw_js": "draw/leaflet.draw.js",
    "leaflet_draw_css": "draw/leaflet.draw.css",
    "markerclusterjs": "markercluster/leaflet.markercluster.js",
    "markerclustercss": "markercluster/MarkerCluster.css",
    "markerclusterdefaultcss": "markercluster/MarkerCluster.Default.css",
    "leaflet-heat.js": "heat/leaflet_heat.min.js",
    "Control.Fullscreen.js": "fullscreen/Control.FullScreen.js",
    "Control.FullScreen.css": "fullscreen/Control.FullScreen.css",
}


class UnknownAssetError(KeyError):
    """A folium element asks for an asset that has no local copy."""


def _local(resources: list[tuple[str, str]], base: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for name, url in resources:
        if name not in _BY_NAME:
            msg = f"no local copy of {name!r} ({url}); add it to layers.assets"
            raise UnknownAssetError(msg)
        local = _BY_NAME[name]
        if local is not None:
            out.append((name, f"{base}/{local}"))
    return out


_static = {"url": STATIC_URL}


def use_base_path(base_url_path: str) -> None:
    """Serve the assets under the app's base path (``server.baseUrlPath``), set at start.

    Behind a proxy that forwards only ``/gp/``, the maps load ``/gp/app/static/vendor/…``.
    """
    base = base_url_path.strip("/")
    _static["url"] = f"/{base}{STATIC_URL}" if base else STATIC_URL


def localize(element: Any, base: str | None = None) -> Any:
    """Point a folium element's JS and CSS at the app's own copies; return the element.

    Raises
    ------
    UnknownAssetError
        If the element needs an asset with no local copy (so a CDN link never slips in).
    """
    base = _static["url"] if base is None else base
    for attr in ("default_js", "default_css"):
        resources = getattr(element, attr, None)
        if resources:
            setattr(element, attr, _local(list(resources), base))
    return element
