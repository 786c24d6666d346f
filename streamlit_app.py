"""GridPatrol entry point: page config, sign-in as a role, language, navigation."""

from __future__ import annotations

import streamlit as st

from app_pages.common import init_session, principal, tr
from patrol.i18n import LANGS

st.set_page_config(page_title="GridPatrol 网格巡查", page_icon="🗺️", layout="wide")
init_session()

with st.sidebar:
    st.radio(
        tr("app.language"),
        LANGS,
        key="lang",
        horizontal=True,
        format_func=lambda code: {"zh": "中文", "en": "English"}[code],
    )
    who = principal()
    if who is not None:
        st.caption(tr("app.signed_in_as", role=tr(f"role.{who.role}")))
        if st.button(tr("app.sign_out"), key="sign_out"):
            st.session_state["principal"] = None
            st.rerun()

# which pages each role sees; the services enforce the same limits on every call
PAGES_BY_ROLE = {
    "command_center": ["command", "incident", "dispatch", "overview"],
    "captain": ["dispatch", "incident", "report", "overview"],
    "inspector": ["report", "incident", "overview"],
    "planner": ["overview", "incident"],
    "admin": ["data", "overview", "incident"],
}
PAGE_FILES = {
    "command": ("app_pages/command.py", "page.command", ":material/monitor_heart:"),
    "dispatch": ("app_pages/dispatch.py", "page.dispatch", ":material/assignment_ind:"),
    "incident": ("app_pages/incident.py", "page.incident", ":material/description:"),
    "report": ("app_pages/report.py", "page.report", ":material/add_location_alt:"),
    "data": ("app_pages/data.py", "page.data", ":material/database:"),
    "overview": ("app_pages/overview.py", "page.overview", ":material/map:"),
}

who = principal()
if who is None:
    pages = [st.Page("app_pages/sign_in.py", title=tr("app.sign_in"), icon=":material/login:")]
else:
    pages = [
        st.Page(PAGE_FILES[p][0], title=tr(PAGE_FILES[p][1]), icon=PAGE_FILES[p][2], url_path=p)
        for p in PAGES_BY_ROLE[who.role]
    ]
st.navigation(pages).run()
