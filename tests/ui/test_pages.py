"""AppTest for every page and role."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from patrol.roles import ROLES, Principal

APP = str(Path(__file__).resolve().parents[2] / "streamlit_app.py")

TIMEOUT_S = 60


@pytest.fixture
def app(demo_sqlite_url, monkeypatch) -> AppTest:
    monkeypatch.setenv("GRIDPATROL_DB", demo_sqlite_url)
    return AppTest.from_file(APP, default_timeout=TIMEOUT_S)


def _principal(role: str) -> Principal:
    if role == "captain":
        return Principal("captain", "captain", township_code="330402001")
    if role == "inspector":
        return Principal("inspector", "inspector", team_id=1)
    return Principal(role, role)  # type: ignore[arg-type]


def test_the_sign_in_page_offers_every_role(app):
    app.run()
    assert not app.exception
    assert app.selectbox(key="sign_in_role").options == [
        "指挥中心",
        "中队长/网格长",
        "执法队员/网格员",
        "规划研判",
        "系统管理员",
    ]


def test_signing_in_as_a_captain_asks_for_the_township_and_opens_the_overview(app):
    app.run()
    app.selectbox(key="sign_in_role").set_value("captain").run()
    assert len(app.selectbox(key="sign_in_township").options) == 13
    app.button(key="sign_in_submit").click().run()
    assert not app.exception
    assert app.session_state["principal"].role == "captain"
    assert app.selectbox(key="overview_township").value == app.session_state["principal"].township_code


@pytest.mark.parametrize("role", ROLES)
def test_the_overview_page_renders_for_every_role(app, role):
    app.session_state["principal"] = _principal(role)
    app.run()
    assert not app.exception
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["乡镇/街道"] == "13"
    assert any("演示数据" in c.value for c in app.caption)


def test_the_overview_switches_to_english(app):
    app.session_state["principal"] = _principal("command_center")
    app.run()
    app.radio(key="lang").set_value("en").run()
    assert not app.exception
    assert app.header[0].value.startswith("District overview")


def test_an_empty_store_says_how_to_load_a_district(sqlite_url, monkeypatch):
    monkeypatch.setenv("GRIDPATROL_DB", sqlite_url)
    at = AppTest.from_file(APP, default_timeout=TIMEOUT_S)
    at.session_state["principal"] = _principal("command_center")
    at.run()
    assert not at.exception
    assert "gridpatrol demo" in at.info[0].value
