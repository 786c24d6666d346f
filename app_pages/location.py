"""Where the user stands: the phone's position, a point picked on the map, or typed coordinates.

One picker for every page that asks for a place (the report form, the patrol check-in), laid
out for a phone: "use my location" first, then the map, then the coordinates to correct by
hand. The position comes from the browser's geolocation through a Streamlit (v2) component
that runs in the page itself: no iframe, no CDN, so it works on an intranet.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import streamlit as st

from app_pages.common import (
    tr,
)
from app_pages.maps import show_map
from geo.crs import CRS_NAMES, to_wgs84
from layers.base import Basemap
from layers.incidents import MarkerData, marker_layer

_PIN = (
    '<svg viewBox="0 0 24 24" width="20" height="20" aria-hidden="true"><path fill="currentColor" '
    'd="M12 2a7 7 0 0 0-7 7c0 5.25 7 13 7 13s7-7.75 7-13a7 7 0 0 0-7-7zm0 9.5A2.5 2.5 0 1 1 12 6.5a2.5 '
    '2.5 0 0 1 0 5z"/></svg>'
)
_LOCATE_HTML = f'<button type="button" class="gp-locate">{_PIN}<span></span></button>'
_LOCATE_CSS = """
.gp-locate { display: flex; align-items: center; justify-content: center; gap: .4rem;
  width: 100%; min-height: 2.75rem; padding: .4rem .8rem; font: inherit; cursor: pointer;
  color: var(--st-text-color); background: var(--st-background-color);
  border: 1px solid var(--st-border-color, rgba(49, 51, 63, .2)); border-radius: .5rem; }
.gp-locate:hover { border-color: var(--st-primary-color); color: var(--st-primary-color); }
.gp-locate:disabled { opacity: .6; cursor: progress; }
"""
# The browser asks the user's permission on the first press; a refusal or a timeout is sent
# back as an error code (1 denied, 2 unavailable, 3 timeout, 0 no geolocation at all).
_LOCATE_JS = """
export default function (component) {
  const { data, setTriggerValue, parentElement } = component;
  const button = parentElement.querySelector('.gp-locate');
  const text = button.querySelector('span');
  text.textContent = data.label;
  button.onclick = () => {
    if (!navigator.geolocation) { setTriggerValue('located', { error: 0 }); return; }
    button.disabled = true;
    text.textContent = data.busy;
    const done = (value) => {
      button.disabled = false;
      text.textContent = data.label;
      setTriggerValue('located', value);
    };
    navigator.geolocation.getCurrentPosition(
      (p) => done({ lat: p.coords.latitude, lng: p.coords.longitude, accuracy: p.coords.accuracy }),
      (e) => done({ error: e.code }),
      { enableHighAccuracy: true, timeout: 20000, maximumAge: 30000 },
    );
  };
}
"""
_locate = st.components.v2.component("gp_locate", html=_LOCATE_HTML, css=_LOCATE_CSS, js=_LOCATE_JS)


@dataclass(frozen=True)
class Picked:
    """The point chosen, in the coordinate system ``crs`` (None until one is chosen)."""

    lat: float | None
    lng: float | None
    crs: str

    @property
    def chosen(self) -> bool:
        return self.lat is not None and self.lng is not None

    @property
    def point(self) -> tuple[float, float]:
        """``(lat, lng)``; only once a point is chosen (buttons that use it wait for ``chosen``)."""
        if self.lat is None or self.lng is None:
            msg = "no point chosen yet"
            raise LookupError(msg)
        return float(self.lat), float(self.lng)

    def mark(self, m: Any, label: str, basemap: Basemap) -> None:
        """Put a marker on ``m`` where the point is (nothing if none is chosen yet)."""
        if self.lat is None or self.lng is None:
            return
        w_lat, w_lng = to_wgs84(self.lat, self.lng, self.crs)
        marker_layer(
            [MarkerData("picked", float(w_lat), float(w_lng), "discovered", label, "")],
            name=label,
            basemap=basemap,
        ).add_to(m)


def _locate_button(prefix: str) -> None:
    """The "use my location" button; a position received fills the coordinates (WGS-84)."""
    result = _locate(
        key=f"{prefix}_locate",
        data={"label": tr("loc.use_mine"), "busy": tr("loc.locating")},
        on_located_change=lambda: None,
    )
    got: Any = result.located if result is not None else None
    if not isinstance(got, dict):
        return
    if "error" in got:
        st.session_state[f"{prefix}_loc_msg"] = ("error", tr(f"loc.error_{int(got['error'])}"))
        return
    st.session_state[f"{prefix}_lat"] = round(float(got["lat"]), 6)
    st.session_state[f"{prefix}_lng"] = round(float(got["lng"]), 6)
    st.session_state[f"{prefix}_crs"] = "wgs84"  # what every browser reports
    st.session_state[f"{prefix}_loc_msg"] = (
        "ok",
        tr("loc.located", m=round(float(got.get("accuracy") or 0))),
    )


def _apply_map_click(prefix: str, display_crs: str) -> None:
    """A new click on the map picks that point (an old one does not undo what was typed since)."""
    clicked = (st.session_state.get(f"{prefix}_map") or {}).get("last_clicked")
    if not clicked:
        return
    point = (round(float(clicked["lat"]), 6), round(float(clicked["lng"]), 6))
    if st.session_state.get(f"{prefix}_click_seen") == point:
        return
    st.session_state[f"{prefix}_click_seen"] = point
    st.session_state[f"{prefix}_lat"], st.session_state[f"{prefix}_lng"] = point
    st.session_state[f"{prefix}_crs"] = display_crs
    st.session_state.pop(f"{prefix}_loc_msg", None)


def pick_location(
    prefix: str,
    draw: Callable[[Picked], Any],
    *,
    display_crs: str,
    height: int = 380,
) -> Picked:
    """Ask for a place: "use my location", the map (``draw`` builds it around the point), the inputs.

    Widget keys start with ``prefix`` (``{prefix}_lat``, ``_lng``, ``_crs``, ``_map``), so a
    page can preset or clear them.
    """
    st.session_state.setdefault(f"{prefix}_lat", None)
    st.session_state.setdefault(f"{prefix}_lng", None)
    st.session_state.setdefault(f"{prefix}_crs", "wgs84")
    _apply_map_click(prefix, display_crs)
    _locate_button(prefix)
    if msg := st.session_state.get(f"{prefix}_loc_msg"):
        (st.caption if msg[0] == "ok" else st.warning)(msg[1])
    else:
        st.caption(tr("loc.pick"))
    now = Picked(
        st.session_state[f"{prefix}_lat"],
        st.session_state[f"{prefix}_lng"],
        st.session_state[f"{prefix}_crs"],
    )
    show_map(draw(now), f"{prefix}_map", height=height, returned_objects=("last_clicked",))
    with st.expander(tr("loc.by_hand"), expanded=False):
        lat = st.number_input(
            tr("report.lat"), min_value=-90.0, max_value=90.0, format="%.6f", key=f"{prefix}_lat"
        )
        lng = st.number_input(
            tr("report.lng"), min_value=-180.0, max_value=180.0, format="%.6f", key=f"{prefix}_lng"
        )
        crs = st.selectbox(
            tr("report.crs"), CRS_NAMES, key=f"{prefix}_crs", format_func=lambda c: tr(f"crs.{c}")
        )
    return Picked(lat, lng, crs)
