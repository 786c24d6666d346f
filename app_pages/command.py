import time

import folium
import pandas as pd
import streamlit as st

from app_pages.common import (
    basemap_from_env,
    city_reads,
    data_table,
    districts,
    incident_buttons,
    incident_service,
    item_name,
    lang,
    local_time,
    now_utc,
    open_incident,
    reads,
    require_district,
    require_principal,
    state_name,
    tr,
    wall_screen_css,
)
from app_pages.maps import district_map, show_map
from geo.grid import cells_to_latlng, cells_to_parents
from layers.hexes import choose_resolution, hex_layer, resolution_for_zoom
from layers.incidents import heat_layer
from layers.legend import add_legend
from patrol.dashboard import OPEN, STATE_FILTERS, HeatFilter, Tiles
from patrol.incident import Source
from patrol.reads import Reads

WINDOWS = (1, 7, 30, 90, 365)
FEED_REFRESH_S = 30

data = require_district()
who = require_principal()
svc = incident_service()
views = reads()
catalog = svc.catalog

# a wall PC opens the page as .../command?wall=1 and stays in wall-screen mode
st.session_state.setdefault("cc_big", st.query_params.get("wall") == "1")
top = st.columns([4, 1], vertical_alignment="center")
big = top[1].toggle(tr("cc.big_screen"), key="cc_big")
held = dict(districts())
title = tr("cc.header") + (f" · {held[data.district.code]}" if len(held) > 1 else "")  # which district
if big:
    wall_screen_css()
    top[0].subheader(title)
else:
    top[0].header(title)

tw_names = {tw.code: tw.name for tw in data.townships}
with st.expander(tr("cc.filters"), expanded=not big):
    c = st.columns(3)
    days = c[0].selectbox(
        tr("cc.window"), WINDOWS, index=2, key="cc_days", format_func=lambda d: tr("cc.days", n=d)
    )
    theme = c[1].selectbox(
        tr("cc.theme"),
        [None, *catalog.themes],
        key="cc_theme",
        format_func=lambda t: (
            tr("cc.all")
            if t is None
            else (catalog.themes[t].name_zh if lang() == "zh" else catalog.themes[t].name_en)
        ),
    )
    items = c[2].multiselect(
        tr("cc.items"),
        list(catalog.items),
        key="cc_items",
        placeholder=tr("app.choose"),
        format_func=item_name,
    )
    c = st.columns(3)
    states = c[0].multiselect(
        tr("cc.states"),
        list(STATE_FILTERS),
        key="cc_states",
        placeholder=tr("app.choose"),
        format_func=lambda s: tr("cc.all_open") if s == "open" else state_name(s),
    )
    sources = c[1].multiselect(
        tr("cc.sources"),
        [s.value for s in Source],
        key="cc_sources",
        placeholder=tr("app.choose"),
        format_func=lambda s: tr(f"source.{s}"),
    )
    townships = c[2].multiselect(
        tr("cc.townships"),
        list(tw_names),
        key="cc_townships",
        placeholder=tr("app.choose"),
        format_func=tw_names.get,
    )

state_filter = (
    tuple(sorted({*(OPEN if "open" in states else ()), *(s for s in states if s != "open")})) or None
)
scope = tuple(townships) or None
heat_filter = HeatFilter(
    days=days,
    item_codes=tuple(items) or None,
    theme=theme,
    states=state_filter,
    sources=tuple(sources) or None,
    township_codes=scope,
)


SUPERVISION_EVERY_S = 300
ESCALATIONS_PER_RUN = 200  # a page never waits long: a backlog (a fresh import) is worked off run by run


@st.cache_data(ttl=FEED_REFRESH_S, show_spinner=False, max_entries=64)
def _tiles(url: str, townships: tuple[str, ...] | None, period: int, _views: Reads) -> Tiles:
    """A district's tiles of one refresh period (``url`` names it); a zoom in between reuses them."""
    return _views.kpi_tiles(now_utc(), townships)


