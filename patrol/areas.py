"""Areas service: load the demo district or imported boundaries, and build the cell map."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

from geo.assign import PointAssigner
from geo.boundaries import BoundaryReport, Level, Problem, read_boundaries
from geo.grid import DEFAULT_RESOLUTION, cell_owners
from patrol.audit import audit_row
from patrol.roles import Principal
from store import redact_url
from store.protocol import Store
from store.rows import AuditRow, DistrictRow, TeamRow, TownshipRow, VillageRow

UNASSIGNED_CAPTAIN = "待指定"
DEFAULT_DISTRICT_CODE = "000000"


@dataclass(frozen=True)
class ImportResult:
    """What importing a boundary file did (or, on a dry run, would do)."""

    report: BoundaryReport
    saved: bool
    counts: dict[str, int]
    effect: AreaChange | None = None


@dataclass(frozen=True)
class AreaChange:
    """What replacing the areas does to the rows that name them.

    ``orphans`` counts, per kind of row, those that would name a township, village or team
    that no longer exists (after ``remap``); ``removed`` lists the codes that disappear.
    """

    removed: tuple[str, ...]
    orphans: dict[str, int]
    remapped: int = 0

    @property
    def orphans_any(self) -> bool:
        """Whether the change would leave any row pointing at nothing."""
        return any(self.orphans.values())


class OrphaningImportError(ValueError):
    """A boundary import that would leave incidents, users, patrols or premises pointing at nothing."""

    def __init__(self, effect: AreaChange) -> None:
        parts = ", ".join(f"{n:,} {kind.replace('_', ' ')}" for kind, n in effect.orphans.items() if n)
        shown = ", ".join(effect.removed[:10]) + (" …" if len(effect.removed) > 10 else "")
        super().__init__(
            f"this import would leave {parts} pointing at areas or teams that no longer exist"
            f" (codes removed: {shown}); give a code map of old codes to new ones (CSV old_code,new_code)"
        )
        self.effect = effect


def area_change(
    store: Store,
    district_code: str,
    townships: Sequence[TownshipRow],
    villages: Sequence[VillageRow],
    teams: Sequence[TeamRow],
    remap: Mapping[str, str] | None = None,
) -> AreaChange:
    """The effect on stored rows of replacing the district's areas with these (see :class:`AreaChange`).

    Rows naming another district's areas or teams are that district's and are not counted.
    """
    remap = dict(remap or {})
    new_townships = {t.code for t in townships}
    new_villages = {v.code for v in villages}
    new_teams = {str(t.id) for t in teams}
    own = district_code
    old_codes = {t.code for t in store.townships(own)} | {v.code for v in store.villages(district_code=own)}
    others = {t.code for t in store.townships()} | {v.code for v in store.villages()}
    others -= old_codes
    others_teams = {str(t.id) for t in store.teams()} - {str(t.id) for t in store.teams(district_code=own)}
    refs = store.area_references()

    def lost(kind: str, alive: set[str], mapped: bool = True) -> int:
        theirs = others_teams if kind.endswith("_team") else others  # another district's rows
        return sum(
            n
            for c, n in refs[kind].items()
            if c not in theirs and (remap.get(c, c) if mapped else c) not in alive
        )

    orphans = {
        "incidents": lost("incidents_by_township", new_townships)
        + lost("incidents_by_team", new_teams, False),
        "users": lost("users_by_township", new_townships) + lost("users_by_team", new_teams, False),
        "patrol_tasks": lost("patrols_by_township", new_townships)
        + lost("patrols_by_team", new_teams, False),
        "premises": lost("premises_by_village", new_villages),
    }
    removed = tuple(sorted(old_codes - new_townships - new_villages - set(remap)))
    return AreaChange(removed, orphans, remapped=len(remap))


def read_code_map(path: str | Path) -> dict[str, str]:
    """A code map from a CSV file with the columns ``old_code`` and ``new_code``.

    Raises
    ------
    ValueError
        If the columns are missing or an old code is mapped twice.
    """
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    if not {"old_code", "new_code"} <= set(frame.columns):
        msg = f"code map {Path(path).name} needs the columns old_code and new_code"
        raise ValueError(msg)
    pairs = [
        (o.strip(), n.strip()) for o, n in zip(frame["old_code"], frame["new_code"], strict=True) if o.strip()
    ]
    if len({o for o, _ in pairs}) != len(pairs):
        msg = f"code map {Path(path).name} maps an old code twice"
        raise ValueError(msg)
    return dict(pairs)


def _wkb(geom: BaseGeometry) -> bytes:
    return bytes(shapely.to_wkb(geom))


def save_areas(
    store: Store,
    district: DistrictRow,
    townships: Sequence[TownshipRow],
    villages: Sequence[VillageRow],
    teams: Sequence[TeamRow],
    *,
    remap: Mapping[str, str] | None = None,
    audit: Callable[[dict[str, int]], AuditRow] | None = None,
) -> dict[str, int]:
    """Build the cell map for the villages and replace everything in one transaction.

    ``remap`` re-points rows naming old codes in the same transaction (see ``Store.replace_areas``);
    ``audit`` makes the record of the change from the counts it leaves, committed with it.

    Returns
    -------
    dict
        The district's counts after: townships, villages, teams and cells.
    """
    geoms = shapely.from_wkb([v.geometry_wkb for v in villages])
    cells, owner = cell_owners(geoms, district.h3_resolution)
    # a cell on the line with a neighbouring district stays with the district holding it
    mine = ~np.isin(cells, store.cells_held_elsewhere(district.code))
    cells, owner = cells[mine], owner[mine]
    codes = [villages[i].code for i in owner.tolist()]
    after = {
        "townships": len(townships),
        "villages": len(villages),
        "teams": len(teams),
        "cells": int(cells.size),
    }
    records = () if audit is None else (audit(after),)
    store.replace_areas(district, townships, villages, teams, cells, codes, remap=remap, audit=records)
    return after


def village_team_ids(store: Store, district_code: str, village_codes: Sequence[str]) -> list[int]:
    """Each village's team id: the team it has in the district, else the next id free across the store."""
    kept = {t.village_code: t.id for t in store.teams(district_code=district_code)}
    free = itertools.count(store.next_team_id())
    return [kept.get(code) or next(free) for code in village_codes]


