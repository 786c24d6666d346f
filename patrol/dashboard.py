"""The command center's figures: heatmap counts, KPI tiles, live feed (read-only, cheap)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

import numpy as np
import numpy.typing as npt

from geo.grid import cells_to_parents
from geo.hotspots import HotSpots, emerging_classes, gi_star
from patrol.catalog import Catalog
from patrol.incident import OPEN_STATES, State
from patrol.incidents import RUNNING, local_day
from patrol.kpis import NEEDED_COLUMNS, compute_kpis
from store.protocol import Store
from store.rows import BUCKETS, IncidentQuery, IncidentRow, RollupQuery


def overdue_query(
    now: datetime, township_codes: tuple[str, ...] | None = None, limit: int = 500
) -> IncidentQuery:
    """Incidents overdue at ``now``: open, clock running (not held), past due; most overdue first."""
    return IncidentQuery(
        states=RUNNING,
        due_before=now,
        township_codes=township_codes,
        limit=limit,
        order_by="due_at",
        newest_first=False,
    )


OPEN = tuple(sorted(s.value for s in OPEN_STATES))
STATE_FILTERS = (
    *BUCKETS,
    *OPEN,
)  # what the heat map filters on: a bucket ("open": every open state) or one state
ALARM_MINUTES = 15


@dataclass(frozen=True)
class HeatFilter:
    """What the heatmap counts: a time window (days back), items, theme, states, sources, townships."""

    days: int = 30
    item_codes: tuple[str, ...] | None = None
    theme: str | None = None
    states: tuple[str, ...] | None = None
    sources: tuple[str, ...] | None = None
    township_codes: tuple[str, ...] | None = None

    def items(self, catalog: Catalog) -> tuple[str, ...] | None:
        """Item codes after applying the theme."""
        codes = set(self.item_codes) if self.item_codes else None
        if self.theme:
            theme_codes = {i.code for i in catalog.items_of_theme(self.theme)}
            codes = theme_codes if codes is None else codes & theme_codes
        return tuple(sorted(codes)) if codes is not None else None


def _buckets(states: tuple[str, ...] | None) -> tuple[str, ...] | None:
    """The rollup buckets of a state filter, or None if the filter needs single states."""
    if states is None:
        return None
    chosen = set(states)
    if chosen == set(OPEN):
        return ("open",)
    if chosen <= set(BUCKETS) - {"open"}:
        return tuple(sorted(chosen))
    return None


def heat_counts(
    store: Store, catalog: Catalog, f: HeatFilter, now: datetime
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """Counts per finest cell for the filter: from the rollups when they can answer it.

    The rollups hold cell × day × item × state bucket; a filter on source, or on single
    open states, is answered by counting incidents instead (still grouped in the database).
    """
    start = now - timedelta(days=f.days)
    items = f.items(catalog)
    buckets = _buckets(f.states)
    if f.sources is None and (f.states is None or buckets is not None):
        pairs = store.rollup_by_cell(
            RollupQuery(day_from=local_day(start), day_to=local_day(now), item_codes=items, buckets=buckets,
                        township_codes=f.township_codes)
        )  # fmt: skip
    else:
        pairs = store.count_by_cell(
            IncidentQuery(reported_from=start, reported_to=now, item_codes=items, states=f.states,
                          sources=f.sources, township_codes=f.township_codes)
        )  # fmt: skip
    if not pairs:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64)
    cells, counts = zip(*pairs, strict=True)
    return np.asarray(cells, dtype=np.int64), np.asarray(counts, dtype=np.float64)


@dataclass(frozen=True)
class Tiles:
    """KPI tiles of the command center."""

    open: int
    overdue: int
    awaiting_alarm: int
    median_response_min: float | None
    on_time_rate: float | None  # the KPI of that name (patrol.kpis), over the window
    judged_on_time: int  # its denominator: due in the window (judged against the approved due time)
    window_days: int


TILE_WINDOW_DAYS = 30


def kpi_tiles(
    store: Store,
    now: datetime,
    township_codes: tuple[str, ...] | None = None,
    window_days: int = TILE_WINDOW_DAYS,
) -> Tiles:
    """Open, overdue, awaiting assessment past 15 minutes, median response and on-time rate.

    Median response and on-time rate are the KPIs of :mod:`patrol.kpis` — the same definitions
    as the ranking — over the incidents received in the last ``window_days`` days, a rolling
    window: on the first day of a month a wall screen still shows a month's figures (a
    calendar month would show nothing). The monthly ranking keeps calendar months.
    """
    open_n = store.count_incidents(IncidentQuery(states=OPEN, township_codes=township_codes))
    overdue = store.count_incidents(overdue_query(now, township_codes))
    alarm = store.count_incidents(
        IncidentQuery(
            states=(State.DISCOVERED.value,),
            reported_to=now - timedelta(minutes=ALARM_MINUTES),
            township_codes=township_codes,
        )
    )
    window = store.incident_frame(
        IncidentQuery(
            reported_from=now - timedelta(days=window_days), reported_to=now, township_codes=township_codes
        ),
        NEEDED_COLUMNS,
    )
    k = compute_kpis(window, None, now).iloc[0]
    return Tiles(
        open=open_n,
        overdue=overdue,
        awaiting_alarm=alarm,
        median_response_min=k["response_median_min"],
        on_time_rate=k["on_time_rate"],
        judged_on_time=int(k["due"]),
        window_days=window_days,
    )


def live_feed(
    store: Store, now: datetime, township_codes: tuple[str, ...] | None = None, limit: int = 15
) -> tuple[list[IncidentRow], list[IncidentRow]]:
    """The newest incidents and the most overdue open ones."""
    newest = store.list_incidents(IncidentQuery(township_codes=township_codes, limit=limit))
    overdue = store.list_incidents(overdue_query(now, township_codes, limit=limit))
    return newest, overdue


def area_cells(store: Store, res: int) -> npt.NDArray[np.int64]:
    """Every cell of the district at resolution ``res`` (parents of the cell map)."""
    cells, _ = store.cell_map()
    return np.unique(cells_to_parents(cells, res)) if cells.size else cells


def _per_cell(
    universe: npt.NDArray[np.int64], cells: npt.NDArray[np.int64], counts: npt.NDArray[np.float64], res: int
) -> npt.NDArray[np.float64]:
    values = np.zeros(universe.size, dtype=np.float64)
    if cells.size:
        parents = cells_to_parents(cells, res)
        pos = np.searchsorted(universe, parents)
        ok = (pos < universe.size) & (universe[np.minimum(pos, universe.size - 1)] == parents)
        np.add.at(values, pos[ok], counts[ok])
    return values


def hot_spots(
    store: Store,
    catalog: Catalog,
    f: HeatFilter,
    now: datetime,
    res: int = 9,
    k: int = 1,
    measure: Literal["count", "share"] = "count",
    min_total: int = 5,
) -> HotSpots:
    """Gi* hot spots over all district cells at ``res`` (zeros included).

    ``measure='count'`` analyses the filtered counts. ``measure='share'`` analyses a rate:
    the filtered incidents as a share of all incidents of the same window in the cell
    (0 for cells with fewer than ``min_total`` incidents, too few for a rate).
    """
    universe = area_cells(store, res)
    values = _per_cell(universe, *heat_counts(store, catalog, f, now), res)
    if measure == "share":
        everything = HeatFilter(days=f.days, township_codes=f.township_codes)
        totals = _per_cell(universe, *heat_counts(store, catalog, everything, now), res)
        values = np.where(totals >= min_total, values / np.maximum(totals, 1), 0.0)
    return gi_star(universe, values, k)


@dataclass(frozen=True)
class EmergingHotSpots:
    """Gi* per time slice and the emerging category of each cell."""

    cells: npt.NDArray[np.int64]
    slices: list[str]
    z: npt.NDArray[np.float64]
    klass: npt.NDArray[np.int64]
    category: list[str]


def emerging_hot_spots(
    store: Store,
    catalog: Catalog,
    now: datetime,
    *,
    item_codes: tuple[str, ...] | None = None,
    months: int = 12,
    res: int = 9,
    k: int = 1,
) -> EmergingHotSpots:
    """Gi* for each of the last ``months`` 30-day slices (oldest first) and a Mann-Kendall trend per cell."""
    universe = area_cells(store, res)
    zs, ks, labels = [], [], []
    for m in range(months - 1, -1, -1):
        end = now - timedelta(days=30 * m)
        start = end - timedelta(days=30)
        pairs = store.rollup_by_cell(
            RollupQuery(
                day_from=local_day(start), day_to=local_day(end - timedelta(seconds=1)), item_codes=item_codes
            )
        )
        values = np.zeros(universe.size)
        if pairs:
            cells, counts = (np.asarray(v) for v in zip(*pairs, strict=True))
            parents = cells_to_parents(cells.astype(np.int64), res)
            pos = np.searchsorted(universe, parents)
            ok = (pos < universe.size) & (universe[np.minimum(pos, universe.size - 1)] == parents)
            np.add.at(values, pos[ok], counts[ok].astype(float))
        hs = gi_star(universe, values, k)
        zs.append(hs.z)
        ks.append(hs.klass)
        labels.append(local_day(start))
    z = np.column_stack(zs)
    klass = np.column_stack(ks)
    return EmergingHotSpots(universe, labels, z, klass, emerging_classes(klass, z))
