from html import escape as html_escape
from typing import Any

import pandas as pd
import streamlit as st

from app_pages.common import (
    data_table,
    error_text,
    evaluation_service,
    incident_service,
    item_name,
    local_time,
    md_escape,
    now_utc,
    open_incident,
    reads,
    require_analytics,
    require_district,
    state_name,
    tr,
)
from app_pages.periods import evaluation_status, pick_period, printable_html, published_version
from layers.svg import choropleth_svg
from patrol.evaluation import Evaluation, Period, table_diff
from patrol.kpis import (
    KPI_COLUMNS,
    MIN_CASES_TO_RANK,
    MINUTE_KPIS,
    RATE_KPIS,
    change_text,
    figure_text,
    previous_months,
)
from patrol.permissions import AccessDeniedError
from patrol.refusals import Refusal
from patrol.spreadsheet import xlsx_bytes

TREND_MONTHS = 6
SHOWN_KPIS = (
    "received", "to_close", "closure_rate", "on_time_rate", "response_median_min", "urgent_within_15_share",
    "rework_rate", "repeat_rate", "proactive_share", "satisfaction_rate", "overdue_open",
)  # fmt: skip

data = require_district()
who = require_analytics()
views = reads()
evaluations = evaluation_service()
now = now_utc()
tw_names = {tw.code: tw.name for tw in data.townships}
st.header(tr("rank.header"))
st.caption(tr("rank.rule", n=MIN_CASES_TO_RANK))

c = st.columns(3)
period = pick_period(now, "rank", c)
view = period.kind
by = c[2].selectbox(
    tr("rank.by"), ["township", "team", "item"], key="rank_by", format_func=lambda b: tr(f"rank.by_{b}")
)
team_names = {t.id: t.name for t in incident_service().teams.values()}
published = evaluations.published(who)


def label(group: object) -> str:
    if by == "township":
        return tw_names.get(str(group), str(group))
    if by == "team":
        return team_names.get(int(group), str(group))  # type: ignore[call-overload]
    return item_name(str(group))


@st.cache_data(ttl=600, show_spinner=False, max_entries=256)
def _live(url: str, code: str, group: str, minutes: str) -> pd.DataFrame:
    """The figures of a period as they stand now (not published yet); kept ten minutes, so
    that switching the grouping or the view back and forth does not read a million incidents
    again."""
    return evaluations.live(code, group)  # type: ignore[arg-type]


stamp = now.strftime("%Y-%m-%d %H:%M")[:-1]  # ten-minute buckets


def figures(p: Period) -> tuple[pd.DataFrame, Evaluation | None]:
    """The period's table: as published when it is, else live."""
    if p.code in published:
        ev = published_version(views.url, p.code, published[p.code], who)
        return ev.table(by), ev
    return _live(views.url, p.code, by, stamp), None


table, evaluation = figures(period)
previous, _ = figures(period.previous())
st.subheader(
    tr("rank.month_title", month=period.code)
    if view == "month"
    else tr("rank.period_title", period=period.code, start=period.months[0], end=period.months[-1])
)
st.caption(evaluation_status(evaluation, period, now))


def _publish(code: str, correction: bool, based_on: int) -> None:
    """Publish ``code`` as the page showed it: version ``based_on`` (0: none) must still be the newest.

    A second click that arrives before the page has redrawn (a double click), or a colleague's
    publication in between, finds a newer version and publishes nothing.
    """
    newest = evaluations.latest(who, code)
    if (newest.version if newest else 0) != based_on:
        version = newest.version if newest else 0  # what the first click published stays said
        st.session_state.setdefault("rank_flash", tr("rank.already_published", period=code, version=version))
        return
    reason = st.session_state.get("rank_reason", "") if correction else ""
    try:
        ev = evaluations.publish(who, code, reason)
    except (Refusal, AccessDeniedError) as exc:
        st.session_state["rank_flash_error"] = error_text(exc)
        return
    st.session_state["rank_reason"] = ""  # a second click finds no reason: one correction per reason
    st.session_state["rank_flash"] = tr("rank.published_now", period=ev.period.code, version=ev.version)


notice = st.container()  # always there: a message coming and going does not refold the box below
if flash := st.session_state.pop("rank_flash", None):
    notice.success(flash)
if flash := st.session_state.pop("rank_flash_error", None):
    notice.error(flash)
