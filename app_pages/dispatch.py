from datetime import datetime, time, timedelta

import pandas as pd
import shapely
import streamlit as st
from folium import plugins
from shapely.geometry import shape

from app_pages.common import (
    basemap_from_env,
    data_table,
    error_text,
    incident_buttons,
    incident_service,
    labels,
    local_time,
    now_utc,
    open_incident,
    patrol_service,
    require_district,
    require_principal,
    tr,
)
from app_pages.maps import show_map, village_layer
from geo.crs import geometry_to_wgs84
from geo.grid import geometry_to_cells
from layers.assets import localize
from layers.base import area_layer, base_map
from layers.hexes import cells_outline_layer
from layers.incidents import MarkerData, marker_layer, marker_legend
from layers.legend import Swatch, add_legend, legend_sections
from patrol.dashboard import OPEN
from patrol.incident import State
from patrol.incidents import LOCAL_TZ, IncidentQuery
from patrol.permissions import AccessDeniedError

data = require_district()
who = require_principal()
svc = incident_service()
tw_names = {tw.code: tw.name for tw in data.townships}

if who.role == "captain":
    township = who.township_code
else:
    township = st.selectbox(
        tr("app.township"), list(tw_names), key="dispatch_township", format_func=tw_names.get
    )
st.header(tr("dispatch.header", township=tw_names.get(township, township)))

now = now_utc()
incidents = svc.list_incidents(who, IncidentQuery(states=OPEN, township_codes=(township,), limit=3000))
by_id = {i.id: i for i in incidents}
names = labels()  # once per run: the markers and the list name thousands of incidents
teams = [t for t in svc.teams.values() if t.village_code.startswith(township)]
team_names = {t.id: t.name for t in teams}
villages = [v for v in data.villages if v.township_code == township]

# -- selection: clicks and drawings on the map, or the list --------------------------------
markers = [
    MarkerData(
        i.id,
        i.lat,
        i.lng,
        i.state.value,
        f"{i.number} · {names.item(i.item_code)}",
        f"{names.state(i.state.value)} · {i.description}",
        overdue=i.is_overdue(now),
    )
    for i in incidents
]
by_title = {mk.title: mk.id for mk in markers}
picked = st.session_state.get("dispatch_map") or {}
clicked = by_title.get(picked.get("last_object_clicked_tooltip") or "")
if clicked and clicked != st.session_state.get("dispatch_last_click"):
    st.session_state["dispatch_last_click"] = clicked
    current = list(st.session_state.get("dispatch_selected", []))
    st.session_state["dispatch_selected"] = (
        [c for c in current if c != clicked] if clicked in current else [*current, clicked]
    )
basemap = basemap_from_env()
new_drawn = []
for feature in picked.get("all_drawings") or []:
    geom = shape(feature["geometry"])
    if geom.geom_type in ("Polygon", "MultiPolygon"):
        new_drawn.append(geometry_to_wgs84(geom, basemap.display_crs))
if new_drawn:
    signature = shapely.union_all(new_drawn).wkt
    if signature != st.session_state.get("dispatch_last_drawing"):
        # a new drawing: it becomes the kept selection area (drawn again after every rerun)
        st.session_state["dispatch_last_drawing"] = signature
        st.session_state["dispatch_area"] = signature
        area = shapely.from_wkt(signature)
        inside = [i.id for i in incidents if area.contains(shapely.Point(i.lng, i.lat))]
        st.session_state["dispatch_selected"] = sorted(
            {*st.session_state.get("dispatch_selected", []), *inside}
        )
area_wkt = st.session_state.get("dispatch_area")
drawn = [shapely.from_wkt(area_wkt)] if area_wkt else []
selected = [s for s in st.session_state.get("dispatch_selected", []) if s in by_id]
st.session_state["dispatch_selected"] = selected

m = base_map(shapely.union_all([v.geometry for v in villages]).bounds, basemap)
village_layer(villages, basemap, fill_opacity=0.03).add_to(m)
today = [
    t
    for t in patrol_service().for_township(township)
    if t.shift_end > now and t.status in ("planned", "active")
]
for task in today[:10]:
    cells_outline_layer(
        task.cells,
        name=tr("dispatch.patrol_layer", team=team_names.get(task.team_id, task.team_id)),
        basemap=basemap,
        tooltip=tr(
            "dispatch.patrol_tip",
            team=team_names.get(task.team_id, task.team_id),
            start=local_time(task.shift_start),
        ),
    ).add_to(m)
marker_layer(markers, name=tr("dispatch.incidents"), basemap=basemap, selected=selected).add_to(m)
if drawn:
    area_layer(
        drawn, [tr("dispatch.area")], [""], name=tr("dispatch.area"), color="#0050b3", weight=2,
        fill_opacity=0.06, basemap=basemap,
    ).add_to(m)  # fmt: skip
state_names = {st_.value: names.state(st_.value) for st_ in State}
add_legend(
    m,
    legend_sections(
        [
            (
                tr("dispatch.legend_incidents"),
                marker_legend(
                    [mk.state for mk in markers],
                    state_names,
                    selected=tr("dispatch.legend_selected"),
                    overdue=tr("dispatch.legend_overdue"),
                ),
            ),
            (
                tr("dispatch.legend_areas"),
                [
                    Swatch("#3388ff", tr("overview.layer_villages"), "line"),
                    *([Swatch("#1a7f37", tr("dispatch.legend_patrol"), "dashed")] if today else []),
                    *([Swatch("#0050b3", tr("dispatch.area"), "line")] if drawn else []),
                ],
            ),
        ]
    ),
)
localize(
    plugins.Draw(
        export=False,
        draw_options={"polyline": False, "circle": False, "marker": False, "circlemarker": False},
    )
).add_to(m)
st.caption(tr("dispatch.map_help"))
show_map(
    m,
    "dispatch_map",
    height=520,
    returned_objects=("last_object_clicked_tooltip", "all_drawings"),
    view=f"dispatch:{township}",
)
if drawn and st.button(tr("dispatch.clear_area"), key="dispatch_clear_area"):
    st.session_state.pop("dispatch_area", None)
    st.rerun()
