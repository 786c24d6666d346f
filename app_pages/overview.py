import pandas as pd
import shapely
import streamlit as st

from app_pages.common import (
    basemap_from_env,
    data_table,
    principal,
    require_district,
    tr,
)
from app_pages.maps import VILLAGE_LABEL_ZOOM, show_map, village_layer
from layers.base import area_layer, base_map

data = require_district()
district = data.district
st.header(tr("overview.header", district=district.name + f" ({district.code})"))

cols = st.columns(5)
counts = data.counts
for col, key in zip(cols, ("townships", "villages", "teams", "cells"), strict=False):
    col.metric(tr(f"overview.{key}"), f"{counts[key]:,}")
cols[4].metric(tr("overview.resolution"), district.h3_resolution)

tw_names = {tw.code: tw.name for tw in data.townships}
who = principal()
default = who.township_code if who and who.township_code else None
options = [None, *tw_names]
choice = st.selectbox(
    tr("overview.filter_township"),
    options,
    index=options.index(default),
    key="overview_township",
    format_func=lambda c: tr("overview.all") if c is None else tw_names[c],
)
villages = [v for v in data.villages if choice is None or v.township_code == choice]
townships = [tw for tw in data.townships if choice is None or tw.code == choice]
bounds = shapely.union_all([tw.geometry for tw in townships]).bounds
basemap = basemap_from_env()
m = base_map(bounds, basemap)
village_layer(
    villages, basemap, fill_opacity=0.05, label_min_zoom=None if choice is not None else VILLAGE_LABEL_ZOOM
).add_to(m)
area_layer(
    [tw.geometry for tw in townships],
    [tw.name for tw in townships],
    [tw.code for tw in townships],
    name=tr("overview.layer_townships"),
    color="#d7301f",
    weight=2.5,
    basemap=basemap,
    labels=True,
).add_to(m)
show_map(m, "overview_map")

st.subheader(tr("overview.table"))
village_by_code = {v.code: v for v in data.villages}
rows = [
    {
        tr("overview.col_township"): tw_names[village_by_code[tm.village_code].township_code],
        tr("overview.col_village"): village_by_code[tm.village_code].name,
        tr("overview.col_code"): tm.village_code,
        tr("overview.col_team"): tm.name,
        tr("overview.col_captain"): tm.captain,
        tr("overview.col_members"): len(tm.members),
    }
    for tm in data.teams
    if choice is None or village_by_code[tm.village_code].township_code == choice
]
data_table(pd.DataFrame(rows), hide_index=True, width="stretch")
