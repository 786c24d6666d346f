"""综合查一次 Joint inspections: plan departments' inspections, merge them into one visit per premises."""

from datetime import timedelta

import pandas as pd
import streamlit as st

from app_pages.common import (
    basemap_from_env,
    data_table,
    error_text,
    incident_service,
    inspection_service,
    item_name,
    labels,
    now_utc,
    reads,
    require_district,
    require_principal,
    tr,
)
from app_pages.maps import district_map, show_map
from layers.premises import premises_layer
from patrol.incidents import LOCAL_TZ
from patrol.inspections import WARN_DAYS, merge_visits, repeat_warnings
from patrol.permissions import AccessDeniedError

data = require_district()
who = require_principal()
views = reads()
catalog = incident_service().catalog
svc = inspection_service(catalog)
st.header(tr("ji.header"))
st.caption(tr("ji.explain"))


dept_name = labels().department


try:
    premises = svc.premises(who)
except AccessDeniedError as exc:
    st.error(error_text(exc))
    st.stop()
tw_names = {tw.code: tw.name for tw in data.townships}
if who.role != "captain":
    township = st.selectbox(
        tr("app.township"),
        [None, *tw_names],
        key="ji_township",
        format_func=lambda t: tr("cc.all") if t is None else tw_names[t],
    )
    if township is not None:
        premises = [p for p in premises if p.township_code == township]
else:
    township = who.township_code
if not premises:
    st.info(tr("ji.no_premises"))
    st.stop()
by_id = {p.id: p for p in premises}
today = now_utc().astimezone(LOCAL_TZ).date()
window = st.slider(tr("ji.window"), min_value=0, max_value=14, value=7, key="ji_window")
rows = views.inspections(list(by_id), today - timedelta(days=WARN_DAYS))
visits = merge_visits(rows, window)
warnings = repeat_warnings(visits)
upcoming = sorted(
    (v for v in visits if v.status == "planned" and v.day >= today), key=lambda v: (v.day, v.id)
)
saved = sum(len(v.inspection_ids) - 1 for v in upcoming)

c = st.columns(4)
c[0].metric(tr("ji.premises"), len(premises))
c[1].metric(tr("ji.planned"), sum(len(v.inspection_ids) for v in upcoming))
c[2].metric(
    tr("ji.visits"),
    len(upcoming),
    delta=-saved if saved else None,
    delta_color="inverse",
    help=tr("ji.visits_help"),
)
c[3].metric(tr("ji.warnings"), len(warnings), help=tr("ji.warnings_help", n=WARN_DAYS))

kinds = {k: tr(f"ji.kind_{k}") for k in {p.kind for p in premises}}
details = {}
for v in upcoming:
    details[v.premises_id] = tr(
        "ji.next_visit", day=v.day.isoformat(), depts="、".join(dept_name(d) for d in v.departments)
    )
basemap = basemap_from_env()
fmap = district_map(data, basemap, None if township is None else [township], labels=False, height=460)
premises_layer(
    premises,
    name=tr("ji.premises"),
    kind_labels=kinds,
    details=details,
    warned={w.premises_id for w in warnings},
    basemap=basemap,
).add_to(fmap)
show_map(fmap, "ji_map", height=460)

st.subheader(tr("ji.visits_header"))
if upcoming:
    table = pd.DataFrame(
        {
            tr("ji.day"): [v.day.isoformat() for v in upcoming],
            tr("ji.premises_name"): [by_id[v.premises_id].name for v in upcoming],
            tr("ji.departments"): ["、".join(dept_name(d) for d in v.departments) for v in upcoming],
            tr("ji.items"): ["、".join(item_name(i) for i in v.items) for v in upcoming],
            tr("ji.merged"): [len(v.inspection_ids) for v in upcoming],
        }
    )
    data_table(table, hide_index=True, width="stretch", key="ji_visits")
    if st.button(tr("ji.save"), key="ji_save", type="primary"):
        stored, _ = svc.merge(who, since=today, window_days=window)
        st.success(
            tr("ji.saved", n=sum(1 for v in stored if v.status == "planned" and len(v.inspection_ids) > 1))
        )
else:
    st.caption(tr("ji.none"))

if warnings:
    st.subheader(tr("ji.warnings"))
    data_table(
        pd.DataFrame(
            {
                tr("ji.premises_name"): [by_id[w.premises_id].name for w in warnings],
                tr("ji.first"): [
                    f"{w.first.day} {'、'.join(dept_name(d) for d in w.first.departments)}" for w in warnings
                ],
                tr("ji.second"): [
                    f"{w.second.day} {'、'.join(dept_name(d) for d in w.second.departments)}"
                    for w in warnings
                ],
                tr("ji.days_apart"): [w.days_apart for w in warnings],
            }
        ),
        hide_index=True,
        width="stretch",
        key="ji_warn_table",
    )

st.subheader(tr("ji.plan_header"))
with st.form("ji_plan"):
    pid = st.selectbox(tr("ji.premises_name"), list(by_id), key="ji_pid", format_func=lambda i: by_id[i].name)
    dept = st.selectbox(tr("ji.department"), list(catalog.departments), key="ji_dept", format_func=dept_name)
    day = st.date_input(tr("ji.day"), value=today + timedelta(days=1), min_value=today, key="ji_day")
    items = st.multiselect(tr("ji.items"), list(catalog.items), key="ji_items", format_func=item_name)
    if st.form_submit_button(tr("ji.plan")):
        try:
            row = svc.plan(who, pid, dept, day, items)
            st.success(tr("ji.planned_one", premises=by_id[pid].name, day=row.planned_on.isoformat()))
        except (ValueError, AccessDeniedError) as exc:
            st.error(error_text(exc))
