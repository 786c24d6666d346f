"""Demo patrol history, premises and joint inspections for the Nanhu demo district (演示数据).

Deterministic per seed and end day. Teams differ in diligence (some cover almost every planned
cell, a few hardly patrol at all), so the coverage page and the not-patrolled layer have
something true to show.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np
import shapely

from data.demo_incidents import DEMO_SOURCE, IMPORTER
from geo.grid import latlng_to_cells
from patrol.catalog import load_catalog
from patrol.dashboard import HeatFilter, heat_counts
from patrol.district import district_context
from patrol.incidents import LOCAL_TZ
from patrol.inspections import InspectionService
from patrol.patrols import PatrolService
from store.protocol import Store
from store.rows import InspectionRow, PatrolTaskRow, PatrolVisitRow, PremisesRow, VillageRow

SHIFT_STARTS = (8, 14, 19)
PREMISES_KINDS: dict[str, tuple[str, tuple[str, ...], tuple[str, ...], float]] = {
    # kind: (Chinese name, items to inspect, departments, expected per village)
    "restaurant": (
        "餐馆",
        ("CATERING_FUMES", "GAS_UNSAFE_USE", "FOOD_SAFETY"),
        ("sthb", "yjgl", "scjg"),
        1.2,
    ),
    "gas_outlet": ("瓶装燃气供应点", ("BOTTLED_GAS",), ("zhzf", "yjgl"), 0.3),
    "site": ("建筑工地", ("NOISE_CONSTRUCTION", "CONSTRUCTION_WASTE", "MUCK_SPILL"), ("zhzf", "sthb"), 0.4),
    "internet_cafe": ("网吧", ("INTERNET_CAFE", "FIRE_EXIT"), ("whsc", "yjgl"), 0.2),
    "market": ("农贸市场", ("STREET_VENDING", "FOOD_SAFETY", "UNLICENSED_BUSINESS"), ("zhzf", "scjg"), 0.3),
    "study_base": ("研学基地", ("STUDY_TOUR", "FIRE_EXIT"), ("whsc", "yjgl"), 0.08),
    "fitness": ("户外健身场所", ("FITNESS_VENUE",), ("whsc",), 0.3),
}


@dataclass(frozen=True)
class DemoPatrolsResult:
    """What the generator made."""

    tasks: int
    visits: int
    premises: int
    inspections: int


def generate_demo_patrols(store: Store, *, seed: int = 0, end: datetime, weeks: int = 8) -> DemoPatrolsResult:
    """Store ``weeks`` weeks of patrols up to ``end``, plus premises and their inspections.

    A client of the services: the district's teams and cells come from its context, the heat
    from the dashboard's counts, and the history goes in through the patrol and inspection
    services as the system importing it.
    """
    rng = np.random.default_rng(seed + 7)
    context = district_context(store)
    catalog = load_catalog()
    areas = context.areas
    by_village: dict[str, list[int]] = {}
    for c, v in zip(areas.cells.tolist(), areas.village_codes[areas.cell_owner].tolist(), strict=True):
        by_village.setdefault(v, []).append(int(c))
    start = end - timedelta(weeks=weeks)
    heat = dict(
        zip(*(a.tolist() for a in heat_counts(store, catalog, HeatFilter(days=7 * weeks), end)), strict=True)
    )
    tasks: list[PatrolTaskRow] = []
    visits: list[PatrolVisitRow] = []
    for team in context.teams.values():
        own = np.asarray(by_village.get(team.village_code, []), dtype=np.int64)
        if not own.size:
            continue
        weight = np.asarray([heat.get(int(c), 0) for c in own], dtype=float) + 0.3
        weight /= weight.sum()
        diligence = float(rng.beta(6, 2)) if rng.random() > 0.1 else 0.1
        township = context.team_township[team.id]
        for week in range(weeks + 1):
            for _ in range(rng.poisson(3.0 * diligence)):
                day = (start + timedelta(days=7 * week + int(rng.integers(0, 7)))).astimezone(LOCAL_TZ).date()
                begin = datetime(day.year, day.month, day.day, int(rng.choice(SHIFT_STARTS)), tzinfo=LOCAL_TZ)
                shift_end = begin + timedelta(hours=int(rng.integers(3, 5)))
                k = min(own.size, int(rng.integers(6, 15)))
                planned = np.sort(rng.choice(own, size=k, replace=False, p=weight))
                tid = f"PT-DEMO-{team.id:04d}-{begin:%Y%m%d%H}-{len(tasks):05d}"
                if begin >= end:
                    status, started, finished = "planned", None, None
                elif shift_end > end:
                    status, started, finished = "active", begin + timedelta(minutes=5), None
                else:
                    started = begin + timedelta(minutes=float(rng.uniform(0, 15)))
                    finished = shift_end - timedelta(minutes=float(rng.uniform(0, 30)))
                    status = "done"
                tasks.append(
                    PatrolTaskRow(
                        tid,
                        context.code,
                        township,
                        team.id,
                        tuple(int(c) for c in planned),
                        begin,
                        shift_end,
                        status,
                        "演示队长",
                        begin - timedelta(days=1),
                        "演示巡查",
                        started,
                        finished,
                    )
                )
                if started is None:
                    continue
                walked = [c for c in planned if rng.random() < diligence]
                walked += list(rng.choice(own, size=int(rng.integers(0, 3))))
                span = ((finished or end) - started).total_seconds()
                for c in dict.fromkeys(int(x) for x in walked):
                    at = started + timedelta(seconds=float(rng.uniform(0, span)))
                    visits.append(PatrolVisitRow(tid, team.id, township, c, at, "checkin"))
    PatrolService(store, clock=lambda: end).add_history(IMPORTER, tasks, visits, DEMO_SOURCE)
    premises = _premises(areas.villages, rng, context.code, context.h3_resolution)
    inspections = _inspections(rng, premises, end)
    InspectionService(store, catalog, clock=lambda: end).add_history(
        IMPORTER, premises, inspections, DEMO_SOURCE
    )
    return DemoPatrolsResult(len(tasks), len(visits), len(premises), len(inspections))


def _premises(
    villages: Sequence[VillageRow], rng: np.random.Generator, district: str, res: int
) -> list[PremisesRow]:
    out: list[PremisesRow] = []
    for v in villages:
        geom = shapely.from_wkb(v.geometry_wkb)
        minx, miny, maxx, maxy = geom.bounds
        for kind, (name_zh, items, departments, per) in PREMISES_KINDS.items():
            for k in range(int(rng.poisson(per))):
                while True:
                    x, y = float(rng.uniform(minx, maxx)), float(rng.uniform(miny, maxy))
                    if geom.contains(shapely.Point(x, y)):
                        break
                cell = int(latlng_to_cells([y], [x], res)[0])
                out.append(
                    PremisesRow(
                        f"PR-{v.code}-{kind}-{k + 1}",
                        district,
                        f"{v.name}{name_zh}{k + 1}号",
                        kind,
                        round(y, 6),
                        round(x, 6),
                        cell,
                        v.code,
                        v.township_code,
                        items,
                        departments,
                    )
                )
    return out


def _inspections(rng: np.random.Generator, premises: list[PremisesRow], end: datetime) -> list[InspectionRow]:
    today = end.astimezone(LOCAL_TZ).date()
    out: list[InspectionRow] = []
    created = end - timedelta(days=400)
    for p in premises:
        if len(p.departments) < 2 or rng.random() > 0.5:
            continue
        for dept in p.departments:
            if rng.random() < 0.6:  # a past inspection of the year: most done, some missed
                day = today - timedelta(days=int(rng.integers(1, 365)))
                if rng.random() < 0.85:
                    out.append(_row(p, dept, day, "done", created, f"V-{p.id}-{day:%Y%m%d}"))
                else:
                    out.append(_row(p, dept, day, "planned", created, None))
            if rng.random() < 0.6:  # each department plans on its own: the merge will join them
                day = today + timedelta(days=int(rng.integers(1, 28)))
                out.append(_row(p, dept, day, "planned", created, None))
    return out


def _row(
    p: PremisesRow, dept: str, day: date, status: str, created: datetime, visit: str | None
) -> InspectionRow:
    return InspectionRow(
        f"IN-DEMO-{p.id}-{dept}-{day:%Y%m%d}", p.id, dept, day, status, "演示部门", created,
        tuple(i for i in p.items), visit,
    )  # fmt: skip
