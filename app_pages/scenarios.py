import numpy as np
import pandas as pd
import streamlit as st

from app_pages.common import (
    basemap_from_env,
    data_table,
    incident_service,
    labels,
    lang,
    now_utc,
    reads,
    require_analytics,
    require_district,
    tr,
)
from app_pages.maps import district_map, show_map
from geo.grid import cell_ids
from layers.hexes import HexCounts, hex_layer
from layers.legend import add_legend
from patrol.scenarios import DEFAULT_K, HOTSPOT_RES, recommend, theme_figures
from patrol.spreadsheet import csv_bytes

data = require_district()
who = require_analytics()
views = reads()
catalog = incident_service().catalog
tw_names = {tw.code: tw.name for tw in data.townships}
st.header(tr("sc.header"))
st.caption(tr("sc.explain"))


@st.cache_resource(ttl=600, show_spinner=False, max_entries=2)
def _year(url: str, day: str) -> pd.DataFrame:
    """The year's incidents, shared read-only by every rerun and session (a cached copy per
    rerun — st.cache_data — cost 0.5 s at a million incidents on every choice)."""
    return reads().load_year(now_utc())


@st.cache_data(ttl=600, show_spinner=False, max_entries=64)
def _plan(
    url: str, day: str, hours: tuple[tuple[str, float], ...], minutes: float, items: tuple[str, ...] | None
) -> pd.DataFrame:
    """The recommended visits for these choices (a theme picked for the charts changes none of them)."""
    return recommend(_year(url, day), now_utc(), dict(hours), minutes, items)


@st.cache_data(ttl=600, show_spinner=False)
def _themes(url: str, day: str) -> list:  # type: ignore[type-arg]
    return theme_figures(_year(url, day), catalog, now_utc(), reads().area_cells(HOTSPOT_RES))


day = now_utc().strftime("%Y-%m-%d")
with st.spinner(tr("sc.computing")):
    themes = _themes(views.url, day)


def _name(t) -> str:  # type: ignore[no-untyped-def]
    name = t.name_zh if lang() == "zh" else t.name_en
    return f"{name}{tr('sc.demo_theme')}" if t.demo else name


table = pd.DataFrame(
    {
        tr("sc.theme"): [_name(t) for t in themes],
        tr("sc.volume"): [t.volume for t in themes],
        tr("sc.trend"): [t.trend for t in themes],
        tr("sc.recurrence"): [t.recurrence for t in themes],
        tr("sc.departments"): ["、".join(labels().department(d) for d in t.departments) for t in themes],
        tr("kpi.response_median_min"): [t.median_response_min for t in themes],
        tr("kpi.on_time_rate"): [t.on_time_rate for t in themes],
        tr("sc.top10"): [t.top10_share for t in themes],
        tr("sc.hot_cells"): [t.hot_cells for t in themes],
        **{tr("sc.cover_k", k=k): [t.coverage.get(k) for t in themes] for k in (10, 50)},
    }
)
percent = st.column_config.NumberColumn(format="percent")
config = {tr(c): percent for c in ("sc.recurrence", "kpi.on_time_rate", "sc.top10")}
config.update({tr("sc.cover_k", k=k): percent for k in (10, 50)})
config[tr("sc.trend")] = st.column_config.NumberColumn(format="%.2f×")
config[tr("kpi.response_median_min")] = st.column_config.NumberColumn(format="%.1f")
data_table(table, hide_index=True, width="stretch", column_config=config, key="sc_table")
if any(t.demo for t in themes):
    st.caption(tr("sc.demo_theme_note"))

codes = [t.code for t in themes]
chosen = st.selectbox(
    tr("sc.pick"), codes, key="sc_theme", format_func=lambda c: _name(next(t for t in themes if t.code == c))
)
theme = next(t for t in themes if t.code == chosen)
c = st.columns(2)
x, y = theme.lorenz
c[0].subheader(tr("sc.lorenz"))
c[0].line_chart(
    pd.DataFrame(
        {tr("sc.share_incidents"): y, tr("sc.equal"): x}, index=pd.Index(x, name=tr("sc.share_cells"))
    ),
    height=260,
)
c[1].subheader(tr("sc.coverage"))
cov = pd.DataFrame(
    {tr("sc.covered"): [theme.coverage.get(k) for k in DEFAULT_K]}, index=pd.Index(list(DEFAULT_K), name="K")
)
c[1].line_chart(cov, height=260)
c[1].caption(tr("sc.coverage_note"))

st.subheader(tr("sc.recommend"))
hours = st.data_editor(
    pd.DataFrame({tr("col.township"): list(tw_names.values()), tr("sc.hours"): [10.0] * len(tw_names)}),
    hide_index=True,
    key="sc_hours",
    disabled=[tr("col.township")],
)
cc = st.columns(2)
minutes = cc[0].number_input(tr("sc.minutes"), min_value=5, max_value=240, value=20, step=5, key="sc_minutes")
target = cc[1].multiselect(
    tr("sc.themes"),
    codes,
    default=codes[:2],
    key="sc_targets",
    placeholder=tr("app.choose"),
    format_func=lambda c: _name(next(t for t in themes if t.code == c)),
)
items = tuple(sorted({i.code for code in target for i in catalog.items_of_theme(code)})) or None
by_name = {v: k for k, v in tw_names.items()}
plan = _plan(
    views.url,
    day,
    tuple((by_name[n], float(h)) for n, h in zip(hours.iloc[:, 0], hours.iloc[:, 1], strict=True)),
    float(minutes),
    items,
)
st.caption(
    tr(
        "sc.plan_summary",
        visits=len(plan),
        expected=round(float(plan["expected_per_week"].sum()), 1) if len(plan) else 0,
    )
)
if len(plan):
    basemap = basemap_from_env()
    m = district_map(data, basemap)
    layer, legend = hex_layer(
        HexCounts(10, plan["cell"].to_numpy(dtype=np.int64), plan["expected_per_week"].to_numpy(dtype=float)),
        name=tr("sc.recommend"),
        legend_title=tr("sc.expected"),
        tooltip_label=tr("sc.expected"),
        basemap=basemap,
    )
    layer.add_to(m)
    add_legend(m, legend)
    show_map(m, "sc_map", height=520)
    export = plan.assign(township=plan["township_code"].map(tw_names), cell=cell_ids(plan["cell"]))
    st.download_button(
        tr("sc.export"),
        csv_bytes(export),
        file_name="gridpatrol-patrol-targets.csv",
        mime="text/csv",
        key="sc_export",
    )
