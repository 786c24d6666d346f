"""A city of districts in one store, on SQLite and PostGIS: each district's areas, rows and users kept apart."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import shapely

from data.demo_district import load_demo_district
from patrol.areas import district_info, import_boundaries
from patrol.incidents import IncidentService, NewIncident
from patrol.permissions import AccessDeniedError, session_district
from patrol.roles import Principal
from patrol.users import UserService, principal_of
from store import Store
from store.district_view import district_view
from store.rows import IncidentQuery, RollupQuery

NANHU, XIUZHOU = "330402", "330411"
NOW = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
CC = Principal("市指挥中心", "command_center")  # city-wide: no district


def _point_in(store: Store, code: str) -> tuple[float, float]:
    """A point well inside the first village of the district ``code`` (lat, lng)."""
    village = store.villages(district_code=code)[0]
    p = shapely.from_wkb(village.geometry_wkb).representative_point()
    return p.y, p.x


@pytest.fixture
def city(store: Store) -> Store:
    """Nanhu and Xiuzhou side by side (H3 resolution 9 to keep the test quick)."""
    load_demo_district(store, seed=0, res=9)
    load_demo_district(store, seed=0, res=9, code=XIUZHOU)
    return store


def test_a_second_district_is_loaded_beside_the_first_and_seeding_one_again_leaves_the_other_as_it_was(city):
    nanhu, xiuzhou = city.area_counts(NANHU), city.area_counts(XIUZHOU)
    assert (nanhu["townships"], nanhu["villages"]) == (13, 143)
    assert (xiuzhou["townships"], xiuzhou["villages"]) == (9, 170)
    assert city.area_counts() == {k: nanhu[k] + xiuzhou[k] for k in nanhu}
    assert [d.code for d in city.districts()] == [NANHU, XIUZHOU]
    assert [d.number_prefix for d in city.districts()] == ["NH", "XZ"]
    teams_before = {t.id: t.village_code for t in city.teams()}
    assert len(teams_before) == 313  # team ids are the store's: none shared between districts
    cells_xz = city.cell_map(XIUZHOU)

    load_demo_district(city, seed=0, res=9)  # Nanhu again

    assert city.area_counts(XIUZHOU) == xiuzhou and city.area_counts(NANHU) == nanhu
    assert {t.id: t.village_code for t in city.teams()} == teams_before  # each team keeps its id
    assert city.cell_map(XIUZHOU)[0].tolist() == cells_xz[0].tolist()
    # a cell belongs to one district, and a village of one is never listed under the other
    cells_nh = set(city.cell_map(NANHU)[0].tolist())
    assert not cells_nh & set(cells_xz[0].tolist())
    assert {v.township_code[:6] for v in city.villages(district_code=XIUZHOU)} == {XIUZHOU}
    assert city.district_of(township_code=city.townships(XIUZHOU)[0].code) == XIUZHOU
    info = district_info(city)
    assert (info["districts"], info["townships"]) == (2, 22)


def test_each_district_s_services_read_and_number_only_their_own_incidents(city):
    nh, xz = district_view(city, NANHU), district_view(city, XIUZHOU)
    made = {}
    for code, view in ((NANHU, nh), (XIUZHOU, xz)):
        svc = IncidentService(view, clock=lambda: NOW)
        lat, lng = _point_in(view, code)
        made[code] = svc.report(CC, NewIncident("PARK_COMPOUND", lat, lng, "patrol", "小区乱停车")).incident
        # a point in the other district is outside this one
        other_lat, other_lng = _point_in(city, XIUZHOU if code == NANHU else NANHU)
        with pytest.raises(ValueError):
            svc.report(CC, NewIncident("PARK_COMPOUND", other_lat, other_lng, "patrol", "越界"))
    assert made[NANHU].number.startswith("NH-") and made[XIUZHOU].number.startswith("XZ-")
    assert made[XIUZHOU].township_code.startswith(XIUZHOU)

    for code, view in ((NANHU, nh), (XIUZHOU, xz)):
        mine = made[code].id
        assert [r.id for r in view.list_incidents(IncidentQuery())] == [mine]
        assert view.count_incidents(IncidentQuery()) == 1
        assert sum(view.state_counts().values()) == 1
        assert view.incident_frame(IncidentQuery(), ["id"])["id"].tolist() == [mine]
        assert sum(n for _, n in view.count_by_cell(IncidentQuery())) == 1
        assert sum(n for _, n in view.rollup_by_cell(RollupQuery())) == 1
        other = made[XIUZHOU if code == NANHU else NANHU]
        assert view.get_incident(other.id) is None and view.find_incident(other.number) is None
        svc = IncidentService(view, clock=lambda: NOW)
        with pytest.raises(KeyError):
            svc.get(CC, other.id)
    assert city.count_incidents(IncidentQuery()) == 2  # the whole store: the city's


def test_each_district_s_patrols_and_covered_cells_are_its_own(city):
    import h3.api.basic_int as h3i

    from patrol.patrols import PatrolService

    nh, xz = district_view(city, NANHU), district_view(city, XIUZHOU)
    for code, view in ((NANHU, nh), (XIUZHOU, xz)):
        lat, lng = _point_in(view, code)
        village = view.villages(district_code=code)[0].code
        team = next(t.id for t in view.teams() if t.village_code == village)
        patrols = PatrolService(view, clock=lambda: NOW)
        cell = h3i.latlng_to_cell(lat, lng, patrols.res)
        task = patrols.create(CC, team, sorted(h3i.grid_disk(cell, 1)), NOW, NOW + timedelta(hours=4))
        patrols.check_in(
            Principal("巡查员", "inspector", team_id=team, district_code=code), task.id, lat, lng
        )
    for code, view in ((NANHU, nh), (XIUZHOU, xz)):
        assert {t.district_code for t in view.patrol_tasks(limit=None)} == {code}
        visits = view.patrol_visits()
        assert visits and {v.township_code[:6] for v in visits} == {code}
    assert len(city.patrol_tasks(limit=None)) == 2 and len(city.patrol_visits()) == 2


def test_a_nanhu_captain_is_kept_to_nanhu_and_a_city_command_centre_picks_either_district(city):
    users = UserService(city, clock=lambda: NOW)
    nh_township = city.townships(NANHU)[0].code
    captain = users.create(None, "captain-nh", "Correct-Horse-7", "captain", township_code=nh_township)
    assert captain.district_code == NANHU  # the district of the township
    xz_team = city.teams(district_code=XIUZHOU)[0].id
    assert (
        users.create(None, "grid-xz", "Correct-Horse-7", "grid_member", team_id=xz_team).district_code
        == XIUZHOU
    )
    held = [d.code for d in city.districts()]
    who = principal_of(captain)
    assert session_district(who, None, held) == NANHU
    with pytest.raises(AccessDeniedError):
        session_district(who, XIUZHOU, held)
    assert session_district(CC, XIUZHOU, held) == XIUZHOU
    assert session_district(CC, None, held) == NANHU  # the first, until the sidebar picks another
    with pytest.raises(ValueError, match="no district 330499"):
        users.create(None, "cc-x", "Correct-Horse-7", "command_center", district_code="330499")
    district_cc = users.create(None, "cc-xz", "Correct-Horse-7", "command_center", district_code=XIUZHOU)
    assert session_district(principal_of(district_cc), None, held) == XIUZHOU

    # what the captain is served is Nanhu's: a Xiuzhou case is not there to be read
    lat, lng = _point_in(city, XIUZHOU)
    xz = IncidentService(district_view(city, XIUZHOU), clock=lambda: NOW)
    theirs = xz.report(CC, NewIncident("PARK_COMPOUND", lat, lng, "patrol", "秀洲的事")).incident
    mine = IncidentService(district_view(city, session_district(who, None, held)), clock=lambda: NOW)
    assert mine.list_incidents(who, IncidentQuery()) == []
    with pytest.raises(KeyError):
        mine.get(who, theirs.id)


def test_a_district_s_view_refuses_to_replace_another_district_s_areas(city):
    nh = district_view(city, NANHU)
    xz_row = city.district(XIUZHOU)
    with pytest.raises(ValueError, match="cannot replace 330411"):
        nh.replace_areas(xz_row, [], [], [], None, [])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="holds no district 330499"):
        district_view(city, "330499")
    assert city.area_counts(XIUZHOU)["villages"] == 170


def test_a_report_a_day_later_in_each_district_continues_that_district_s_numbers(city):
    for code, prefix in ((NANHU, "NH"), (XIUZHOU, "XZ")):
        view = district_view(city, code)
        svc = IncidentService(view, clock=lambda: NOW + timedelta(days=1))
        lat, lng = _point_in(view, code)
        numbers = [
            svc.report(CC, NewIncident("CLUTTER", lat + k * 1e-4, lng, "patrol", f"堆物{k}")).incident.number
            for k in range(2)
        ]
        assert [n.split("-")[0] for n in numbers] == [prefix, prefix]
        assert int(numbers[1][-4:]) == int(numbers[0][-4:]) + 1


def test_a_boundary_import_in_a_district_s_view_keeps_the_city_s_team_ids_and_border_cells(city, tmp_path):
    # the app imports boundaries through the session's district view; the new village's team
    # takes an id free across the city, and cells Xiuzhou holds on the shared line stay Xiuzhou's
    import geopandas as gpd

    view = district_view(city, NANHU)
    xiuzhou_teams = {t.id: t.village_code for t in city.teams(district_code=XIUZHOU)}
    xiuzhou_cells = city.cell_map(XIUZHOU)[0].tolist()
    rows = view.villages()
    renamed = rows[-1].code[:-3] + "999"  # a new village code: a new team
    gdf = gpd.GeoDataFrame(
        {
            "code": [renamed if v is rows[-1] else v.code for v in rows],
            "name": [v.name for v in rows],
            "parent": [v.township_code for v in rows],
        },
        geometry=shapely.from_wkb([v.geometry_wkb for v in rows]),
        crs="EPSG:4326",
    )
    path = tmp_path / "nanhu_villages.geojson"
    gdf.to_file(path, driver="GeoJSON")

    assert import_boundaries(view, path, "village", parent_field="parent").saved

    new_team = next(t for t in city.teams(district_code=NANHU) if t.village_code == renamed)
    assert new_team.id not in xiuzhou_teams
    assert {t.id: t.village_code for t in city.teams(district_code=XIUZHOU)} == xiuzhou_teams
    assert city.cell_map(XIUZHOU)[0].tolist() == xiuzhou_cells
    assert not set(city.cell_map(NANHU)[0].tolist()) & set(xiuzhou_cells)