def district_info(store: Store) -> dict[str, Any]:
    """Key figures of the store's districts, as printed by ``gridpatrol info`` (totals over them)."""
    districts = store.districts()
    district = store.district()
    counts = store.area_counts()
    return {
        "store": redact_url(store.url),
        "districts": len(districts),
        "district": "、".join(f"{d.name} ({d.code})" for d in districts),
        "demo": bool(district.is_demo) if district else False,
        **counts,
        "h3_resolution": district.h3_resolution if district else DEFAULT_RESOLUTION,
    }


def _frame(rows: Sequence[TownshipRow | VillageRow]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"code": [r.code for r in rows], "name": [r.name for r in rows]},
        geometry=list(shapely.from_wkb([r.geometry_wkb for r in rows])),
        crs="EPSG:4326",
    )


def _fill_codes(gdf: gpd.GeoDataFrame, prefix: str, report: BoundaryReport, rows: Any = None) -> None:
    """Give features with no code the next free code ``prefix + NNN`` and report it."""
    used = {str(c) for c in gdf["code"] if c}
    n = 0
    scope = gdf if rows is None else gdf.loc[rows]
    for i in scope.index[scope["code"].isna()]:
        n += 1
        code = f"{prefix}{n:03d}"
        while code in used:
            n += 1
            code = f"{prefix}{n:03d}"
        used.add(code)
        gdf.at[i, "code"] = code
        report.add(Problem("missing_code", str(gdf.at[i, "name"] or code), f"no code; given {code}"))


