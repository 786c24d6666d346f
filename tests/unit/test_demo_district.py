import numpy as np
import shapely

from data.demo_district import build_demo_district, load_outline
from geo.crs import area_m2


def test_the_outline_is_nanhu_in_wgs84_with_its_real_area():
    outline = load_outline()
    assert 435e6 < area_m2([outline])[0] < 445e6
    minx, miny, maxx, maxy = outline.bounds
    assert 120.6 < minx < maxx < 121.0 and 30.6 < miny < maxy < 30.9


def test_the_demo_has_the_thirteen_townships_and_150_to_200_villages(demo_district):
    assert len(demo_district.townships) == 13
    assert 150 <= len(demo_district.villages) <= 200
    assert sum(t.kind == "street" for t in demo_district.townships) == 9


def test_streets_have_8_to_15_communities_and_towns_10_to_20_villages(demo_district):
    for t in demo_district.townships:
        n = sum(v.township_code == t.code for v in demo_district.villages)
        assert (8 <= n <= 15) if t.kind == "street" else (10 <= n <= 20), t.name


def test_codes_follow_the_statistical_lengths_and_are_unique(demo_district):
    t_codes = [t.code for t in demo_district.townships]
    v_codes = [v.code for v in demo_district.villages]
    assert all(len(c) == 9 and c.startswith("330402") for c in t_codes)
    assert all(len(c) == 12 for c in v_codes)
    assert len(set(v_codes)) == len(v_codes)
    assert all(v.code.startswith(v.township_code) for v in demo_district.villages)


def test_villages_tile_their_township_without_overlap(demo_district):
    for t in demo_district.townships:
        parts = [v.geometry for v in demo_district.villages if v.township_code == t.code]
        union = shapely.union_all(parts)
        assert area_m2([t.geometry.symmetric_difference(union)])[0] < 10.0
        assert abs(sum(area_m2(parts)) - area_m2([t.geometry])[0]) < 10.0


def test_townships_tile_the_outline(demo_district):
    union = shapely.union_all([t.geometry for t in demo_district.townships])
    assert area_m2([union.symmetric_difference(demo_district.outline)])[0] < 10.0


def test_every_village_has_one_team_with_a_captain_and_three_to_six_members(demo_district):
    for v in demo_district.villages:
        assert v.team.captain
        assert 3 <= len(v.team.members) <= 6


def test_the_same_seed_gives_the_same_partition_and_another_seed_another():
    a, b, c = build_demo_district(1), build_demo_district(1), build_demo_district(2)
    assert [v.name for v in a.villages] == [v.name for v in b.villages]
    assert all(x.geometry.equals_exact(y.geometry, 0) for x, y in zip(a.villages, b.villages, strict=True))
    assert [v.name for v in a.villages] != [v.name for v in c.villages]


def test_village_names_are_unique_and_chinese(demo_district):
    names = [v.name for v in demo_district.villages]
    assert len(set(names)) == len(names)
    assert all(n.endswith(("社区", "村")) for n in names)
    assert np.mean([len(n) for n in names]) >= 3
