"""The district map renders in a real browser with no internet, from the app's own assets."""

MAP_FRAME = "iframe[title='streamlit_folium.st_folium']"


def test_the_command_center_sees_the_district_map_drawn_offline(page, app_url):
    page.goto(app_url, wait_until="networkidle")
    page.get_by_role("button", name="进入").click()
    frame = page.frame_locator(MAP_FRAME).first
    frame.locator("path.leaflet-interactive").first.wait_for(timeout=30_000)
    # 13 township outlines + 166 village outlines drawn as SVG paths
    assert frame.locator("path.leaflet-interactive").count() >= 13 + 150
    assert frame.locator(".gp-label").count() == 13
    assert page.external_requests == []
