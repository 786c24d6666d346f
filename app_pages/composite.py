from html import escape as html_escape
from typing import Any

import pandas as pd
import streamlit as st

from app_pages.common import (
    data_table,
    error_text,
    evaluation_service,
    lang,
    local_time,
    now_utc,
    reads,
    require_analytics,
    require_district,
    tr,
    uploader,
)
from app_pages.periods import evaluation_status, pick_period, printable_html, published_version
from layers.svg import choropleth_svg
from patrol.composite import Scheme, SubItem
from patrol.evaluation import Evaluation, Period, ScoreInput, latest_entries
from patrol.kpis import MIN_CASES_TO_RANK, RATE_KPIS, figure_text
from patrol.permissions import AccessDeniedError
from patrol.refusals import Refusal
from patrol.spreadsheet import xlsx_bytes

data = require_district()
who = require_analytics()
views = reads()
evaluations = evaluation_service()
scheme: Scheme = evaluations.scheme
now = now_utc()
zh = lang() == "zh"
tw_names = {tw.code: tw.name for tw in data.townships}


def name(x: Any) -> str:
    """A block's or sub-item's name in the session's language."""
    return str(x.name_zh if zh else x.name_en)


def rule_text(item: SubItem) -> str:
    return item.rule_zh if zh else item.rule_en


blocks = {b.code: b for b in scheme.blocks}
scheme_text = tr(
    "comp.scheme", blocks=len(scheme.blocks), items=len(scheme.items), entered=len(scheme.entered)
)
rules_text = tr("comp.rules", n=MIN_CASES_TO_RANK, order="、".join(name(blocks[c]) for c in scheme.tie_order))
st.header(tr("comp.header"))
st.caption(scheme_text)
with st.expander(tr("comp.rules_box")):
    st.markdown(rules_text)

period: Period = pick_period(now, "comp")
published = evaluations.published(who)


@st.cache_data(ttl=600, show_spinner=False, max_entries=64)
def _live(url: str, code: str, entries: int, minutes: str) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The composite as it stands now; read again when a score is entered or ten minutes pass."""
    return evaluations.live_composite(code)


stamp = now.strftime("%Y-%m-%d %H:%M")[:-1]


def composite_of(p: Period) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, Evaluation | None]:
    """The period's composite: as published when it is (and the version has it), else live."""
    if p.code in published:
        ev = published_version(views.url, p.code, published[p.code], who)
        if (found := ev.composite()) is not None:
            return found[0], found[1], ev.table("classes"), ev
    n = len(evaluations.score_entries(who, p.code))
    return (*_live(views.url, p.code, n, stamp), None)


summary, details, classes, evaluation = composite_of(period)
previous, _, _, _ = composite_of(period.previous())
if evaluation is None and period.code in published:
    st.caption(tr("comp.published_before"))
else:
    st.caption(
        evaluation_status(evaluation, period, now) + (tr("comp.published_scores") if evaluation else "")
    )

prev = previous.set_index("group")
now_missing = dict(zip(summary["group"], summary["missing"], strict=True))


def complete(group: str) -> bool:
    """Both periods fully entered: a total with sub-items still to enter is not compared."""
    return (
        group in prev.index and not int(prev["missing"].get(group) or 0) and not int(now_missing[group] or 0)
    )


def change(group: str, total: Any) -> str:
    """The total's change since the previous period, in points (blank when either is unknown or
    not fully entered)."""
    before = prev["total"].get(group) if complete(group) else None
    if total is None or before is None or pd.isna(total) or pd.isna(before):
        return ""
    delta = float(total) - float(before)
    return "→ 0.00" if abs(delta) < 0.005 else f"{'↑' if delta > 0 else '↓'} {abs(delta):.2f}"


def rank_change(group: str, rank: Any) -> str:
    """Places gained (↑) or lost (↓) since the previous period."""
    before = prev["rank"].get(group) if complete(group) else None
    if rank is None or before is None or pd.isna(rank) or pd.isna(before):
        return ""
    moved = int(before) - int(rank)
    return "→" if moved == 0 else f"{'↑' if moved > 0 else '↓'} {abs(moved)}"


