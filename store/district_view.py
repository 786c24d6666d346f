"""One district of a store that holds several (a city's): every read and write kept to that district.

A city command centre runs all of its districts in one store. A district's services are given
``district_view(store, code)``: the same store, but the district, its areas, incidents,
rollups, patrols, premises and inspections it reads are that district's only, and it refuses
to replace another district's areas. The scope is written here once, so no service has to
remember it. Users, the audit log, the API clients and the outbox are the deployment's and
are read whole.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any, cast

import numpy as np
import numpy.typing as npt
import pandas as pd

from store.protocol import Store
from store.rows import (
    DistrictRow,
    IncidentQuery,
    IncidentRow,
    InspectionRow,
    PatrolTaskRow,
    PatrolVisitRow,
    PremisesRow,
    RollupQuery,
    TeamRow,
    TownshipRow,
    VillageRow,
)


class DistrictView:
    """A store seen as one of its districts (see the module)."""

    def __init__(self, store: Store, code: str) -> None:
        self._store = store
        self.district_code = code

    def __getattr__(self, name: str) -> Any:  # what is the deployment's, not a district's
        return getattr(self._store, name)

    def __repr__(self) -> str:
        return f"DistrictView({self._store!r}, {self.district_code!r})"

    @property
    def whole(self) -> Store:
        """The store with every district."""
        return self._store

    # -- areas -----------------------------------------------------------------------------------
    def replace_areas(self, district: DistrictRow, *args: Any, **kwargs: Any) -> None:
        """Replace this district's areas (another district's are refused)."""
        if district.code != self.district_code:
            msg = f"this is district {self.district_code}'s view; it cannot replace {district.code}'s areas"
            raise ValueError(msg)
        self._store.replace_areas(district, *args, **kwargs)

    def districts(self) -> list[DistrictRow]:
        found = self._store.district(self.district_code)
        return [found] if found else []

    def district(self, code: str | None = None) -> DistrictRow | None:
        if code not in (None, self.district_code):
            return None
        return self._store.district(self.district_code)

    def townships(self, district_code: str | None = None) -> list[TownshipRow]:
        return self._store.townships(self.district_code)

    def villages(
        self, township_code: str | None = None, district_code: str | None = None
    ) -> list[VillageRow]:
        return self._store.villages(township_code, self.district_code)

    def teams(self, township_code: str | None = None, district_code: str | None = None) -> list[TeamRow]:
        return self._store.teams(township_code, self.district_code)

    def cell_map(self, district_code: str | None = None) -> tuple[npt.NDArray[np.int64], list[str]]:
        return self._store.cell_map(self.district_code)

    def area_counts(self, district_code: str | None = None) -> dict[str, int]:
        return self._store.area_counts(self.district_code)

    # the city's facts a district's areas are placed beside (they name no case): not kept to the district
    def cells_held_elsewhere(self, district_code: str) -> npt.NDArray[np.int64]:
        return self._store.cells_held_elsewhere(district_code)

    def next_team_id(self) -> int:
        return self._store.next_team_id()

    # -- incidents -------------------------------------------------------------------------------
    def _query(self, query: Any) -> Any:
        return replace(query, district_codes=(self.district_code,))

    def _own(self, row: IncidentRow | None) -> IncidentRow | None:
        return row if row is not None and row.district_code == self.district_code else None

    def get_incident(self, incident_id: str) -> IncidentRow | None:
        return self._own(self._store.get_incident(incident_id))

    def find_incident(self, number: str) -> IncidentRow | None:
        return self._own(self._store.find_incident(number))

    def list_incidents(self, query: IncidentQuery) -> list[IncidentRow]:
        return self._store.list_incidents(self._query(query))

    def count_incidents(self, query: IncidentQuery) -> int:
        return self._store.count_incidents(self._query(query))

    def count_by_cell(self, query: IncidentQuery) -> list[tuple[int, int]]:
        return self._store.count_by_cell(self._query(query))

    def incident_columns(self, query: IncidentQuery, columns: Sequence[str]) -> dict[str, list[Any]]:
        return self._store.incident_columns(self._query(query), columns)

    def incident_frame(self, query: IncidentQuery, columns: Sequence[str]) -> pd.DataFrame:
        return self._store.incident_frame(self._query(query), columns)

    def rollup_by_cell(self, query: RollupQuery) -> list[tuple[int, int]]:
        return self._store.rollup_by_cell(self._query(query))

    def state_counts(self, district_code: str | None = None) -> dict[str, int]:
        return self._store.state_counts(self.district_code)

    # -- patrols, premises, inspections ----------------------------------------------------------
    def patrol_task(self, task_id: str) -> PatrolTaskRow | None:
        found = self._store.patrol_task(task_id)
        return found if found is not None and found.district_code == self.district_code else None

    def patrol_tasks(self, **kwargs: Any) -> list[PatrolTaskRow]:
        return self._store.patrol_tasks(**(kwargs | {"district_code": self.district_code}))

    def patrol_visits(self, **kwargs: Any) -> list[PatrolVisitRow]:
        return self._store.patrol_visits(**(kwargs | {"district_code": self.district_code}))

    def premises(self, **kwargs: Any) -> list[PremisesRow]:
        return self._store.premises(**(kwargs | {"district_code": self.district_code}))

    def inspections(self, **kwargs: Any) -> list[InspectionRow]:
        return self._store.inspections(**(kwargs | {"district_code": self.district_code}))


def district_view(store: Store, code: str | None) -> Store:
    """``store`` as its district ``code`` (the whole store when ``code`` is None).

    Raises
    ------
    ValueError
        If the store holds no district ``code``.
    """
    if code is None:
        return store
    whole = store.whole if isinstance(store, DistrictView) else store
    if whole.district(code) is None:
        held = ", ".join(f"{d.code} {d.name}" for d in whole.districts()) or "none"
        msg = f"the store holds no district {code} (it holds: {held})"
        raise ValueError(msg)
    return cast(Store, DistrictView(whole, code))


def store_key(store: Store) -> str:
    """What tells a store (and, for a district view, its district) apart: a cache key, never a URL to open."""
    return f"{store.url}#{store.district_code}" if isinstance(store, DistrictView) else store.url
