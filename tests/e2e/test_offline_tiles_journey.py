"""Maps without the internet: an offline tile package served by the app, or village names alone."""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

import pytest
from conftest import start_app
from journeys import sign_in

from tests.conftest import make_tile_package

MAP_FRAME = "iframe[title='streamlit_folium.st_folium']"


def _frame_with_tiles(page):  # type: ignore[no-untyped-def]
    page.wait_for_function(
        f"""() => [...document.querySelectorAll("{MAP_FRAME}")].some(f =>
              f.contentDocument && [...f.contentDocument.querySelectorAll('img.leaflet-tile')]
                .some(i => i.complete && i.naturalWidth === 256))""",
        timeout=40_000,
    )
    return page.locator(MAP_FRAME).last.element_handle().content_frame()


def _tile_paths(frame) -> list[str]:  # type: ignore[no-untyped-def]
    """The paths of the tiles the map has drawn."""
    return frame.evaluate(  # type: ignore[no-any-return]
        """() => [...document.querySelectorAll('img.leaflet-tile')]
                 .filter(i => i.complete && i.naturalWidth === 256).map(i => new URL(i.src).pathname)"""
    )


@pytest.fixture
def tiles_app(incidents_sqlite_url: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    tiles = make_tile_package(tmp_path / "nanhu.mbtiles")
    proc, url = start_app(incidents_sqlite_url, GRIDPATROL_TILES=str(tmp_path / "nanhu.mbtiles"))
    yield url, tiles
    proc.terminate()
    proc.wait(timeout=20)


def test_the_app_serves_the_configured_mbtiles_package_itself_and_the_maps_draw_it(tiles_app, page):
    url, tiles = tiles_app
    (z, x, y), data = next(iter(tiles.items()))
    with urllib.request.urlopen(f"{url}/tiles/{z}/{x}/{y}", timeout=10) as r:
        assert r.read() == data
        assert r.headers["Content-Type"] == "image/png"
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(f"{url}/tiles/{z}/0/0", timeout=10)
    assert missing.value.code == 404
    with pytest.raises(urllib.error.HTTPError) as not_a_tile:
        urllib.request.urlopen(f"{url}/tiles/{z}/..%2f..%2fetc/passwd", timeout=10)
    assert not_a_tile.value.code in (400, 404)  # refused before or at the route: no path reaches the disk

    sign_in(page, url, "captain-330402008")
    page.get_by_role("link", name="网格调度").click()
    frame = _frame_with_tiles(page)
    loaded = _tile_paths(frame)
    assert loaded and all(p.startswith("/tiles/") for p in loaded)
    assert "测试瓦片" in frame.locator(".leaflet-control-attribution").inner_text()
    assert page.external_requests == []


def test_behind_a_base_path_the_tiles_are_served_and_asked_for_under_it(incidents_sqlite_url, tmp_path, page):
    tiles = make_tile_package(tmp_path / "nanhu.mbtiles")
    proc, url = start_app(
        incidents_sqlite_url,
        GRIDPATROL_TILES=str(tmp_path / "nanhu.mbtiles"),
        STREAMLIT_SERVER_BASE_URL_PATH="gp",  # a proxy that forwards only /gp/ to the app
    )
    try:
        assert url.endswith("/gp")
        (z, x, y), data = next(iter(tiles.items()))
        with urllib.request.urlopen(f"{url}/tiles/{z}/{x}/{y}", timeout=10) as r:
            assert r.read() == data and r.headers["Content-Type"] == "image/png"
        sign_in(page, url, "captain-330402008")
        page.get_by_role("link", name="网格调度").click()
        frame = _frame_with_tiles(page)
        loaded = _tile_paths(frame)
        assert loaded and all(p.startswith("/gp/tiles/") for p in loaded)
        assert page.external_requests == []
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_without_a_basemap_the_map_names_villages_once_zoomed_to_captain_scale(page, app_url):
    sign_in(page, app_url, "command")
    page.get_by_text("事件热力网格").first.wait_for(timeout=30_000)
    page.wait_for_function(
        f"""() => [...document.querySelectorAll("{MAP_FRAME}")].some(f =>
              f.contentWindow && f.contentWindow.map && f.contentDocument.querySelector('.gp-village'))""",
        timeout=40_000,
    )

    def frame():  # type: ignore[no-untyped-def]  # the map is redrawn (a new frame) when the zoom changes
        page.wait_for_timeout(800)
        page.locator("[data-testid=stStatusWidget]").wait_for(state="hidden", timeout=30_000)
        page.wait_for_timeout(1_500)
        return page.locator(MAP_FRAME).last.element_handle().content_frame()

    def shown() -> list[str]:
        return frame().evaluate(
            """() => [...document.querySelectorAll('.gp-village')]
                     .filter(e => getComputedStyle(e).display !== 'none').map(e => e.textContent)"""
        )

    assert frame().evaluate("() => map.getZoom()") < 13
    assert shown() == []  # at district zoom the names would cover the map
    assert (
        frame().evaluate("() => getComputedStyle(map.getContainer()).backgroundColor") == "rgb(243, 241, 234)"
    )
    frame().evaluate("() => map.setZoom(14, {animate: false})")
    names = shown()
    assert frame().evaluate("() => map.getZoom()") == 14
    assert names and all(n.strip() for n in names)
    assert page.external_requests == []
