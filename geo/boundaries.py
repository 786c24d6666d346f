"""Load township and village boundaries from files, repair them and report what is wrong.

Reads GeoJSON, GeoPackage, zipped Shapefile and KML through geopandas/pyogrio, brings
them to WGS84 (EPSG:4326, x = lng, y = lat) and returns a validation report: repaired
geometries, overlaps between siblings and gaps inside the parent (with areas in m²),
villages outside their township, duplicate or missing names and codes. A file that
cannot be used at all raises :class:`BoundaryError` with a one-line reason.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TypeAlias

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

from geo.crs import area_m2, check_crs_name, geometry_to_wgs84

Level: TypeAlias = Literal["township", "village"]
ProblemKind: TypeAlias = Literal[
    "repaired",
    "dropped",
    "overlap",
    "gap",
    "outside_parent",
    "no_parent",
    "duplicate_name",
    "duplicate_code",
    "missing_name",
    "missing_code",
]

NAME_FIELDS = ("name", "NAME", "Name", "名称", "mc", "MC", "xzqmc", "XZQMC")
CODE_FIELDS = ("code", "CODE", "Code", "adcode", "ADCODE", "代码", "dm", "DM", "xzqdm", "XZQDM")
SUPPORTED_SUFFIXES = (".geojson", ".json", ".gpkg", ".zip", ".kml", ".shp")
MIN_REPORTED_AREA_M2 = 1.0
OUTSIDE_PARENT_TOLERANCE = 0.01


class BoundaryError(ValueError):
    """The file cannot be used at all; the message is a one-line reason.

    ``str(exc)`` is the English sentence (logs, the command line); ``key`` and ``values``
    let a page say the same in the user's language (``data/i18n``), as a refusal does.
    """

    def __init__(self, message: str, key: str = "boundary.unusable", **values: object) -> None:
        super().__init__(message)
        self.key = key
        self.values = values


@dataclass(frozen=True)
class Problem:
    """One finding of the validation report."""

    kind: ProblemKind
    feature: str
    message: str
    area_m2: float | None = None
    geometry: BaseGeometry | None = None


@dataclass
class BoundaryReport:
    """What loading a boundary file found, as data."""

    level: Level
    source: str
    n_features: int = 0
    problems: list[Problem] = field(default_factory=list)

    def add(self, problem: Problem) -> None:
        """Record a problem."""
        self.problems.append(problem)

    def count(self, kind: ProblemKind) -> int:
        """Number of problems of one kind."""
        return sum(1 for p in self.problems if p.kind == kind)

    @property
    def ok(self) -> bool:
        """True when nothing at all was found."""
        return not self.problems

    def to_frame(self) -> pd.DataFrame:
        """Return the problems as a table (kind, feature, message, area_m2)."""
        return pd.DataFrame(
            [(p.kind, p.feature, p.message, p.area_m2) for p in self.problems],
            columns=["kind", "feature", "message", "area_m2"],
        )

    def problem_geometries(self) -> gpd.GeoDataFrame:
        """Return the problems that have a geometry, for a map (EPSG:4326)."""
        rows = [p for p in self.problems if p.geometry is not None]
        return gpd.GeoDataFrame(
            {
                "kind": [p.kind for p in rows],
                "feature": [p.feature for p in rows],
                "message": [p.message for p in rows],
                "area_m2": [p.area_m2 for p in rows],
            },
            geometry=[p.geometry for p in rows],
            crs="EPSG:4326",
        )


def _pick_field(columns: list[str], wanted: str | None, candidates: tuple[str, ...], what: str) -> str | None:
    if wanted is not None:
        if wanted not in columns:
            msg = f"{what} field {wanted!r} not found; the file has: {', '.join(columns) or 'no fields'}"
            raise BoundaryError(
                msg, "boundary.field_missing", column=wanted, columns="、".join(columns) or "—"
            )
        return wanted
    for c in candidates:
        if c in columns:
            return c
    return None


def _read_any(path: Path) -> gpd.GeoDataFrame:
    if not path.exists():
        msg = f"file not found: {path}"
        raise BoundaryError(msg, "boundary.not_found", file=path.name)
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        msg = f"unsupported file type {suffix!r}; use GeoJSON, GeoPackage, zipped Shapefile or KML"
        raise BoundaryError(msg, "boundary.unsupported", suffix=suffix or "—")
    if path.stat().st_size == 0:
        msg = f"file is empty: {path.name}"
        raise BoundaryError(msg, "boundary.empty", file=path.name)
    if suffix == ".zip":
        try:
            with zipfile.ZipFile(path) as zf:
                shp = [n for n in zf.namelist() if n.lower().endswith(".shp")]
        except zipfile.BadZipFile as exc:
            msg = f"not a valid zip archive: {path.name}"
            raise BoundaryError(msg, "boundary.bad_zip", file=path.name) from exc
        if not shp:
            msg = f"zip archive {path.name} contains no .shp file"
            raise BoundaryError(msg, "boundary.zip_no_shp", file=path.name)
        source = f"/vsizip/{path}/{shp[0]}"
    else:
        source = str(path)
    try:
        return gpd.read_file(source, engine="pyogrio")
    except Exception as exc:  # pyogrio raises several error types for unreadable data
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        msg = f"cannot read {path.name}: {first_line}"
        raise BoundaryError(msg, "boundary.unreadable", file=path.name) from exc


def _to_wgs84(gdf: gpd.GeoDataFrame, crs: str | None, name: str) -> gpd.GeoDataFrame:
    declared = check_crs_name(crs) if crs is not None else None
    if gdf.crs is not None and not gdf.crs.is_geographic:
        gdf = gdf.to_crs(4326)
    elif gdf.crs is not None and gdf.crs.to_epsg() not in (4326, 4490, 4258, 4269, None):
        gdf = gdf.to_crs(4326)
    minx, miny, maxx, maxy = gdf.total_bounds
    if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
        msg = (
            f"{name}: coordinates ({minx:.0f}, {miny:.0f}) … ({maxx:.0f}, {maxy:.0f}) are not "
            "longitude/latitude; the file declares no projected CRS (wrong or missing CRS?)"
        )
        raise BoundaryError(msg, "boundary.not_lonlat", file=name)
    gdf = gdf.set_crs(4326, allow_override=True)
    if declared in ("gcj02", "bd09"):
        gdf = gdf.set_geometry(
            [geometry_to_wgs84(g, declared) if g is not None else None for g in gdf.geometry],
            crs=4326,
        )
    return gdf


def _polygonal(geom: BaseGeometry) -> BaseGeometry:
    """Keep only the polygonal parts of a geometry (make_valid can return collections)."""
    if geom.geom_type in ("Polygon", "MultiPolygon"):
        return geom
    parts = [g for g in getattr(geom, "geoms", []) if g.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(parts) if parts else shapely.Polygon()


def read_boundaries(
    path: str | Path,
    level: Level,
    *,
    crs: str | None = None,
    name_field: str | None = None,
    code_field: str | None = None,
    parent_field: str | None = None,
    parents: gpd.GeoDataFrame | None = None,
) -> tuple[gpd.GeoDataFrame, BoundaryReport]:
    """Load township or village polygons and validate them.

    Parameters
    ----------
    path : str or Path
        GeoJSON, GeoPackage, zipped Shapefile or KML.
    level : {'township', 'village'}
        What the polygons are.
    crs : {'wgs84', 'cgcs2000', 'gcj02', 'bd09'}, optional
        The system of the coordinates when the file cannot say it (GCJ-02 and BD-09
        have no EPSG code). A projected CRS declared by the file is honoured.
    name_field, code_field : str, optional
        Attribute names; common names (name, 名称, code, adcode, …) are tried otherwise.
    parent_field : str, optional
        For villages: the attribute holding the township code. Without it the parent is
        the township containing most of the village.
    parents : geopandas.GeoDataFrame, optional
        The parent polygons (columns ``code``, ``geometry``): townships for villages,
        the district outline for townships. Enables the gap and outside-parent checks.

    Returns
    -------
    gdf : geopandas.GeoDataFrame
        Columns ``code``, ``name``, ``parent_code`` and ``geometry`` (EPSG:4326), one
        row per usable polygon.
    report : BoundaryReport

    Raises
    ------
    BoundaryError
        If the file cannot be used at all.
    """
    path = Path(path)
    report = BoundaryReport(level=level, source=path.name)
    raw = _read_any(path)
    if len(raw) == 0:
        msg = f"{path.name} contains no features"
        raise BoundaryError(msg, "boundary.no_features", file=path.name)
    if raw.crs is None and crs is None and path.suffix.lower() in (".zip", ".shp"):
        # GeoJSON and KML are longitude/latitude by their specifications; a shapefile says
        # its system only in its .prj, and a guess here would shift every boundary
        msg = (
            f"{path.name}: the shapefile has no .prj, so its coordinate system is unknown;"
            " give it (--crs wgs84, cgcs2000, gcj02 or bd09)"
        )
        raise BoundaryError(msg, "boundary.no_prj", file=path.name)
    columns = [c for c in raw.columns if c != raw.geometry.name]
    nf = _pick_field(columns, name_field, NAME_FIELDS, "name")
    cf = _pick_field(columns, code_field, CODE_FIELDS, "code")
    pf = _pick_field(columns, parent_field, (), "parent") if parent_field else None
    kinds = raw.geometry.geom_type.fillna("None")
    polygonal = kinds.isin(["Polygon", "MultiPolygon"]).to_numpy()
    if not polygonal.any():
        found = ", ".join(sorted(set(kinds)))
        msg = f"{path.name} has no polygons (found {found}); boundaries must be areas"
        raise BoundaryError(msg, "boundary.no_polygons", file=path.name, found=found)
    raw = _to_wgs84(raw, crs, path.name)

    labels = [
        str(raw[nf].iloc[i]) if nf and pd.notna(raw[nf].iloc[i]) else f"#{i + 1}" for i in range(len(raw))
    ]
    for i in np.flatnonzero(~polygonal):
        report.add(Problem("dropped", labels[i], f"not a polygon ({kinds.iloc[i]}), left out"))
    gdf = raw.loc[polygonal].copy()
    labels = [labels[i] for i in np.flatnonzero(polygonal)]

    geoms = gdf.geometry.to_numpy()
    invalid = ~shapely.is_valid(geoms)
    for i in np.flatnonzero(invalid):
        reason = shapely.is_valid_reason(geoms[i])
        geoms[i] = _polygonal(shapely.make_valid(geoms[i]))
        report.add(Problem("repaired", labels[i], f"invalid geometry repaired: {reason}", geometry=geoms[i]))
    out = gpd.GeoDataFrame(
        {
            "code": [
                str(v).strip() if cf and pd.notna(v) and str(v).strip() else None
                for v in (gdf[cf] if cf else [None] * len(gdf))
            ],
            "name": [
                str(v).strip() if nf and pd.notna(v) and str(v).strip() else None
                for v in (gdf[nf] if nf else [None] * len(gdf))
            ],
            "parent_code": [str(v).strip() if pd.notna(v) else None for v in gdf[pf]]
            if pf
            else [None] * len(gdf),
        },
        geometry=list(geoms),
        crs="EPSG:4326",
    ).reset_index(drop=True)
    out = out[~out.geometry.is_empty].reset_index(drop=True)
    report.n_features = len(out)
    _check_names_and_codes(out, report)
    _check_overlaps(out, report)
    if parents is not None and len(parents):
        _check_parents(out, parents, report, assign=pf is None)
    return out, report


def _label(row: pd.Series) -> str:
    return str(row["name"] or row["code"] or "?")


def _check_names_and_codes(gdf: gpd.GeoDataFrame, report: BoundaryReport) -> None:
    checks: tuple[tuple[str, ProblemKind, ProblemKind], ...] = (
        ("name", "missing_name", "duplicate_name"),
        ("code", "missing_code", "duplicate_code"),
    )
    for col, missing_kind, dup_kind in checks:
        values = gdf[col]
        for i in np.flatnonzero(values.isna().to_numpy()):
            report.add(
                Problem(missing_kind, _label(gdf.iloc[i]) if col == "code" else f"#{i + 1}", f"no {col}")
            )
        dup = values[values.notna() & values.duplicated(keep=False)]
        for v in sorted(set(dup)):
            n = int((values == v).sum())
            report.add(Problem(dup_kind, str(v), f"{col} {v!r} used by {n} features"))


def _check_overlaps(gdf: gpd.GeoDataFrame, report: BoundaryReport) -> None:
    geoms = gdf.geometry.to_numpy()
    left, right = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    keep = left < right
    left, right = left[keep], right[keep]
    if left.size == 0:
        return
    inter = shapely.intersection(geoms[left], geoms[right])
    areas = area_m2(inter)
    for a, b, g, area in zip(left, right, inter, areas, strict=True):
        if area >= MIN_REPORTED_AREA_M2:
            la, lb = _label(gdf.iloc[a]), _label(gdf.iloc[b])
            report.add(
                Problem("overlap", f"{la} / {lb}", f"{la} and {lb} overlap by {area:,.0f} m²", float(area), g)
            )


def _check_parents(
    gdf: gpd.GeoDataFrame, parents: gpd.GeoDataFrame, report: BoundaryReport, *, assign: bool
) -> None:
    pgeoms = parents.geometry.to_numpy()
    pcodes = [str(c) for c in parents["code"]]
    if assign:
        tree = shapely.STRtree(pgeoms)
        for i, g in enumerate(gdf.geometry):
            cand = tree.query(g, predicate="intersects")
            if cand.size == 0:
                gdf.at[i, "parent_code"] = None
                continue
            shares = shapely.area(shapely.intersection(pgeoms[cand], g))
            gdf.at[i, "parent_code"] = pcodes[int(cand[int(np.argmax(shares))])]
    by_code = dict(zip(pcodes, pgeoms, strict=True))
    for i, row in gdf.iterrows():
        parent = by_code.get(row["parent_code"]) if row["parent_code"] else None
        if parent is None:
            report.add(
                Problem(
                    "no_parent",
                    _label(row),
                    f"parent {row['parent_code']!r} not found",
                    geometry=row.geometry,
                )
            )
            continue
        outside = shapely.difference(row.geometry, parent)
        if not outside.is_empty:
            area = float(area_m2([outside])[0])
            total = float(area_m2([row.geometry])[0])
            if area >= MIN_REPORTED_AREA_M2 and area > OUTSIDE_PARENT_TOLERANCE * total:
                report.add(
                    Problem(
                        "outside_parent",
                        _label(row),
                        f"{area:,.0f} m² lie outside {row['parent_code']}",
                        area,
                        outside,
                    )
                )
        del i
    for code, parent in by_code.items():
        children = gdf.geometry[gdf["parent_code"] == code]
        if len(children) == 0:
            continue
        gap = shapely.difference(parent, shapely.union_all(children.to_numpy()))
        if gap.is_empty:
            continue
        area = float(area_m2([gap])[0])
        if area >= MIN_REPORTED_AREA_M2:
            report.add(Problem("gap", code, f"{area:,.0f} m² of {code} are covered by no child", area, gap))
