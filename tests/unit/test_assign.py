import geopandas as gpd
import numpy as np
import pytest
import shapely
from shapely.geometry import box

from geo.assign import NO_VILLAGE, PointAssigner


def _sjoin_expected(villages: gpd.GeoDataFrame, lat: np.ndarray, lng: np.ndarray) -> np.ndarray:
    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(lng, lat), crs="EPSG:4326")
    joined = gpd.sjoin(pts, villages, predicate="within", how="left")
    assert not joined.index.duplicated().any()
    expected = np.full(lat.size, NO_VILLAGE)
    hit = joined["index_right"].notna().to_numpy()
    expected[joined.index.to_numpy()[hit]] = joined["index_right"].to_numpy()[hit].astype(int)
    return expected


@pytest.fixture(scope="module")
def villages(demo_district) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"code": [v.code for v in demo_district.villages]},
        geometry=[v.geometry for v in demo_district.villages],
        crs="EPSG:4326",
    )


@pytest.fixture(scope="module")
def assigner(villages) -> PointAssigner:
    return PointAssigner(villages.geometry.to_numpy(), 10)


def test_assignment_equals_sjoin_on_100k_random_points(villages, assigner):
    rng = np.random.default_rng(11)
    minx, miny, maxx, maxy = villages.total_bounds
    lng, lat = rng.uniform(minx, maxx, 100_000), rng.uniform(miny, maxy, 100_000)
    result = assigner.assign(lat, lng)
    assert np.array_equal(result.village, _sjoin_expected(villages, lat, lng))
    assert 0 < result.n_outside < 100_000


def test_assignment_equals_sjoin_on_points_on_and_near_village_edges(villages, assigner):
    rng = np.random.default_rng(12)
    boundaries = shapely.boundary(villages.geometry.to_numpy())
    lines = shapely.get_parts(boundaries)
    pick = rng.integers(0, lines.size, 60_000)
    frac = rng.uniform(0, 1, 60_000)
    on_edge = shapely.line_interpolate_point(lines[pick], frac, normalized=True)
    # vertices exactly, points on edges, and points jittered by up to ~1 m and ~1 mm
    vertices = shapely.get_coordinates(boundaries)[:20_000]
    xy = np.vstack([shapely.get_coordinates(on_edge), vertices])
    jitter = np.vstack(
        [
            np.zeros((30_000, 2)),
            rng.normal(0, 1e-5, (15_000, 2)),
            rng.normal(0, 1e-8, (15_000, 2)),
            np.zeros((vertices.shape[0], 2)),
        ]
    )
    xy = xy + jitter
    lat, lng = xy[:, 1], xy[:, 0]
    result = assigner.assign(lat, lng)
    assert np.array_equal(result.village, _sjoin_expected(villages, lat, lng))


def test_points_outside_the_district_get_no_village_and_are_counted(assigner):
    result = assigner.assign([31.5, 30.75, 29.0], [121.5, 120.78, 120.0])
    assert result.village[0] == NO_VILLAGE and result.village[2] == NO_VILLAGE
    assert result.village[1] != NO_VILLAGE
    assert result.n_outside == 2
    assert result.outside.tolist() == [True, False, True]


def test_most_cells_resolve_by_lookup(assigner):
    assert assigner.n_interior_cells > 0.7 * assigner.cells.size


def test_a_point_on_the_shared_edge_of_two_villages_is_in_neither():
    left, right = box(120.70, 30.70, 120.71, 30.71), box(120.71, 30.70, 120.72, 30.71)
    a = PointAssigner([left, right], 10)
    result = a.assign([30.705, 30.705, 30.705], [120.71, 120.705, 120.715])
    assert result.village.tolist() == [NO_VILLAGE, 0, 1]


def test_overlapping_villages_give_the_point_to_the_first():
    a = PointAssigner([box(120.70, 30.70, 120.72, 30.72), box(120.71, 30.70, 120.73, 30.72)], 10)
    assert a.assign([30.71], [120.715]).village.tolist() == [0]


def test_precomputed_cells_give_the_same_answer(assigner):
    rng = np.random.default_rng(5)
    lat, lng = rng.uniform(30.65, 30.8, 1000), rng.uniform(120.7, 120.95, 1000)
    from geo.grid import latlng_to_cells

    cells = latlng_to_cells(lat, lng, 10)
    assert np.array_equal(assigner.assign(lat, lng, cells).village, assigner.assign(lat, lng).village)
