"""The maps in a real browser: they keep the user's view, speak Chinese and carry a legend."""

from __future__ import annotations

import re

from journeys import sign_in

MAP_FRAME = "iframe[title='streamlit_folium.st_folium']"


def _map_frame(page, timeout_ms: int = 40_000):  # type: ignore[no-untyped-def]
    """The (last) map's frame once its Leaflet map has drawn its vector layers."""
    page.wait_for_function(
        f"""() => [...document.querySelectorAll("{MAP_FRAME}")].some(f =>
              f.contentWindow && f.contentWindow.map &&
              f.contentDocument.querySelectorAll('path.leaflet-interactive').length > 0)""",
        timeout=timeout_ms,
    )
    return page.locator(MAP_FRAME).last.element_handle().content_frame()


def _settle(page) -> None:  # type: ignore[no-untyped-def]
    """Wait until Streamlit has finished its reruns and the map its redraw."""
    page.wait_for_timeout(800)
    page.locator("[data-testid=stStatusWidget]").wait_for(state="hidden", timeout=30_000)
    page.wait_for_timeout(1_500)


def _zoom(page) -> int:  # type: ignore[no-untyped-def]
    return int(_map_frame(page).evaluate("() => window.map.getZoom()"))


def _zoom_in(page, times: int) -> int:  # type: ignore[no-untyped-def]
    _settle(page)
    start = _zoom(page)
    for _ in range(times):
        _map_frame(page).locator("a.leaflet-control-zoom-in").click()
        _settle(page)
    assert _zoom(page) == start + times
    return start + times


def _resolution(page) -> int:  # type: ignore[no-untyped-def]
    caption = page.get_by_text(re.compile(r"当前视图 .* 个网格")).first.inner_text()
    found = re.search(r"分辨率 (\d+)", caption)
    assert found, caption
    return int(found.group(1))


def test_the_command_center_heat_map_stays_at_the_zoom_the_user_chose(page, app_url):
    sign_in(page, app_url, "command")
    page.get_by_text("事件热力网格").first.wait_for(timeout=30_000)
    fitted = _zoom(page)
    coarse = _resolution(page)
    chosen = _zoom_in(page, 2)
    # the zoom is reported back, the page reruns with a finer resolution and redraws the map:
    # the redrawn map must open where the user left it, not at the district's fitted view
    page.wait_for_function(
        f"() => /分辨率 (\\d+)）/.exec(document.body.innerText)?.[1] > {coarse}", timeout=30_000
    )
    page.wait_for_timeout(5_000)  # a further redraw would have snapped back by now
    assert _zoom(page) == chosen != fitted
    assert _resolution(page) > coarse
    assert page.external_requests == []


def test_a_captains_click_on_the_dispatch_map_selects_the_incident_and_keeps_the_zoom(
    page, app_url, incidents_sqlite_url
):
    from patrol.incidents import IncidentService, NewIncident
    from patrol.roles import Principal
    from store import open_store

    store = open_store(incidents_sqlite_url)
    IncidentService(store).report(
        Principal("热线", "command_center"),
        NewIncident("STREET_VENDING", 30.7600, 120.7500, "hotline_12345", "门口占道经营"),
    )
    store.close()
    sign_in(page, app_url, "captain-330402008")
    page.get_by_text("网格调度：解放街道").wait_for(timeout=30_000)
    frame = _map_frame(page)
    # the plugins speak Chinese: zoom buttons and the draw toolbar
    assert frame.locator("a.leaflet-control-zoom-in").get_attribute("title") == "放大"
    assert frame.locator("a.leaflet-draw-draw-rectangle").get_attribute("title") == "画矩形（框选区域）"
    legend = frame.locator(".gp-legend").inner_text()
    assert "已选中" in legend and "村社网格边界" in legend
    chosen = _zoom_in(page, 1)
    # click the first incident marker (the way Leaflet delivers a click to streamlit-folium)
    title = _map_frame(page).evaluate(
        """() => {
            let found = null;
            const look = l => {
                if (found) { return; }
                if (l.setRadius && l.getLatLng && l.getTooltip && l.getTooltip()) { found = l; }  // a circle marker
                else if (l.getLayers) { l.getLayers().forEach(look); }  // inside the cluster group
            };
            window.map.eachLayer(look);
            found.fire('click', {latlng: found.getLatLng()}, true);  // propagates as a DOM click does
            const div = document.createElement('div');
            div.innerHTML = found.getTooltip().getContent();
            return div.textContent.trim();
        }"""
    )
    number = title.split(" · ")[0]
    box = page.locator("[data-testid=stMultiSelect]").filter(has_text="已选事件").first
    box.get_by_text(number).first.wait_for(timeout=30_000)
    page.wait_for_timeout(3_000)
    assert _zoom(page) == chosen
    assert page.external_requests == []
