"""What the pages read, in one place: the page layer's only door to the store.

The pages never hold a store: they call the services (incidents, patrols, evaluations, users,
…) and, for the figures and lists the services do not own, this object. Each method is one
read model of :mod:`patrol` bound to the store; adding a read here is the one way to let the
pages see more.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Concatenate, ParamSpec, TypeVar

import pandas as pd

from patrol.areas import import_boundaries
from patrol.coverage import coverage_for_week, stale_cells_for
from patrol.dashboard import (
    area_cells,
    emerging_hot_spots,
    heat_counts,
    hot_spots,
    kpi_tiles,
    live_feed,
    overdue_query,
)
from patrol.scenarios import load_year
from store.district_view import store_key
from store.protocol import Store
from store.rows import (
    DistrictRow,
    IncidentQuery,
    IncidentRow,
    InspectionRow,
    PatrolVisitRow,
    TeamRow,
    TownshipRow,
)

P = ParamSpec("P")
R = TypeVar("R")


def _on_store(fn: Callable[Concatenate[Store, P], R]) -> Callable[Concatenate[Reads, P], R]:
    """``fn(store, …)`` as a method of :class:`Reads` (same parameters after the store)."""

    def method(self: Reads, /, *args: P.args, **kwargs: P.kwargs) -> R:
        return fn(self._store, *args, **kwargs)

    method.__doc__ = fn.__doc__
    method.__name__ = fn.__name__
    return method


class Reads:
    """The read models the pages use, bound to one store."""

    def __init__(self, store: Store) -> None:
        self._store = store

    @property
    def url(self) -> str:
        """The store's address without a password, with the district of a district view (a cache key)."""
        return store_key(self._store)

    kpi_tiles = _on_store(kpi_tiles)
    live_feed = _on_store(live_feed)
    heat_counts = _on_store(heat_counts)
    hot_spots = _on_store(hot_spots)
    emerging_hot_spots = _on_store(emerging_hot_spots)
    area_cells = _on_store(area_cells)
    coverage_for_week = _on_store(coverage_for_week)
    stale_cells_for = _on_store(stale_cells_for)
    load_year = _on_store(load_year)
    import_boundaries = _on_store(import_boundaries)

    def district(self) -> DistrictRow | None:
        """The district loaded, or None."""
        return self._store.district()

    def townships(self) -> list[TownshipRow]:
        """The townships, by code."""
        return self._store.townships()

    def teams(self) -> list[TeamRow]:
        """The village teams, by id."""
        return self._store.teams()

    def area_counts(self) -> dict[str, int]:
        """How many townships, villages, teams and cells are loaded."""
        return self._store.area_counts()

    def state_counts(self) -> dict[str, int]:
        """Incidents per workflow state."""
        return self._store.state_counts()

    def patrol_visits(self, task_id: str) -> list[PatrolVisitRow]:
        """The cells a patrol task covered, in order."""
        return self._store.patrol_visits(task_id=task_id)

    def inspections(self, premises_ids: list[str], since: date) -> list[InspectionRow]:
        """The inspections of these premises from a day on."""
        return self._store.inspections(premises_ids=premises_ids, since=since)

    def incident_frame(self, query: IncidentQuery, columns: Sequence[str]) -> pd.DataFrame:
        """The incidents a query selects, as a frame of these columns."""
        return self._store.incident_frame(query, columns)

    def overdue(self, now: datetime, limit: int) -> list[IncidentRow]:
        """The open incidents whose due time passed longest ago, most overdue first."""
        return self._store.list_incidents(overdue_query(now, limit=limit))
