import h3.api.basic_int as h3i
import numpy as np
import pytest

from geo.hotspots import gi_star, neighbours

CENTRE = h3i.latlng_to_cell(30.75, 120.76, 9)


def _area(radius: int = 8) -> np.ndarray:
    return np.array(sorted(h3i.grid_disk(CENTRE, radius)), dtype=np.int64)


def test_neighbours_are_the_k_ring_inside_the_area():
    cells = _area(2)
    nb = neighbours(cells, 1)
    i = int(np.flatnonzero(cells == CENTRE)[0])
    assert sorted(cells[nb[i]].tolist()) == sorted(c for c in h3i.grid_ring(CENTRE, 1))
    edge = [j for j, n in nb.items() if len(n) < 6]
    assert edge, "cells on the rim have fewer neighbours"


def test_a_cluster_of_incidents_is_a_99_percent_hot_spot_and_quiet_cells_are_not():
    cells = _area()
    rng = np.random.default_rng(0)
    values = rng.poisson(1.0, cells.size).astype(float)
    cluster = np.isin(cells, list(h3i.grid_disk(CENTRE, 1)))
    values[cluster] += 25
    hs = gi_star(cells, values)
    assert (hs.klass[cells == CENTRE] == 3).all()
    assert hs.count(3) >= 7 and hs.z[cells == CENTRE][0] > 5
    far = ~np.isin(cells, list(h3i.grid_disk(CENTRE, 3)))
    assert (hs.klass[far] <= 0).all()


def test_gi_star_matches_esda_with_binary_self_including_weights():
    import esda
    from libpysal.weights import W

    cells = _area(3)
    values = np.arange(cells.size, dtype=float) % 7
    hs = gi_star(cells, values, fdr=False)
    w = W(neighbours(cells, 1), silence_warnings=True)
    ref = esda.G_Local(values, w, transform="B", permutations=0, star=True)
    np.testing.assert_allclose(hs.z, ref.Zs, atol=1e-9)
    np.testing.assert_allclose(hs.p, np.minimum(1, 2 * ref.p_norm), atol=1e-12)


def test_fdr_makes_fewer_cells_significant_than_raw_thresholds():
    cells = _area()
    rng = np.random.default_rng(4)
    values = rng.poisson(2.0, cells.size).astype(float)
    raw = gi_star(cells, values, fdr=False)
    corrected = gi_star(cells, values, fdr=True)
    assert (corrected.klass != 0).sum() <= (raw.klass != 0).sum()


def test_flat_or_tiny_inputs_give_no_hot_spots():
    assert gi_star(_area(1), np.ones(7)).count(0) == 7
    with pytest.raises(ValueError, match="same length"):
        gi_star(_area(1), np.ones(3))


def test_mann_kendall_sees_a_rising_series_and_not_a_flat_one():
    from geo.hotspots import mann_kendall

    z, p = mann_kendall([np.arange(12.0), np.ones(12), np.arange(12.0)[::-1]])
    assert z[0] > 3 and p[0] < 0.01
    assert z[1] == 0 and p[1] == 1
    assert z[2] < -3
    # S for 1..5 is 10, Var = 5*4*15/18: z = (10 - 1) / sqrt(16.667)
    z5, _ = mann_kendall([[1, 2, 3, 4, 5]])
    assert z5[0] == pytest.approx(9 / np.sqrt(5 * 4 * 15 / 18))


@pytest.mark.parametrize(
    ("classes", "z", "expected"),
    [
        ([0] * 11 + [2], None, "new_hot"),
        ([0] * 8 + [1, 2, 3, 3], None, "consecutive_hot"),
        ([2] * 12, list(range(12)), "intensifying_hot"),
        ([2] * 12, [3.0] * 12, "persistent_hot"),
        ([3] * 12, list(range(12, 0, -1)), "diminishing_hot"),
        ([0, 2, 0, 0, 1, 0, 0, 2, 0, 0, 0, 2], None, "sporadic_hot"),
        ([-2, 0, 0, 2, 0, 0, -1, 0, 0, 0, 0, 2], None, "oscillating_hot"),
        ([2] * 11 + [0], [3.0] * 11 + [0.5], "historical_hot"),
        ([0] * 11 + [-3], None, "new_cold"),
        ([-2] * 12, [-3.0] * 12, "persistent_cold"),
        ([0] * 12, None, "no_pattern"),
    ],
)
def test_emerging_categories_follow_their_definitions(classes, z, expected):
    from geo.hotspots import emerging_classes

    zs = np.asarray(z if z is not None else [2.0 * c for c in classes], dtype=float)
    assert emerging_classes([classes], [zs]) == [expected]


def test_hot_spots_of_a_share_are_rates_between_zero_and_one(demo_incidents_sqlite_url):
    import pandas as pd

    from patrol.catalog import load_catalog
    from patrol.dashboard import HeatFilter, hot_spots
    from store import open_store

    store = open_store(demo_incidents_sqlite_url)
    now = pd.Timestamp("2026-11-27", tz="Asia/Shanghai").to_pydatetime()
    f = HeatFilter(days=365, item_codes=("PARK_COMPOUND",))
    counts = hot_spots(store, load_catalog(), f, now)
    shares = hot_spots(store, load_catalog(), f, now, measure="share", min_total=3)
    store.close()
    assert counts.values.max() > 1
    assert 0 <= shares.values.min() and shares.values.max() <= 1 and shares.values.max() > 0
    assert np.array_equal(counts.cells, shares.cells)
