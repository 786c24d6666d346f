import h3
import numpy as np
import pytest
import shapely
from shapely.geometry import Polygon, box

from geo import grid

# h3-py docs example cell: (37.7752702151959, -122.418307270836) at res 9
SF_LAT, SF_LNG = 37.7752702151959, -122.418307270836


def test_latlng_to_cells_matches_h3_for_a_known_point():
    cells = grid.latlng_to_cells([SF_LAT], [SF_LNG], 9)
    assert h3.int_to_str(int(cells[0])) == "8928308280fffff"


def test_latlng_to_cells_matches_the_scalar_api_on_random_points():
    rng = np.random.default_rng(0)
    lat, lng = rng.uniform(30.6, 30.85, 2000), rng.uniform(120.65, 120.98, 2000)
    cells = grid.latlng_to_cells(lat, lng, 10)
    expected = [h3.str_to_int(h3.latlng_to_cell(a, b, 10)) for a, b in zip(lat, lng, strict=True)]
    assert cells.dtype == np.int64
    assert cells.tolist() == expected


@pytest.mark.parametrize(("lat", "lng"), [(np.nan, 120.0), (30.0, np.inf), (91.0, 120.0), (30.0, 181.0)])
def test_invalid_coordinates_are_refused_with_their_index(lat, lng):
    with pytest.raises(ValueError, match="index 1"):
        grid.latlng_to_cells([30.0, lat], [120.0, lng], 10)


@pytest.mark.parametrize("res", [-1, 16, 2.5])
def test_an_invalid_resolution_is_refused(res):
    with pytest.raises(ValueError, match="resolution"):
        grid.latlng_to_cells([30.0], [120.0], res)


@pytest.mark.parametrize("parent_res", [0, 5, 7, 8, 9, 10])
def test_parents_by_bit_operations_equal_h3_cell_to_parent(parent_res):
    rng = np.random.default_rng(parent_res)
    lat, lng = rng.uniform(-80, 80, 3000), rng.uniform(-179, 179, 3000)
    cells = grid.latlng_to_cells(lat, lng, 10)
    parents = grid.cells_to_parents(cells, parent_res)
    expected = [h3.str_to_int(h3.cell_to_parent(h3.int_to_str(int(c)), parent_res)) for c in cells]
    assert parents.tolist() == expected


def test_parents_of_pentagon_cells_equal_h3():
    pentagons = [h3.str_to_int(c) for c in h3.get_pentagons(10)]
    parents = grid.cells_to_parents(pentagons, 4)
    assert parents.tolist() == [h3.str_to_int(h3.cell_to_parent(h3.int_to_str(c), 4)) for c in pentagons]


def test_parents_at_a_finer_resolution_are_refused():
    cells = grid.latlng_to_cells([30.0], [120.0], 7)
    with pytest.raises(ValueError, match="cannot take parents at resolution 9"):
        grid.cells_to_parents(cells, 9)


def test_cells_resolution_reads_the_bit_field():
    cells = grid.latlng_to_cells([30.0, 31.0], [120.0, 121.0], 8)
    assert grid.cells_resolution(cells).tolist() == [8, 8]


def test_overlap_fill_contains_centre_fill_and_covers_the_polygon():
    square = box(120.70, 30.70, 120.72, 30.72)
    centre = grid.geometry_to_cells(square, 10, "center")
    overlap = grid.geometry_to_cells(square, 10, "overlap")
    assert set(centre) < set(overlap)
    union = shapely.union_all(grid.cells_to_polygons(overlap))
    assert union.buffer(1e-9).covers(square)


def test_filling_a_non_polygon_is_refused():
    with pytest.raises(ValueError, match="Polygon or MultiPolygon, got LineString"):
        grid.geometry_to_cells(shapely.LineString([(0, 0), (1, 1)]), 9)


def test_filling_an_empty_polygon_gives_no_cells():
    assert grid.geometry_to_cells(Polygon(), 9).size == 0


def test_every_touching_cell_has_exactly_one_owner():
    left = box(120.70, 30.70, 120.71, 30.71)
    right = box(120.71, 30.70, 120.72, 30.71)
    cells, owner = grid.cell_owners([left, right], 10)
    assert len(set(cells.tolist())) == cells.size
    assert set(owner.tolist()) == {0, 1}
    touching = grid.geometry_to_cells(shapely.union_all([left, right]), 10, "overlap")
    assert np.array_equal(np.sort(touching), cells)


def test_a_cell_goes_to_the_village_holding_its_centre():
    left = box(120.70, 30.70, 120.71, 30.71)
    right = box(120.71, 30.70, 120.72, 30.71)
    cells, owner = grid.cell_owners([left, right], 10)
    lat, lng = grid.cells_to_latlng(cells)
    inside_left = shapely.contains_xy(left, lng, lat)
    assert (owner[inside_left] == 0).all()


def test_a_cell_whose_centre_is_outside_every_village_goes_to_the_nearest():
    # two villages with a 200 m gap: cells whose centres fall in the gap still get owners
    left = box(120.700, 30.70, 120.710, 30.71)
    right = box(120.712, 30.70, 120.722, 30.71)
    cells, owner = grid.cell_owners([left, right], 10)
    lat, lng = grid.cells_to_latlng(cells)
    pts = shapely.points(lng, lat)
    orphan = ~(shapely.contains(left, pts) | shapely.contains(right, pts))
    assert orphan.any()
    d_left, d_right = shapely.distance(left, pts[orphan]), shapely.distance(right, pts[orphan])
    assert (owner[orphan] == np.where(d_left <= d_right, 0, 1)).all()


def test_cell_ids_read_back_to_the_same_cells_and_a_cell_has_six_corners_around_its_centre():
    from geo.grid import cell_boundary, cell_ids, cells_from_ids, cells_to_latlng, latlng_to_cells

    cells = latlng_to_cells([30.75, 30.76], [120.75, 120.77], 9)
    assert cells_from_ids(cell_ids(cells)).tolist() == cells.tolist()
    corners = cell_boundary(int(cells[0]))
    lat, lng = cells_to_latlng(cells[:1])
    assert len(corners) == 6
    assert (
        abs(sum(c[0] for c in corners) / 6 - lat[0]) < 1e-3
        and abs(sum(c[1] for c in corners) / 6 - lng[0]) < 1e-3
    )