if who.role == "command_center" or evaluation is not None:
    with st.expander(tr("rank.publish_box"), expanded=evaluation is None and now >= period.end):
        versions = evaluations.versions(who, period.code) if evaluation is not None else []
        for ev in versions:
            st.markdown(
                "- "
                + tr(
                    "rank.version_line",
                    version=ev.version,
                    at=local_time(ev.published_at),
                    who=md_escape(ev.published_by),
                    received=ev.received,
                )
                + (tr("rank.correction", reason=md_escape(ev.reason)) if ev.reason else "")
            )
        if len(versions) >= 2:
            changed = table_diff(versions[-2].table(by), versions[-1].table(by), ["rank", *KPI_COLUMNS])
            st.caption(tr("rank.diff", old=versions[-2].version, new=versions[-1].version, n=len(changed)))
            if len(changed):
                st.table(
                    pd.DataFrame(
                        {
                            tr("rank.group"): [label(g) for g in changed["group"]],
                            tr("rank.figure"): [
                                tr(f"kpi.{f}") if f != "rank" else tr("rank.rank") for f in changed["figure"]
                            ],
                            tr("rank.old"): [
                                figure_text(f, v)
                                for f, v in zip(changed["figure"], changed["old"], strict=True)
                            ],
                            tr("rank.new"): [
                                figure_text(f, v)
                                for f, v in zip(changed["figure"], changed["new"], strict=True)
                            ],
                        }
                    )
                )
        if who.role == "command_center":
            if now < period.end:
                st.info(tr("rank.not_over", period=period.code, end=local_time(period.end)))
            elif evaluation is None:
                st.caption(tr("rank.publish_help"))
                st.button(
                    tr("rank.publish"),
                    key="rank_publish",
                    type="primary",
                    on_click=_publish,
                    args=(period.code, False, 0),
                )
            else:
                reason = st.text_input(
                    tr("rank.reason"), key="rank_reason", placeholder=tr("rank.reason_hint")
                )
                st.button(
                    tr("rank.publish_correction", version=evaluation.version + 1),
                    key="rank_correct",
                    disabled=not reason.strip(),
                    on_click=_publish,
                    args=(period.code, True, evaluation.version),
                )

prev = previous.set_index("group")
trend_periods = [Period.containing("month", m) for m in previous_months(period.months[-1], TREND_MONTHS)]
trend = (
    {p.code: figures(p)[0].set_index("group")["on_time_rate"] for p in trend_periods}
    if by == "township" and view == "month"
    else {}
)
trend_months = [p.code for p in trend_periods]

display = pd.DataFrame(
    {
        tr("rank.rank"): pd.array([None if r is None else int(r) for r in table["rank"]], dtype="Int64"),
        tr("rank.group"): [label(g) for g in table["group"]],
        tr("kpi.received"): table["received"],
        tr("kpi.to_close"): table["to_close"],
        tr("kpi.closure_rate"): table["closure_rate"],
        tr("kpi.on_time_rate"): table["on_time_rate"],
        tr("rank.change"): [
            change_text(cur, prev["on_time_rate"].get(g) if g in prev.index else None)
            for g, cur in zip(table["group"], table["on_time_rate"], strict=True)
        ],
        tr("kpi.response_median_min"): table["response_median_min"],
        tr("kpi.urgent_within_15_share"): table["urgent_within_15_share"],
        tr("kpi.rework_rate"): table["rework_rate"],
        tr("kpi.repeat_rate"): table["repeat_rate"],
        tr("kpi.proactive_share"): table["proactive_share"],
        tr("kpi.satisfaction_rate"): table["satisfaction_rate"],
        tr("kpi.overdue_open"): table["overdue_open"],
    }
)
shown = [*SHOWN_KPIS, *(["empowered_use_share"] if "empowered_use_share" in table else [])]
if "empowered_use_share" in table:  # townships: the reform asks them to use half their empowered items
    display[tr("kpi.empowered_use_share")] = table["empowered_use_share"].to_numpy()
    display[tr("kpi.empowered_used")] = [
        tr("rank.used_of", used=figure_text("empowered_used", u), of=figure_text("empowered_items", n))
        for u, n in zip(table["empowered_used"], table["empowered_items"], strict=True)
    ]
