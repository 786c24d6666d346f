"""The command centre on a 1920×1080 wall screen."""

from __future__ import annotations

from conftest import ARTIFACTS
from journeys import sign_in


def test_the_wall_screen_is_dark_without_sidebar_with_the_map_above_the_fold_and_no_empty_tiles(
    browser, app_url, request
):
    context = browser.new_context(viewport={"width": 1920, "height": 1080}, locale="zh-CN")
    page = context.new_page()
    try:
        sign_in(page, f"{app_url}/?wall=1", "command")  # the wall PC's bookmark
        folium = page.locator("iframe[title='streamlit_folium.st_folium']").first
        folium.wait_for(timeout=60_000)
        page.locator("[data-testid=stStatusWidget]").wait_for(state="hidden", timeout=30_000)
        page.wait_for_timeout(1_500)

        # the wall's style sheet arrives with the page's first run: under load, a moment later
        page.locator("[data-testid=stSidebar]").wait_for(state="hidden", timeout=15_000)
        background = page.locator(".stApp").evaluate("e => getComputedStyle(e).backgroundColor")
        assert background == "rgb(11, 18, 32)"
        box = folium.bounding_box()
        assert (
            box is not None and box["y"] < 330 and box["y"] + box["height"] <= 1080 and box["height"] >= 700
        )
        values = page.locator("[data-testid=stMetricValue]").all_inner_texts()
        labels = page.locator("[data-testid=stMetricLabel]").all_inner_texts()
        assert len(values) == 5 and "—" not in values
        assert any("近30天" in label for label in labels)
        size = page.locator("[data-testid=stMetricValue]").first.evaluate("e => getComputedStyle(e).fontSize")
        assert float(size.removesuffix("px")) >= 48  # readable from five metres
    finally:
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"))
        context.close()