order = summary["rank"].map(lambda r: 10_000 if r is None or pd.isna(r) else int(r)).argsort(kind="stable")
summary = summary.iloc[order].reset_index(drop=True)
block_cols = {
    f"block:{b.code}": tr("comp.of_points", name=name(b), points=f"{b.points:g}") for b in scheme.blocks
}
display = pd.DataFrame(
    {
        tr("rank.rank"): pd.array(
            [None if r is None or pd.isna(r) else int(r) for r in summary["rank"]], "Int64"
        ),
        tr("comp.township"): [tw_names.get(g, g) for g in summary["group"]],
        tr("comp.total"): summary["total"].astype(float),
        tr("comp.change"): [change(g, t) for g, t in zip(summary["group"], summary["total"], strict=True)],
        tr("comp.rank_change"): [
            rank_change(g, r) for g, r in zip(summary["group"], summary["rank"], strict=True)
        ],
        **{label: summary[col].astype(float) for col, label in block_cols.items()},
        tr("comp.missing"): summary["missing"].astype(int),
        tr("kpi.received"): summary["received"].astype(int),
    }
)
config: dict[str, Any] = {
    tr("comp.total"): st.column_config.NumberColumn(format="%.2f", help=tr("comp.total_help")),
    tr("comp.change"): st.column_config.TextColumn(help=tr("comp.change_help")),
    tr("comp.missing"): st.column_config.NumberColumn(help=tr("comp.missing_help")),
    **{label: st.column_config.NumberColumn(format="%.2f") for label in block_cols.values()},
}
data_table(display, hide_index=True, width="stretch", column_config=config, key="comp_table")
unranked = [tw_names.get(g, g) for g, ok in zip(summary["group"], summary["ranked"], strict=True) if not ok]
if unranked:
    st.caption(tr("comp.unranked", n=MIN_CASES_TO_RANK, names="、".join(unranked)))
if int(summary["missing"].sum()) or int(previous["missing"].sum()):
    st.caption(tr("comp.change_incomplete"))
if int(summary["missing"].sum()):
    st.warning(
        tr(
            "comp.missing_warn",
            n=int(summary["missing"].sum()),
            townships=int((summary["missing"] > 0).sum()),
        )
    )

geoms = {tw.code: tw.geometry for tw in data.townships}
codes = [g for g in summary["group"] if g in geoms]
totals = dict(zip(summary["group"], summary["total"], strict=True))
svg = choropleth_svg(
    [geoms[c] for c in codes],
    [None if totals[c] is None or pd.isna(totals[c]) else float(totals[c]) for c in codes],
    [tw_names[c] for c in codes],
    title=tr("comp.total"),
    no_data=tr("rank.no_data"),
)
with st.expander(tr("comp.map"), expanded=False):
    st.html(svg)

# -- one township's sub-items ---------------------------------------------------------------
st.subheader(tr("comp.items_title"))
township = st.selectbox(
    tr("comp.township"), list(summary["group"]), key="comp_township", format_func=lambda c: tw_names.get(c, c)
)
entries = evaluations.score_entries(who, period.code)
counting = latest_entries(entries, evaluation.published_at if evaluation is not None else None)
mine = details[details["group"] == township].set_index("item")


def value_text(item: SubItem, value: Any) -> str:
    if not item.computed:
        return ""
    if value is None or pd.isna(value):
        return tr("comp.no_value")
    figure = item.figure or ""
    return f"{float(value):.1%}" if "/" in figure or figure in RATE_KPIS else figure_text(figure, value)


def evidence_text(item: SubItem) -> str:
    entry = counting.get((township, item.code))
    if item.computed:
        return tr("comp.computed")
    if entry is None:
        return tr("comp.not_entered")
    return tr("comp.entered_by", evidence=entry.evidence, who=entry.entered_by, at=local_time(entry.at)) + (
        f" · 📎 {entry.filename}" if entry.filename else ""
    )


