"""Routing: point → cell → owning village → its grid team and township → who handles it.

The village is the one the point lies within; a point on a boundary or in a gap goes to
the owner of its H3 cell (属地兜底). Whether the township team handles the item or it
is referred to a district department follows the catalog: professional items always go
to their department; comprehensive and township-empowered items stay with the township
when its empowerment class is listed for the item. Every decision carries its reason.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from geo.assign import NO_VILLAGE
from geo.grid import latlng_to_cells
from patrol.areas import AreaIndex
from patrol.catalog import EMPOWERMENT_ZH, LIST_TYPE_ZH, Catalog


class OutsideDistrictError(ValueError):
    """The point lies outside every cell of the district."""


@dataclass(frozen=True)
class Routes:
    """Routing of an array of points; ``ok`` is False where a point is outside the district."""

    ok: npt.NDArray[np.bool_]
    cells: npt.NDArray[np.int64]
    village_codes: npt.NDArray[np.object_]
    township_codes: npt.NDArray[np.object_]
    team_ids: npt.NDArray[np.int64]
    handlers: npt.NDArray[np.object_]
    departments: npt.NDArray[np.object_]
    reasons: npt.NDArray[np.object_]


class Router:
    """Routes incidents using the area index and the catalog."""

    def __init__(self, areas: AreaIndex, catalog: Catalog, team_by_village: dict[str, int]) -> None:
        self.areas = areas
        self.catalog = catalog
        self.team_by_village = team_by_village
        self._team_of_village = np.array(
            [team_by_village.get(v.code, -1) for v in areas.villages], dtype=np.int64
        )

    def route(self, lat: npt.ArrayLike, lng: npt.ArrayLike, item_codes: npt.ArrayLike) -> Routes:
        """Route each point and item (vectorised over arrays).

        Raises
        ------
        KeyError
            If an item code is not in the catalog.
        """
        lat_a = np.asarray(lat, dtype=np.float64).ravel()
        lng_a = np.asarray(lng, dtype=np.float64).ravel()
        items = np.asarray(item_codes, dtype=object).ravel()
        a = self.areas
        cells = latlng_to_cells(lat_a, lng_a, a.res)
        result = a.assigner.assign(lat_a, lng_a, cells)
        village = result.village.copy()
        within = village != NO_VILLAGE
        pos = np.minimum(np.searchsorted(a.cells, cells), max(a.cells.size - 1, 0))
        in_map = a.cells.size > 0
        by_cell = (a.cells[pos] == cells) if in_map else np.zeros(cells.size, dtype=bool)
        fallback = ~within & by_cell
        village[fallback] = a.cell_owner[pos[fallback]]
        ok = village != NO_VILLAGE
        safe = np.where(ok, village, 0)
        village_codes = a.village_codes[safe].copy()
        village_codes[~ok] = None
        township_codes = a.village_townships[safe].copy()
        township_codes[~ok] = None
        team_ids = np.where(ok, self._team_of_village[safe], -1)
        handlers = np.full(lat_a.size, "department", dtype=object)
        unknown = set(pd.unique(items)) - set(self.catalog.items)
        if unknown:
            msg = f"unknown enforcement item(s): {', '.join(sorted(map(str, unknown)))}"
            raise KeyError(msg)
        dept_of = {code: item.department for code, item in self.catalog.items.items()}
        departments = pd.Series(items, dtype=object).map(dept_of).to_numpy(dtype=object)
        reasons = np.full(lat_a.size, "不在辖区内", dtype=object)
        if ok.any():
            # decide per distinct (item, township) pair, and write each distinct reason once:
            # few of either even for a million points (and shared strings bind cheaply)
            item_idx, item_names = pd.factorize(items[ok])
            town_idx, town_names = pd.factorize(township_codes[ok])
            pairs, pair_keys = pd.factorize(item_idx.astype(np.int64) * len(town_names) + town_idx)
            decided = np.array(
                [
                    self._decide(str(item_names[k // len(town_names)]), str(town_names[k % len(town_names)]))
                    for k in pair_keys.tolist()
                ],
                dtype=object,
            ).reshape(-1, 3)
            handlers[ok] = decided[pairs, 0]
            departments[ok] = decided[pairs, 1]
            n_villages = max(len(a.village_codes), 1)
            combo = (pairs.astype(np.int64) * n_villages + village[ok]) * 2 + within[ok]
            combos, combo_keys = pd.factorize(combo)
            texts = np.array(
                [
                    f"{decided[k // (2 * n_villages), 2]}；属地：{a.place_of((k // 2) % n_villages)}"
                    f"（{a.village_codes[(k // 2) % n_villages]}，{'点位所在' if k % 2 else '单元格兜底'}）"
                    for k in combo_keys.tolist()
                ],
                dtype=object,
            )
            reasons[ok] = texts[combos]
        return Routes(ok, cells, village_codes, township_codes, team_ids, handlers, departments, reasons)

    def _decide(self, item_code: str, township_code: str) -> tuple[str, str, str]:
        item = self.catalog.item(item_code)
        township = self.areas.townships[township_code]
        klass = township.empowerment_class
        dept = self.catalog.departments[item.department].name_zh
        list_zh = LIST_TYPE_ZH[item.list_type]
        if item.handled_by_township(klass):
            return "township", item.department, f"{list_zh}事项，{EMPOWERMENT_ZH.get(klass, klass)}乡镇承接"
        if item.list_type == "professional":
            return "department", item.department, f"专业事项，移交{dept}"
        return (
            "department",
            item.department,
            f"未向{EMPOWERMENT_ZH.get(klass, klass or '该')}乡镇赋权，移交{dept}",
        )
