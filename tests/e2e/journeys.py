"""Helpers for driving the Streamlit UI in the browser tests."""

from __future__ import annotations

import re


def choose(page, label: str, option: str | None) -> None:  # type: ignore[no-untyped-def]
    """Pick an option of the Streamlit selectbox with this label."""
    box = page.locator("[data-testid=stSelectbox]").filter(has_text=label).first
    box.click()
    if option is None:
        page.get_by_role("option").first.click()
    else:
        page.get_by_role("option", name=option, exact=True).click()
    page.wait_for_timeout(500)


def wait_idle(page, timeout_ms: int = 30_000) -> None:  # type: ignore[no-untyped-def]
    """Wait until the app's script has finished its run (the running indicator is gone)."""
    page.wait_for_timeout(300)
    page.locator("[data-testid=stStatusWidget]").wait_for(state="hidden", timeout=timeout_ms)


def sign_in(page, url: str, username: str, password: str = "gridpatrol-demo") -> None:  # type: ignore[no-untyped-def]
    """Open the app and sign in as a demo user (see data/demo_users.py)."""
    page.goto(url, wait_until="networkidle")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(password)
    page.get_by_role("button", name="登录").click()
    page.wait_for_timeout(1500)


def type_coordinates(page, lat: str, lng: str) -> None:  # type: ignore[no-untyped-def]
    """Open the location picker's typed coordinates and enter a point.

    The page may still be running its script when the heading shows; a rerun then draws the
    expander closed again, so it is opened until its fields are visible.
    """
    page.get_by_role("button", name="提交上报").wait_for(timeout=30_000)  # the script has drawn the page
    field = page.get_by_label("纬度")
    for _ in range(5):
        if field.is_visible():
            break
        page.get_by_text("手动输入坐标").click()
        try:
            field.wait_for(state="visible", timeout=5_000)
        except Exception:  # closed again by a rerun: open it once more
            continue
    field.fill(lat)
    page.get_by_label("经度").fill(lng)


def open_incident(page, number: str) -> None:  # type: ignore[no-untyped-def]
    """Open an incident on 事件详情 by its number and wait for its heading."""
    page.get_by_role("link", name="事件详情").click()
    box = page.get_by_label("按编号打开")
    box.wait_for(timeout=30_000)
    box.fill(number)
    box.press("Enter")
    page.get_by_role("heading", name=re.compile(re.escape(number))).wait_for(timeout=30_000)
