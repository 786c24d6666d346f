"""巡查覆盖 Patrol coverage: per team and week, and where nobody has patrolled for N days."""

from datetime import timedelta

import streamlit as st

from app_pages.common import (
    basemap_from_env,
    data_table,
    now_utc,
    reads,
    require_district,
    require_principal,
    tr,
)
from app_pages.maps import district_map, show_map
from layers.coverage import coverage_gap_layer
from layers.legend import add_legend
from patrol.coverage import week_bounds, week_of
from patrol.spreadsheet import csv_bytes

WEEKS_BACK = 8

data = require_district()
who = require_principal()
views = reads()
st.header(tr("cov.header"))
st.caption(tr("cov.explain"))

tw_names = {tw.code: tw.name for tw in data.townships}
c = st.columns(3)
if who.role == "captain":
    township = who.township_code
    c[0].text_input(tr("app.township"), tw_names.get(str(township), ""), disabled=True, key="cov_tw_fixed")
else:
    township = c[0].selectbox(
        tr("app.township"),
        [None, *tw_names],
        key="cov_township",
        format_func=lambda t: tr("cc.all") if t is None else tw_names[t],
    )
now = now_utc()
weeks = list(dict.fromkeys(week_of(now - timedelta(weeks=k)) for k in range(WEEKS_BACK)))
week = c[1].selectbox(tr("cov.week"), weeks, key="cov_week")
stale_days = c[2].slider(tr("cov.stale_days"), min_value=3, max_value=60, value=14, key="cov_stale")

table = views.coverage_for_week(week, township)
planned, covered = int(table["planned_cells"].sum()), int(table["covered_cells"].sum())
hours = float(table["patrol_hours"].sum())
found, total = int(table["patrol_incidents"].sum()), int(table["incidents"].sum())
m = st.columns(5)
m[0].metric(tr("cov.coverage"), f"{covered / planned:.0%}" if planned else "—", help=tr("cov.coverage_help"))
m[1].metric(tr("cov.hours"), f"{hours:.0f}")
m[2].metric(tr("cov.per_hour"), f"{found / hours:.2f}" if hours else "—", help=tr("cov.per_hour_help"))
m[3].metric(tr("cov.proactive"), f"{found / total:.0%}" if total else "—", help=tr("cov.proactive_help"))
m[4].metric(tr("cov.idle_teams"), int((table["tasks"] == 0).sum()), help=tr("cov.idle_help"))

shown = table.sort_values(["coverage", "team_id"], na_position="first").assign(
    township=lambda f: f["township_code"].map(tw_names)
)
columns = {
    "team": tr("dispatch.team"),
    "township": tr("app.township"),
    "tasks": tr("cov.tasks"),
    "patrol_hours": tr("cov.hours"),
    "planned_cells": tr("cov.planned"),
    "covered_cells": tr("cov.covered"),
    "coverage": tr("cov.coverage"),
    "off_plan_cells": tr("cov.off_plan"),
    "per_patrol_hour": tr("cov.per_hour"),
    "proactive_share": tr("cov.proactive"),
}
view = shown[list(columns)].rename(columns=columns)
data_table(
    view,
    hide_index=True,
    width="stretch",
    key="cov_table",
    column_config={
        tr("cov.coverage"): st.column_config.ProgressColumn(min_value=0.0, max_value=1.0, format="percent"),
        tr("cov.proactive"): st.column_config.NumberColumn(format="percent"),
        tr("cov.per_hour"): st.column_config.NumberColumn(format="%.2f"),
    },
)
st.download_button(
    tr("cov.csv"),
    csv_bytes(view),
    file_name=f"coverage-{week}.csv",
    mime="text/csv",
    key="cov_csv",
)

st.subheader(tr("cov.gap_header", n=stale_days))
_, week_end = week_bounds(week)
cells, days = views.stale_cells_for(min(now, week_end), township, lookback_days=max(90, 2 * stale_days))
n_stale = int((days >= stale_days).sum())
st.caption(
    tr(
        "cov.gap_caption",
        n=n_stale,
        days=stale_days,
        total=len(cells),
        share=f"{n_stale / len(cells):.0%}" if len(cells) else "—",
    )
)
basemap = basemap_from_env()
fmap = district_map(data, basemap, None if township is None else [township], labels=False)
layer, legend, res = coverage_gap_layer(
    cells,
    days,
    stale_days,
    name=tr("cov.gap_layer"),
    labels={
        "title": tr("cov.gap_layer"),
        "never": tr("cov.never"),
        "long": tr("cov.long", n=2 * stale_days),
        "stale": tr("cov.stale", n=stale_days),
        "share": tr("cov.share"),
        "days": tr("cov.days_since"),
    },
    basemap=basemap,
)
layer.add_to(fmap)
add_legend(fmap, legend)
show_map(fmap, "cov_map", height=520)
district = views.district()
if district is not None and res < district.h3_resolution:
    st.caption(tr("cov.aggregated", res=res))
st.caption(tr("cov.definitions"))
