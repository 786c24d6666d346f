"""Deterministic demo partition of Nanhu District into townships, village grids and teams.

The outline is real (data/nanhu_outline_wgs84.geojson); the partition is not: townships
are Voronoi cells of rough seat locations clipped to the outline, and village grids are
relaxed Voronoi cells inside each township. Everything made here is labelled as a demo.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import shapely
from shapely.geometry import MultiPoint, Point, shape
from shapely.geometry.base import BaseGeometry

DATA_DIR = Path(__file__).resolve().parent
OUTLINE_FILE = DATA_DIR / "nanhu_outline_wgs84.geojson"
TOWNSHIPS_FILE = DATA_DIR / "nanhu_townships.json"
DEMO_NOTICE_ZH = "演示数据：乡镇与村社网格边界为示意划分，非官方边界。"
DEMO_NOTICE_EN = "Demo data: township and village grid boundaries are illustrative, not official."

_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡沈姚陆钱"
_GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉萍红建文辉力斌宇浩凯晨鑫琳雪婷"
_PLACE = "东南西北新长永安和平兴福春秋光明金银湖塘桥港河湾庄园林丰盛嘉禾盈泰瑞祥余凤竹梅兰清"
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


def load_outline() -> BaseGeometry:
    """Return the real Nanhu outline (WGS84) shipped in data/."""
    doc = json.loads(OUTLINE_FILE.read_text(encoding="utf-8"))
    return shape(doc["features"][0]["geometry"])


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


def _place_name(rng: np.random.Generator, used: set[str]) -> str:
    while True:
        name = "".join(rng.choice(list(_PLACE), size=2))
        if name not in used and name[0] != name[1]:
            used.add(name)
            return name


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


def build_demo_district(seed: int = 0) -> DemoDistrict:
    """Build the demo partition of Nanhu District, deterministic for a seed.

    Parameters
    ----------
    seed : int
        Random seed; the same seed always gives the same partition, names and teams.

    Returns
    -------
    DemoDistrict
        13 townships from data/nanhu_townships.json and 150-200 village grids, each
        with one team of a captain and 3-6 members.
    """
    rng = np.random.default_rng(seed)
    meta = json.loads(TOWNSHIPS_FILE.read_text(encoding="utf-8"))
    outline = load_outline()
    entries = meta["townships"]
    seats = [Point(t["seat"]) for t in entries]
    cells = _voronoi_in(seats, outline)
    district_code = meta["district"]["adcode"]
    townships: list[DemoTownship] = []
    villages: list[DemoVillage] = []
    used_names: set[str] = set()
    n_street = n_town = 0
    for entry, geom in zip(entries, cells, strict=True):
        if entry["kind"] == "street":
            n_street += 1
            code = f"{district_code}{n_street:03d}"
            n_villages = int(rng.integers(8, 16))
        else:
            n_town += 1
            code = f"{district_code}{100 + n_town:03d}"
            n_villages = int(rng.integers(10, 21))
        townships.append(
            DemoTownship(
                code=code,
                name=entry["name"],
                name_en=entry["name_en"],
                kind=entry["kind"],
                empowerment_class=entry["empowerment_class"],
                seat=(entry["seat"][1], entry["seat"][0]),
                geometry=shapely.make_valid(geom),
            )
        )
        for i, vgeom in enumerate(_relaxed_partition(geom, n_villages, rng), start=1):
            place = _place_name(rng, used_names)
            is_community = entry["kind"] == "street"
            vname = place + ("社区" if is_community else "村")
            vcode = f"{code}{(0 if is_community else 200) + i:03d}"
            members = tuple(_person(rng) for _ in range(int(rng.integers(3, 7))))
            villages.append(
                DemoVillage(
                    code=vcode,
                    name=vname,
                    township_code=code,
                    kind="community" if is_community else "village",
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
        code=district_code,
        name=meta["district"]["name"],
        name_en=meta["district"]["name_en"],
        outline=outline,
        townships=townships,
        villages=villages,
    )
