"""Deterministic demo partition of a district of Jiaxing into townships, village grids and teams.

The outlines are real (data/jiaxing_outlines_wgs84.geojson), and so are the townships' and
villages' codes and names (data/jiaxing_divisions_2023.json); the partition is not: Nanhu's
townships are Voronoi cells of rough seat locations clipped to the outline
(data/nanhu_townships.json), another district's are relaxed Voronoi cells of its outline, and
village grids are relaxed Voronoi cells inside each township. Everything made here is labelled
as a demo.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from shapely.geometry import MultiPoint, Point, shape
from shapely.geometry.base import BaseGeometry

from geo.grid import DEFAULT_RESOLUTION
from patrol.areas import save_areas, village_team_ids
from store.protocol import Store
from store.rows import DistrictRow, TeamRow, TownshipRow, VillageRow

DATA_DIR = Path(__file__).resolve().parent
OUTLINE_FILE = DATA_DIR / "jiaxing_outlines_wgs84.geojson"
TOWNSHIPS_FILE = DATA_DIR / "nanhu_townships.json"  # Nanhu's seats, English names and classes
DIVISIONS_FILE = DATA_DIR / "jiaxing_divisions_2023.json"
NANHU = "330402"
DEMO_NOTICE_ZH = "演示数据：乡镇与村社的名称和代码为2023年统计用区划代码，网格边界为示意划分，非官方边界。"
DEMO_NOTICE_EN = (
    "Demo data: township and village names and codes are the 2023 statistical division codes; "
    "the grid boundaries are illustrative, not official."
)

_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡沈姚陆钱"
_GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉萍红建文辉力斌宇浩凯晨鑫琳雪婷"
_LLOYD_ITERATIONS = 4


@dataclass(frozen=True)
class DemoTeam:
    """A village grid team: a name, its captain and members."""

    name: str
    captain: str
    members: tuple[str, ...]


@dataclass(frozen=True)
class DemoVillage:
    """A village or community grid with its team."""

    code: str
    name: str
    township_code: str
    kind: str
    geometry: BaseGeometry
    team: DemoTeam


@dataclass(frozen=True)
class DemoTownship:
    """A street (街道) or town (镇)."""

    code: str
    name: str
    name_en: str
    kind: str
    empowerment_class: str
    seat: tuple[float, float]
    geometry: BaseGeometry


@dataclass(frozen=True)
class DemoDistrict:
    """The whole demo partition."""

    code: str
    name: str
    name_en: str
    outline: BaseGeometry
    townships: list[DemoTownship]
    villages: list[DemoVillage] = field(default_factory=list)


def shipped_districts() -> dict[str, str]:
    """The districts whose outline ships with GridPatrol: code → name (嘉兴's seven)."""
    doc = json.loads(OUTLINE_FILE.read_text(encoding="utf-8"))
    return {f["properties"]["adcode"]: f["properties"]["name"] for f in doc["features"]}


def load_outline(code: str = NANHU) -> BaseGeometry:
    """Return the real outline (WGS84) of the district ``code`` shipped in data/.

    Raises
    ------
    ValueError
        If no outline of that district ships with GridPatrol.
    """
    doc = json.loads(OUTLINE_FILE.read_text(encoding="utf-8"))
    found = [f for f in doc["features"] if f["properties"]["adcode"] == code]
    if not found:
        shipped = ", ".join(f"{c} {n}" for c, n in shipped_districts().items())
        msg = f"no outline of district {code} ships with GridPatrol (these do: {shipped})"
        raise ValueError(msg)
    return shape(found[0]["geometry"])


def _voronoi_in(seeds: list[Point], region: BaseGeometry) -> list[BaseGeometry]:
    """Voronoi cells of ``seeds`` clipped to ``region``, in seed order."""
    cells = shapely.voronoi_polygons(MultiPoint(seeds), extend_to=region.envelope, ordered=True)
    return [shapely.intersection(c, region) for c in cells.geoms]


def _random_points_in(region: BaseGeometry, n: int, rng: np.random.Generator) -> list[Point]:
    minx, miny, maxx, maxy = region.bounds
    shapely.prepare(region)
    found: list[Point] = []
    while len(found) < n:
        xs = rng.uniform(minx, maxx, 4 * n)
        ys = rng.uniform(miny, maxy, 4 * n)
        pts = np.asarray(shapely.points(xs, ys), dtype=object)
        found.extend(pts[shapely.contains(region, pts)].tolist())
    return found[:n]


def _relaxed_partition(region: BaseGeometry, n: int, rng: np.random.Generator) -> list[BaseGeometry]:
    seeds = _random_points_in(region, n, rng)
    for _ in range(_LLOYD_ITERATIONS):
        cells = _voronoi_in(seeds, region)
        seeds = [c.representative_point() if c.is_empty else c.centroid for c in cells]
        seeds = [
            s if region.contains(s) else c.representative_point() for s, c in zip(seeds, cells, strict=True)
        ]
    return [shapely.make_valid(c) for c in _voronoi_in(seeds, region)]


def _person(rng: np.random.Generator) -> str:
    given = "".join(rng.choice(list(_GIVEN), size=int(rng.integers(1, 3))))
    return str(rng.choice(list(_SURNAMES))) + given


def load_division(code: str = NANHU) -> dict[str, Any]:
    """The 2023 statistical division of the district ``code``: code, names, number prefix, townships."""
    doc = json.loads(DIVISIONS_FILE.read_text(encoding="utf-8"))
    (district,) = [d for d in doc["districts"] if d["code"] == code]
    return dict(district)


def load_divisions(code: str = NANHU) -> dict[str, dict[str, object]]:
    """The 2023 statistical divisions of a district by township name: its code and its villages.

    Each village is ``(code, name, kind)``; the name drops the committee suffix (``百福弄社区居委会``
    is the 百福弄社区 grid) and the kind is ``community`` for a 居委会, ``village`` for a 村委会.
    """
    out: dict[str, dict[str, object]] = {}
    for t in load_division(code)["townships"]:
        villages = []
        for v in t["villages"]:
            name = str(v["name"])
            is_community = name.endswith("居委会")
            villages.append(
                (
                    v["code"],
                    name.removesuffix("居委会").removesuffix("委会"),
                    "community" if is_community else "village",
                )
            )
        out[t["name"]] = {**t, "villages": villages}
    return out


def _as_clean_coverage(villages: list[DemoVillage]) -> list[DemoVillage]:
    """Re-node the villages so neighbours share exactly the same edges.

    Separately clipped Voronoi cells overlap by floating-point slivers, and a point
    near an edge would then lie in two villages. Polygonizing the noded union of all
    boundaries gives faces that tile the district exactly; each face goes back to the
    village that covers most of it.
    """
    raw = np.array([v.geometry for v in villages], dtype=object)
    faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(shapely.union_all(shapely.boundary(raw)))))
    tree = shapely.STRtree(raw)
    owner_faces: dict[int, list[BaseGeometry]] = {}
    for face in faces:
        cand = tree.query(face, predicate="intersects")
        if cand.size == 0:
            continue
        shares = shapely.area(shapely.intersection(raw[cand], face))
        owner_faces.setdefault(int(cand[int(np.argmax(shares))]), []).append(face)
    return [
        DemoVillage(v.code, v.name, v.township_code, v.kind, shapely.union_all(owner_faces[i]), v.team)
        for i, v in enumerate(villages)
    ]