def points_of(frame: pd.DataFrame, code: str) -> float | None:
    """A sub-item's points in a township's rows (None: not scored or not entered)."""
    value = frame["points"].get(code) if code in frame.index else None
    return None if value is None or pd.isna(value) else float(value)


items_frame = pd.DataFrame(
    {
        tr("comp.block"): [name(blocks[i.block]) for i in scheme.items],
        tr("comp.item"): [f"{i.code} {name(i)}" for i in scheme.items],
        tr("comp.value"): [value_text(i, mine["value"].get(i.code)) for i in scheme.items],
        tr("comp.points"): [points_of(mine, i.code) for i in scheme.items],
        tr("comp.max"): [i.points for i in scheme.items],
        tr("comp.rule"): [rule_text(i) for i in scheme.items],
        tr("comp.basis"): [evidence_text(i) for i in scheme.items],
    }
)  # fmt: skip
data_table(
    items_frame,
    hide_index=True,
    width="stretch",
    key="comp_items",
    column_config={tr("comp.points"): st.column_config.NumberColumn(format="%.2f")},
)
attached = [e for e in counting.values() if e.township_code == township and e.sha256]
for entry in attached:
    content = evaluations.attachment(who, period.code, entry.id)
    if content is not None:
        st.download_button(
            tr("comp.download", item=entry.item_code, file=entry.filename),
            content,
            file_name=entry.filename,
            key=f"comp_file_{entry.id}",
        )

# -- the assessors' entry (command centre) ----------------------------------------------------
if who.role == "command_center":
    with st.expander(tr("comp.enter_box", township=tw_names.get(township, township)), expanded=False):
        st.caption(tr("comp.enter_help"))
        if evaluation is not None:
            st.info(tr("comp.enter_after_publish", version=evaluation.version))
        current = latest_entries(entries)
        base = pd.DataFrame(
            {
                "item": [i.code for i in scheme.entered],
                tr("comp.item"): [f"{i.code} {name(i)}" for i in scheme.entered],
                tr("comp.max"): [i.points for i in scheme.entered],
                tr("comp.points"): [
                    current[(township, i.code)].points if (township, i.code) in current else None
                    for i in scheme.entered
                ],
                tr("comp.evidence"): [
                    current[(township, i.code)].evidence if (township, i.code) in current else ""
                    for i in scheme.entered
                ],
            }
        )
        edited = st.data_editor(
            base,
            hide_index=True,
            width="stretch",
            disabled=["item", tr("comp.item"), tr("comp.max")],
            column_config={
                "item": None,
                tr("comp.points"): st.column_config.NumberColumn(min_value=0.0, step=0.1, format="%.1f"),
                tr("comp.evidence"): st.column_config.TextColumn(
                    width="large", help=tr("comp.evidence_help")
                ),
            },
            key=f"comp_editor_{period.code}_{township}",
            placeholder=tr("comp.placeholder"),
        )
        file = uploader(tr("comp.attach"), ["pdf", "jpg", "png", "xlsx", "docx"], "comp_attach", mb=10)
        points_col, evidence_col = tr("comp.points"), tr("comp.evidence")
        changed = [
            ScoreInput(
                township,
                str(new["item"]),
                float(new[tr("comp.points")]),
                str(new[tr("comp.evidence")] or ""),
                (file.name, file.getvalue()) if file is not None else None,
            )
            for (_, old), (_, new) in zip(base.iterrows(), edited.iterrows(), strict=True)
            if not pd.isna(new[points_col])
            and (old[points_col] != new[points_col] or old[evidence_col] != new[evidence_col])
        ]  # fmt: skip
        blank = [
            str(new["item"])
            for (_, new) in edited.iterrows()
            if pd.isna(new[tr("comp.points")]) and str(new[tr("comp.evidence")] or "").strip()
        ]
        if blank:
            st.warning(tr("comp.points_missing", items="、".join(blank)))
        if st.button(tr("comp.save", n=len(changed)), key="comp_save", type="primary", disabled=not changed):
            try:
                saved = evaluations.enter_scores(who, period.code, changed)
            except (Refusal, AccessDeniedError) as exc:
                st.error(error_text(exc))
            else:
                st.session_state["comp_flash"] = tr("comp.saved", n=len(saved), period=period.code)
                st.rerun()
