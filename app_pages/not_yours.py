"""A page of another role, opened by its address: say so, and offer the user's own pages."""

import streamlit as st

from app_pages.common import require_principal, tr
from app_pages.navigation import PAGE_FILES, PAGES_BY_ROLE

who = require_principal()
st.warning(tr("app.not_your_page", role=tr(f"role.{who.role}")))
for p in PAGES_BY_ROLE[who.role]:
    st.page_link(PAGE_FILES[p][0], label=tr(PAGE_FILES[p][1]), icon=PAGE_FILES[p][2])
