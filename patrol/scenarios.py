"""Scenario targeting (场景研判): which "一件事" themes, and which cells, are worth patrolling.

Everything is computed from the incidents of the last twelve months before ``now``:

- volume, and trend = incidents of the last 3 months ÷ those of the 3 months before;
- recurrence = share of a theme's incidents in a cell that already had one of the same
  theme in the 30 days before;
- departments involved, median response, on-time closure (the KPI definitions);
- spatial concentration = share of the theme's incidents in its top 10% of cells, with the
  Lorenz curve; hot-spot count = cells that are 95%+ Gi* hot spots;
- coverage backtest: patrolling the top-K cells chosen on months 1..m covers what share of
  month m+1's incidents — only data from before month m+1 chooses the cells;
- recommendation: patrol hours per week and minutes per cell visit give each township a
  number of visits; the cells with the most expected incidents per week get them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import numpy.typing as npt
import pandas as pd

from geo.grid import cells_to_parents
from geo.hotspots import gi_star
from patrol.catalog import Catalog
from patrol.kpis import NEEDED_COLUMNS, compute_kpis
from store.protocol import Store
from store.rows import IncidentQuery

COLUMNS = (*NEEDED_COLUMNS, "cell")  # the KPIs' columns and the cell of each incident
HOTSPOT_RES = 9
RECURRENCE_DAYS = 30
DEFAULT_K = (5, 10, 20, 50, 100)


def load_year(store: Store, now: datetime) -> pd.DataFrame:
    """The incidents of the twelve months before ``now``, one row each."""
    return store.incident_frame(
        IncidentQuery(reported_from=now - timedelta(days=365), reported_to=now), COLUMNS
    )


def recurrence_share(frame: pd.DataFrame, days: int = RECURRENCE_DAYS) -> float | None:
    """Share of incidents whose cell had another incident of the frame within ``days`` before."""
    if frame.empty:
        return None
    f = frame.sort_values(["cell", "reported_at"])
    gap = f.groupby("cell")["reported_at"].diff()
    return float((gap <= pd.Timedelta(days=days)).sum() / len(f))


def lorenz(counts: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Lorenz curve: share of cells (most incidents first) against share of incidents."""
    c = np.sort(np.asarray(counts, dtype=float))[::-1]
    if c.size == 0 or c.sum() == 0:
        return np.array([0.0, 1.0]), np.array([0.0, 1.0])
    x = np.arange(0, c.size + 1) / c.size
    y = np.concatenate([[0.0], np.cumsum(c) / c.sum()])
    return x, y


def top_share(counts: npt.ArrayLike, fraction: float = 0.10) -> float | None:
    """Share of all incidents in the top ``fraction`` of cells (at least one cell)."""
    c = np.sort(np.asarray(counts, dtype=float))[::-1]
    if c.size == 0 or c.sum() == 0:
        return None
    k = max(1, int(np.ceil(fraction * c.size)))
    return float(c[:k].sum() / c.sum())