def _empowerment_class(kind: str, k: int) -> str:
    """A demo empowerment class where no seat file names one: streets serve commerce, towns alternate."""
    if kind == "street":
        return "commercial_service"
    return ("industrial_it", "agriculture_rural")[k % 2]


def _township_entries(
    code: str, outline: BaseGeometry, rng: np.random.Generator
) -> tuple[dict[str, Any], list[tuple[dict[str, Any], BaseGeometry]]]:
    """The district's names and its townships (name, English name, kind, class) with their areas.

    Nanhu's townships are Voronoi cells of their rough seats (data/nanhu_townships.json);
    another district's are relaxed Voronoi cells of its outline, in code order.
    """
    division = load_division(code)
    if code == NANHU:
        meta = json.loads(TOWNSHIPS_FILE.read_text(encoding="utf-8"))
        entries = meta["townships"]
        seats = [Point(t["seat"]) for t in entries]
        return meta["district"], list(zip(entries, _voronoi_in(seats, outline), strict=True))
    entries = [
        {"name": t["name"], "name_en": t["name_en"], "kind": t["kind"],
         "empowerment_class": _empowerment_class(t["kind"], k)}
        for k, t in enumerate(division["townships"])
    ]  # fmt: skip
    areas = _relaxed_partition(outline, len(entries), rng)
    for entry, area in zip(entries, areas, strict=True):
        seat = area.representative_point()
        entry["seat"] = [seat.x, seat.y]
    return {k: division[k] for k in ("name", "name_en")}, list(zip(entries, areas, strict=True))


