import streamlit as st

from app_pages.common import get_store, tr
from patrol.roles import ROLES, Principal

st.title(tr("app.title"))
st.caption(tr("app.subtitle"))
store = get_store()
townships = store.townships()
teams = store.teams()
names = {tw.code: tw.name for tw in townships}

role = st.selectbox(tr("app.role"), ROLES, key="sign_in_role", format_func=lambda r: tr(f"role.{r}"))
township = team = None
if role == "captain":
    township = st.selectbox(
        tr("app.township"),
        [tw.code for tw in townships],
        key="sign_in_township",
        format_func=lambda c: names.get(c, c),
    )
if role == "inspector":
    team = st.selectbox(
        tr("app.team"),
        [tm.id for tm in teams],
        key="sign_in_team",
        format_func=lambda i: next(tm.name for tm in teams if tm.id == i),
    )
disabled = (role == "captain" and township is None) or (role == "inspector" and team is None)
if st.button(tr("app.sign_in"), key="sign_in_submit", type="primary", disabled=disabled):
    st.session_state["principal"] = Principal(
        name=tr(f"role.{role}"), role=role, township_code=township, team_id=team
    )
    st.rerun()
