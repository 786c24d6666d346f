"""用户管理 Users (admins): create users with a role and scope, disable them, reset passwords."""

from typing import Any

import pandas as pd
import streamlit as st

from app_pages.common import (
    data_table,
    district_code,
    districts,
    error_text,
    incident_service,
    labels,
    local_time,
    md_escape,
    reads,
    require_principal,
    tr,
    user_service,
)
from patrol.permissions import AccessDeniedError
from patrol.roles import ROLES, TEAM_ROLES

who = require_principal()
views = reads()
svc = user_service()
st.header(tr("users.header"))
try:
    users = svc.users(who, district_code())  # the district picked in the sidebar, and the city's
    locked = svc.locked_users(who)
except AccessDeniedError as exc:
    st.error(error_text(exc))
    st.stop()
if locked:
    st.warning(tr("users.locked", names=md_escape("、".join(locked))))
names = labels()
district_names = dict(districts())


def scope_of(u: Any) -> str:  # a user row
    if u.district_code and not (u.township_code or u.team_id is not None or u.department):
        return district_names.get(u.district_code, u.district_code)
    if len(district_names) > 1 and not (u.township_code or u.team_id is not None or u.department):
        return tr("users.scope_city")
    return names.scope(u.township_code, u.team_id, u.department)


data_table(
    pd.DataFrame(
        {
            tr("sign_in.username"): [u.username for u in users],
            tr("users.display_name"): [u.display_name for u in users],
            tr("app.role"): [tr(f"role.{u.role}") for u in users],
            tr("users.scope"): [scope_of(u) for u in users],
            tr("users.active"): [u.active for u in users],
            tr("users.updated"): [local_time(u.updated_at) for u in users],
        }
    ),
    hide_index=True,
    width="stretch",
    key="users_table",
)

townships = {t.code: t.name for t in views.townships()}
teams = {t.id: t.name for t in views.teams()}
departments = list(incident_service().catalog.departments)
st.subheader(tr("users.create"))
role = st.selectbox(tr("app.role"), ROLES, key="users_role", format_func=lambda r: tr(f"role.{r}"))
with st.form("users_create_form"):
    username = st.text_input(tr("sign_in.username"), key="users_new_name", max_chars=80)
    display = st.text_input(tr("users.display_name"), key="users_new_display", max_chars=80)
    password = st.text_input(tr("sign_in.password"), type="password", key="users_new_password", max_chars=200)
    scope: dict[str, object] = {}
    if role == "captain":
        scope["township_code"] = st.selectbox(tr("app.township"), list(townships), format_func=townships.get)
    elif role in TEAM_ROLES:
        scope["team_id"] = st.selectbox(tr("app.team"), list(teams), format_func=teams.get)
    elif role == "liaison":
        scope["department"] = st.selectbox(tr("ji.department"), departments)
    if (
        role not in ("captain", *TEAM_ROLES) and len(district_names) > 1
    ):  # a city's store: one district or all
        scope["district_code"] = st.selectbox(
            tr("app.district"),
            [None, *district_names],
            key="users_new_district",
            format_func=lambda c: tr("users.scope_city") if c is None else district_names[c],
        )
    if st.form_submit_button(tr("users.create")):
        try:
            svc.create(who, username.strip(), password, role, display_name=display.strip(), **scope)  # type: ignore[arg-type]
            st.success(tr("users.created", name=md_escape(username.strip())))
        except (ValueError, AccessDeniedError) as exc:
            st.error(error_text(exc))

st.subheader(tr("users.change"))
names = [u.username for u in users]
if names:
    target = st.selectbox(tr("sign_in.username"), names, key="users_target")
    current = next(u for u in users if u.username == target)
    c = st.columns(2)
    label = tr("users.disable") if current.active else tr("users.enable")
    if c[0].button(label, key="users_toggle", disabled=target == who.name):
        svc.update(who, target, active=not current.active)
        st.rerun()
    if target.lower() in locked and c[0].button(tr("users.unlock"), key="users_unlock"):
        svc.unlock(who, target)
        st.success(tr("users.unlocked", name=md_escape(target)))
        st.rerun()
    with c[1].form("users_password_form"):
        new = st.text_input(tr("users.new_password"), type="password", key="users_reset", max_chars=200)
        if st.form_submit_button(tr("users.reset")):
            try:
                svc.set_password(who, target, new)
                st.success(tr("users.password_set", name=md_escape(target)))
            except (ValueError, AccessDeniedError) as exc:
                st.error(error_text(exc))
