"""Reading the district, its townships, village grids, teams and cell map, written once for both backends.

Replacing them stays with each backend (binary COPY of the cell map, geometries built by PostGIS).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from store.rows import AREA_REFERENCES, DistrictRow, TeamRow, TownshipRow, VillageRow
from store.shared import SharedSql, where_given

AREA_TABLES = ("townships", "villages", "teams", "cells")


class AreaReads(SharedSql):
    """The area reads; mixed into each store."""

    _geom_out = "geom"  # how a geometry column is read as WKB (PostGIS: ST_AsBinary(geom))

    def district(self) -> DistrictRow | None:
        """The district held, or None when the store is empty."""
        rows = self._read(
            self._q(
                "SELECT code, name, name_en, h3_resolution, is_demo, number_prefix FROM district LIMIT ?"
            ),
            (1,),
        )
        if not rows:
            return None
        r = rows[0]
        return DistrictRow(r[0], r[1], r[2], int(r[3]), bool(r[4]), r[5])

    def townships(self) -> list[TownshipRow]:
        """All townships, by code."""
        rows = self._read(
            f"SELECT code, name, name_en, kind, empowerment_class, {self._geom_out}"
            " FROM townships ORDER BY code",
            (),
        )
        return [TownshipRow(r[0], r[1], r[2], r[3], r[4], bytes(r[5])) for r in rows]

    def villages(self, township_code: str | None = None) -> list[VillageRow]:
        """Village grids, by code; only one township's when given."""
        where, params = where_given((("township_code = ?", township_code),))
        rows = self._read(
            self._q(
                f"SELECT code, township_code, name, kind, {self._geom_out} FROM villages{where} ORDER BY code"
            ),
            params,
        )
        return [VillageRow(r[0], r[1], r[2], r[3], bytes(r[4])) for r in rows]

    def teams(self, township_code: str | None = None) -> list[TeamRow]:
        """Grid teams, by village code; only one township's when given."""
        where, params = where_given((("v.township_code = ?", township_code),))
        rows = self._read(
            self._q(
                "SELECT t.id, t.village_code, t.name, t.captain, t.members FROM teams t"
                f" JOIN villages v ON v.code = t.village_code{where} ORDER BY t.village_code"
            ),
            params,
        )
        return [TeamRow(r[0], r[1], r[2], r[3], tuple(self._list_out(r[4]))) for r in rows]

    def cell_map(self) -> tuple[npt.NDArray[np.int64], list[str]]:
        """Sorted cells and the code of each cell's owning village."""
        rows = self._read("SELECT cell, village_code FROM cells ORDER BY cell", ())
        return np.array([r[0] for r in rows], dtype=np.int64), [r[1] for r in rows]

    def area_counts(self) -> dict[str, int]:
        """Counts of townships, villages, teams and cells."""
        counts = ", ".join(f"(SELECT count(*) FROM {table})" for table in AREA_TABLES)
        row = self._read(f"SELECT {counts}", ())[0]
        return {table: int(n) for table, n in zip(AREA_TABLES, row, strict=True)}

    def area_references(self) -> dict[str, dict[str, int]]:
        """How many rows name each area (see the protocol)."""
        out: dict[str, dict[str, Any]] = {}
        for name, sql in AREA_REFERENCES.items():
            out[name] = {str(k): int(n) for k, n in self._read(sql, ())}
        return out
