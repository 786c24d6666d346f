"""The district, its townships, village grids, teams and cell map, written once for both backends."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from store.rows import (
    AREA_REFERENCES,
    CREATE_REMAP_TABLE,
    REMAP_STATEMENTS,
    AuditRow,
    DistrictRow,
    TeamRow,
    TownshipRow,
    VillageRow,
)
from store.shared import Batch, Bulk, SharedSql, where_given

AREA_TABLES = ("townships", "villages", "teams", "cells")
_SET_AREAS_VERSION = (
    "INSERT INTO meta (key, value) VALUES ('areas_version', ?)"
    " ON CONFLICT (key) DO UPDATE SET value = excluded.value"
)
_VILLAGES_OF = (
    "SELECT v.code FROM villages v JOIN townships t ON t.code = v.township_code WHERE t.district_code = ?"
)
_CLEAR_DISTRICT = (  # one district's areas; the other districts' stay
    f"DELETE FROM cells WHERE village_code IN ({_VILLAGES_OF})",
    f"DELETE FROM teams WHERE village_code IN ({_VILLAGES_OF})",
    "DELETE FROM villages WHERE township_code IN (SELECT code FROM townships WHERE district_code = ?)",
    "DELETE FROM townships WHERE district_code = ?",
    "DELETE FROM district WHERE code = ?",
)
_DISTRICT_COLUMNS = "code, name, name_en, h3_resolution, is_demo, number_prefix"
_DISTRICT_OF_AREA = (  # how a row of each area table names its district (AREA_TABLES' order)
    "district_code = ?",
    "township_code IN (SELECT code FROM townships WHERE district_code = ?)",
    f"village_code IN ({_VILLAGES_OF})",
    f"village_code IN ({_VILLAGES_OF})",
)


def _of_district(condition: str, district_code: str | None) -> tuple[str, tuple[str, ...]]:
    """A WHERE clause keeping rows to the district (none: every district) and its parameter."""
    return ("", ()) if district_code is None else (f" WHERE {condition}", (district_code,))


class AreaTables(SharedSql):
    """The area queries; mixed into each store."""

    _geom_out = "{}"  # how a geometry column is read as WKB (PostGIS: ST_AsBinary({}))
    _geom_in = "?"  # how WKB is written into a geometry column (PostGIS: a multipolygon in WGS 84)
    _rebuild_rollups: tuple[str, tuple[Any, ...]] = ("", ())  # every rollup row again from the incidents

    def replace_areas(
        self,
        district: DistrictRow,
        townships: Sequence[TownshipRow],
        villages: Sequence[VillageRow],
        teams: Sequence[TeamRow],
        cells: npt.NDArray[np.int64],
        cell_villages: Sequence[str],
        remap: Mapping[str, str] | None = None,
        audit: Sequence[AuditRow] = (),
    ) -> None:
        """Replace the district, its areas, teams and cell map in one transaction.

        Only that district's: the other districts a store holds keep theirs (a cell belongs to
        one district; a cell another district holds is refused as a duplicate).

        The ``audit`` rows (the record of the change) commit in the same transaction.

        ``remap`` (old township or village code -> new code) re-points, in the same
        transaction, the incidents, users, patrols and premises that name an old code, and
        rebuilds the rollups.
        """
        q, geom = self._q, self._geom_in
        batches: list[Batch] = [(q(sql), [(district.code,)]) for sql in _CLEAR_DISTRICT]
        batches.append((q(_SET_AREAS_VERSION), [(uuid.uuid4().hex,)]))
        batches += [
            (
                q("INSERT INTO district (code, name, name_en, h3_resolution, is_demo, number_prefix)"
                  " VALUES (?, ?, ?, ?, ?, ?)"),
                [(district.code, district.name, district.name_en, district.h3_resolution,
                  bool(district.is_demo), district.number_prefix)],
            ),
            (
                q("INSERT INTO townships (code, district_code, name, name_en, kind, empowerment_class, geom)"
                  f" VALUES (?, ?, ?, ?, ?, ?, {geom})"),
                [(t.code, district.code, t.name, t.name_en, t.kind, t.empowerment_class, t.geometry_wkb)
                 for t in townships],
            ),
            (
                q("INSERT INTO villages (code, township_code, name, kind, geom)"
                  f" VALUES (?, ?, ?, ?, {geom})"),
                [(v.code, v.township_code, v.name, v.kind, v.geometry_wkb) for v in villages],
            ),
            (
                q("INSERT INTO teams (id, village_code, name, captain, members)"
                  f" VALUES (?, ?, ?, ?, ?{self._json_in})"),
                [(t.id, t.village_code, t.name, t.captain, json.dumps(list(t.members), ensure_ascii=False))
                 for t in teams],
            ),
            Bulk(
                "cells", ("cell", "village_code"),
                list(zip(np.asarray(cells, dtype=np.int64).tolist(), cell_villages, strict=True)),
            ),
        ]  # fmt: skip
        if remap:
            batches += [(CREATE_REMAP_TABLE, [()]), ("DELETE FROM area_remap", [()])]
            batches.append((q("INSERT INTO area_remap (old, new) VALUES (?, ?)"), list(remap.items())))
            batches += [(sql, [()]) for sql in REMAP_STATEMENTS]
            batches += [
                ("DELETE FROM rollup_cell_day", [()]),
                (self._rebuild_rollups[0], [self._rebuild_rollups[1]]),
            ]
        self._write_batches(batches, audit)

    def areas_version(self) -> str | None:
        """A new value each time the areas are replaced (None: not replaced since the store knew it)."""
        rows = self._read("SELECT value FROM meta WHERE key = 'areas_version'", ())
        return str(rows[0][0]) if rows else None

    def districts(self) -> list[DistrictRow]:
        """Every district the store holds, by code."""
        rows = self._read(f"SELECT {_DISTRICT_COLUMNS} FROM district ORDER BY code", ())
        return [DistrictRow(r[0], r[1], r[2], int(r[3]), bool(r[4]), r[5]) for r in rows]

    def district(self, code: str | None = None) -> DistrictRow | None:
        """The district ``code`` (without a code: the first held, by code), or None."""
        where, params = where_given((("code = ?", code),))
        rows = self._read(
            self._q(f"SELECT {_DISTRICT_COLUMNS} FROM district{where} ORDER BY code LIMIT ?"), (*params, 1)
        )
        if not rows:
            return None
        r = rows[0]
        return DistrictRow(r[0], r[1], r[2], int(r[3]), bool(r[4]), r[5])

    def district_of(self, *, township_code: str | None = None, team_id: int | None = None) -> str | None:
        """The district of a township or of a team, or None."""
        if township_code is not None:
            sql, params = "SELECT district_code FROM townships WHERE code = ?", (township_code,)
        elif team_id is not None:
            sql = (
                "SELECT t.district_code FROM teams g JOIN villages v ON v.code = g.village_code"
                " JOIN townships t ON t.code = v.township_code WHERE g.id = ?"
            )
            params = (team_id,)  # type: ignore[assignment]
        else:
            return None
        rows = self._read(self._q(sql), params)
        return str(rows[0][0]) if rows else None

    def townships(self, district_code: str | None = None) -> list[TownshipRow]:
        """Townships, by code; only one district's when given."""
        where, params = where_given((("district_code = ?", district_code),))
        rows = self._read(
            self._q(
                f"SELECT code, name, name_en, kind, empowerment_class, {self._geom_out.format('geom')}"
                f" FROM townships{where} ORDER BY code"
            ),
            params,
        )
        return [TownshipRow(r[0], r[1], r[2], r[3], r[4], bytes(r[5])) for r in rows]

    def villages(
        self, township_code: str | None = None, district_code: str | None = None
    ) -> list[VillageRow]:
        """Village grids, by code; only one township's or one district's when given."""
        where, params = where_given(
            (("v.township_code = ?", township_code), ("t.district_code = ?", district_code))
        )
        rows = self._read(
            self._q(
                f"SELECT v.code, v.township_code, v.name, v.kind, {self._geom_out.format('v.geom')}"
                f" FROM villages v JOIN townships t ON t.code = v.township_code{where} ORDER BY v.code"
            ),
            params,
        )
        return [VillageRow(r[0], r[1], r[2], r[3], bytes(r[4])) for r in rows]

    def teams(self, township_code: str | None = None, district_code: str | None = None) -> list[TeamRow]:
        """Grid teams, by village code; only one township's or one district's when given."""
        where, params = where_given(
            (("v.township_code = ?", township_code), ("t.district_code = ?", district_code))
        )
        rows = self._read(
            self._q(
                "SELECT g.id, g.village_code, g.name, g.captain, g.members FROM teams g"
                " JOIN villages v ON v.code = g.village_code JOIN townships t ON t.code = v.township_code"
                f"{where} ORDER BY g.village_code"
            ),
            params,
        )
        return [TeamRow(r[0], r[1], r[2], r[3], tuple(self._list_out(r[4]))) for r in rows]

    def cell_map(self, district_code: str | None = None) -> tuple[npt.NDArray[np.int64], list[str]]:
        """Sorted cells and the code of each cell's owning village; only one district's when given."""
        where, params = _of_district(f"village_code IN ({_VILLAGES_OF})", district_code)
        rows = self._read(self._q(f"SELECT cell, village_code FROM cells{where} ORDER BY cell"), params)
        return np.array([r[0] for r in rows], dtype=np.int64), [r[1] for r in rows]

    def cells_held_elsewhere(self, district_code: str) -> npt.NDArray[np.int64]:
        """Sorted cells the store's other districts hold."""
        sql = f"SELECT cell FROM cells WHERE village_code NOT IN ({_VILLAGES_OF}) ORDER BY cell"
        return np.array([r[0] for r in self._read(self._q(sql), (district_code,))], dtype=np.int64)

    def next_team_id(self) -> int:
        """The first team id after every team of every district."""
        return int(self._read("SELECT COALESCE(MAX(id), 0) + 1 FROM teams", ())[0][0])

    def area_counts(self, district_code: str | None = None) -> dict[str, int]:
        """Counts of townships, villages, teams and cells (of one district when given)."""
        counts: list[str] = []
        params: list[str] = []
        for table, condition in zip(AREA_TABLES, _DISTRICT_OF_AREA, strict=True):
            where, values = _of_district(condition, district_code)
            counts.append(f"(SELECT count(*) FROM {table}{where})")
            params += values
        row = self._read(self._q(f"SELECT {', '.join(counts)}"), tuple(params))[0]
        return {table: int(n) for table, n in zip(AREA_TABLES, row, strict=True)}

    def area_references(self) -> dict[str, dict[str, int]]:
        """How many rows name each area (see the protocol)."""
        out: dict[str, dict[str, Any]] = {}
        for name, sql in AREA_REFERENCES.items():
            out[name] = {str(k): int(n) for k, n in self._read(sql, ())}
        return out
