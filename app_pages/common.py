"""What every page shares: the store, the language, the principal, cached area data."""

from __future__ import annotations

import os
from typing import Any

import streamlit as st

from layers.base import BASEMAP_KINDS, Basemap
from patrol.i18n import DEFAULT_LANG, Lang, t
from patrol.roles import Principal
from store import Store, StoreError, open_store, resolve_url

SESSION_DEFAULTS: dict[str, Any] = {"lang": DEFAULT_LANG, "principal": None}


def init_session() -> None:
    """Initialise the UI state, in this one place."""
    for key, value in SESSION_DEFAULTS.items():
        st.session_state.setdefault(key, value)


def lang() -> Lang:
    """The language chosen in this browser session."""
    value: Lang = st.session_state.get("lang", DEFAULT_LANG)
    return value


def tr(key: str, **values: object) -> str:
    """Translate a message key into the session's language."""
    return t(key, lang(), **values)


def principal() -> Principal | None:
    """The signed-in principal of this browser session, if any."""
    value: Principal | None = st.session_state.get("principal")
    return value


@st.cache_resource(show_spinner=False)
def _store(url: str) -> Store:
    store = open_store(url)
    store.migrate()
    return store


def get_store() -> Store:
    """The process-wide store (opened once per URL, shared by all sessions), or stop with a banner."""
    try:
        return _store(resolve_url())
    except StoreError as exc:
        st.error(tr("app.store_error", error=str(exc)))
        st.stop()
        raise  # unreachable: st.stop raises


@st.cache_data(show_spinner=False, ttl=300)
def area_data(store_url: str) -> dict[str, Any]:
    """District, townships, villages and teams as plain data (cached per store)."""
    from patrol.areas import area_overview

    return area_overview(_store(store_url))


def require_district() -> dict[str, Any]:
    """Area data of the store, or stop with a hint when no district is loaded."""
    store = get_store()
    data = area_data(store.url)
    if data["district"] is None:
        st.info(tr("app.no_district"))
        st.stop()
    if data["district"]["is_demo"]:
        st.caption("⚠️ " + tr("app.demo_notice"))
    return data


def basemap_from_env() -> Basemap:
    """The basemap from ``GRIDPATROL_BASEMAP`` (none|osm|amap|tianditu|custom).

    ``GRIDPATROL_TILE_URL`` gives the template of a custom (e.g. intranet) tile server,
    ``GRIDPATROL_TIANDITU_KEY`` the Tianditu key. Default: none, which works offline.
    """
    kind = os.environ.get("GRIDPATROL_BASEMAP", "none").strip().lower() or "none"
    if kind not in BASEMAP_KINDS:
        st.warning(f"GRIDPATROL_BASEMAP={kind!r}: {', '.join(BASEMAP_KINDS)}")
        kind = "none"
    return Basemap(
        kind=kind,  # type: ignore[arg-type]
        url=os.environ.get("GRIDPATROL_TILE_URL", ""),
        key=os.environ.get("GRIDPATROL_TIANDITU_KEY", ""),
    )