if trend:
    display[tr("rank.trend")] = [
        [None if pd.isna(trend[m].get(g, None)) else float(trend[m].get(g)) for m in trend_months]
        for g in table["group"]
    ]
display = display.iloc[table["rank"].map(lambda r: 10_000 if r is None else r).argsort(kind="stable")]
# every figure carries its definition (patrol.kpis) as the column's help
config: dict[str, Any] = {
    tr(f"kpi.{c}"): st.column_config.NumberColumn(
        format="percent" if c in RATE_KPIS else "%.1f" if c == "response_median_min" else None,
        help=tr(f"kpi.def.{c}"),
    )
    for c in shown
}
if trend:
    config[tr("rank.trend")] = st.column_config.LineChartColumn(tr("rank.trend"), y_min=0.0, y_max=1.0)
data_table(display, hide_index=True, width="stretch", column_config=config, key="rank_table")

st.subheader(tr("rank.worst"))
st.caption(tr("rank.worst_help"))
# the open incidents whose due time passed longest ago, most overdue first
worst = views.overdue(now, limit=15)
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
picked = data_table(
    worst_frame,
    hide_index=True,
    width="stretch",
    key="rank_worst",
    on_select="rerun",
    selection_mode="single-row",
)
if picked is not None and picked.selection.rows:
    open_incident(worst[picked.selection.rows[0]].id)

ranking_sheet = display.drop(columns=[tr("rank.trend")], errors="ignore")
all_figures = table.assign(group=[label(g) for g in table["group"]])[["group", "rank", *KPI_COLUMNS]]
all_figures.columns = [tr("rank.group"), tr("rank.rank"), *(tr(f"kpi.{c}") for c in KPI_COLUMNS)]
definitions = pd.DataFrame(
    {
        tr("rank.figure"): [tr(f"kpi.{c}") for c in shown],
        tr("rank.definition"): [tr(f"kpi.def.{c}") for c in shown],
    }
)
status = evaluation_status(evaluation, period, now, markdown=False)
workbook = xlsx_bytes(
    {
        tr("rank.sheet_ranking"): ranking_sheet,
        tr("rank.sheet_kpis"): all_figures,
        tr("rank.worst"): worst_frame,
        tr("rank.sheet_definitions"): definitions,
    },
    formats={tr(f"kpi.{c}"): "0.0%" for c in RATE_KPIS} | {tr(f"kpi.{c}"): "0.0" for c in MINUTE_KPIS},
)
st.download_button(
    tr("rank.excel"),
    workbook,
    file_name=f"gridpatrol-ranking-{period.code}.xlsx",
    mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    key="rank_excel",
)
svg = ""
if by == "township":
    geoms = {tw.code: tw.geometry for tw in data.townships}
    codes = [g for g in table["group"] if g in geoms]
    rates = dict(zip(table["group"], table["on_time_rate"], strict=True))
    svg = choropleth_svg(
        [geoms[c] for c in codes],
        [None if pd.isna(rates[c]) else float(rates[c]) for c in codes],
        [tw_names[c] for c in codes],
        title=tr("kpi.on_time_rate"),
        no_data=tr("rank.no_data"),
        percent=True,
    )
printable = ranking_sheet.copy()
for c in shown:
    printable[tr(f"kpi.{c}")] = [figure_text(c, v) for v in printable[tr(f"kpi.{c}")]]
printable[tr("rank.rank")] = [
    figure_text("rank", None if pd.isna(v) else v) for v in printable[tr("rank.rank")]
]
html = printable_html(
    f"{tr('rank.header')} · {period.code}",
    status,
    [
        f"<p>{html_escape(tr('rank.rule', n=MIN_CASES_TO_RANK))}</p>",
        svg,
        printable.to_html(index=False),
        f"<h2>{tr('rank.worst')}</h2>",
        worst_frame.to_html(index=False),
        f"<h2>{tr('rank.sheet_definitions')}</h2><dl>",
        *(f"<dt>{tr(f'kpi.{c}')}</dt><dd>{tr(f'kpi.def.{c}')}</dd>" for c in shown),
        "</dl>",
    ],
    demo=data.district.is_demo,
)
st.download_button(
    tr("rank.html"),
    html,
    file_name=f"gridpatrol-ranking-{period.code}.html",
    mime="text/html",
    key="rank_html",
)
