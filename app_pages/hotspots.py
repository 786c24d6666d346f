import numpy as np
import pandas as pd
import streamlit as st

from app_pages.common import (
    basemap_from_env,
    data_table,
    incident_service,
    item_name,
    now_utc,
    reads,
    require_analytics,
    require_district,
    tr,
)
from app_pages.maps import district_map, show_map
from layers.hotspots import EMERGING_COLOURS, emerging_layer, hotspot_layer
from layers.legend import add_legend
from patrol.dashboard import EmergingHotSpots, HeatFilter, HotSpots

data = require_district()
who = require_analytics()
views = reads()
catalog = incident_service().catalog
st.header(tr("hs.header"))


@st.cache_data(ttl=600, show_spinner=False)
def _emerging(url: str, day: str, item: str | None, res: int, k: int) -> EmergingHotSpots:
    return views.emerging_hot_spots(catalog, now_utc(), item_codes=(item,) if item else None, res=res, k=k)


@st.cache_data(ttl=600, show_spinner=False, max_entries=64)
def _hot_spots(url: str, hour: str, days: int, item: str | None, res: int, k: int, measure: str) -> HotSpots:
    """Gi* of the window ending now; kept for ten minutes, so going back to a choice is instant."""
    flt = HeatFilter(days=days, item_codes=(item,) if item else None)
    return views.hot_spots(catalog, flt, now_utc(), res=res, k=k, measure=measure)  # type: ignore[arg-type]


st.caption(tr("hs.explain"))
c = st.columns(4)
days = c[0].selectbox(
    tr("cc.window"), (30, 90, 180, 365), index=1, key="hs_days", format_func=lambda d: tr("cc.days", n=d)
)
item = c[1].selectbox(
    tr("col.item"),
    [None, *catalog.items],
    key="hs_item",
    format_func=lambda i: tr("cc.all") if i is None else item_name(i),
)
res = c[2].selectbox(tr("hs.res"), (8, 9), index=1, key="hs_res")
k = c[3].selectbox(tr("hs.k"), (1, 2, 3), key="hs_k")

mode = st.radio(
    tr("hs.mode"),
    ["gi", "emerging"],
    key="hs_mode",
    horizontal=True,
    format_func=lambda m: tr(f"hs.mode_{m}"),
)
if mode == "emerging":
    em = _emerging(views.url, now_utc().strftime("%Y-%m-%d"), item, res, k)
    counts = pd.Series(em.category).value_counts()
    labels = {c: tr(f"em.{c}") for c in EMERGING_COLOURS}
    data_table(
        pd.DataFrame({tr("hs.class"): [labels.get(c, c) for c in counts.index if c != "no_pattern"],
                      tr("sc.hot_cells"): [int(n) for c, n in counts.items() if c != "no_pattern"]}),
        hide_index=True, key="hs_emerging_table",
    )  # fmt: skip
    basemap = basemap_from_env()
    m = district_map(data, basemap)
    layer, legend = emerging_layer(
        em.cells.tolist(),
        em.category,
        name=tr("hs.mode_emerging"),
        labels=labels,
        title=tr("hs.emerging_legend", n=len(em.slices)),
        basemap=basemap,
    )
    layer.add_to(m)
    add_legend(m, legend)
    show_map(m, "hs_emerging_map")
    st.stop()

measure = st.radio(
    tr("hs.measure"),
    ["count", "share"],
    key="hs_measure",
    horizontal=True,
    format_func=lambda m: tr(f"hs.measure_{m}"),
)
hs = _hot_spots(views.url, now_utc().strftime("%Y-%m-%d %H"), days, item, res, k, measure)
cols = st.columns(4)
cols[0].metric(tr("hs.hot99"), hs.count(3))
cols[1].metric(tr("hs.hot95"), hs.count(2))
cols[2].metric(tr("hs.hot90"), hs.count(1))
cols[3].metric(tr("hs.cold"), int((hs.klass < 0).sum()))
basemap = basemap_from_env()
m = district_map(data, basemap)
layer, legend = hotspot_layer(
    hs,
    name=tr("hs.header"),
    labels={k: tr(f"hs.class_{k}") for k in range(-3, 4)},
    title=tr("hs.legend"),
    basemap=basemap,
)
layer.add_to(m)
add_legend(m, legend)
show_map(m, "hs_map")
hot = np.flatnonzero(hs.klass > 0)
hot = hot[np.argsort(-hs.z[hot], kind="stable")][:30]
data_table(
    pd.DataFrame(
        {
            tr("hs.place"): [p or tr("hs.outside") for p in incident_service().cell_places(hs.cells[hot])],
            tr("hs.value_share") if measure == "share" else tr("cc.count"): [
                f"{v:.1%}" if measure == "share" else f"{int(v):,}" for v in hs.values[hot]
            ],
            tr("hs.class"): [tr(f"hs.class_{int(k)}") for k in hs.klass[hot]],
            tr("hs.z"): [f"{z:.2f}" for z in hs.z[hot]],
        }
    ),
    hide_index=True,
    width="stretch",
    key="hs_table",
)
st.caption(tr("hs.table_note"))
