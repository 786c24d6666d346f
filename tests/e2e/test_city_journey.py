"""A city of two districts in a real browser: the city command centre sees both and switches; a captain sees one."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import start_app
from journeys import choose, sign_in, wait_idle

from cli import main
from tests.conftest import DEMO_END

MAP_FRAME = "iframe[title='streamlit_folium.st_folium']"


@pytest.fixture
def city_url(demo_incidents_sqlite_url, tmp_path) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """The demo store with Xiuzhou seeded beside Nanhu (``gridpatrol demo --district 330411``), served."""
    dest = tmp_path / "city.sqlite"
    shutil.copy(Path(demo_incidents_sqlite_url.removeprefix("sqlite:///")), dest)
    db = f"sqlite:///{dest}"
    assert main(["demo", "--db", db, "--district", "330411", "--incidents", "300", "--end", DEMO_END]) == 0
    proc, url = start_app(db)
    yield url
    proc.terminate()
    proc.wait(timeout=20)


def _feed_numbers(page) -> str:  # type: ignore[no-untyped-def]
    feed = page.locator("[data-testid=stDataFrame]").filter(has_text="编号").first
    feed.wait_for(timeout=30_000)
    return feed.text_content() or ""  # the grid's cells are in its accessible table, not painted text


def test_the_city_command_centre_sees_both_districts_and_switches_to_xiuzhou(page, city_url):
    sign_in(page, city_url, "command")
    page.get_by_text("全市 2 个辖区").wait_for(timeout=60_000)
    city = page.locator("[data-testid=stDataFrame]").first
    city.wait_for(timeout=30_000)
    wait_idle(page, 60_000)
    assert "NH-" in _feed_numbers(page)
    choose(page, "辖区", "秀洲区")
    wait_idle(page, 60_000)
    page.wait_for_function(
        """() => [...document.querySelectorAll('[data-testid=stDataFrame]')]
                 .some(d => d.textContent.includes('XZ-'))""",
        timeout=60_000,
    )
    page.get_by_role("link", name="辖区总览").click()
    page.get_by_text("秀洲区").first.wait_for(timeout=30_000)
    wait_idle(page, 60_000)
    # Xiuzhou's 9 townships and 170 villages are drawn, offline
    page.wait_for_function(
        f"""() => [...document.querySelectorAll("{MAP_FRAME}")].some(f => f.contentDocument &&
              f.contentDocument.querySelectorAll('path.leaflet-interactive').length >= 9 + 170)""",
        timeout=60_000,
    )
    assert page.external_requests == []


def test_a_nanhu_captain_in_the_city_store_has_no_district_to_pick_and_sees_nanhu(page, city_url):
    sign_in(page, city_url, "captain-330402008")
    page.get_by_role("heading", name="网格调度：解放街道").wait_for(timeout=60_000)
    wait_idle(page, 60_000)
    assert page.locator("[data-testid=stSidebar] [data-testid=stSelectbox]").count() == 0
    assert "XZ-" not in page.content()
