"""KPI definitions, written once: every figure of the monthly ranking (月晾晒) comes from here.

All KPIs of a month are computed over the cohort of incidents *received* (reported) in
that month, as they stand at ``now``. Rates whose denominator is zero are ``None`` (shown
as a dash), never 0 or 100%.

=========================  =====================================================================
KPI                        formula
=========================  =====================================================================
received                   incidents reported in the month
to_close                   of those, the ones that must be closed: not rejected as not an
                           enforcement matter (不予受理), not merged into another case, not
                           accepted by a department it was handed over to (移交)
closed                     of those, now closed
closure_rate               closed ÷ to_close
due                        of those to close, whose due time has passed (or that are closed); a
                           case whose clock stands still is not due: on an approved hold (挂账),
                           handed over and not yet answered, or disputed and not yet ruled on
deferred                   of the due ones, given a later due time by an approved deferral (延期);
                           counted for information, judged against the approved due time
on_time                    of the due ones, closed no later than their (approved) due time
on_time_rate               on_time ÷ due
response_median_min        median minutes from report to the first assessment action
response_p90_min           90th percentile of the same
urgent_within_15_share     hotline/petition incidents answered within 15 minutes ÷ those answered
rework_rate                closed incidents that failed verification at least once ÷ closed
consultation_share         incidents taken to a cross-department consultation ÷ received
repeat_rate                incidents that repeat a closed case (反复发案) ÷ received
proactive_share            incidents discovered on patrol ÷ received
overdue_open               incidents still open past their due time (not on an approved hold)
supervised                 incidents raised to supervision (督办) at any level: automatically when
                           overdue, or by hand by the command centre
called_back                hotline and petition cases with a callback verdict (回访)
satisfaction_rate          of those, satisfied or basically satisfied at the first callback ÷
                           called_back (the reform's target: ≥ 98 %)
empowered_use_share        townships only: items empowered to the township (赋权事项) with at
                           least one incident of the period handled by the township ÷ items
                           empowered to it (the reform asks for ≥ 50 %)
=========================  =====================================================================

A township that rightly rejects a report that is no enforcement matter, or merges a duplicate,
is not punished for it: neither counts in the closure or on-time denominators.

Fair ranking: a group with fewer than ``MIN_CASES_TO_RANK`` received incidents is shown but
not ranked (its rates are too noisy to compare). Ranks order by on-time rate, then closure
rate, then median response (faster first).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Literal, TypeAlias

import numpy as np
import pandas as pd

from patrol.incident import (
    OPEN_STATES,
    RUNNING_STATES,
    SATISFIED_RESULTS,
    URGENT_RESPONSE_MINUTES,
    URGENT_SOURCES,
    State,
)
from patrol.workdays import LOCAL_TZ_NAME
from store.protocol import Store
from store.rows import IncidentQuery

GroupBy: TypeAlias = Literal["township", "team", "item"]
GROUP_COLUMNS: dict[str, str] = {"township": "township_code", "team": "team_id", "item": "item_code"}
MIN_CASES_TO_RANK = 20
URGENT_SOURCE_CODES = tuple(sorted(s.value for s in URGENT_SOURCES))
RUNNING_STATE_CODES = tuple(sorted(s.value for s in RUNNING_STATES))
PAUSED_STATE_CODES = tuple(sorted(s.value for s in OPEN_STATES - RUNNING_STATES))
NOT_TO_CLOSE = (State.REJECTED.value, State.MERGED.value, State.TRANSFERRED.value)
KPI_COLUMNS = (
    "received", "to_close", "closed", "closure_rate", "due", "deferred", "on_time", "on_time_rate",
    "response_median_min", "response_p90_min", "urgent_within_15_share", "rework_rate",
    "consultation_share", "repeat_rate", "proactive_share", "overdue_open", "supervised", "called_back",
    "satisfaction_rate",
)  # fmt: skip
NEEDED_COLUMNS = (
    "reported_at", "first_response_at", "due_at", "closed_at", "state", "source", "township_code",
    "team_id", "item_code", "rework_count", "deferral_count", "consult_departments", "repeat_of", "handler",
    "satisfaction", "supervision_level",
)  # fmt: skip


RATE_KPIS = frozenset(
    {"closure_rate", "on_time_rate", "urgent_within_15_share", "rework_rate", "consultation_share",
     "repeat_rate", "proactive_share", "empowered_use_share", "satisfaction_rate"}
)  # fmt: skip
MINUTE_KPIS = frozenset({"response_median_min", "response_p90_min"})
EMPOWERED_COLUMNS = ("empowered_items", "empowered_used", "empowered_use_share")


def figure_text(name: str, value: object) -> str:
    """A KPI value as a person reads it.

    Rates as percentages, minutes to one decimal, counts whole, a dash for none.
    """
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "—"
    if name in RATE_KPIS:
        return f"{float(value):.1%}"  # type: ignore[arg-type]
    if name in MINUTE_KPIS:
        return f"{float(value):.1f}"  # type: ignore[arg-type]
    return str(int(value))  # type: ignore[call-overload]


def ratio(numerator: float, denominator: float) -> float | None:
    """``numerator ÷ denominator``, or None when the denominator is zero."""
    return None if denominator == 0 else numerator / denominator


def _ratio(numerator: pd.Series, denominator: pd.Series) -> list[float | None]:
    """:func:`ratio` per group."""
    return [ratio(float(n), float(d)) for n, d in zip(numerator, denominator, strict=True)]


def _stat(values: pd.Series) -> list[float | None]:
    return [None if pd.isna(v) else float(v) for v in values]


def compute_kpis(frame: pd.DataFrame, by: GroupBy | None, now: datetime) -> pd.DataFrame:
    """KPIs per group (or one row for all when ``by`` is None), with rank and a ranked flag.

    Every per-incident test is computed once over the whole cohort and then summed per group
    (a loop over 158 teams took 1 s; this takes milliseconds).

    Parameters
    ----------
    frame : pandas.DataFrame
        One row per incident of the cohort, with ``NEEDED_COLUMNS`` (times tz-aware).
    by : {'township', 'team', 'item'} or None
    now : datetime
        The moment the figures describe (due and overdue are judged at it).
    """
    closed = frame["state"] == State.CLOSED.value
    to_close = ~frame["state"].isin(NOT_TO_CLOSE)
    # the township's clock stands still: an approved hold, a handover the department has not
    # answered, a dispute the command centre has not ruled on, a consultation not yet decided
    held = frame["state"].isin(PAUSED_STATE_CODES)
    due = to_close & ~held & ((frame["due_at"] <= now) | closed)
    deferred = due & (frame["deferral_count"] > 0)
    called_back = frame["satisfaction"].notna()
    answered = frame["first_response_at"].notna()
    minutes = ((frame["first_response_at"] - frame["reported_at"]).dt.total_seconds() / 60).where(answered)
    urgent = answered & frame["source"].isin(URGENT_SOURCE_CODES)
    flags = pd.DataFrame(
        {
            "received": np.ones(len(frame), dtype=np.int64),
            "to_close": to_close,
            "closed": closed,
            "due": due,
            "deferred": deferred,
            "on_time": due & closed & (frame["closed_at"] <= frame["due_at"]),
            "urgent": urgent,
            "urgent_in_time": urgent & (minutes <= URGENT_RESPONSE_MINUTES),
            "rework": closed & (frame["rework_count"] > 0),
            "consulted": frame["consult_departments"] != "[]",
            "repeat": frame["repeat_of"].notna(),
            "proactive": frame["source"] == "patrol",
            "overdue_open": frame["state"].isin(RUNNING_STATE_CODES) & (frame["due_at"] < now),
            "supervised": frame["supervision_level"] > 0,
            "called_back": called_back,
            "satisfied": called_back & frame["satisfaction"].isin(sorted(SATISFIED_RESULTS)),
        },
        index=frame.index,
    ).astype(np.int64)
    keys = pd.Series("all", index=frame.index) if by is None else frame[GROUP_COLUMNS[by]]
    grouped = flags.groupby(keys, sort=True)
    n = grouped.sum()
    if n.empty:  # no incident: no group, or for all of them one row of zeros and dashes
        if by is not None:
            return rank(pd.DataFrame([], columns=["group", *KPI_COLUMNS]))
        n = pd.DataFrame(0, index=pd.Index(["all"]), columns=flags.columns)
    timed = minutes.groupby(keys, sort=True)
    median = timed.median().reindex(n.index)
    p90 = timed.quantile(0.9).reindex(n.index)
    out = pd.DataFrame(
        {
            "group": list(n.index),
            "received": n["received"].astype(int).tolist(),
            "to_close": n["to_close"].astype(int).tolist(),
            "closed": n["closed"].astype(int).tolist(),
            "closure_rate": _ratio(n["closed"], n["to_close"]),
            "due": n["due"].astype(int).tolist(),
            "deferred": n["deferred"].astype(int).tolist(),
            "on_time": n["on_time"].astype(int).tolist(),
            "on_time_rate": _ratio(n["on_time"], n["due"]),
            "response_median_min": _stat(median),
            "response_p90_min": _stat(p90),
            "urgent_within_15_share": _ratio(n["urgent_in_time"], n["urgent"]),
            "rework_rate": _ratio(n["rework"], n["closed"]),
            "consultation_share": _ratio(n["consulted"], n["received"]),
            "repeat_rate": _ratio(n["repeat"], n["received"]),
            "proactive_share": _ratio(n["proactive"], n["received"]),
            "overdue_open": n["overdue_open"].astype(int).tolist(),
            "supervised": n["supervised"].astype(int).tolist(),
            "called_back": n["called_back"].astype(int).tolist(),
            "satisfaction_rate": _ratio(n["satisfied"], n["called_back"]),
        },
        columns=["group", *KPI_COLUMNS],
    )
    return rank(out)


def empowered_use(frame: pd.DataFrame, empowered: Mapping[str, frozenset[str]]) -> pd.DataFrame:
    """Per township, how many of the items empowered to it (赋权事项) it actually used.

    An empowered item is used when at least one incident of it received in the period was
    handled by the township itself (``handler == "township"``). The reform asks for at least
    half. Columns: ``group``, ``empowered_items``, ``empowered_used``, ``empowered_use_share``.
    """
    mine = frame[frame["handler"] == "township"] if len(frame) else frame
    used = {str(k): set(v) for k, v in mine.groupby("township_code")["item_code"]} if len(mine) else {}
    rows = []
    for code, items in sorted(empowered.items()):
        n_used = len(items & used.get(code, set()))
        rows.append((code, len(items), n_used, ratio(n_used, len(items))))
    return pd.DataFrame(rows, columns=["group", *EMPOWERED_COLUMNS])


def rank(table: pd.DataFrame, min_cases: int = MIN_CASES_TO_RANK) -> pd.DataFrame:
    """Add ``ranked`` (enough cases) and ``rank`` (1 = best; None when not ranked).

    Groups equal on all three keys share a rank and the next rank counts them (1, 2, 2, 4):
    a township is never placed below another only because of its code.
    """
    out = table.copy()
    out["ranked"] = out["received"] >= min_cases
    keys = pd.DataFrame(
        {
            "a": -out["on_time_rate"].astype(float).fillna(-1.0),
            "b": -out["closure_rate"].astype(float).fillna(-1.0),
            "c": out["response_median_min"].astype(float).fillna(np.inf),
        }
    )
    out["rank"] = shared_ranks(keys, out["ranked"])
    return out


def shared_ranks(keys: pd.DataFrame, ranked: pd.Series) -> pd.Series:
    """Competition ranks (1 = smallest keys, compared column by column) of the ranked rows.

    Rows equal on every key share a rank and the next rank counts them (1, 2, 2, 4); rows not
    ranked get None.
    """
    ordered = keys[ranked].sort_values(list(keys.columns), kind="stable")
    out = pd.Series([None] * len(keys), index=keys.index, dtype=object)
    previous: tuple[float, ...] | None = None
    shared = 0
    for position, (idx, row) in enumerate(ordered.iterrows(), start=1):
        key = tuple(float(v) for v in row)
        if key != previous:
            shared, previous = position, key
        out.at[idx] = shared
    return out


def month_bounds(month: str, tz: str = LOCAL_TZ_NAME) -> tuple[datetime, datetime]:
    """Start and end (exclusive) of a month given as ``YYYY-MM``, local time.

    Raises
    ------
    ValueError
        If ``month`` is not ``YYYY-MM``.
    """
    try:
        start = pd.Timestamp(f"{month}-01", tz=tz)
    except ValueError as exc:
        msg = f"month must look like 2026-11, got {month!r}"
        raise ValueError(msg) from exc
    if len(month) != 7 or month[4] != "-":
        msg = f"month must look like 2026-11, got {month!r}"
        raise ValueError(msg)
    return start.to_pydatetime(), (start + pd.offsets.MonthBegin(1)).to_pydatetime()


def previous_months(month: str, n: int) -> list[str]:
    """``month`` and the ``n - 1`` months before it, oldest first."""
    end = pd.Period(month, freq="M")
    return [str(end - k) for k in range(n - 1, -1, -1)]


def change_text(current: float | None, previous: float | None) -> str:
    """The change of a rate since the previous period, with its size in percentage points.

    ``↑ 3.2``, ``↓ 0.5``, ``→ 0.0``; blank when either is unknown.
    """
    arrow = change_arrow(current, previous)
    if not arrow:
        return ""
    return f"{arrow} {abs(float(current) - float(previous)) * 100:.1f}"  # type: ignore[arg-type]


def change_arrow(current: float | None, previous: float | None) -> str:
    """↑ (rose), ↓ (fell) or → (unchanged) from last month to this one; blank when unknown."""
    if current is None or previous is None or pd.isna(current) or pd.isna(previous):
        return ""
    if abs(float(current) - float(previous)) < 1e-9:
        return "→"
    return "↑" if current > previous else "↓"


def month_kpis(
    store: Store,
    month: str,
    by: GroupBy | None,
    now: datetime,
    township_codes: tuple[str, ...] | None = None,
) -> pd.DataFrame:
    """KPIs of the incidents received in ``month`` (``YYYY-MM``), per group, ranked."""
    start, end = month_bounds(month)
    frame = store.incident_frame(
        IncidentQuery(reported_from=start, reported_to=end, township_codes=township_codes), NEEDED_COLUMNS
    )
    return compute_kpis(frame, by, now)


def period_kpis(
    store: Store,
    months: Sequence[str],
    by: GroupBy | None,
    now: datetime,
    township_codes: tuple[str, ...] | None = None,
) -> pd.DataFrame:
    """KPIs of the incidents received over several consecutive months (a quarter: 季复盘)."""
    start, _ = month_bounds(months[0])
    _, end = month_bounds(months[-1])
    frame = store.incident_frame(
        IncidentQuery(reported_from=start, reported_to=end, township_codes=township_codes), NEEDED_COLUMNS
    )
    return compute_kpis(frame, by, now)
