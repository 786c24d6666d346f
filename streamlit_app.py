"""GridPatrol entry point: page config, sign-in, session expiry, language, navigation."""

from __future__ import annotations

import streamlit as st

from app_pages.common import (
    check_still_allowed,
    districts,
    init_session,
    md_escape,
    now_utc,
    principal,
    report_unexpected,
    sign_out,
    store_ok,
    store_unavailable,
    touch_session,
    tr,
)
from app_pages.navigation import PAGE_FILES, PAGES_BY_ROLE
from patrol.i18n import LANGS
from store import StoreError

st.set_page_config(page_title="GridPatrol 网格巡查", page_icon="🗺️", layout="wide")
init_session()
touch_session(now_utc())
try:
    check_still_allowed()
except StoreError as exc:
    store_unavailable(exc)

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
        name = st.session_state.get("display_name") or who.name
        st.caption(tr("app.signed_in_as", role=f"{md_escape(name)} · {tr(f'role.{who.role}')}"))
        if st.button(tr("app.sign_out"), key="sign_out"):
            sign_out()
            st.rerun()
        if who.district_code is None and len(held := districts()) > 1:
            # a city-wide user (市级指挥中心) picks the district every page shows; the choice stays
            names = dict(held)
            if st.session_state.get("district") not in names:
                st.session_state["district"] = held[0][0]
            st.selectbox(tr("app.district"), list(names), key="district", format_func=names.__getitem__)

who = principal()
# every page's address is known whoever is signed in (no English "Page not found"): before
# signing in a bookmarked page shows the sign-in form there, and opens once signed in; a page
# of another role says so and links to the user's own pages
mine = [] if who is None else PAGES_BY_ROLE[who.role]
stand_in = "app_pages/sign_in.py" if who is None else "app_pages/not_yours.py"
pages = [
    *(
        [st.Page(stand_in, title=tr("app.sign_in"), icon=":material/login:", default=True)]
        if who is None
        else []
    ),
    *(st.Page(PAGE_FILES[p][0], title=tr(PAGE_FILES[p][1]), icon=PAGE_FILES[p][2], url_path=p) for p in mine),
    *(
        st.Page(stand_in, title=tr(PAGE_FILES[p][1]), url_path=p, visibility="hidden")
        for p in PAGE_FILES
        if p not in mine
    ),
]
try:
    st.navigation(pages).run()
except StoreError as exc:  # the database went away mid-session: banner, backoff, nothing half-written
    store_unavailable(exc)
except Exception as exc:  # a bug: a short message and an error id here, the traceback in the log
    report_unexpected(exc)
else:
    store_ok()
