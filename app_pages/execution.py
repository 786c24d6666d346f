"""巡查执行 Patrol execution: an inspector starts the patrol, checks in, uploads the track, finishes.

Laid out in one column so that it works on a phone.
"""

from datetime import timedelta
from typing import Any

import shapely
import streamlit as st

from app_pages.common import (
    basemap_from_env,
    error_text,
    incident_buttons,
    incident_service,
    local_time,
    md_escape,
    now_utc,
    patrol_service,
    reads,
    refuse_large_upload,
    require_district,
    require_principal,
    tr,
    uploader,
)
from app_pages.location import Picked, pick_location
from app_pages.maps import show_map, village_layer
from geo.grid import cells_to_latlng
from geo.tracks import TrackError
from layers.base import base_map
from layers.coverage import covered_cells_layer
from layers.hexes import cells_outline_layer
from patrol.incidents import IncidentQuery
from patrol.patrols import PatrolStateError
from patrol.permissions import AccessDeniedError
from patrol.routing import OutsideDistrictError

data = require_district()
who = require_principal()
views = reads()
svc = patrol_service()
st.header(tr("ex.header"))

team_names = {t.id: t.name for t in views.teams()}
if who.on_team:
    team_id = who.team_id
    st.caption(tr("ex.team", team=md_escape(team_names.get(team_id or -1, "—"))))
else:
    team_id = st.selectbox(
        tr("dispatch.team"), svc.workable_teams(who), key="ex_team", format_func=team_names.get
    )
if team_id is None:
    st.stop()
try:
    tasks = svc.for_team(who, int(team_id), ending_after=now_utc() - timedelta(days=2))
except (AccessDeniedError, ValueError) as exc:
    st.error(error_text(exc))
    st.stop()
tasks = [t for t in tasks if t.status != "cancelled"]
if not tasks:
    st.info(tr("ex.none"))
    st.stop()
# Options and their texts must not change when a task is started or finished: Streamlit would
# take them for a new widget and jump back to the first task (the status is shown below).
tasks.sort(key=lambda t: (abs((t.shift_start - now_utc()).total_seconds()), t.id))
labels = {t.id: f"{local_time(t.shift_start)}–{local_time(t.shift_end)[-5:]}" for t in tasks}
task_id = st.selectbox(tr("ex.task"), list(labels), key="ex_task", format_func=labels.get)
task = svc.get(who, task_id)
visits = views.patrol_visits(task.id)
covered = {v.cell for v in visits}
planned = set(task.cells)
done_planned = len(planned & covered)

c = st.columns(3)
c[0].metric(tr("ex.status"), tr("ex.status_" + task.status))
c[1].metric(tr("ex.covered"), f"{done_planned}/{len(planned)}")
c[2].metric(tr("ex.off_plan"), len(covered - planned))
st.progress(done_planned / len(planned) if planned else 0.0)
if task.note:
    st.caption(md_escape(task.note))


def _do(action: str) -> None:
    try:
        if action == "start":
            svc.start(who, task.id)
        else:
            svc.finish(who, task.id)
        st.session_state["ex_flash"] = tr(f"ex.{action}ed")
    except (PatrolStateError, AccessDeniedError, KeyError) as exc:
        st.session_state["ex_flash_error"] = error_text(exc)


if task.status == "planned":
    st.button(tr("ex.start"), key="ex_start", type="primary", on_click=_do, args=("start",), width="stretch")
elif task.status == "active":
    st.button(tr("ex.finish"), key="ex_finish", on_click=_do, args=("finish",), width="stretch")
if flash := st.session_state.pop("ex_flash", None):
    st.success(flash)
if flash := st.session_state.pop("ex_flash_error", None):
    st.error(flash)

basemap = basemap_from_env()
lats, lngs = cells_to_latlng(list(planned | covered))
bounds = shapely.MultiPoint(list(zip(lngs, lats, strict=True))).bounds
view = tuple(b + d for b, d in zip(bounds, (-0.003, -0.003, 0.003, 0.003), strict=True))
# the villages the patrol passes through, outlined and named: a place to find without a basemap
nearby = [v for v in data.villages if v.geometry.intersects(shapely.box(*view))]


def _draw(at: Picked | None = None) -> Any:
    m = base_map(view, basemap, height=360)
    if nearby:
        village_layer(nearby, basemap).add_to(m)
    cells_outline_layer(
        sorted(planned), name=tr("ex.planned"), tooltip=tr("ex.planned"), color="#2166ac", basemap=basemap
    ).add_to(m)
    covered_cells_layer(
        sorted(covered), name=tr("ex.covered"), tooltip=tr("ex.covered"), basemap=basemap
    ).add_to(m)
    if at is not None:
        at.mark(m, tr("ex.checkin"), basemap)
    return m


if task.status == "active":
    # a report made now is linked to this patrol (see PatrolService.current_for_team)
    if st.button(tr("ex.report"), key="ex_report", icon=":material/add_alert:", width="stretch"):
        st.session_state["report_task"] = task.id
        st.switch_page("app_pages/report.py")

if task.status in ("planned", "active"):
    st.subheader(tr("ex.checkin"))
    where = pick_location("ex", _draw, display_crs=basemap.display_crs, height=360)
    if st.button(
        tr("ex.checkin_here"),
        key="ex_checkin",
        type="primary",
        disabled=not where.chosen,
        width="stretch",
    ):
        try:
            cov = svc.check_in(who, task.id, *where.point, where.crs)
            st.session_state["ex_flash"] = tr(
                "ex.checked_in", n=cov.new_cells, done=cov.planned_covered, total=len(planned)
            )
            st.rerun()
        except (PatrolStateError, OutsideDistrictError, AccessDeniedError, ValueError) as exc:
            st.error(error_text(exc))
else:
    show_map(_draw(), "ex_map", height=360)

if task.status != "cancelled":
    st.subheader(tr("ex.track"))
    upload = uploader(tr("ex.track_file"), ["gpx"], "ex_gpx")
    if upload is not None and st.button(tr("ex.track_upload"), key="ex_track_upload", width="stretch"):
        if not refuse_large_upload(upload):
            try:
                text = upload.getvalue().decode("utf-8-sig")
                cov = svc.upload_track(who, task.id, text)
                st.success(
                    tr(
                        "ex.track_done",
                        n=len(cov.cells),
                        new=cov.new_cells,
                        done=cov.planned_covered,
                        total=len(planned),
                    )
                )
            except UnicodeDecodeError:
                st.error(tr("err.track"))
            except (TrackError, PatrolStateError, OutsideDistrictError, AccessDeniedError, ValueError) as exc:
                st.error(error_text(exc))

st.subheader(tr("ex.incidents"))
# through the incident service: the viewer's scope applies (a report routed to another team is not listed)
linked = incident_service().list_incidents(who, IncidentQuery(patrol_task_ids=(task.id,), limit=200))
if not linked:
    st.caption(tr("ex.no_incidents"))
incident_buttons(linked, "ex_open")
