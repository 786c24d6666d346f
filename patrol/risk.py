"""Risk per cell for a coming shift, and an honest backtest against last week's counts.

risk(cell) = Σ over its past incidents of severity(item) · 2^(−age / half-life)
             × the cell's hour-of-week factor for the shift

The hour-of-week factor is how much more (or less) than evenly the cell's incidents fall in
the shift's hours, shrunk towards the district's own pattern when the cell has few
incidents. The backtest ranks cells with data from before each test week only and reports
the share of that week's incidents in the top-K cells, next to the naive ranking by last
week's counts — whichever wins.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from patrol.workdays import LOCAL_TZ_NAME

HALF_LIFE_DAYS = 14.0
SHRINK = 10.0
HOURS_PER_WEEK = 168


def hour_of_week(times: pd.Series, tz: str = LOCAL_TZ_NAME) -> np.ndarray:
    """Hour of the local week (0 = Monday 00:00 … 167) of each time."""
    local = times.dt.tz_convert(tz)
    hours: np.ndarray = (local.dt.day_of_week * 24 + local.dt.hour).to_numpy(dtype=int)
    return hours


def shift_hours(start: datetime, end: datetime, tz: str = LOCAL_TZ_NAME) -> set[int]:
    """The hours of the week a shift covers."""
    hours = pd.date_range(
        pd.Timestamp(start).tz_convert(tz).floor("h"),
        pd.Timestamp(end).tz_convert(tz),
        freq="h",
        inclusive="left",
    )
    return {int(h.day_of_week * 24 + h.hour) for h in hours} or {
        int(pd.Timestamp(start).tz_convert(tz).day_of_week * 24)
    }


def risk_scores(
    frame: pd.DataFrame,
    severity: Mapping[str, int],
    now: datetime,
    shift: tuple[datetime, datetime] | None = None,
    half_life_days: float = HALF_LIFE_DAYS,
) -> pd.Series:
    """Risk per cell from incidents reported before ``now`` (columns cell, item_code, reported_at).

    Returns a Series indexed by cell, highest first. Incidents at or after ``now`` are ignored,
    so the same function serves the live plan and the backtest.
    """
    past = frame[frame["reported_at"] < pd.Timestamp(now)]
    if past.empty:
        return pd.Series(dtype=float)
    age = (pd.Timestamp(now) - past["reported_at"]).dt.total_seconds() / 86400
    weight = past["item_code"].map(severity).fillna(1).to_numpy(dtype=float) * np.power(
        0.5, age.to_numpy() / half_life_days
    )
    base = pd.Series(weight, index=past["cell"].to_numpy()).groupby(level=0).sum()
    if shift is not None:
        hours = shift_hours(*shift)
        how = hour_of_week(past["reported_at"])
        in_shift = np.isin(how, list(hours))
        even = len(hours) / HOURS_PER_WEEK
        # the area's own pattern, itself shrunk towards "no pattern": never zero on thin data
        district_share = (in_shift.sum() + SHRINK * even) / (in_shift.size + SHRINK)
        counts = (
            pd.DataFrame({"cell": past["cell"].to_numpy(), "in": in_shift})
            .groupby("cell")["in"]
            .agg(["sum", "count"])
        )
        share = (counts["sum"] + SHRINK * district_share) / (counts["count"] + SHRINK)
        base = base * (share / even).reindex(base.index).fillna(1.0)
    return base.sort_values(ascending=False, kind="stable")


@dataclass(frozen=True)
class Backtest:
    """Mean share of a test week's incidents in the top-K cells, ours and naive."""

    ks: tuple[int, ...]
    ours: dict[int, float]
    naive: dict[int, float]
    weeks: int


def risk_reasons(frame: pd.DataFrame, cells: Sequence[int], top: int = 2) -> dict[int, list[tuple[str, int]]]:
    """What makes each cell risky: its most frequent items in ``frame`` (cell, item_code), with counts."""
    wanted = frame[frame["cell"].isin([int(c) for c in cells])]
    counts = wanted.groupby(["cell", "item_code"]).size().reset_index(name="n")
    counts = counts.sort_values(["cell", "n", "item_code"], ascending=[True, False, True], kind="stable")
    out: dict[int, list[tuple[str, int]]] = {int(c): [] for c in cells}
    for cell, part in counts.groupby("cell", sort=False):
        pairs = zip(part["item_code"].tolist(), part["n"].tolist(), strict=True)
        out[int(str(cell))] = [(str(i), int(n)) for i, n in pairs][:top]
    return out


def backtest(
    frame: pd.DataFrame,
    severity: Mapping[str, int],
    now: datetime,
    weeks: int = 8,
    ks: Sequence[int] = (10, 20, 50, 100),
) -> Backtest:
    """Rank cells at the start of each of the last ``weeks`` weeks with earlier data only."""
    ours: dict[int, list[float]] = {k: [] for k in ks}
    naive: dict[int, list[float]] = {k: [] for k in ks}
    used = 0
    for w in range(weeks, 0, -1):
        start = pd.Timestamp(now) - pd.Timedelta(weeks=w)
        end = start + pd.Timedelta(weeks=1)
        test = frame[(frame["reported_at"] >= start) & (frame["reported_at"] < end)]
        if test.empty:
            continue
        used += 1
        ranked = risk_scores(frame, severity, start.to_pydatetime())
        last_week = frame[
            (frame["reported_at"] >= start - pd.Timedelta(weeks=1)) & (frame["reported_at"] < start)
        ]
        naive_rank = last_week.groupby("cell").size().sort_values(ascending=False, kind="stable")
        for k in ks:
            ours[k].append(float(test["cell"].isin(set(ranked.index[:k])).mean()))
            naive[k].append(float(test["cell"].isin(set(naive_rank.index[:k])).mean()))
    return Backtest(
        tuple(ks),
        {k: float(np.mean(v)) if v else 0.0 for k, v in ours.items()},
        {k: float(np.mean(v)) if v else 0.0 for k, v in naive.items()},
        used,
    )


def next_shift(now: datetime, start_hour: int = 8, hours: int = 4) -> tuple[datetime, datetime]:
    """The next shift starting at ``start_hour`` local time."""
    local = pd.Timestamp(now).tz_convert(LOCAL_TZ_NAME)
    start = local.normalize() + pd.Timedelta(hours=start_hour)
    if start <= local:
        start += pd.Timedelta(days=1)
    return start.to_pydatetime(), (start + timedelta(hours=hours)).to_pydatetime()
