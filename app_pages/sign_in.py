import streamlit as st

from app_pages.common import client_address, md_escape, session_minutes, tr, user_service
from patrol.users import AuthError, ThrottledError

st.title(tr("app.title"))
st.caption(tr("app.subtitle"))
users = user_service()
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
            st.error(tr("sign_in.oidc_refused", email=md_escape(st.user.get("email") or "")))
            st.button(tr("app.sign_out"), key="sign_in_oidc_logout", on_click=st.logout)
        else:
            st.session_state["principal"] = who
            st.session_state["display_name"] = str(st.user.get("name") or who.name)
            st.rerun()
    else:
        st.button(tr("sign_in.oidc"), key="sign_in_oidc", on_click=st.login, type="primary")
    st.divider()
if users.is_demo_store():
    st.caption(tr("sign_in.demo_hint"))
with st.form("sign_in_form"):
    username = st.text_input(tr("sign_in.username"), key="sign_in_username", max_chars=80)
    password = st.text_input(tr("sign_in.password"), type="password", key="sign_in_password", max_chars=200)
    submitted = st.form_submit_button(tr("app.sign_in"), type="primary")
if submitted:
    try:
        who = users.authenticate(username.strip(), password, client_address())
    except ThrottledError as exc:
        st.error(tr("sign_in.locked") if exc.locked else tr("sign_in.throttled", seconds=exc.wait_s))
    except AuthError:
        st.error(tr("sign_in.failed"))
    else:
        st.session_state["principal"] = who
        st.session_state["display_name"] = users.display_name(who.name)
        st.rerun()
