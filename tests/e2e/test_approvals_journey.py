"""Approvals and callbacks in a real browser: a captain asks for a deferral and the duty chief of
the command centre approves it; a dissatisfied callback reopens a closed hotline case."""

from __future__ import annotations

import re

from journeys import open_incident, sign_in

from patrol.incidents import IncidentService, NewIncident
from patrol.roles import Principal
from store import open_store
from store.rows import IncidentQuery

TOWNSHIP = "330402008"
DUTY = Principal("值班员", "command_center")


def _being_handled(url: str) -> str:
    """A new hotline report in the captain's township, assessed and dispatched; its number."""
    store = open_store(url)
    svc = IncidentService(store)
    inc = svc.report(
        DUTY, NewIncident("PARK_COMPOUND", 30.7600, 120.7500, "hotline_12345", "小区消防通道停车")
    ).incident
    assert inc.township_code == TOWNSHIP
    inc = svc.act(DUTY, inc.id, "assess", expected_version=inc.version)
    inc = svc.act(
        DUTY, inc.id, "dispatch", expected_version=inc.version, team_id=inc.team_id, outcome="simple"
    )
    store.close()
    return inc.number


def _act(page, tab: str):  # type: ignore[no-untyped-def]
    """Open an action's tab; its panel, whose form's button bears the action's name."""
    page.get_by_role("tab", name=tab).click()
    return page.locator('[role="tabpanel"]:visible')


def test_a_captain_asks_for_a_deferral_and_the_duty_chief_approves_it(
    browser, page, app_url, incidents_sqlite_url
):
    number = _being_handled(incidents_sqlite_url)
    sign_in(page, app_url, f"captain-{TOWNSHIP}")
    open_incident(page, number)
    panel = _act(page, "申请延期/挂账")
    panel.get_by_label("理由").fill("当事人申请整改期")
    panel.get_by_role("button", name="申请延期/挂账").click()
    page.get_by_text("待审批申请").wait_for(timeout=30_000)
    assert page.get_by_role("tab", name="批准申请").count() == 0  # the township never grants its own deferral

    store = open_store(incidents_sqlite_url)
    asked = store.find_incident(number)
    assert asked is not None and asked.request is not None and asked.deferral_count == 0

    context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="zh-CN")
    chief = context.new_page()
    try:
        sign_in(chief, app_url, "command")
        open_incident(chief, number)
        chief.get_by_text("当事人申请整改期").first.wait_for(timeout=30_000)  # what is asked, and why
        panel = _act(chief, "批准申请")
        panel.get_by_role("button", name="批准申请").click()
        chief.get_by_text("待审批申请").wait_for(state="detached", timeout=30_000)  # decided
        chief.get_by_role("tab", name="批准申请").wait_for(state="detached", timeout=30_000)
        chief.screenshot(path="test-artifacts/approval_granted.png", full_page=True)
    finally:
        context.close()
    granted = store.find_incident(number)
    events = store.events(granted.id)
    store.close()
    assert granted.request is None and granted.deferral_count == 1 and granted.due_at > asked.due_at
    assert [(e.action, e.actor) for e in events[-2:]] == [
        ("request", f"captain-{TOWNSHIP}"),
        ("approve", "command"),
    ]


def test_a_dissatisfied_callback_reopens_a_closed_hotline_case(page, app_url, incidents_sqlite_url):
    store = open_store(incidents_sqlite_url)
    closed = next(
        r
        for r in store.list_incidents(
            IncidentQuery(states=("closed",), sources=("hotline_12345",), limit=300)
        )
        if r.callback_count == 0
    )
    sign_in(page, app_url, "command")
    open_incident(page, closed.number)
    panel = _act(page, "回访")
    panel.get_by_text("不满意（重新办理）").click()
    panel.get_by_role("button", name="回访").click()
    page.get_by_role("heading", name=re.compile(re.escape(closed.number) + r".*处置中")).wait_for(
        timeout=30_000
    )
    after = store.find_incident(closed.number)
    events = store.events(closed.id)
    store.close()
    assert (after.state, after.satisfaction, after.rework_count) == (
        "handling",
        "dissatisfied",
        closed.rework_count + 1,
    )
    assert events[-1].action == "callback" and events[-1].actor == "command"
    assert page.external_requests == []


def test_a_department_returns_a_handover_and_the_command_centre_rules_on_the_dispute(
    browser, page, app_url, incidents_sqlite_url
):
    store = open_store(incidents_sqlite_url)
    svc = IncidentService(store)
    inc = svc.report(
        DUTY, NewIncident("FOOD_SAFETY", 30.7600, 120.7500, "hotline_12345", "售卖过期食品")
    ).incident
    captain = Principal(f"captain-{TOWNSHIP}", "captain", township_code=TOWNSHIP)
    inc = svc.act(DUTY, inc.id, "assess", expected_version=inc.version)
    inc = svc.act(captain, inc.id, "handover", expected_version=inc.version, department="scjg")

    sign_in(page, app_url, "liaison-scjg")  # lands on 移交与会商: the handover waits there
    page.get_by_role("button", name=re.compile(re.escape(inc.number))).click()
    page.get_by_role("heading", name=re.compile(re.escape(inc.number) + r".*已移交待接收")).wait_for(
        timeout=30_000
    )
    page.get_by_text("须在").first.wait_for(timeout=30_000)  # by when the department must answer
    panel = _act(page, "退回")
    panel.get_by_label("理由").fill("经核查属乡镇综合执法事项")
    panel.get_by_role("button", name="退回").click()
    page.get_by_role("heading", name=re.compile(re.escape(inc.number) + r".*部门退回")).wait_for(
        timeout=30_000
    )

    returned = svc.get(DUTY, inc.id)
    svc.act(captain, inc.id, "dispute", expected_version=returned.version, reason="属部门专业执法事项")

    context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="zh-CN")
    chief = context.new_page()
    try:
        sign_in(chief, app_url, "command")
        open_incident(chief, inc.number)
        panel = _act(chief, "争议裁定")
        ruling = panel.get_by_role("combobox")
        ruling.wait_for(timeout=30_000)
        assert ruling.input_value() == "由部门办理"  # the ruling offered first
        panel.get_by_role("button", name="争议裁定").click()
        chief.get_by_role("heading", name=re.compile(re.escape(inc.number) + r".*已移交部门办理")).wait_for(
            timeout=30_000
        )
        chief.screenshot(path="test-artifacts/dispute_ruled.png", full_page=True)
    finally:
        context.close()
    events = svc.timeline(DUTY, inc.id)
    store.close()
    assert [(e.action.value, e.role) for e in events[-4:]] == [
        ("handover", "captain"),
        ("return", "liaison"),
        ("dispute", "captain"),
        ("rule", "command_center"),
    ]
    assert events[-1].payload["decision"] == "department"