@st.fragment(run_every=FEED_REFRESH_S)
def tiles_part() -> None:
    tiles = _tiles(views.url, scope, int(time.time() // FEED_REFRESH_S), views)
    cols = st.columns(5)
    cols[0].metric(tr("cc.open"), f"{tiles.open:,}")
    cols[1].metric(tr("cc.overdue"), f"{tiles.overdue:,}")
    cols[2].metric(tr("cc.alarm"), f"{tiles.awaiting_alarm:,}")
    cols[3].metric(
        tr("cc.median_response", n=tiles.window_days),
        "—" if tiles.median_response_min is None else tr("cc.minutes", n=round(tiles.median_response_min, 1)),
        help=tr("cc.tile_window_help", n=tiles.window_days),
    )
    cols[4].metric(
        tr("cc.on_time", n=tiles.window_days),
        "—" if tiles.on_time_rate is None else f"{tiles.on_time_rate:.1%}",
        help=tr("cc.tile_window_help", n=tiles.window_days),
    )


@st.cache_data(ttl=SUPERVISION_EVERY_S, show_spinner=False, max_entries=4)
def _escalate(url: str, period: int) -> list[str]:
    """督办 raised on overdue cases, at most once per period for the whole server (idempotent)."""
    return svc.escalate_overdue(limit=ESCALATIONS_PER_RUN)


@st.fragment(run_every=FEED_REFRESH_S)
def feed_part() -> None:
    now = now_utc()
    raised = _escalate(views.url, int(time.time() // SUPERVISION_EVERY_S))
    if raised:
        st.toast(tr("cc.supervised_now", n=len(raised), numbers="、".join(raised[:10])))
    newest, overdue = views.live_feed(now, scope)
    feed_cols = st.columns(2)
    for col, title, rows, key in (
        (feed_cols[0], tr("cc.feed_new"), newest, "cc_feed_new"),
        (feed_cols[1], tr("cc.feed_overdue"), overdue, "cc_feed_overdue"),
    ):
        col.subheader(title)
        frame = pd.DataFrame(
            {
                tr("col.number"): [r.number for r in rows],
                tr("col.time"): [local_time(r.reported_at) for r in rows],
                tr("col.item"): [item_name(r.item_code) for r in rows],
                tr("col.township"): [tw_names.get(r.township_code, r.township_code) for r in rows],
                tr("col.state"): [state_name(r.state) for r in rows],
                tr("col.due"): [local_time(r.due_at) for r in rows],
                tr("incident.supervision_level"): [
                    tr(f"supervision.{r.supervision_level}") if r.supervision_level else "" for r in rows
                ],
            }
        )
        event = data_table(
            frame,
            where=col,
            hide_index=True,
            width="stretch",
            key=key,
            on_select="rerun",
            selection_mode="single-row",
        )
        picked = event.selection.rows if event is not None else []
        if picked:
            open_incident(rows[picked[0]].id)
    st.caption(tr("cc.refreshed", time=local_time(now), s=FEED_REFRESH_S))


tiles_part()


city = city_reads()
if city and not big:  # the city command centre sees every district at a glance
    period = int(time.time() // FEED_REFRESH_S)
    city_tiles = [(name, _tiles(r.url, None, period, r)) for name, r in city]
    with st.expander(tr("cc.city", n=len(city)), expanded=True):
        data_table(
            pd.DataFrame(
                {
                    tr("app.district"): [name for name, _ in city_tiles],
                    tr("cc.open"): [t.open for _, t in city_tiles],
                    tr("cc.overdue"): [t.overdue for _, t in city_tiles],
                    tr("cc.alarm"): [t.awaiting_alarm for _, t in city_tiles],
                    tr("cc.on_time", n=city_tiles[0][1].window_days): [
                        None if t.on_time_rate is None else f"{t.on_time_rate:.1%}" for _, t in city_tiles
                    ],
                }
            ),
            hide_index=True,
            width="stretch",
            key="cc_city",
        )
        st.caption(tr("cc.city_help"))
if not big:
    feed_part()
    waiting = svc.awaiting_decision(who)
    if waiting:  # the duty chief's inbox: requests to approve or refuse, disputes to rule on
        with st.expander(tr("cc.awaiting", n=len(waiting)), expanded=True):
            incident_buttons(waiting, "cc_awaiting")

if not big:
    st.subheader(tr("cc.heatmap"))
now = now_utc()
cells, counts = views.heat_counts(catalog, heat_filter, now)
view = st.session_state.get("cc_map") or {}
bounds = None
if view.get("bounds"):
    b = view["bounds"]
    bounds = (b["_southWest"]["lng"], b["_southWest"]["lat"], b["_northEast"]["lng"], b["_northEast"]["lat"])
finest = resolution_for_zoom(view.get("zoom"), data.district.h3_resolution)
cells = cells_to_parents(cells, finest) if cells.size else cells
hexes = choose_resolution(cells, counts, bounds, finest)
basemap = basemap_from_env()
m = district_map(data, basemap, scope, labels=not big)
layer, legend = hex_layer(
    hexes,
    name=tr("cc.heatmap"),
    legend_title=tr("cc.legend", res=hexes.res),
    tooltip_label=tr("cc.count"),
    basemap=basemap,
)
layer.add_to(m)
add_legend(m, legend)
if hexes.cells.size:
    centre_lat, centre_lng = cells_to_latlng(hexes.cells)
    heat_layer(centre_lat, centre_lng, weights=hexes.counts, name=tr("cc.kernel"), basemap=basemap).add_to(m)
folium.LayerControl(collapsed=True).add_to(m)
if not big:
    st.caption(tr("cc.hex_note", n=len(hexes.cells), res=hexes.res, total=int(counts.sum())))
# on a 1920×1080 wall the map fills what the tiles leave above the fold; the feeds follow
show_map(m, "cc_map", height=740 if big else 560, returned_objects=("bounds", "zoom"))
if big:
    feed_part()
