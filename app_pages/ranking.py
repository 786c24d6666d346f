import pandas as pd
import streamlit as st

from app_pages.common import (
    get_store,
    incident_service,
    item_name,
    local_time,
    now_utc,
    require_analytics,
    require_district,
    state_name,
    tr,
)
from layers.svg import choropleth_svg
from patrol.dashboard import OPEN
from patrol.incidents import LOCAL_TZ
from patrol.kpis import KPI_COLUMNS, MIN_CASES_TO_RANK, change_arrow, month_kpis, period_kpis, previous_months
from patrol.spreadsheet import xlsx_bytes
from store.rows import IncidentQuery

TREND_MONTHS = 6
RATE_COLUMNS = (
    "closure_rate",
    "on_time_rate",
    "urgent_within_15_share",
    "rework_rate",
    "consultation_share",
    "repeat_rate",
    "proactive_share",
)

data = require_district()
who = require_analytics()
store = get_store()
now = now_utc()
tw_names = {tw["code"]: tw["name"] for tw in data["townships"]}
st.header(tr("rank.header"))
st.caption(tr("rank.rule", n=MIN_CASES_TO_RANK))

this_month = now.astimezone(LOCAL_TZ).strftime("%Y-%m")
months = previous_months(this_month, 13)[::-1]
c = st.columns(3)
month = c[0].selectbox(tr("rank.month"), months, index=1, key="rank_month")
view = c[1].radio(
    tr("rank.view"),
    ["month", "quarter"],
    key="rank_view",
    format_func=lambda v: tr(f"rank.view_{v}"),
    horizontal=True,
)
by = c[2].selectbox(
    tr("rank.by"), ["township", "team", "item"], key="rank_by", format_func=lambda b: tr(f"rank.by_{b}")
)
team_names = {t.id: t.name for t in incident_service().teams.values()}


def label(group: object) -> str:
    if by == "township":
        return tw_names.get(str(group), str(group))
    if by == "team":
        return team_names.get(int(group), str(group))  # type: ignore[call-overload]
    return item_name(str(group))


@st.cache_data(ttl=600, show_spinner=False, max_entries=256)
def _kpis(url: str, months: tuple[str, ...], group: str, minutes: str) -> pd.DataFrame:
    """The KPIs of these months as they stand now; kept ten minutes, so that switching the
    grouping or the view back and forth does not read a million incidents again."""
    if len(months) == 1:
        return month_kpis(store, months[0], group, now)  # type: ignore[arg-type]
    return period_kpis(store, list(months), group, now)  # type: ignore[arg-type]


stamp = now.strftime("%Y-%m-%d %H:%M")[:-1]  # ten-minute buckets
if view == "quarter":
    period = previous_months(month, 3)
    table = _kpis(store.url, tuple(period), by, stamp)
    previous = _kpis(store.url, tuple(previous_months(previous_months(month, 4)[0], 3)), by, stamp)
    st.subheader(tr("rank.quarter_title", start=period[0], end=period[-1]))
else:
    table = _kpis(store.url, (month,), by, stamp)
    previous = _kpis(store.url, (previous_months(month, 2)[0],), by, stamp)
    st.subheader(tr("rank.month_title", month=month))

prev = previous.set_index("group")
trend_months = previous_months(month, TREND_MONTHS)
trend = (
    {m: _kpis(store.url, (m,), by, stamp).set_index("group")["on_time_rate"] for m in trend_months}
    if by == "township"
    else {}
)

