import numpy as np
import pytest
from shapely.geometry import Polygon

from geo import crs

# known values from the widely used coordTransform reference (lng 128.543, lat 37.065)
KNOWN_LAT, KNOWN_LNG = 37.065, 128.543


def test_wgs84_to_gcj02_matches_the_reference_value():
    lat, lng = crs.wgs84_to_gcj02(KNOWN_LAT, KNOWN_LNG)
    assert float(lng) == pytest.approx(128.54820547949757, abs=1e-9)
    assert float(lat) == pytest.approx(37.065651049489816, abs=1e-9)


def test_gcj02_to_bd09_matches_the_reference_value():
    lat, lng = crs.gcj02_to_bd09(KNOWN_LAT, KNOWN_LNG)
    assert float(lng) == pytest.approx(128.54944656269413, abs=1e-9)
    assert float(lat) == pytest.approx(37.07113427883019, abs=1e-9)


def test_the_gcj02_shift_in_jiaxing_is_about_five_hundred_metres():
    lat, lng = crs.wgs84_to_gcj02(30.75, 120.76)
    m_lat, m_lng = crs.metres_per_degree(30.75)
    shift_m = np.hypot((lat - 30.75) * m_lat, (lng - 120.76) * m_lng)
    assert 400 < float(shift_m) < 700


def test_gcj02_inverse_is_accurate_to_half_a_metre_across_china():
    rng = np.random.default_rng(7)
    lat = rng.uniform(18.0, 53.0, 20_000)
    lng = rng.uniform(74.0, 134.0, 20_000)
    back_lat, back_lng = crs.gcj02_to_wgs84(*crs.wgs84_to_gcj02(lat, lng))
    m_lat, m_lng = crs.metres_per_degree(lat)
    err_m = np.hypot((back_lat - lat) * m_lat, (back_lng - lng) * m_lng)
    assert err_m.max() < 0.5
    assert err_m.max() < 0.01  # iterating gives far better than the budget


def test_the_one_step_approximation_would_not_meet_the_budget_everywhere():
    # guards the reason for iterating: 2*gcj - forward(gcj) is off by more than iterating
    lat = np.array([30.75])
    lng = np.array([120.76])
    g_lat, g_lng = crs.wgs84_to_gcj02(lat, lng)
    f_lat, _ = crs.wgs84_to_gcj02(g_lat, g_lng)
    one_step_err = abs((2 * g_lat - f_lat) - lat)[0]
    it_lat, _ = crs.gcj02_to_wgs84(g_lat, g_lng)
    assert abs(it_lat - lat)[0] < one_step_err


def test_bd09_round_trips_through_wgs84():
    rng = np.random.default_rng(3)
    lat = rng.uniform(20.0, 50.0, 5_000)
    lng = rng.uniform(80.0, 130.0, 5_000)
    back_lat, back_lng = crs.bd09_to_wgs84(*crs.wgs84_to_bd09(lat, lng))
    assert np.abs(back_lat - lat).max() < 1e-7
    assert np.abs(back_lng - lng).max() < 1e-7


@pytest.mark.parametrize(("lat", "lng"), [(48.85, 2.35), (-33.9, 151.2), (40.7, -74.0)])
def test_points_outside_china_are_not_shifted(lat, lng):
    assert crs.wgs84_to_gcj02(lat, lng) == (lat, lng)
    assert crs.gcj02_to_wgs84(lat, lng) == (lat, lng)


def test_arrays_of_different_shapes_are_refused():
    with pytest.raises(ValueError, match="same shape"):
        crs.wgs84_to_gcj02([30.0, 31.0], [120.0])


@pytest.mark.parametrize("name", ["WGS84", "gcj-02", "BD_09", "cgcs2000"])
def test_crs_names_are_accepted_in_common_spellings(name):
    assert crs.check_crs_name(name) in crs.CRS_NAMES


def test_an_unknown_crs_name_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="expected one of wgs84"):
        crs.to_wgs84(30.0, 120.0, "epsg:3857")


def test_geometry_to_wgs84_moves_every_vertex_back_by_the_shift():
    square_wgs = Polygon([(120.7, 30.7), (120.8, 30.7), (120.8, 30.8), (120.7, 30.8)])
    lat, lng = crs.wgs84_to_gcj02(np.array([30.7, 30.7, 30.8, 30.8]), np.array([120.7, 120.8, 120.8, 120.7]))
    square_gcj = Polygon(list(zip(lng, lat, strict=True)))
    back = crs.geometry_to_wgs84(square_gcj, "gcj02")
    assert back.equals_exact(square_wgs, tolerance=1e-8)


def test_area_m2_of_one_km_square_is_one_million():
    m_lat, m_lng = crs.metres_per_degree(30.75)
    dx, dy = 1000 / m_lng, 1000 / m_lat
    square = Polygon([(120.7, 30.75), (120.7 + dx, 30.75), (120.7 + dx, 30.75 + dy), (120.7, 30.75 + dy)])
    assert crs.area_m2([square])[0] == pytest.approx(1e6, rel=1e-3)


def test_geodesic_distance_matches_the_wgs84_lengths_of_a_degree_at_the_equator():
    # one degree of latitude and of longitude on the WGS84 ellipsoid (reference values)
    d = crs.geodesic_m([0.0, 0.0], [0.0, 0.0], [1.0, 0.0], [0.0, 1.0])
    assert d == pytest.approx([110_574.389, 111_319.491], abs=0.01)


def test_geodesic_distance_broadcasts_one_point_against_many():
    d = crs.geodesic_m(30.75, 120.76, np.array([[30.75, 30.76]]), np.array([[120.76, 120.76]]))
    assert d.shape == (1, 2) and d[0, 0] == 0.0 and d[0, 1] == pytest.approx(1108.7, abs=1.0)
