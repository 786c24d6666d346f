"""An admin imports a ledger in the browser: columns guessed, labels mapped, reasons in Chinese."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest
from conftest import start_app
from journeys import sign_in
from playwright.sync_api import expect

ROWS = [
    # 工单编号, 上报时间, 纬度, 经度, 问题类型, 来源渠道, 诉求内容
    ("GD-1", "2026-11-20 08:30", "30.7552", "120.7601", "小区乱停车", "12345 热线", "小区门口乱停车"),
    ("GD-2", "2026-11-20 09:10", "30.7552", "120.7601", "流动摊贩", "网格员上报", "路口摆摊"),
    ("GD-3", "2026-11-20 09:40", "30.7552", "120.7601", "流动摊贩", "巡查发现", "又来摆摊"),
    ("GD-4", "2026-11-20 10:00", "", "120.7601", "小区乱停车", "12345 热线", "没有纬度"),
    ("GD-5", "2026-11-20 10:30", "30.7552", "120.7601", "飞碟降落", "12345 热线", "无法识别"),
]


def _settle(page) -> None:  # type: ignore[no-untyped-def]
    page.wait_for_timeout(600)
    page.locator("[data-testid=stStatusWidget]").wait_for(state="hidden", timeout=30_000)


@pytest.fixture
def import_app(incidents_sqlite_url: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    proc, url = start_app(incidents_sqlite_url, GRIDPATROL_UPLOAD_DIR=str(uploads))
    yield url, uploads
    proc.terminate()
    proc.wait(timeout=20)


def test_an_admin_imports_a_chinese_ledger_mapping_an_unknown_label_and_reads_the_reasons_in_chinese(
    import_app, page, tmp_path
):
    app_url, uploads = import_app
    ledger = tmp_path / "台账.csv"
    with ledger.open("w", encoding="utf-8-sig", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["工单编号", "上报时间", "纬度", "经度", "问题类型", "来源渠道", "诉求内容"])
        w.writerows(ROWS)
    sign_in(page, app_url, "admin")
    page.get_by_role("tab", name="事件导入").click()
    page.locator("[data-testid=stFileUploaderDropzoneInput]").last.set_input_files(str(ledger))
    page.get_by_text("列对应").first.wait_for(timeout=30_000)
    _settle(page)

    # every column guessed from its Chinese name
    def chosen(label: str) -> str:
        box = page.locator("[data-testid=stSelectbox]").filter(has_text=label).first
        return box.locator("input").input_value()

    assert [chosen(x) for x in ("编号列", "时间列", "纬度列", "经度列", "事项列", "来源列", "描述列")] == [
        "工单编号", "上报时间", "纬度", "经度", "问题类型", "来源渠道", "诉求内容",
    ]  # fmt: skip
    start = page.get_by_role("button", name="开始导入")
    expect(start).to_be_enabled(timeout=30_000)

    # the app's own source label is known; the ledger's own words are asked for
    page.get_by_text("标签对应").first.wait_for()
    page.get_by_text("事项“流动摊贩”（2 行）").wait_for(timeout=30_000)
    page.get_by_text("来源“网格员上报”（1 行）").wait_for(timeout=30_000)
    assert page.get_by_text("来源“12345 热线”").count() == 0
    page.get_by_text(re.compile("3 行将因事项或来源无法识别而被拒收")).wait_for(timeout=30_000)

    # a required column left out: the start button waits, and says which
    page.locator("[data-testid=stSelectbox]").filter(has_text="纬度列").first.click()
    page.get_by_role("option", name="（无此列）").click()
    _settle(page)
    page.get_by_text("还需为这些项选择列：纬度列").wait_for(timeout=30_000)
    expect(start).to_be_disabled(timeout=30_000)
    page.locator("[data-testid=stSelectbox]").filter(has_text="纬度列").first.click()
    page.get_by_role("option", name="纬度", exact=True).click()
    _settle(page)

    item_box = page.locator("[data-testid=stSelectbox]").filter(has_text="事项“流动摊贩”").first
    item_box.click()
    item_box.locator("input").fill("占道")  # a long list: typed to find
    page.get_by_role("option", name="占道经营", exact=True).click()
    _settle(page)
    page.locator("[data-testid=stSelectbox]").filter(has_text="来源“网格员上报”").first.click()
    page.get_by_role("option", name="巡查发现", exact=True).click()
    _settle(page)
    page.get_by_text(re.compile("1 行将因事项或来源无法识别而被拒收")).wait_for(timeout=30_000)

    start.click()
    page.get_by_text(re.compile(r"导入 3 件，拒绝 2 行")).wait_for(timeout=60_000)
    reasons = page.locator("[data-testid=stTable]").filter(has_text="原因").first.inner_text()
    assert "缺少经纬度或经纬度不是数字" in reasons and "执法事项无法识别" in reasons
    page.get_by_role("button", name="下载被拒绝的行").wait_for(timeout=30_000)
    assert page.external_requests == []
    assert [p.name for p in uploads.iterdir()] == []  # read, imported, removed