display = pd.DataFrame(
    {
        tr("rank.rank"): pd.array([None if r is None else int(r) for r in table["rank"]], dtype="Int64"),
        tr("rank.group"): [label(g) for g in table["group"]],
        tr("kpi.received"): table["received"],
        tr("kpi.closure_rate"): table["closure_rate"],
        tr("kpi.on_time_rate"): table["on_time_rate"],
        tr("rank.change"): [
            change_arrow(cur, prev["on_time_rate"].get(g) if g in prev.index else None)
            for g, cur in zip(table["group"], table["on_time_rate"], strict=True)
        ],
        tr("kpi.response_median_min"): table["response_median_min"],
        tr("kpi.urgent_within_15_share"): table["urgent_within_15_share"],
        tr("kpi.rework_rate"): table["rework_rate"],
        tr("kpi.repeat_rate"): table["repeat_rate"],
        tr("kpi.proactive_share"): table["proactive_share"],
        tr("kpi.overdue_open"): table["overdue_open"],
    }
)
if trend:
    display[tr("rank.trend")] = [
        [None if pd.isna(trend[m].get(g, None)) else float(trend[m].get(g)) for m in trend_months]
        for g in table["group"]
    ]
display = display.iloc[table["rank"].map(lambda r: 10_000 if r is None else r).argsort(kind="stable")]
percent = st.column_config.NumberColumn(format="percent")
config = {tr(f"kpi.{c}"): percent for c in RATE_COLUMNS}
config[tr("kpi.response_median_min")] = st.column_config.NumberColumn(format="%.1f")
if trend:
    config[tr("rank.trend")] = st.column_config.LineChartColumn(tr("rank.trend"), y_min=0.0, y_max=1.0)
st.dataframe(display, hide_index=True, width="stretch", column_config=config, key="rank_table")

st.subheader(tr("rank.worst"))
worst = store.list_incidents(IncidentQuery(states=OPEN, due_before=now, limit=15, newest_first=False))
worst_frame = pd.DataFrame(
    {
        tr("col.number"): [r.number for r in worst],
        tr("col.township"): [tw_names.get(r.township_code, r.township_code) for r in worst],
        tr("col.item"): [item_name(r.item_code) for r in worst],
        tr("col.state"): [state_name(r.state) for r in worst],
        tr("col.due"): [local_time(r.due_at) for r in worst],
        tr("rank.days_over"): [round((now - r.due_at).total_seconds() / 86400, 1) for r in worst],
    }
)
st.dataframe(worst_frame, hide_index=True, width="stretch", key="rank_worst")

workbook = xlsx_bytes(
    {
        tr("rank.sheet_ranking"): display.drop(columns=[tr("rank.trend")], errors="ignore"),
        tr("rank.sheet_kpis"): table.assign(group=[label(g) for g in table["group"]])[
            ["group", "rank", *KPI_COLUMNS]
        ],
        tr("rank.worst"): worst_frame,
    }
)
st.download_button(
    tr("rank.excel"),
    workbook,
    file_name=f"gridpatrol-ranking-{month}-{view}.xlsx",
    mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    key="rank_excel",
)
svg = ""
if by == "township":
    geoms = {tw["code"]: tw["geometry"] for tw in data["townships"]}
    codes = [g for g in table["group"] if g in geoms]
    rates = dict(zip(table["group"], table["on_time_rate"], strict=True))
    svg = choropleth_svg(
        [geoms[c] for c in codes],
        [None if pd.isna(rates[c]) else float(rates[c]) for c in codes],
        [f"{tw_names[c]} {rates[c]:.0%}" if not pd.isna(rates[c]) else tw_names[c] for c in codes],
        title=tr("kpi.on_time_rate"),
    )
html = (
    f"<html><head><meta charset='utf-8'><title>{tr('rank.header')} {month}</title>"
    "<style>body{font-family:sans-serif}table{border-collapse:collapse}"
    "td,th{border:1px solid #999;padding:4px 8px}</style>"
    f"</head><body><h1>{tr('rank.header')} · {month}</h1><p>{tr('rank.rule', n=MIN_CASES_TO_RANK)}</p>"
    + svg
    + display.drop(columns=[tr("rank.trend")], errors="ignore").to_html(
        index=False, float_format=lambda v: f"{v:.3f}"
    )
    + f"<h2>{tr('rank.worst')}</h2>"
    + worst_frame.to_html(index=False)
    + "</body></html>"
)
st.download_button(
    tr("rank.html"),
    html.encode("utf-8"),
    file_name=f"gridpatrol-ranking-{month}-{view}.html",
    mime="text/html",
    key="rank_html",
)
