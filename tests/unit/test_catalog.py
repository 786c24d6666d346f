import shutil
from pathlib import Path

import pytest

from patrol.catalog import CATALOG_DIR, CatalogError, load_catalog

REQUIRED_ZH = ["小区乱停车", "私搭乱建", "建筑施工噪声", "商业经营噪声", "社会生活噪声", "僵尸车", "建筑垃圾违规处置",
               "瓶装燃气违规经营", "户外健身场所设施隐患", "研学教育基地违规经营", "占道经营", "乱堆乱放", "违规户外广告",
               "餐饮油烟扰民", "渣土撒漏", "露天焚烧"]  # fmt: skip


@pytest.fixture
def catalog_copy(tmp_path: Path) -> Path:
    dest = tmp_path / "catalog"
    shutil.copytree(CATALOG_DIR, dest)
    return dest


def test_the_shipped_catalog_loads_with_at_least_24_items_and_10_themes():
    cat = load_catalog()
    assert len(cat.items) >= 24
    assert len(cat.themes) >= 10


def test_every_item_the_reform_names_is_in_the_catalog():
    names = {i.name_zh for i in load_catalog().items.values()}
    assert set(REQUIRED_ZH) <= names


def test_items_on_the_first_offence_list_name_their_condition_and_dangerous_ones_are_not_on_it():
    cat = load_catalog()
    listed = {c for c, i in cat.items.items() if i.first_offence}
    assert {"STREET_VENDING", "CLUTTER", "FLYPOSTING"} <= listed
    assert not listed & {"BOTTLED_GAS", "FIRE_EXIT", "OPEN_BURNING", "SEWAGE", "FOOD_SAFETY", "ILLEGAL_BUILD"}
    assert all("第三十三条" in cat.items[c].first_offence for c in listed)


def test_themes_made_up_for_the_demo_say_so_and_an_older_file_without_the_new_columns_still_loads(
    catalog_copy,
):
    assert all(t.demo for t in load_catalog().themes.values())
    for name, drop in (("themes.csv", {3}), ("items.csv", {7, 9, 13, 14})):
        path = catalog_copy / name
        lines = path.read_text(encoding="utf-8").splitlines()
        kept = [",".join(v for k, v in enumerate(line.split(",")) if k not in drop) for line in lines]
        path.write_text("\n".join(kept) + "\n", encoding="utf-8")
    old = load_catalog(catalog_copy)
    assert not any(t.demo for t in old.themes.values())
    assert not any(i.first_offence for i in old.items.values())
    assert {(i.assessment_hours, i.verification_hours) for i in old.items.values()} == {(24, 24)}
    assert not any(i.copy_to for i in old.items.values())


def test_a_theme_demo_flag_other_than_0_or_1_is_refused_with_its_line(catalog_copy):
    _edit(catalog_copy / "themes.csv", "Bottled gas safety,1", "Bottled gas safety,yes")
    with pytest.raises(CatalogError, match=r"themes\.csv, line 3, field demo: expected 0 or 1"):
        load_catalog(catalog_copy)


def test_the_one_plus_five_departments_are_all_there():
    deps = {d.name_zh for d in load_catalog().departments.values() if d.line == "1+5"}
    assert deps == {"综合执法", "市场监管", "文化市场", "农业", "应急管理", "生态环保"}


def test_professional_items_are_never_handled_by_townships():
    for item in load_catalog().items.values():
        if item.list_type == "professional":
            assert not item.handled_by_township("commercial_service")


def _edit(path: Path, old: str, new: str) -> None:
    path.write_text(path.read_text(encoding="utf-8").replace(old, new, 1), encoding="utf-8")


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            ",zhzf,comprehensive,",
            ",nope,comprehensive,",
            r"items\.csv, line 2, field department: unknown department 'nope'",
        ),
        (
            ",30,8,3,24,1,T06,2",
            ",soon,8,3,24,1,T06,2",
            r"line 2, field response_minutes: expected a whole number, got 'soon'",
        ),
        (",30,8,3,24,1,T06,2", ",30,8,3,24,yes,T06,2", r"line 2, field high_frequency: expected 0 or 1"),
        (",30,8,3,24,1,T06,2", ",30,8,3,24,1,T99,2", r"line 2, field theme: unknown theme 'T99'"),
        (",30,8,3,24,1,T06,2", ",30,8,3,24,1,T06,9", r"line 2, field severity: 9 is outside 1\.\.5"),
        (
            ",30,8,3,24,1,T06,2",
            ",30,0,3,24,1,T06,2",
            r"line 2, field assessment_hours: 0 is outside 1\.\.720",
        ),
        (
            ",30,8,3,24,1,T06,2",
            ",30,8,3,x,1,T06,2",
            r"line 2, field verification_hours: expected a whole number",
        ),
        (
            "comprehensive,agriculture_rural;industrial_it;commercial_service,30,8",
            "comprehensive,forestry,30,8",
            r"line 2, field empowered_classes: unknown class\(es\) forestry",
        ),
    ],
)
def test_a_broken_catalog_names_the_line_and_field_at_fault(catalog_copy, old, new, expected):
    _edit(catalog_copy / "items.csv", old, new)
    with pytest.raises(CatalogError, match=expected):
        load_catalog(catalog_copy)


def test_a_duplicate_code_is_refused_with_its_line(catalog_copy):
    path = catalog_copy / "items.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    path.write_text("\n".join([*lines, lines[1]]) + "\n", encoding="utf-8")
    with pytest.raises(
        CatalogError, match=rf"line {len(lines) + 1}, field code: duplicate code 'PARK_COMPOUND'"
    ):
        load_catalog(catalog_copy)


def test_a_missing_column_is_refused(catalog_copy):
    _edit(catalog_copy / "items.csv", ",severity", ",gravity")
    with pytest.raises(CatalogError, match=r"items\.csv, line 1: missing column\(s\) severity"):
        load_catalog(catalog_copy)