# the outcome of the last assignment stays until the selection changes: the map's own reruns
# (it reports its view back after a redraw) must not wipe it before the captain has read it
last_selection, last_outcome = st.session_state.get("dispatch_outcome", ((), []))
if tuple(st.session_state.get("dispatch_selected", ())) == last_selection:
    for kind, text in last_outcome:
        getattr(st, kind)(text)

st.multiselect(
    tr("dispatch.selected"),
    list(by_id),
    key="dispatch_selected",
    placeholder=tr("app.choose"),
    format_func=lambda i: (
        f"{by_id[i].number} · {names.item(by_id[i].item_code)} · {names.state(by_id[i].state.value)}"
    ),
)
cols = st.columns([2, 1])
team = cols[0].selectbox(
    tr("dispatch.team"), list(team_names), key="dispatch_team", format_func=team_names.get
)
if cols[1].button(
    tr("dispatch.assign"),
    key="dispatch_assign",
    type="primary",
    disabled=not st.session_state["dispatch_selected"],
):
    assigned = svc.assign_many(who, st.session_state["dispatch_selected"], team, note=tr("dispatch.note"))
    done, conflicts = assigned.done, assigned.conflicts
    refused = [f"{number}: {error_text(exc)}" for number, exc in assigned.refused]
    outcome = []
    if done:
        outcome.append(
            ("success", tr("dispatch.assigned", n=len(done), team=team_names[team], numbers=", ".join(done)))
        )
    if conflicts:
        outcome.append(("warning", tr("dispatch.conflicts", numbers=", ".join(conflicts))))
    if refused:
        outcome.append(("error", tr("dispatch.refused", items="; ".join(refused))))
    st.session_state["dispatch_outcome"] = (tuple(st.session_state["dispatch_selected"]), outcome)
    st.rerun()  # redraw the map and the lists with the new states

if selected:
    if st.button(tr("dispatch.open_first"), key="dispatch_open"):
        open_incident(selected[0])

supervised = svc.supervised(who)
if supervised:  # 督办: what the command centre is watching comes first
    st.subheader(tr("dispatch.supervised"))
    st.caption(tr("dispatch.supervised_help"))
    incident_buttons(
        sorted(supervised, key=lambda i: -i.supervision_level),
        "dispatch_supervised",
        flagged={i.id: tr(f"supervision.{i.supervision_level}") for i in supervised},
    )

st.subheader(tr("dispatch.workload"))
load = pd.DataFrame(
    [
        {
            tr("dispatch.team"): team_names[t],
            tr("cc.open"): sum(i.team_id == t and i.state != State.DISCOVERED for i in incidents),
            tr("cc.overdue"): sum(i.team_id == t and i.is_overdue(now) for i in incidents),
            tr("dispatch.waiting"): sum(i.team_id == t and i.state == State.DISCOVERED for i in incidents),
        }
        for t in team_names
    ]
)
data_table(load, hide_index=True, width="stretch")

st.subheader(tr("dispatch.patrol"))
cells_from_drawing = sorted(
    {int(c) for g in drawn for c in geometry_to_cells(g, data.district.h3_resolution, "overlap")}
)
cells_from_selection = sorted({by_id[i].cell for i in selected})
patrol_cells = cells_from_drawing or cells_from_selection
st.caption(tr("dispatch.patrol_cells", n=len(patrol_cells)))
with st.form("dispatch_patrol_form"):
    p_team = st.selectbox(
        tr("dispatch.team"), list(team_names), key="patrol_team", format_func=team_names.get
    )
    local_now = now.astimezone(LOCAL_TZ)
    c = st.columns(3)
    day = c[0].date_input(tr("dispatch.shift_day"), value=local_now.date(), key="patrol_day")
    start = c[1].time_input(tr("dispatch.shift_start"), value=time(8, 0), key="patrol_start")
    hours = c[2].number_input(
        tr("dispatch.shift_hours"), min_value=1, max_value=12, value=4, key="patrol_hours"
    )
    note = st.text_input(tr("dispatch.patrol_note"), key="patrol_note")
    if not patrol_cells:
        st.caption(tr("dispatch.patrol_needs_cells"))
    if st.form_submit_button(tr("dispatch.create_patrol"), disabled=not patrol_cells):
        begin = datetime.combine(day, start, tzinfo=LOCAL_TZ)
        try:
            task = patrol_service().create(
                who, p_team, patrol_cells, begin, begin + timedelta(hours=int(hours)), note
            )
            st.success(tr("dispatch.patrol_created", id=task.id, n=len(task.cells)))
        except (ValueError, AccessDeniedError) as exc:
            st.error(error_text(exc))

tasks = patrol_service().for_township(township)[:20]
if tasks:
    data_table(
        pd.DataFrame(
            {
                tr("col.number"): [t.id for t in tasks],
                tr("dispatch.team"): [team_names.get(t.team_id, t.team_id) for t in tasks],
                tr("dispatch.shift_start"): [local_time(t.shift_start) for t in tasks],
                tr("dispatch.shift_end"): [local_time(t.shift_end) for t in tasks],
                tr("dispatch.cells"): [len(t.cells) for t in tasks],
                tr("col.state"): [tr(f"patrol.{t.status}") for t in tasks],
            }
        ),
        hide_index=True,
        width="stretch",
    )
