from datetime import datetime, time, timedelta

import pandas as pd
import shapely
import streamlit as st

from app_pages.common import (
    basemap_from_env,
    data_table,
    error_text,
    incident_service,
    item_name,
    local_time,
    now_utc,
    patrol_service,
    reads,
    require_district,
    require_principal,
    tr,
)
from app_pages.maps import show_map, village_layer
from layers.base import base_map
from layers.hexes import cells_outline_layer
from layers.patrol import route_layer
from patrol.incidents import LOCAL_TZ, IncidentQuery
from patrol.permissions import AccessDeniedError
from patrol.risk import Backtest, backtest, risk_reasons, risk_scores
from patrol.route import SPEED_KMH, plan_route

data = require_district()
who = require_principal()
views = reads()
svc = incident_service()
st.header(tr("pp.header"))
st.caption(tr("pp.explain"))
tw_names = {tw.code: tw.name for tw in data.townships}
township = (
    who.township_code
    if who.role == "captain"
    else st.selectbox(tr("app.township"), list(tw_names), key="pp_township", format_func=tw_names.get)
)
teams = {t.id: t for t in svc.teams.values() if t.village_code.startswith(str(township))}
c = st.columns(3)
team_id = c[0].selectbox(tr("dispatch.team"), list(teams), key="pp_team", format_func=lambda t: teams[t].name)
local_now = now_utc().astimezone(LOCAL_TZ)
day = c[1].date_input(tr("dispatch.shift_day"), value=local_now.date() + timedelta(days=1), key="pp_day")
start_t = c[2].time_input(tr("dispatch.shift_start"), value=time(8, 0), key="pp_start")
c = st.columns(4)
hours = c[0].number_input(tr("dispatch.shift_hours"), min_value=1, max_value=12, value=4, key="pp_hours")
mode = c[1].selectbox(tr("pp.mode"), list(SPEED_KMH), key="pp_mode", format_func=lambda m: tr(f"pp.mode_{m}"))
minutes = c[2].number_input(tr("pp.minutes"), min_value=2, max_value=60, value=10, key="pp_minutes")
max_stops = c[3].number_input(tr("pp.max_stops"), min_value=1, max_value=60, value=15, key="pp_max_stops")

team = teams[team_id]
village = next(v for v in data.villages if v.code == team.village_code)
cells = tuple(
    int(x)
    for x, owner in zip(svc.areas.cells.tolist(), svc.areas.cell_owner.tolist(), strict=True)
    if svc.areas.village_codes[owner] == team.village_code
)
begin = datetime.combine(day, start_t, tzinfo=LOCAL_TZ)
end = begin + timedelta(hours=int(hours))
frame = views.incident_frame(
    IncidentQuery(cells=cells, reported_from=now_utc() - timedelta(days=90)),
    ["cell", "item_code", "reported_at"],
)
severity = {code: item.severity for code, item in svc.catalog.items.items()}
risk = risk_scores(frame, severity, min(now_utc(), begin), shift=(begin, end))
if risk.empty:
    st.info(tr("pp.no_risk"))
    st.stop()
centre = village.geometry.representative_point()
route = plan_route(
    list(risk.index),
    list(risk.to_numpy()),
    (centre.y, centre.x),
    begin,
    end,
    mode=mode,
    minutes_per_stop=float(minutes),
    max_stops=int(max_stops),
)
top = float(risk.max()) or 1.0
st.caption(
    tr("pp.summary", n=len(route.stops), km=round(route.length_m / 1000, 1), back=local_time(route.end_at))
)

basemap = basemap_from_env()
m = base_map(shapely.buffer(village.geometry, 0.002).bounds, basemap, height=480)
village_layer([village], basemap).add_to(m)
cells_outline_layer(
    [s.cell for s in route.stops],
    name=tr("pp.stops"),
    tooltip=tr("pp.stop_cell"),
    color="#d7301f",
    basemap=basemap,
).add_to(m)
route_layer(
    route.start,
    [
        (s.order, s.lat, s.lng, f"{s.order} · {local_time(s.arrival)} · {100 * s.risk / top:.0f}")
        for s in route.stops
    ],
    name=tr("pp.route"),
    basemap=basemap,
).add_to(m)
show_map(m, "pp_map", height=480)
why = risk_reasons(frame, [s.cell for s in route.stops])
data_table(
    pd.DataFrame(
        {
            "#": [s.order for s in route.stops],
            tr("hs.place"): [p or tr("hs.outside") for p in svc.cell_places([s.cell for s in route.stops])],
            tr("pp.risk"): [round(100 * s.risk / top, 1) for s in route.stops],
            tr("pp.why"): [
                "、".join(tr("pp.why_item", item=item_name(i), n=n) for i, n in why[s.cell]) or "—"
                for s in route.stops
            ],
            tr("pp.arrival"): [local_time(s.arrival) for s in route.stops],
        }
    ),
    hide_index=True,
    width="stretch",
    key="pp_stops",
)
d = st.columns(3)
d[0].download_button(
    tr("pp.gpx"),
    route.to_gpx(team.name).encode("utf-8"),
    file_name=f"patrol-{team.village_code}.gpx",
    mime="application/gpx+xml",
    key="pp_gpx",
)
d[1].download_button(
    tr("pp.geojson"),
    route.to_geojson().encode("utf-8"),
    file_name=f"patrol-{team.village_code}.geojson",
    mime="application/geo+json",
    key="pp_geojson",
)
if d[2].button(tr("pp.create"), key="pp_create", type="primary"):
    try:
        task = patrol_service().create(
            who, team.id, [s.cell for s in route.stops], begin, end, tr("pp.task_note")
        )
        st.success(tr("dispatch.patrol_created", id=task.id, n=len(task.cells)))
    except (ValueError, AccessDeniedError) as exc:
        st.error(error_text(exc))


@st.cache_data(ttl=3600, show_spinner=False, max_entries=32)
def _backtest(url: str, township: str, hour: str) -> Backtest:
    """The township's 8-week backtest: the same for every team and choice, so computed once an hour."""
    tf = views.incident_frame(
        IncidentQuery(township_codes=(township,), reported_from=now_utc() - timedelta(days=180)),
        ["cell", "item_code", "reported_at"],
    )
    return backtest(tf, severity, now_utc(), weeks=8, ks=(10, 20, 50))


with st.expander(tr("pp.backtest")):
    bt = _backtest(views.url, str(township), now_utc().strftime("%Y-%m-%d %H"))
    data_table(
        pd.DataFrame(
            {
                "K": list(bt.ks),
                tr("pp.ours"): [bt.ours[k] for k in bt.ks],
                tr("pp.naive"): [bt.naive[k] for k in bt.ks],
            }
        ),
        hide_index=True,
        key="pp_backtest",
        column_config={
            tr("pp.ours"): st.column_config.NumberColumn(format="percent"),
            tr("pp.naive"): st.column_config.NumberColumn(format="percent"),
        },
    )
    st.caption(tr("pp.backtest_note", weeks=bt.weeks))
