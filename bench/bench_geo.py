"""H3 indexing and exact point → village assignment of 1M points, against geopandas.sjoin."""

from __future__ import annotations

import sys

import geopandas as gpd
import h3
import numpy as np

from bench.common import Figure, Report, measure
from data.demo_district import build_demo_district
from geo.assign import PointAssigner
from geo.grid import latlng_to_cells

N_POINTS = 1_000_000
RES = 10


def _points(villages: gpd.GeoDataFrame, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Points clustered like incidents (95% inside the district, 5% scattered around it)."""
    rng = np.random.default_rng(seed)
    minx, miny, maxx, maxy = villages.total_bounds
    centres = villages.geometry.representative_point()
    pick = rng.integers(0, len(centres), int(n * 0.95))
    lng = np.concatenate(
        [centres.x.to_numpy()[pick] + rng.normal(0, 0.004, pick.size), rng.uniform(minx, maxx, n - pick.size)]
    )
    lat = np.concatenate(
        [centres.y.to_numpy()[pick] + rng.normal(0, 0.004, pick.size), rng.uniform(miny, maxy, n - pick.size)]
    )
    return lat, lng


def run(n: int = N_POINTS) -> Report:
    district = build_demo_district(0)
    villages = gpd.GeoDataFrame(
        {"code": [v.code for v in district.villages]},
        geometry=[v.geometry for v in district.villages],
        crs="EPSG:4326",
    )
    lat, lng = _points(villages, n)
    assigner = PointAssigner(villages.geometry.to_numpy(), RES)
    report = Report(f"Geo core: {n:,} points, H3 res {RES}, {len(villages)} villages")

    t_idx, s_idx, cells = measure(lambda: latlng_to_cells(lat, lng, RES))
    t_loop, _, _ = measure(
        lambda: [h3.latlng_to_cell(a, b, RES) for a, b in zip(lat, lng, strict=True)], runs=1
    )
    report.figures.append(
        Figure(
            "H3 index",
            "s",
            t_idx,
            s_idx,
            3,
            t_loop,
            "per-point h3 str loop",
            1.5,
            note=f"{n / t_idx:,.0f} points/s",
        )
    )

    t_as, s_as, res = measure(lambda: assigner.assign(lat, lng, cells))

    def _sjoin() -> gpd.GeoDataFrame:
        pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(lng, lat), crs="EPSG:4326")
        return gpd.sjoin(pts, villages, predicate="within", how="left")

    t_sj, _, joined = measure(_sjoin)
    expected = np.full(n, -1)
    hit = joined["index_right"].notna().to_numpy()
    expected[joined.index.to_numpy()[hit]] = joined["index_right"].to_numpy()[hit].astype(int)
    identical = bool(np.array_equal(expected, res.village))
    report.figures.append(
        Figure(
            "exact assignment (after indexing)",
            "s",
            t_as,
            s_as,
            3,
            t_sj,
            "geopandas.sjoin within",
            0.5,
            note=f"{n / t_as:,.0f} points/s; identical to sjoin: {identical}; outside: {res.n_outside:,}",
        )
    )
    if not identical:
        sys.stderr.write("assignment differs from sjoin!\n")
    return report


if __name__ == "__main__":
    r = run()
    r.write("geo")
    sys.stdout.write(r.markdown() + "\n")
    for f in r.figures:
        sys.stdout.write(f"{f.name}: {f.note}\n")
