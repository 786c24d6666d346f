"""Contract suite for areas: runs on SQLite and PostGIS alike (the `store` fixture)."""

import numpy as np
import pytest
import shapely

from data.demo_district import load_demo_district
from patrol.areas import AreaIndex, district_info
from store.rows import DistrictRow, TeamRow, TownshipRow, VillageRow


def _tiny_areas():
    t = TownshipRow(
        "330499101",
        "甲镇",
        "Jia Town",
        "town",
        "agriculture_rural",
        shapely.to_wkb(shapely.box(120.70, 30.70, 120.72, 30.72)),
    )
    v1 = VillageRow(
        "330499101201",
        "330499101",
        "一村",
        "village",
        shapely.to_wkb(shapely.box(120.70, 30.70, 120.71, 30.72)),
    )
    v2 = VillageRow(
        "330499101202",
        "330499101",
        "二村",
        "village",
        shapely.to_wkb(shapely.box(120.71, 30.70, 120.72, 30.72)),
    )
    teams = [
        TeamRow(1, v1.code, "一村网格团队", "王伟", ("李娜", "张敏", "刘强")),
        TeamRow(2, v2.code, "二村网格团队", "陈静", ("杨洋",)),
    ]
    return DistrictRow("330499", "测试区", "Test District", 10, False), [t], [v1, v2], teams


def test_a_new_store_is_migrated_and_empty(store):
    assert store.applied_migrations()
    assert store.migrate() == []
    assert store.district() is None
    assert store.area_counts() == {"townships": 0, "villages": 0, "teams": 0, "cells": 0}


def test_areas_round_trip_with_geometries_and_members(store):
    district, townships, villages, teams = _tiny_areas()
    cells = np.array([10, 20, 30], dtype=np.int64)
    store.replace_areas(
        district, townships, villages, teams, cells, [villages[0].code, villages[1].code, villages[1].code]
    )
    assert store.district() == district
    (t,) = store.townships()
    assert t.name == "甲镇" and shapely.from_wkb(t.geometry_wkb).equals(
        shapely.box(120.70, 30.70, 120.72, 30.72)
    )
    assert [v.code for v in store.villages()] == [v.code for v in villages]
    assert [v.code for v in store.villages("330499101")] == [v.code for v in villages]
    assert store.villages("999") == []
    assert store.teams()[0].members == ("李娜", "张敏", "刘强")
    got_cells, got_owner = store.cell_map()
    assert got_cells.tolist() == [10, 20, 30] and got_owner == [
        villages[0].code,
        villages[1].code,
        villages[1].code,
    ]


def test_replacing_areas_removes_the_old_ones(store):
    district, townships, villages, teams = _tiny_areas()
    store.replace_areas(
        district, townships, villages, teams, np.array([1], dtype=np.int64), [villages[0].code]
    )
    store.replace_areas(
        district, townships, villages[:1], teams[:1], np.array([2], dtype=np.int64), [villages[0].code]
    )
    assert store.area_counts() == {"townships": 1, "villages": 1, "teams": 1, "cells": 1}


def test_a_failing_replace_leaves_the_previous_areas_intact(store):
    district, townships, villages, teams = _tiny_areas()
    store.replace_areas(
        district, townships, villages, teams, np.array([1], dtype=np.int64), [villages[0].code]
    )
    bad_team = TeamRow(3, "no-such-village", "x", "y", ())
    with pytest.raises(Exception):  # noqa: B017 - each backend raises its own integrity error
        store.replace_areas(
            district,
            townships,
            villages,
            [*teams, bad_team],
            np.array([5], dtype=np.int64),
            [villages[0].code],
        )
    assert store.area_counts() == {"townships": 1, "villages": 2, "teams": 2, "cells": 1}


def test_the_demo_district_loads_and_routes_points(store):
    counts = load_demo_district(store, seed=0)
    assert counts["townships"] == 13 and counts["teams"] == counts["villages"]
    info = district_info(store)
    assert info["h3_resolution"] == 10 and info["demo"] is True
    index = AreaIndex(store)
    result = index.assigner.assign([30.75, 31.5], [120.78, 121.5])
    assert result.village[0] >= 0 and result.village[1] == -1
    assert index.village_townships[result.village[0]] in index.townships
