"""The inspector's phone in a real browser: 390×844, a phone's user agent, the phone's position."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from conftest import ARTIFACTS, LOCAL_PREFIXES
from journeys import sign_in
from playwright.sync_api import expect

PHONE_UA = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Mobile Safari/537.36"
)


def _later_task_for_team_one(url: str):  # type: ignore[no-untyped-def]
    """A patrol for team 1 planned for tomorrow: started today, it is the inspector's patrol anyway."""
    from patrol.patrols import PatrolService
    from patrol.roles import Principal
    from store import open_store

    store = open_store(url)
    cells, owners = store.cell_map()
    village = next(t.village_code for t in store.teams() if t.id == 1)
    mine = [int(c) for c, o in zip(cells.tolist(), owners, strict=True) if o == village][:6]
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    task = PatrolService(store).create(
        Principal("cc", "command_center"),
        1,
        mine,
        tomorrow,
        tomorrow + timedelta(hours=3),
        note="phone journey",
    )
    store.close()
    return task


@pytest.fixture
def phone(browser, app_url, incidents_sqlite_url, request):  # type: ignore[no-untyped-def]
    import h3.api.basic_int as h3i

    task = _later_task_for_team_one(incidents_sqlite_url)
    lat, lng = h3i.cell_to_latlng(task.cells[0])
    context = browser.new_context(
        viewport={"width": 390, "height": 844},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        user_agent=PHONE_UA,
        locale="zh-CN",
        geolocation={"latitude": lat, "longitude": lng, "accuracy": 12},
        permissions=["geolocation"],
    )
    pg = context.new_page()
    pg.external_requests = []
    pg.on(
        "request", lambda r: None if r.url.startswith(LOCAL_PREFIXES) else pg.external_requests.append(r.url)
    )
    pg.task, pg.where = task, (lat, lng)
    yield pg
    ARTIFACTS.mkdir(exist_ok=True)
    pg.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    context.close()


def _settle(page) -> None:  # type: ignore[no-untyped-def]
    page.wait_for_timeout(800)
    page.locator("[data-testid=stStatusWidget]").wait_for(state="hidden", timeout=30_000)


def _sidebar_open(page) -> bool:  # type: ignore[no-untyped-def]
    return page.locator("[data-testid=stSidebar]").get_attribute("data-collapsed") == "false"


def _go(page, link: str) -> None:  # type: ignore[no-untyped-def]
    """Open the menu and choose a page, as a thumb would."""
    if not _sidebar_open(page):
        page.locator("[data-testid=stExpandSidebarButton]").click()
        page.wait_for_timeout(600)
    assert _sidebar_open(page)
    page.locator("[data-testid=stSidebarNav]").get_by_role("link", name=link).click()
    page.wait_for_timeout(1_500)


def test_an_inspector_on_a_phone_starts_a_patrol_and_reports_from_their_position_linked_to_it(
    phone, app_url, incidents_sqlite_url
):
    from store import open_store
    from store.rows import IncidentQuery

    page, task = phone, phone.task
    sign_in(page, app_url, "inspector-1")
    _go(page, "巡查执行")
    page.get_by_role("heading", name="巡查执行").wait_for(timeout=30_000)
    assert not _sidebar_open(page), "the menu still covers the page after choosing one"

    box = page.locator("[data-testid=stSelectbox]").filter(has_text="巡查任务").first
    box.click()
    shift = task.shift_start.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d %H:%M")
    page.get_by_role("option").filter(has_text=shift).first.click()
    # under load the choice reaches the server late: start only the patrol that is chosen
    chosen = box.get_by_role("combobox")
    expect(chosen).to_have_value(re.compile(re.escape(shift)), timeout=30_000)
    _settle(page)
    page.get_by_role("button", name="开始巡查").click()
    page.get_by_text("巡查已开始").first.wait_for(timeout=30_000)
    expect(page.get_by_role("button", name="结束巡查")).to_be_visible(timeout=30_000)
    expect(chosen).to_have_value(re.compile(re.escape(shift)))
    # the GPX uploader states the app's real limit, in Chinese
    page.get_by_text("GPX，单个文件不超过 50 MB").wait_for(timeout=10_000)
    assert page.get_by_text("200MB").count() == 0

    _settle(page)
    page.get_by_role("button", name="在此巡查中上报问题").click()
    page.get_by_role("heading", name="事件上报").wait_for(timeout=30_000)
    page.get_by_text(f"当前巡查任务 {task.id}").wait_for(timeout=10_000)
    # the map comes before the coordinates on a phone
    folium = page.locator("iframe[title='streamlit_folium.st_folium']").first
    folium.wait_for(timeout=30_000)
    page.get_by_text("手动输入坐标").click()
    latitude = page.get_by_label("纬度")
    latitude.wait_for(timeout=10_000)
    map_top, lat_top = folium.bounding_box(), latitude.bounding_box()
    assert map_top is not None and lat_top is not None and map_top["y"] < lat_top["y"]

    page.get_by_role("button", name="使用我的位置").click()
    page.get_by_text("已取得手机定位（精度约 12 米）").wait_for(timeout=30_000)
    page.get_by_label("描述").fill("手机定位上报：楼道堆物")
    page.get_by_role("button", name="提交上报").click()
    saved = page.get_by_text("已上报，编号")
    saved.wait_for(timeout=30_000)
    number = saved.inner_text().split("编号 ")[1].split("，")[0]

    store = open_store(incidents_sqlite_url)
    (inc,) = [
        r for r in store.list_incidents(IncidentQuery(patrol_task_ids=(task.id,))) if r.number == number
    ]
    store.close()
    # stored where the phone said it was (WGS-84, rounded to 6 decimals)
    assert abs(inc.lat - page.where[0]) < 1e-5 and abs(inc.lng - page.where[1]) < 1e-5
    assert inc.patrol_task_id == task.id
    assert page.external_requests == []
