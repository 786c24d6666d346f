"""Page addresses: a bookmark opens after sign-in; another role's page says so in Chinese."""

from __future__ import annotations


def _settled(page) -> None:  # type: ignore[no-untyped-def]
    page.wait_for_timeout(800)
    page.locator("[data-testid=stStatusWidget]").wait_for(state="hidden", timeout=30_000)
    page.wait_for_timeout(800)


def test_a_bookmarked_page_asks_to_sign_in_there_and_opens_once_signed_in(page, app_url):
    page.goto(f"{app_url}/execution", wait_until="networkidle")
    _settled(page)
    assert page.get_by_text("Page not found").count() == 0
    page.get_by_label("用户名").fill("inspector-1")
    page.get_by_label("密码").fill("gridpatrol-demo")
    page.get_by_role("button", name="登录").click()
    page.get_by_role("heading", name="巡查执行").first.wait_for(timeout=30_000)
    assert page.url.endswith("/execution")
    assert page.get_by_text("Page not found").count() == 0


def test_a_page_of_another_role_says_so_in_chinese_and_links_to_the_users_own_pages(page, app_url):
    page.goto(app_url, wait_until="networkidle")
    page.get_by_label("用户名").fill("captain-330402008")
    page.get_by_label("密码").fill("gridpatrol-demo")
    page.get_by_role("button", name="登录").click()
    page.get_by_role("heading", name="网格调度").first.wait_for(timeout=30_000)
    page.goto(f"{app_url}/hotspots", wait_until="networkidle")  # a new tab: signs in again
    _settled(page)
    page.get_by_label("用户名").fill("captain-330402008")
    page.get_by_label("密码").fill("gridpatrol-demo")
    page.get_by_role("button", name="登录").click()
    page.get_by_text("此页面不在“中队长/网格长”的职责范围内").wait_for(timeout=30_000)
    assert page.get_by_text("Page not found").count() == 0
    page.get_by_role("link", name="网格调度").last.click()
    page.get_by_role("heading", name="网格调度").first.wait_for(timeout=30_000)
