"""Helpers for driving the Streamlit UI in the browser tests."""

from __future__ import annotations


def choose(page, label: str, option: str | None) -> None:  # type: ignore[no-untyped-def]
    """Pick an option of the Streamlit selectbox with this label."""
    box = page.locator("[data-testid=stSelectbox]").filter(has_text=label).first
    box.click()
    if option is None:
        page.get_by_role("option").first.click()
    else:
        page.get_by_role("option", name=option, exact=True).click()
    page.wait_for_timeout(500)


def sign_in(page, url: str, username: str, password: str = "gridpatrol-demo") -> None:  # type: ignore[no-untyped-def]
    """Open the app and sign in as a demo user (see data/demo_users.py)."""
    page.goto(url, wait_until="networkidle")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(password)
    page.get_by_role("button", name="登录").click()
    page.wait_for_timeout(1500)
