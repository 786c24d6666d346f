import streamlit as st

from app_pages.common import get_store, session_minutes, tr
from patrol.users import AuthError, UserService

st.title(tr("app.title"))
st.caption(tr("app.subtitle"))
users = UserService(get_store())
if reason := st.session_state.pop("sign_in_reason", None):
    st.warning(tr(reason, minutes=session_minutes()))
if not users.has_users():
    st.info(tr("sign_in.no_users"))
    st.code("gridpatrol create-user admin --role admin", language="sh")
    st.stop()


def _oidc_configured() -> bool:
    """Whether an OIDC provider is configured for st.login ([auth] in .streamlit/secrets.toml)."""
    try:
        return "auth" in st.secrets
    except Exception:  # no secrets file at all
        return False


if _oidc_configured():
    if st.user.is_logged_in:
        try:
            who = users.authenticate_external(st.user.get("email"))
        except AuthError:
            st.error(tr("sign_in.oidc_refused", email=str(st.user.get("email") or "")))
            st.button(tr("app.sign_out"), key="sign_in_oidc_logout", on_click=st.logout)
        else:
            st.session_state["principal"] = who
            st.session_state["display_name"] = str(st.user.get("name") or who.name)
            st.rerun()
    else:
        st.button(tr("sign_in.oidc"), key="sign_in_oidc", on_click=st.login, type="primary")
    st.divider()
district = users.store.district()
if district is not None and district.is_demo:
    st.caption(tr("sign_in.demo_hint"))
with st.form("sign_in_form"):
    username = st.text_input(tr("sign_in.username"), key="sign_in_username", max_chars=80)
    password = st.text_input(tr("sign_in.password"), type="password", key="sign_in_password", max_chars=200)
    submitted = st.form_submit_button(tr("app.sign_in"), type="primary")
if submitted:
    try:
        who = users.authenticate(username.strip(), password)
    except AuthError:
        st.error(tr("sign_in.failed"))
    else:
        st.session_state["principal"] = who
        user = users.store.get_user(who.name)
        st.session_state["display_name"] = user.display_name if user else who.name
        st.rerun()
