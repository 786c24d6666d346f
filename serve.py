"""The app's server: the Streamlit app plus the app's own HTTP routes.

``streamlit run serve.py`` (what ``make run`` does) finds ``app`` below and serves the
Streamlit script ``streamlit_app.py`` with Streamlit's Starlette server, adding:

- ``/tiles/{z}/{x}/{y}``: the offline tile package named by ``GRIDPATROL_TILES`` (an
  MBTiles file or a z/x/y folder), so maps have a basemap without the internet.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import streamlit as st
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from streamlit import config as st_config

from app_pages.startup import warm_up
from patrol.tiles import TILE_ROUTE, TilePackageError, configured_package, tile_route


def tile(request: Request) -> Response:
    """One tile of the configured package; 404 when it has none there or none is configured."""
    try:
        package = configured_package()
    except TilePackageError as exc:
        return Response(str(exc), status_code=503, media_type="text/plain; charset=utf-8")
    z, x, y = (request.path_params[k] for k in ("z", "x", "y"))
    found = package.tile(z, x, y) if package is not None else None
    if found is None:
        return Response(status_code=404)
    data, media = found
    return Response(data, media_type=media, headers={"Cache-Control": "public, max-age=86400"})


def _route(path: str) -> str:
    return path.replace("{z}", "{z:int}").replace("{x}", "{x:int}").replace("{y}", "{y:int}")


# at the root, and under the base path when there is one (where the pages ask for them)
_ROUTES = sorted(
    {_route(TILE_ROUTE), _route(tile_route(str(st_config.get_option("server.baseUrlPath") or "")))}
)


@asynccontextmanager
async def _lifespan(_app: st.App) -> AsyncIterator[None]:
    """At start, in the background, import what the pages use and freeze it (app_pages.startup)."""
    threading.Thread(target=warm_up, name="gridpatrol-warm-up", daemon=True).start()
    yield None


app = st.App(
    str(Path(__file__).with_name("streamlit_app.py")),
    routes=[Route(r, tile) for r in _ROUTES],
    lifespan=_lifespan,
)
