"""What the evaluation pages (月晾晒 ranking, 综合评价) share: the period picker, a published
version, what the figures shown are, and the printable report."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import streamlit as st

from app_pages.common import evaluation_service, local_time, md_escape, tr
from patrol.roles import Principal

PERIODS_SHOWN = {"month": 13, "quarter": 5, "half": 4, "year": 3}


@st.cache_data(ttl=600, show_spinner=False, max_entries=64)
def published_version(url: str, code: str, version: int, _who: Principal) -> Any:
    """One published version of a period's evaluation (immutable: kept while asked for).

    The version asked for, not the newest: someone may publish a correction between reading the
    list of published periods and this call.
    """
    return next(e for e in evaluation_service().versions(_who, code) if e.version == version)


def evaluation_status(evaluation: Any, period: Any, now: datetime, *, markdown: bool = True) -> str:
    """What the figures shown are: a published version (when, by whom, its fingerprint, the
    reason of a correction), or live figures that still move."""
    if evaluation is None:
        return tr("rank.live" if now >= period.end else "rank.live_open")
    escape = md_escape if markdown else str
    text = tr(
        "rank.published",
        version=evaluation.version,
        at=local_time(evaluation.published_at),
        who=escape(evaluation.published_by),
        hash=evaluation.inputs_hash[:12],
    )
    return text + (tr("rank.correction", reason=escape(evaluation.reason)) if evaluation.reason else "")


def printable_html(title: str, status: str, parts: list[str], *, demo: bool) -> bytes:
    """A report that prints well: the demo warning first on demo data, the title, what the
    figures are, then ``parts`` (HTML: maps, tables, definitions)."""
    from html import escape

    notice = f"<p class='demo'>⚠ {escape(tr('app.demo_notice'))}</p>" if demo else ""
    return (
        f"<html><head><meta charset='utf-8'><title>{escape(title)}</title>"
        "<style>body{font-family:sans-serif;margin:1.5cm}table{border-collapse:collapse;margin:8px 0}"
        "td,th{border:1px solid #999;padding:4px 8px}td{text-align:right}"
        "td:nth-child(2){text-align:left;white-space:nowrap}"
        ".demo{color:#a00;font-weight:bold}dt{font-weight:bold}@media print{h2{break-before:auto}"
        "table{break-inside:auto}tr{break-inside:avoid}}</style>"
        f"</head><body>{notice}<h1>{escape(title)}</h1><p>{escape(status)}</p>"
        + "".join(parts)
        + "</body></html>"
    ).encode("utf-8")


def pick_period(now: datetime, prefix: str, columns: Any = None) -> Any:
    """The period to evaluate: its kind (month, quarter, half-year, year) and which one.

    The last period that is over is chosen first (the one to publish). ``columns``: where the
    two pickers go (two containers; default side by side).
    """
    from patrol.evaluation import PERIOD_KINDS, recent_periods
    from patrol.workdays import LOCAL_TZ

    this_month = now.astimezone(LOCAL_TZ).strftime("%Y-%m")
    where = columns if columns is not None else st.columns(2)
    view = where[1].radio(
        tr("rank.view"),
        list(PERIOD_KINDS),
        key=f"{prefix}_view",
        format_func=lambda v: tr(f"rank.view_{v}"),
        horizontal=True,
    )
    periods = recent_periods(view, this_month, PERIODS_SHOWN[view])
    return where[0].selectbox(
        tr(f"rank.period_{view}"),
        periods,
        index=1,
        key=f"{prefix}_period_{view}",
        format_func=lambda p: p.code,
    )