def build_demo_district(seed: int = 0, code: str = NANHU) -> DemoDistrict:
    """Build the demo partition of a district of Jiaxing (Nanhu unless ``code`` says); one seed, one result.

    Parameters
    ----------
    seed : int
        Random seed; the same seed always gives the same partition, names and teams.
    code : str
        The district's division code; its outline must ship with GridPatrol.

    Returns
    -------
    DemoDistrict
        The district's townships and communities and villages with their 2023 statistical codes
        and names (data/jiaxing_divisions_2023.json; Nanhu: 13 townships, 143 villages); the
        boundaries are illustrative (Voronoi cells of seats, relaxed Voronoi villages inside
        them). Each village has one team of a captain and 3-6 members (invented names).

    Raises
    ------
    ValueError
        If no outline of ``code`` ships with GridPatrol.
    """
    rng = np.random.default_rng(seed)
    outline = load_outline(code)
    names, township_areas = _township_entries(code, outline, rng)
    divisions = load_divisions(code)
    townships: list[DemoTownship] = []
    villages: list[DemoVillage] = []
    for entry, geom in township_areas:
        division = divisions[entry["name"]]
        township_code = str(division["code"])
        real_villages = list(division["villages"])  # type: ignore[call-overload]
        townships.append(
            DemoTownship(
                code=township_code,
                name=entry["name"],
                name_en=entry["name_en"],
                kind=entry["kind"],
                empowerment_class=entry["empowerment_class"],
                seat=(entry["seat"][1], entry["seat"][0]),
                geometry=shapely.make_valid(geom),
            )
        )
        cells_in = _relaxed_partition(geom, len(real_villages), rng)
        for (vcode, vname, kind), vgeom in zip(real_villages, cells_in, strict=True):
            members = tuple(_person(rng) for _ in range(int(rng.integers(3, 7))))
            villages.append(
                DemoVillage(
                    code=vcode,
                    name=vname,
                    township_code=township_code,
                    kind=kind,
                    geometry=vgeom,
                    team=DemoTeam(name=f"{vname}网格团队", captain=_person(rng), members=members),
                )
            )
    villages = _as_clean_coverage(villages)
    townships = [
        DemoTownship(
            t.code,
            t.name,
            t.name_en,
            t.kind,
            t.empowerment_class,
            t.seat,
            shapely.union_all([v.geometry for v in villages if v.township_code == t.code]),
        )
        for t in townships
    ]
    return DemoDistrict(
        code=code,
        name=names["name"],
        name_en=names["name_en"],
        outline=outline,
        townships=townships,
        villages=villages,
    )


def load_demo_district(
    store: Store, seed: int = 0, res: int = DEFAULT_RESOLUTION, code: str = NANHU
) -> dict[str, int]:
    """Put the demo partition of the district ``code`` in the store (deterministic per seed); its counts.

    Replaces that district's areas; other districts the store holds stay as they are.
    """
    demo = build_demo_district(seed, code)
    prefix = str(load_division(code)["number_prefix"])
    district = DistrictRow(demo.code, demo.name, demo.name_en, res, is_demo=True, number_prefix=prefix)
    townships = [
        TownshipRow(t.code, t.name, t.name_en, t.kind, t.empowerment_class, shapely.to_wkb(t.geometry))
        for t in demo.townships
    ]
    villages = [
        VillageRow(v.code, v.township_code, v.name, v.kind, shapely.to_wkb(v.geometry)) for v in demo.villages
    ]
    # team ids are the store's: a district seeded again keeps its teams' ids, a new one takes free ids
    ids = village_team_ids(store, code, [v.code for v in demo.villages])
    teams = [
        TeamRow(i, v.code, v.team.name, v.team.captain, v.team.members)
        for i, v in zip(ids, demo.villages, strict=True)
    ]
    return save_areas(store, district, townships, villages, teams)
