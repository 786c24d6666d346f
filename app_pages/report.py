from typing import Any

import shapely
import streamlit as st

from app_pages.common import (
    basemap_from_env,
    error_text,
    incident_service,
    item_name,
    local_time,
    now_utc,
    patrol_service,
    require_district,
    require_principal,
    tr,
    uploader,
)
from app_pages.evidence_panel import attach
from app_pages.location import Picked, pick_location
from app_pages.maps import VILLAGE_LABEL_ZOOM, village_layer
from geo.crs import to_wgs84
from layers.base import base_map
from patrol.evidence import EXTENSIONS, MAX_BYTES
from patrol.incident import Source
from patrol.incidents import NewIncident
from patrol.permissions import AccessDeniedError
from patrol.routing import OutsideDistrictError

data = require_district()
who = require_principal()
svc = incident_service()
st.header(tr("report.header"))

task = (
    patrol_service().current_for_team(who.team_id, chosen=st.session_state.get("report_task"))
    if who.team_id is not None
    else None
)
if task is not None:
    st.info(
        tr("report.patrol", id=task.id, start=local_time(task.shift_start), end=local_time(task.shift_end))
    )

item = st.selectbox(tr("col.item"), list(svc.catalog.items), key="report_item", format_func=item_name)
sources = [s.value for s in Source]
default_source = sources.index("patrol") if who.on_team else sources.index("citizen")
source = st.selectbox(
    tr("col.source"),
    sources,
    index=default_source,
    key="report_source",
    format_func=lambda s: tr(f"source.{s}"),
)
description = st.text_area(tr("incident.description"), key="report_desc", max_chars=2000)

basemap = basemap_from_env()
team_village = None
if who.team_id is not None and who.team_id in svc.teams:
    code = svc.teams[who.team_id].village_code
    team_village = next((v for v in data.villages if v.code == code), None)
focus = [team_village] if team_village else data.villages


def _draw(at: Picked) -> Any:
    m = base_map(shapely.union_all([v.geometry for v in focus]).bounds, basemap, height=380)
    village_layer(focus, basemap, label_min_zoom=None if team_village else VILLAGE_LABEL_ZOOM).add_to(m)
    at.mark(m, tr("report.here"), basemap)
    return m


photos = uploader(
    tr("report.photos"), list(EXTENSIONS), "report_photos", mb=MAX_BYTES // 2**20, multiple=True
)
where = pick_location("report", _draw, display_crs=basemap.display_crs)
crs = where.crs

pending = st.session_state.get("report_pending_duplicate")
if st.button(tr("report.submit"), key="report_submit", type="primary", disabled=not where.chosen):
    lat, lng = where.point
    cmd = NewIncident(item, lat, lng, source, description, crs=crs, patrol_task_id=task.id if task else None)
    try:
        w_lat, w_lng = to_wgs84(lat, lng, crs)
        dup = svc.find_duplicate(item, float(w_lat), float(w_lng), now_utc())
        if dup is not None and pending != dup.id:
            st.session_state["report_pending_duplicate"] = dup.id
            st.warning(tr("report.duplicate", number=dup.number, time=local_time(dup.reported_at)))
        else:
            result = svc.report(who, cmd)
            st.session_state["report_pending_duplicate"] = None
            st.session_state["report_last"] = result.incident.number
            st.success(
                tr(
                    "report.saved",
                    number=result.incident.number,
                    team=svc.teams[result.incident.team_id].name,
                )
            )
            if photos:
                kept, refused = attach(who, result.incident.id, list(photos), "report")
                if kept:
                    st.success(tr("evidence.added", n=kept))
                for why in refused:
                    st.error(why)
    except (ValueError, OutsideDistrictError, AccessDeniedError) as exc:
        st.error(tr("report.failed", error=error_text(exc)))

if task is not None and task.status in ("planned", "active"):
    if st.button(tr("report.checkin", id=task.id), key="report_checkin", disabled=not where.chosen):
        try:
            cov = patrol_service().check_in(who, task.id, *where.point, crs)
            st.success(tr("ex.checked_in", n=cov.new_cells, done=cov.planned_covered, total=len(task.cells)))
        except (ValueError, OutsideDistrictError, AccessDeniedError) as exc:
            st.error(error_text(exc))
