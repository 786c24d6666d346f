"""Patrol journeys in a real browser: a captain plans a route; an inspector checks in on it."""

from __future__ import annotations

import re
from collections import Counter

from journeys import choose, sign_in, wait_idle

MAP_FRAME = "iframe[title='streamlit_folium.st_folium']"


def _busiest_team(url: str, township: str) -> str:
    from store import open_store
    from store.rows import IncidentQuery

    store = open_store(url)
    rows = store.list_incidents(IncidentQuery(township_codes=(township,), limit=5000))
    village = Counter(r.village_code for r in rows).most_common(1)[0][0]
    name = next(t.name for t in store.teams() if t.village_code == village)
    store.close()
    return name


def test_a_captain_plans_a_patrol_sees_the_route_on_the_map_and_creates_the_task(
    page, app_url, incidents_sqlite_url
):
    from store import open_store

    team = _busiest_team(incidents_sqlite_url, "330402008")
    sign_in(page, app_url, "captain-330402008")
    page.get_by_role("link", name="巡查计划").click()
    page.get_by_text("巡查计划 · 风险排序与路线").wait_for(timeout=30_000)
    choose(page, "网格团队", team)
    wait_idle(page)  # the plan of the team chosen, not the one shown before its rerun
    summary = page.get_by_text(re.compile(r"\d+ 个点位，全程约")).first
    summary.wait_for(timeout=30_000)
    stops = int(re.match(r"(\d+) 个点位", summary.inner_text()).group(1))
    assert stops >= 2
    frame = page.frame_locator(MAP_FRAME).last
    # one numbered marker per stop, and the route drawn as a path through them
    stop_markers = frame.locator(".leaflet-marker-icon:not(:has(.gp-label))")  # the village's name is one too
    stop_markers.nth(stops - 1).wait_for(timeout=30_000)
    assert stop_markers.count() == stops
    assert frame.locator("path.leaflet-interactive").count() >= 1 + stops
    page.get_by_role("button", name="按此路线创建巡查任务").click()
    created = page.get_by_text(re.compile(r"已创建巡查任务 PT-\S+（\d+ 个单元）"))
    created.wait_for(timeout=30_000)
    task_id = re.search(r"PT-[0-9a-f-]+", created.inner_text()).group(0)
    store = open_store(incidents_sqlite_url)
    task = store.patrol_task(task_id)
    store.close()
    assert task is not None and task.status == "planned" and len(task.cells) == stops
    assert page.external_requests == []


def test_a_double_click_on_create_patrol_makes_one_task(page, app_url, incidents_sqlite_url):
    from store import open_store

    team = _busiest_team(incidents_sqlite_url, "330402008")
    sign_in(page, app_url, "captain-330402008")
    page.get_by_role("link", name="巡查计划").click()
    page.get_by_text("巡查计划 · 风险排序与路线").wait_for(timeout=30_000)
    choose(page, "网格团队", team)
    wait_idle(page)  # the plan of the team chosen, not the one shown before its rerun
    page.get_by_text(re.compile(r"\d+ 个点位，全程约")).first.wait_for(timeout=30_000)
    page.get_by_role("button", name="按此路线创建巡查任务").dblclick()
    created = page.get_by_text(re.compile(r"已创建巡查任务 PT-\S+（\d+ 个单元）"))
    created.wait_for(timeout=30_000)
    page.wait_for_timeout(3_000)  # let a second click's rerun finish, if there was one
    task_id = re.search(r"PT-[0-9a-f-]+", created.inner_text()).group(0)
    store = open_store(incidents_sqlite_url)
    task = store.patrol_task(task_id)
    same = [
        t
        for t in store.patrol_tasks(team_id=task.team_id)
        if t.cells == task.cells and t.shift_start == task.shift_start and t.shift_end == task.shift_end
    ]
    store.close()
    assert [t.id for t in same] == [task_id]