def _dedupe_codes(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Keep the first feature of each code (duplicates are already in the report)."""
    return gdf[~gdf["code"].duplicated(keep="first")].reset_index(drop=True)


def import_boundaries(
    store: Store,
    path: str | Path,
    level: Level,
    *,
    crs: str | None = None,
    name_field: str | None = None,
    code_field: str | None = None,
    parent_field: str | None = None,
    district_code: str | None = None,
    district_name: str | None = None,
    res: int | None = None,
    dry_run: bool = False,
    who: Principal | None = None,
    code_map: Mapping[str, str] | None = None,
) -> ImportResult:
    """Validate a boundary file and, unless ``dry_run``, make it the store's areas (audited as ``who``).

    Importing townships replaces all areas: each township becomes, for now, one grid
    with one team (属地兜底) until its villages are imported. Importing villages keeps
    the townships, places each village in the township it lies in (or the one named by
    ``parent_field``), keeps existing teams by village code and creates a team with no
    captain yet for each new village. Features without a usable parent are reported
    and left out.

    Teams keep their ids (and members) when their village stays, or when ``code_map`` maps
    their old village to a new one, so incidents and inspectors stay with their team. An
    import that would leave incidents, users, patrols or premises naming an area or a team
    that no longer exists is refused unless ``code_map`` (old code -> new code) re-points
    them; the dry run reports that effect. The re-pointing commits with the new areas.

    Raises
    ------
    geo.boundaries.BoundaryError
        If the file cannot be used at all.
    OrphaningImportError
        If the import would orphan stored rows (its ``effect`` says how many).
    ValueError
        If villages are imported before any township.
    """
    current = store.district(district_code) if district_code else store.district()
    if level == "village":
        townships = store.townships(current.code) if current else []
        if not townships:
            msg = "import townships first: villages are placed inside townships"
            raise ValueError(msg)
        gdf, report = read_boundaries(
            path,
            "village",
            crs=crs,
            name_field=name_field,
            code_field=code_field,
            parent_field=parent_field,
            parents=_frame(townships),
        )
    else:
        gdf, report = read_boundaries(path, "township", crs=crs, name_field=name_field, code_field=code_field)
    d_code = district_code or (current.code if current else DEFAULT_DISTRICT_CODE)
    district = DistrictRow(
        code=d_code,
        name=district_name or (current.name if current else d_code),
        name_en=current.name_en if current else "",
        h3_resolution=res or (current.h3_resolution if current else DEFAULT_RESOLUTION),
        is_demo=False,
        **({"number_prefix": current.number_prefix} if current else {}),  # numbering goes on as it was
    )
    if level == "township":
        _fill_codes(gdf, d_code, report)
        gdf = _dedupe_codes(gdf)
        t_rows = [
            TownshipRow(str(r.code), str(r.name or r.code), "", "township", "", _wkb(r.geometry))
            for r in gdf.itertuples()
        ]
        v_rows = [VillageRow(f"{t.code}000", t.code, t.name, "township_grid", t.geometry_wkb) for t in t_rows]
    else:
        t_rows = townships
        gdf = gdf[gdf["parent_code"].notna()].reset_index(drop=True)
        for tcode, rows in gdf.groupby("parent_code").groups.items():
            _fill_codes(gdf, str(tcode), report, rows)
        gdf = _dedupe_codes(gdf)
        v_rows = [
            VillageRow(str(r.code), str(r.parent_code), str(r.name or r.code), "village", _wkb(r.geometry))
            for r in gdf.itertuples()
        ]
    teams = _teams_for(store.teams(district_code=d_code), v_rows, dict(code_map or {}), store.next_team_id())
    effect = area_change(store, district.code, t_rows, v_rows, teams, code_map)
    if dry_run:
        return ImportResult(report, saved=False, counts=store.area_counts(d_code), effect=effect)
    if effect.orphans_any:
        raise OrphaningImportError(effect)
    before = store.area_counts(d_code)
    remapped = {"remapped_codes": len(code_map)} if code_map else {}

    def record(after: dict[str, int]) -> AuditRow:  # the change and its record commit together
        entity_id = f"{level}:{Path(path).name}"
        return audit_row(
            who, datetime.now(UTC), "import_boundaries", "areas", entity_id, before, after | remapped
        )

    save_areas(store, district, t_rows, v_rows, teams, remap=code_map, audit=record)
    return ImportResult(report, saved=True, counts=store.area_counts(d_code) | remapped, effect=effect)


def _teams_for(
    old: Sequence[TeamRow], villages: Sequence[VillageRow], code_map: dict[str, str], next_id: int
) -> list[TeamRow]:
    """A team per village: its old team (or that of the old village mapped to it), else a new team."""
    by_village = {t.village_code: t for t in old}
    for old_code, new_code in code_map.items():
        if old_code in by_village and new_code not in by_village:
            by_village[new_code] = by_village[old_code]
    kept: dict[str, TeamRow] = {}
    for v in villages:  # two new villages mapped from one old one: the first keeps its team
        t = by_village.get(v.code)
        if t is not None and t.id not in {k.id for k in kept.values()}:
            kept[v.code] = t
    teams = []
    for v in villages:
        t = kept.get(v.code)
        if t is not None:
            teams.append(TeamRow(t.id, v.code, t.name, t.captain, t.members))
        else:
            teams.append(TeamRow(next_id, v.code, f"{v.name}网格团队", UNASSIGNED_CAPTAIN, ()))
            next_id += 1
    return teams


class AreaIndex:
    """Everything needed to route a point: villages, their townships and the assigner."""

    def __init__(self, store: Store) -> None:
        district = store.district()
        if district is None:
            msg = "the store holds no district yet: run 'gridpatrol demo' or import boundaries"
            raise ValueError(msg)
        self.res = district.h3_resolution
        self.townships = {t.code: t for t in store.townships(district.code)}
        self.villages = store.villages(district_code=district.code)
        self.village_codes = np.array([v.code for v in self.villages], dtype=object)
        self.village_townships = np.array([v.township_code for v in self.villages], dtype=object)
        index = {v.code: i for i, v in enumerate(self.villages)}
        cells, owners = store.cell_map(district.code)
        owner_idx = np.array([index[c] for c in owners], dtype=np.int64)
        self.cells = cells
        self.cell_owner = owner_idx
        self.geoms = shapely.from_wkb([v.geometry_wkb for v in self.villages])
        self.assigner = PointAssigner(self.geoms, self.res, cells, owner_idx)
        self._tree: shapely.STRtree | None = None

    def places(self, lat: npt.ArrayLike, lng: npt.ArrayLike) -> list[str | None]:
        """Each point's place as "township · village" (None outside every village)."""
        if self._tree is None:
            self._tree = shapely.STRtree(self.geoms)
        x, y = np.asarray(lng, dtype=np.float64).ravel(), np.asarray(lat, dtype=np.float64).ravel()
        points = shapely.points(x, y)
        out: list[str | None] = [None] * x.size
        hit_point, hit_village = self._tree.query(points, predicate="intersects")
        for i, v in zip(hit_point.tolist(), hit_village.tolist(), strict=True):
            if out[i] is None:
                out[i] = self.place_of(v)
        return out

    def place_of(self, village: int) -> str:
        """A village (by its index) as "township · village", the way every screen names a place."""
        v = self.villages[village]
        township = self.townships.get(v.township_code)
        return f"{township.name if township else v.township_code} · {v.name}"


@dataclass(frozen=True)
class DistrictInfo:
    """The district as a page shows it."""

    code: str
    name: str
    name_en: str
    h3_resolution: int
    is_demo: bool


@dataclass(frozen=True)
class TownshipView:
    """A township (乡镇/街道) as a page shows it, with its outline."""

    code: str
    name: str
    name_en: str
    kind: str
    empowerment_class: str
    geometry: BaseGeometry


@dataclass(frozen=True)
class VillageView:
    """A village or community grid as a page shows it, with its outline."""

    code: str
    name: str
    township_code: str
    kind: str
    geometry: BaseGeometry


@dataclass(frozen=True)
class TeamView:
    """A village grid's team."""

    id: int
    village_code: str
    name: str
    captain: str
    members: tuple[str, ...]


@dataclass(frozen=True)
class AreaOverview:
    """What the pages read of the areas: the district (None before one is loaded) and its parts."""

    district: DistrictInfo | None
    townships: tuple[TownshipView, ...]
    villages: tuple[VillageView, ...]
    teams: tuple[TeamView, ...]
    counts: dict[str, int]


def area_overview(store: Store) -> AreaOverview:
    """District, townships, villages (with geometries) and teams, typed for the pages."""
    district = store.district()
    if district is None:
        return AreaOverview(None, (), (), (), store.area_counts())
    return AreaOverview(
        DistrictInfo(
            district.code, district.name, district.name_en, district.h3_resolution, district.is_demo
        ),
        tuple(
            TownshipView(
                t.code, t.name, t.name_en, t.kind, t.empowerment_class, shapely.from_wkb(t.geometry_wkb)
            )
            for t in store.townships()
        ),
        tuple(
            VillageView(v.code, v.name, v.township_code, v.kind, shapely.from_wkb(v.geometry_wkb))
            for v in store.villages()
        ),
        tuple(TeamView(t.id, t.village_code, t.name, t.captain, tuple(t.members)) for t in store.teams()),
        store.area_counts(),
    )
