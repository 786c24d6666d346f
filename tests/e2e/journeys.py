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


def sign_in(page, url: str, role: str, scope: tuple[str, str | None] | None = None) -> None:  # type: ignore[no-untyped-def]
    """Open the app and sign in as a role (and its township or team)."""
    page.goto(url, wait_until="networkidle")
    choose(page, "身份", role)
    if scope:
        choose(page, scope[0], scope[1])
    page.get_by_role("button", name="进入").click()
    page.wait_for_timeout(1500)
