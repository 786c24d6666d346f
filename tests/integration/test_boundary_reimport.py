"""Re-importing boundaries never orphans incidents, teams or scopes: refused unless old codes are mapped to new."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import geopandas as gpd
import pytest
import shapely

from patrol.areas import OrphaningImportError, import_boundaries
from patrol.incidents import IncidentService, NewIncident
from patrol.patrols import PatrolService
from patrol.roles import Principal
from patrol.users import UserService
from store.rows import IncidentQuery, state_bucket

NOW = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)
CC = Principal("command", "command_center")
P = (30.7552, 120.7601)


@pytest.fixture
def loaded(district_store):
    svc = IncidentService(district_store, clock=lambda: NOW)
    inc = svc.report(CC, NewIncident("PARK_COMPOUND", *P)).incident
    UserService(district_store).create(None, "insp", "Nanhu-grid-2026", "inspector", team_id=inc.team_id)
    return district_store, inc


def _villages_file(
    store, tmp_path: Path, rename: dict[str, str] | None = None, names: dict[str, str] | None = None
) -> Path:
    rename, names = rename or {}, names or {}
    rows = store.villages()
    gdf = gpd.GeoDataFrame(
        {
            "code": [rename.get(v.code, v.code) for v in rows],
            "name": [names.get(v.code, v.name) for v in rows],
            "parent": [v.township_code for v in rows],
        },
        geometry=shapely.from_wkb([v.geometry_wkb for v in rows]),
        crs="EPSG:4326",
    )
    path = tmp_path / "villages.geojson"
    gdf.to_file(path, driver="GeoJSON")
    return path


def _townships_file(store, tmp_path: Path) -> Path:
    rows = store.townships()
    gdf = gpd.GeoDataFrame(
        {"code": [t.code for t in rows], "name": [t.name for t in rows]},
        geometry=shapely.from_wkb([t.geometry_wkb for t in rows]),
        crs="EPSG:4326",
    )
    path = tmp_path / "townships.geojson"
    gdf.to_file(path, driver="GeoJSON")
    return path


def _recount(store):
    rows = store.list_incidents(IncidentQuery(limit=10_000))
    counts = Counter((r.cell, r.day, r.item_code, state_bucket(r.state), r.township_code) for r in rows)
    return sorted((*k, n) for k, n in counts.items())


def test_a_township_reimport_that_would_drop_every_village_team_is_refused_and_its_dry_run_says_why(
    loaded, tmp_path
):
    store, inc = loaded
    before = (store.area_counts(), store.get_incident(inc.id))
    path = _townships_file(store, tmp_path)
    dry = import_boundaries(store, path, "township", dry_run=True)
    assert not dry.saved and dry.effect.orphans == {
        "incidents": 1,
        "users": 1,
        "patrol_tasks": 0,
        "premises": 0,
    }
    with pytest.raises(OrphaningImportError, match="1 incidents, 1 users") as exc:
        import_boundaries(store, path, "township")
    assert exc.value.effect.orphans["incidents"] == 1
    assert (store.area_counts(), store.get_incident(inc.id)) == before


def test_a_village_reimport_with_the_same_codes_keeps_every_team_id(loaded, tmp_path):
    store, _ = loaded
    teams = {t.village_code: t.id for t in store.teams()}
    result = import_boundaries(store, _villages_file(store, tmp_path), "village", parent_field="parent")
    assert result.saved and not result.effect.orphans_any
    assert {t.village_code: t.id for t in store.teams()} == teams


def test_services_share_one_district_context_until_an_import_renames_a_village_with_the_same_counts(
    loaded, tmp_path
):
    store, inc = loaded
    before = IncidentService(store, clock=lambda: NOW)
    assert PatrolService(store).team_township == before.team_township
    assert IncidentService(store).context is before.context  # built once for these areas
    same_counts = store.area_counts()  # what the app kept its services by before, with the district
    path = _villages_file(store, tmp_path, names={inc.village_code: "新名村"})
    assert import_boundaries(store, path, "village", parent_field="parent").saved
    assert store.area_counts() == same_counts
    after = IncidentService(store, clock=lambda: NOW)
    assert after.context is not before.context and after.context.version != before.context.version
    village = next(v for v in store.villages() if v.code == inc.village_code)
    assert village.name == "新名村"
    township = before.areas.places([P[0]], [P[1]])[0].split(" · ")[0]
    assert after.areas.places([P[0]], [P[1]]) == [f"{township} · 新名村"]  # where the incident was reported


def test_a_boundary_reimport_keeps_the_districts_numbering(loaded, tmp_path):
    store, inc = loaded
    assert import_boundaries(store, _villages_file(store, tmp_path), "village", parent_field="parent").saved
    svc = IncidentService(store, clock=lambda: NOW)
    again = svc.report(CC, NewIncident("PARK_COMPOUND", *P)).incident
    prefix, day, n = inc.number.rsplit("-", 2)
    assert again.number == f"{prefix}-{day}-{int(n) + 1:04d}"  # not a new prefix starting again at 0001


def test_a_renamed_village_is_refused_without_a_code_map_and_re_pointed_with_one(loaded, tmp_path):
    store, inc = loaded
    old = inc.village_code
    new = old[:-3] + "999"
    path = _villages_file(store, tmp_path, {old: new})
    with pytest.raises(OrphaningImportError):
        import_boundaries(store, path, "village", parent_field="parent")
    result = import_boundaries(store, path, "village", parent_field="parent", code_map={old: new})
    assert result.saved
    moved = store.get_incident(inc.id)
    assert (moved.village_code, moved.team_id) == (new, inc.team_id)
    assert {t.id: t.village_code for t in store.teams()}[inc.team_id] == new
    assert store.get_user("insp").team_id == inc.team_id
    assert store.rollup_rows() == _recount(store)


def test_a_boundary_import_and_its_audit_row_commit_together_or_not_at_all(loaded, tmp_path, monkeypatch):
    store, inc = loaded
    old = inc.village_code
    path = _villages_file(store, tmp_path, {old: old[:-3] + "999"})

    def fail(cur, rows):  # the record of the change cannot be written
        raise RuntimeError("audit_log is full")

    monkeypatch.setattr(store, "_append_audit", fail)
    with pytest.raises(Exception, match="audit_log is full"):
        import_boundaries(store, path, "village", parent_field="parent", code_map={old: old[:-3] + "999"})
    monkeypatch.undo()
    assert old in {v.code for v in store.villages()}  # nothing changed without its record
    assert store.get_incident(inc.id).village_code == old
    result = import_boundaries(
        store, path, "village", parent_field="parent", code_map={old: old[:-3] + "999"}
    )
    (entry,) = [a for a in store.audit_log(entity="areas") if a.action == "import_boundaries"]
    assert json.loads(entry.after) == {**result.counts} and result.counts["remapped_codes"] == 1