def month_index(frame: pd.DataFrame, now: datetime) -> pd.Series:
    """Whole months before ``now`` (0 = the month ending at ``now``, 11 = a year ago)."""
    age_days = (pd.Timestamp(now) - frame["reported_at"]).dt.total_seconds() / 86400
    months: pd.Series = (age_days // 30.4).clip(lower=0).astype(int)
    return months


def coverage_backtest(
    frame: pd.DataFrame, now: datetime, ks: Sequence[int] = DEFAULT_K
) -> dict[int, float | None]:
    """Mean share of month m+1's incidents in the top-K cells chosen on months 1..m only.

    Months are 30.4-day steps back from ``now``; every test month from the second on is
    predicted from all the months strictly before it and only from them.
    """
    if frame.empty:
        return {k: None for k in ks}
    age = month_index(frame, now)
    oldest = int(age.max())
    shares: dict[int, list[float]] = {k: [] for k in ks}
    for test_age in range(oldest - 1, -1, -1):
        past = frame[age > test_age]
        future = frame[age == test_age]
        if past.empty or future.empty:
            continue
        ranking = past.groupby("cell").size().sort_values(ascending=False, kind="stable")
        for k in ks:
            chosen = set(ranking.index[:k].tolist())
            shares[k].append(float(future["cell"].isin(chosen).mean()))
    return {k: (float(np.mean(v)) if v else None) for k, v in shares.items()}


@dataclass(frozen=True)
class ThemeFigures:
    """The evidence for one theme."""

    code: str
    name_zh: str
    name_en: str
    volume: int
    trend: float | None
    recurrence: float | None
    departments: tuple[str, ...]
    median_response_min: float | None
    on_time_rate: float | None
    top10_share: float | None
    hot_cells: int
    coverage: dict[int, float | None]
    lorenz: tuple[np.ndarray, np.ndarray]
    demo: bool = False  # a theme made up for the demo (catalog/themes.csv), said wherever it is named


def theme_figures(
    frame: pd.DataFrame, catalog: Catalog, now: datetime, all_cells: np.ndarray
) -> list[ThemeFigures]:
    """Figures for every theme, most incidents first."""
    age = month_index(frame, now) if not frame.empty else pd.Series(dtype=int)
    out = []
    for code, theme in catalog.themes.items():
        items = {i.code for i in catalog.items_of_theme(code)}
        mask = frame["item_code"].isin(items)
        f = frame[mask]
        a = age[mask]
        last3, prev3 = int((a < 3).sum()), int(((a >= 3) & (a < 6)).sum())
        counts = f.groupby("cell").size()
        kpi = compute_kpis(f, None, now).iloc[0]
        hot = 0
        if len(f):
            parents = cells_to_parents(counts.index.to_numpy(dtype=np.int64), HOTSPOT_RES)
            values = pd.Series(counts.to_numpy(), index=parents).groupby(level=0).sum()
            universe = all_cells
            y = values.reindex(universe, fill_value=0).to_numpy(dtype=float)
            hot = int((gi_star(universe, y).klass >= 2).sum())
        out.append(
            ThemeFigures(
                code=code, name_zh=theme.name_zh, name_en=theme.name_en, volume=len(f),
                trend=None if prev3 == 0 else last3 / prev3, recurrence=recurrence_share(f),
                departments=tuple(sorted({catalog.items[i].department for i in items})),
                median_response_min=_num(kpi["response_median_min"]), on_time_rate=_num(kpi["on_time_rate"]),
                top10_share=top_share(counts.to_numpy()), hot_cells=hot,
                coverage=coverage_backtest(f, now), lorenz=lorenz(counts.to_numpy()), demo=theme.demo,
            )
        )  # fmt: skip
    return sorted(out, key=lambda t: -t.volume)


def _num(value: object) -> float | None:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return None if np.isnan(number) else number


def recommend(
    frame: pd.DataFrame,
    now: datetime,
    hours_per_week: Mapping[str, float],
    minutes_per_visit: float,
    items: Sequence[str] | None = None,
    weeks: int = 12,
) -> pd.DataFrame:
    """Cells to visit per township: the most expected incidents per week, within its hours.

    Expected incidents per week = incidents of the last ``weeks`` weeks ÷ ``weeks``. A
    township with H hours and M minutes per visit gets ⌊60·H ÷ M⌋ visits a week.
    """
    if minutes_per_visit <= 0:
        msg = f"minutes per visit must be positive, got {minutes_per_visit}"
        raise ValueError(msg)
    recent = frame[frame["reported_at"] >= pd.Timestamp(now) - pd.Timedelta(weeks=weeks)]
    if items:
        recent = recent[recent["item_code"].isin(items)]
    expected = recent.groupby(["township_code", "cell"]).size().rename("incidents").reset_index()
    expected["expected_per_week"] = expected["incidents"] / weeks
    rows: list[dict[str, object]] = []
    for township, hours in hours_per_week.items():
        visits = int(60 * hours // minutes_per_visit)
        chosen = expected[expected["township_code"] == township].nlargest(visits, "expected_per_week")
        total = expected.loc[expected["township_code"] == township, "expected_per_week"].sum()
        per_week = chosen["expected_per_week"].to_numpy(dtype=float).tolist()
        for rank, (cell, value) in enumerate(zip(chosen["cell"].tolist(), per_week, strict=True), start=1):
            rows.append(
                {"township_code": township, "rank": rank, "cell": int(cell), "expected_per_week": value,
                 "share_of_township": value / float(total) if total else None}
            )  # fmt: skip
    return pd.DataFrame(
        rows, columns=["township_code", "rank", "cell", "expected_per_week", "share_of_township"]
    )
