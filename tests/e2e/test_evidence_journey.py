"""Evidence in a real browser: a captain photographs the result and attaches it on the incident page;
the duty chief, verifying, sees the photo; a file that only pretends to be a photo is refused in words."""

from __future__ import annotations

import re

from journeys import open_incident, sign_in

from patrol.incidents import IncidentService, NewIncident
from patrol.roles import Principal
from store import open_store
from tests.conftest import picture

TOWNSHIP = "330402008"
DUTY = Principal("值班员", "command_center")


def _being_handled(url: str) -> str:
    store = open_store(url)
    svc = IncidentService(store)
    inc = svc.report(DUTY, NewIncident("CLUTTER", 30.7600, 120.7500, "citizen", "楼道堆放杂物")).incident
    assert inc.township_code == TOWNSHIP
    inc = svc.act(DUTY, inc.id, "assess", expected_version=inc.version)
    inc = svc.act(
        DUTY, inc.id, "dispatch", expected_version=inc.version, team_id=inc.team_id, outcome="simple"
    )
    store.close()
    return inc.number


def test_a_captain_attaches_a_photo_of_the_result_and_the_duty_chief_sees_it(
    browser, page, app_url, incidents_sqlite_url, tmp_path
):
    number = _being_handled(incidents_sqlite_url)
    photo = tmp_path / "整改后.jpg"
    photo.write_bytes(picture("JPEG", (640, 480), "seagreen"))
    fake = tmp_path / "伪装.jpg"
    fake.write_bytes(b"MZ\x90\x00 not a photo at all" * 10)
    sign_in(page, app_url, f"captain-{TOWNSHIP}")
    open_incident(page, number)
    page.get_by_text("证据材料（0）").wait_for(timeout=30_000)
    page.get_by_text("添加证据材料").click()
    page.locator('input[type="file"]').last.set_input_files([str(photo), str(fake)])
    page.get_by_label("说明（可选）").fill("清理完毕")
    page.get_by_role("button", name="上传").click()
    page.get_by_text("不是 JPEG、PNG、WebP 照片或 PDF").wait_for(timeout=30_000)  # the fake, in words
    page.screenshot(path="test-artifacts/evidence_refused.png", full_page=True)
    store = open_store(incidents_sqlite_url)
    inc = store.find_incident(number)
    [kept] = store.evidence_of([inc.id])
    assert (kept.filename, kept.stage, kept.note) == ("整改后.jpg", "handling", "清理完毕")

    context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="zh-CN")
    chief = context.new_page()
    try:
        sign_in(chief, app_url, "command")
        open_incident(chief, number)
        chief.get_by_text("证据材料（1）").wait_for(timeout=30_000)
        chief.get_by_text(re.compile("处置（整改前后）.*清理完毕")).wait_for(timeout=30_000)
        image = chief.locator('[data-testid="stImage"] img').first
        image.wait_for(timeout=30_000)
        assert image.evaluate("img => img.naturalWidth") == 640  # the photo itself, loaded
        chief.screenshot(path="test-artifacts/evidence_seen.png", full_page=True)
    finally:
        context.close()
    store.close()
