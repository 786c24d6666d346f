"""The district context: what every service needs to know of the district, built once per areas version.

Its code and name, its time zone, its H3 resolution, and the maps cell → village → team →
township (with the routing index over the village grids). Services take it instead of each
reading the areas again; a boundary import gives the store a new areas version, and the next
service built gets a new context.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from patrol.areas import AreaIndex
from patrol.workdays import LOCAL_TZ
from store.district_view import store_key
from store.protocol import Store
from store.rows import DistrictRow, TeamRow, TownshipRow


@dataclass(frozen=True)
class DistrictContext:
    """The district as the services see it (immutable: a new areas version makes a new one)."""

    district: DistrictRow
    version: Any  # the store's areas version this was built from
    areas: AreaIndex = field(repr=False)  # villages, their cells and the point → village assigner
    townships: MappingProxyType[str, TownshipRow] = field(repr=False)
    teams: MappingProxyType[int, TeamRow] = field(repr=False)
    village_team: MappingProxyType[str, int] = field(repr=False)
    team_township: MappingProxyType[int, str] = field(repr=False)
    time_zone: ZoneInfo = LOCAL_TZ

    @property
    def code(self) -> str:
        """The district's division code."""
        return self.district.code

    @property
    def h3_resolution(self) -> int:
        """The resolution of the district's cell map."""
        return self.district.h3_resolution

    @property
    def cells(self) -> npt.NDArray[np.int64]:
        """The district's cells, sorted."""
        return self.areas.cells

    @classmethod
    def build(cls, store: Store, version: Any = None) -> DistrictContext:
        """Read the areas of ``store`` into a context.

        Raises
        ------
        ValueError
            If the store holds no district yet.
        """
        areas = AreaIndex(store)
        district = store.district()
        assert district is not None  # AreaIndex refused an empty store
        teams = {t.id: t for t in store.teams(district_code=district.code)}
        village_township = dict(zip(areas.village_codes, areas.village_townships, strict=True))
        return cls(
            district=district,
            version=version,
            areas=areas,
            townships=MappingProxyType(dict(areas.townships)),
            teams=MappingProxyType(teams),
            village_team=MappingProxyType({t.village_code: t.id for t in teams.values()}),
            team_township=MappingProxyType(
                {t.id: str(village_township[t.village_code]) for t in teams.values()}
            ),
        )


def areas_version(store: Store) -> Any:
    """What identifies the areas a store holds now.

    Its areas version; for a store whose areas were last replaced before it kept one, the
    district and the area counts.
    """
    version = store.areas_version()
    if version is not None:
        return version
    return (store.district(), tuple(sorted(store.area_counts().items())))


_KEPT = 8  # stores whose latest context is kept (a process serves one; tests open many)
_CONTEXTS: OrderedDict[str, DistrictContext] = OrderedDict()  # the latest of each store (and district)
_LOCK = threading.Lock()


def district_context(store: Store) -> DistrictContext:
    """The context of the areas ``store`` holds now: the one built before while they are the same.

    Raises
    ------
    ValueError
        If the store holds no district yet.
    """
    version = areas_version(store)
    key = store_key(store)  # a district view: that district's
    with _LOCK:
        kept = _CONTEXTS.get(key)
        if kept is not None and kept.version == version:
            _CONTEXTS.move_to_end(key)
            return kept
    built = DistrictContext.build(store, version)
    with _LOCK:
        _CONTEXTS[key] = built
        _CONTEXTS.move_to_end(key)
        while len(_CONTEXTS) > _KEPT:
            _CONTEXTS.popitem(last=False)
    return built