if flash := st.session_state.pop("comp_flash", None):
    st.success(flash)

# -- the reform's figures per empowerment class -------------------------------------------------
st.subheader(tr("comp.classes_title"))
st.caption(tr("comp.classes_help"))
classes_frame = pd.DataFrame(
    {
        tr("comp.class"): [tr(f"class.{c}") for c in classes["group"]],
        tr("comp.townships"): classes["townships"],
        tr("kpi.received"): classes["received"],
        tr("comp.by_township"): classes["by_township"],
        tr("comp.cases"): classes["cases"],
        tr("comp.cases_per_township"): [
            "—" if v is None or pd.isna(v) else f"{float(v):.1f}" for v in classes["cases_per_township"]
        ],
    }
)
data_table(classes_frame, hide_index=True, width="stretch", key="comp_classes")

# -- reports ----------------------------------------------------------------------------------
sheets: dict[str, pd.DataFrame] = {tr("comp.sheet_summary"): display}
for b in scheme.blocks:
    in_block = [i for i in scheme.items if i.block == b.code]
    rows = []
    for g in summary["group"]:
        of = details[details["group"] == g].set_index("item")
        row: dict[str, Any] = {tr("comp.township"): tw_names.get(g, g)}
        for i in in_block:
            if i.computed:
                row[tr("comp.of_points", name=f"{i.code} {name(i)}", points=tr("comp.value"))] = value_text(
                    i, of["value"].get(i.code)
                )
            row[
                tr("comp.of_points", name=f"{i.code} {name(i)}", points=f"{tr('comp.points')}/{i.points:g}")
            ] = points_of(of, i.code)
        rows.append(row)
    sheets[name(b)[:31]] = pd.DataFrame(rows)
sheets[tr("comp.classes_title")[:31]] = classes_frame
sheets[tr("comp.sheet_scheme")] = pd.DataFrame(
    {
        tr("comp.block"): [name(blocks[i.block]) for i in scheme.items],
        tr("comp.item"): [f"{i.code} {name(i)}" for i in scheme.items],
        tr("comp.max"): [i.points for i in scheme.items],
        tr("comp.source"): [tr("comp.computed") if i.computed else tr("comp.entered") for i in scheme.items],
        tr("comp.rule"): [rule_text(i) for i in scheme.items],
    }
)
st.download_button(
    tr("rank.excel"),
    xlsx_bytes(
        sheets, formats={tr("comp.total"): "0.00", **{label: "0.00" for label in block_cols.values()}}
    ),
    file_name=f"gridpatrol-composite-{period.code}.xlsx",
    mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    key="comp_excel",
)
status = evaluation_status(evaluation, period, now, markdown=False)
printable = display.copy()
printable[tr("rank.rank")] = ["—" if pd.isna(r) else str(r) for r in printable[tr("rank.rank")]]
for col in [tr("comp.total"), *block_cols.values()]:
    printable[col] = ["—" if pd.isna(v) else f"{v:.2f}" for v in printable[col]]
html = printable_html(
    f"{tr('comp.header')} · {period.code}",
    status,
    [
        f"<p>{html_escape(scheme_text)}</p>",
        svg,
        printable.to_html(index=False),
        f"<h2>{tr('comp.classes_title')}</h2>",
        classes_frame.to_html(index=False),
        f"<h2>{tr('comp.sheet_scheme')}</h2>",
        sheets[tr("comp.sheet_scheme")].to_html(index=False),
        f"<p>{html_escape(rules_text.replace('**', ''))}</p>",
    ],
    demo=data.district.is_demo,
)
st.download_button(
    tr("rank.html"),
    html,
    file_name=f"gridpatrol-composite-{period.code}.html",
    mime="text/html",
    key="comp_html",
)
