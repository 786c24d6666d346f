import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
from shapely.geometry import LineString, Point, Polygon, box

from geo.boundaries import BoundaryError, read_boundaries
from geo.crs import wgs84_to_gcj02


def _write(tmp_path: Path, name: str, gdf: gpd.GeoDataFrame, driver: str | None = None) -> Path:
    path = tmp_path / name
    gdf.to_file(path, driver=driver) if driver else gdf.to_file(path)
    return path


def _two_townships() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"name": ["甲镇", "乙街道"], "code": ["330402101", "330402001"]},
        geometry=[box(120.70, 30.70, 120.75, 30.75), box(120.75, 30.70, 120.80, 30.75)],
        crs="EPSG:4326",
    )


def test_a_clean_geojson_loads_with_an_empty_report(tmp_path):
    gdf, report = read_boundaries(_write(tmp_path, "t.geojson", _two_townships()), "township")
    assert report.ok
    assert list(gdf["code"]) == ["330402101", "330402001"]
    assert gdf.crs.to_epsg() == 4326


def test_a_geopackage_loads(tmp_path):
    gdf, _ = read_boundaries(_write(tmp_path, "t.gpkg", _two_townships(), "GPKG"), "township")
    assert len(gdf) == 2


def test_a_zipped_shapefile_loads(tmp_path):
    shp_dir = tmp_path / "shp"
    shp_dir.mkdir()
    _two_townships().to_file(shp_dir / "towns.shp", encoding="utf-8")
    archive = tmp_path / "towns.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for f in shp_dir.iterdir():
            zf.write(f, f.name)
    gdf, _ = read_boundaries(archive, "township")
    assert sorted(gdf["name"]) == sorted(["甲镇", "乙街道"])


def test_a_zipped_shapefile_without_prj_needs_its_crs_named(tmp_path):
    shp_dir = tmp_path / "shp"
    shp_dir.mkdir()
    _two_townships().to_file(shp_dir / "towns.shp", encoding="utf-8")
    (shp_dir / "towns.prj").unlink()
    archive = tmp_path / "towns.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for f in shp_dir.iterdir():
            zf.write(f, f.name)
    with pytest.raises(BoundaryError, match=r"no \.prj.*--crs"):
        read_boundaries(archive, "township")
    gdf, _ = read_boundaries(archive, "township", crs="gcj02")
    assert gdf.geometry.iloc[0].bounds[0] < 120.70  # shifted from GCJ-02 to WGS84


def test_a_kml_file_loads(tmp_path):
    gdf, _ = read_boundaries(
        _write(tmp_path, "t.kml", _two_townships()[["name", "geometry"]], "KML"),
        "township",
        name_field="Name",
    )
    assert sorted(gdf["name"]) == sorted(["甲镇", "乙街道"])


def test_a_zip_with_no_shp_is_refused_in_one_line(tmp_path):
    archive = tmp_path / "empty.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("readme.txt", "nothing here")
    with pytest.raises(BoundaryError, match=r"contains no \.shp file"):
        read_boundaries(archive, "township")


def test_an_empty_file_is_refused(tmp_path):
    path = tmp_path / "empty.geojson"
    path.write_text("")
    with pytest.raises(BoundaryError, match="file is empty"):
        read_boundaries(path, "township")


def test_a_file_with_no_features_is_refused(tmp_path):
    path = tmp_path / "none.geojson"
    path.write_text('{"type": "FeatureCollection", "features": []}')
    with pytest.raises(BoundaryError, match="no features"):
        read_boundaries(path, "township")


def test_a_point_layer_is_refused_as_not_areas(tmp_path):
    pts = gpd.GeoDataFrame({"name": ["a"]}, geometry=[Point(120.7, 30.7)], crs="EPSG:4326")
    with pytest.raises(BoundaryError, match=r"has no polygons \(found Point\)"):
        read_boundaries(_write(tmp_path, "p.geojson", pts), "township")


def test_lines_mixed_with_polygons_are_dropped_and_reported(tmp_path):
    mixed = gpd.GeoDataFrame(
        {"name": ["a", "b"], "code": ["1", "2"]},
        geometry=[box(120.7, 30.7, 120.8, 30.8), LineString([(120.7, 30.7), (120.8, 30.8)])],
        crs="EPSG:4326",
    )
    gdf, report = read_boundaries(_write(tmp_path, "m.gpkg", mixed, "GPKG"), "township")
    assert len(gdf) == 1
    assert report.count("dropped") == 1


def test_an_invalid_bowtie_is_repaired_and_reported(tmp_path):
    bowtie = Polygon([(120.7, 30.7), (120.8, 30.8), (120.8, 30.7), (120.7, 30.8)])
    gdf_in = gpd.GeoDataFrame({"name": ["bow"], "code": ["1"]}, geometry=[bowtie], crs="EPSG:4326")
    gdf, report = read_boundaries(_write(tmp_path, "b.geojson", gdf_in), "township")
    assert gdf.geometry.is_valid.all()
    assert report.count("repaired") == 1
    assert "Self-intersection" in report.problems[0].message


def test_projected_coordinates_declared_as_wgs84_are_refused_as_wrong_crs(tmp_path):
    wrong = gpd.GeoDataFrame(
        {"name": ["x"]}, geometry=[box(500000, 3400000, 501000, 3401000)], crs="EPSG:4326"
    )
    with pytest.raises(BoundaryError, match="wrong or missing CRS"):
        read_boundaries(_write(tmp_path, "w.geojson", wrong), "township")


def test_a_projected_crs_declared_by_the_file_is_reprojected(tmp_path):
    utm = _two_townships().to_crs(32651)
    gdf, _ = read_boundaries(_write(tmp_path, "u.gpkg", utm, "GPKG"), "township")
    assert gdf.total_bounds == pytest.approx(_two_townships().total_bounds, abs=1e-6)


def test_gcj02_coordinates_are_converted_when_declared(tmp_path):
    wgs = _two_townships()

    def _shift(xy):
        lat, lng = wgs84_to_gcj02(xy[:, 1], xy[:, 0])
        return np.column_stack([lng, lat])

    gcj = wgs.set_geometry([shapely.transform(g, _shift) for g in wgs.geometry], crs="EPSG:4326")
    assert gcj.total_bounds[0] - 120.70 > 0.004  # the file really is shifted
    gdf, _ = read_boundaries(_write(tmp_path, "g.geojson", gcj), "township", crs="gcj02")
    for got, want in zip(gdf.geometry, wgs.geometry, strict=True):
        assert got.equals_exact(want, tolerance=1e-7)


def test_overlaps_between_siblings_are_reported_with_area(tmp_path):
    t = _two_townships()
    t.loc[1, "geometry"] = box(120.74, 30.70, 120.80, 30.75)  # 0.01 deg strip overlaps
    _, report = read_boundaries(_write(tmp_path, "o.geojson", t), "township")
    (overlap,) = [p for p in report.problems if p.kind == "overlap"]
    assert overlap.area_m2 == pytest.approx(0.01 * 0.05 * 95_700 * 110_860, rel=0.02)


def test_gaps_inside_the_parent_are_reported_with_area(tmp_path):
    t = _two_townships()
    t.loc[1, "geometry"] = box(120.76, 30.70, 120.80, 30.75)  # leaves a 0.01 deg gap
    district = gpd.GeoDataFrame(
        {"code": ["330402"]}, geometry=[box(120.70, 30.70, 120.80, 30.75)], crs="EPSG:4326"
    )
    _, report = read_boundaries(_write(tmp_path, "g.geojson", t), "township", parents=district)
    (gap,) = [p for p in report.problems if p.kind == "gap"]
    assert gap.area_m2 == pytest.approx(0.01 * 0.05 * 95_700 * 110_860, rel=0.02)


def test_a_village_reaching_outside_its_township_is_reported(tmp_path):
    villages = gpd.GeoDataFrame(
        {
            "name": ["a村", "b村"],
            "code": ["330402101201", "330402101202"],
            "town": ["330402101", "330402101"],
        },
        geometry=[box(120.70, 30.70, 120.72, 30.75), box(120.72, 30.70, 120.77, 30.75)],
        crs="EPSG:4326",
    )
    _, report = read_boundaries(
        _write(tmp_path, "v.geojson", villages), "village", parent_field="town", parents=_two_townships()
    )
    assert [p.feature for p in report.problems if p.kind == "outside_parent"] == ["b村"]


def test_duplicate_and_missing_names_and_codes_are_reported(tmp_path):
    t = gpd.GeoDataFrame(
        {"name": ["a", "a", None], "code": ["1", "1", None]},
        geometry=[
            box(120.70, 30.7, 120.71, 30.71),
            box(120.72, 30.7, 120.73, 30.71),
            box(120.74, 30.7, 120.75, 30.71),
        ],
        crs="EPSG:4326",
    )
    _, report = read_boundaries(_write(tmp_path, "d.geojson", t), "township")
    for kind in ("duplicate_name", "duplicate_code", "missing_name", "missing_code"):
        assert report.count(kind) == 1, kind


def test_a_named_field_that_does_not_exist_is_refused_listing_the_fields(tmp_path):
    with pytest.raises(BoundaryError, match="field 'mc' not found; the file has: name, code"):
        read_boundaries(_write(tmp_path, "t.geojson", _two_townships()), "township", name_field="mc")


def test_an_unsupported_file_type_is_refused(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a,b\n")
    with pytest.raises(BoundaryError, match="unsupported file type"):
        read_boundaries(path, "township")


def test_a_missing_file_is_refused(tmp_path):
    with pytest.raises(BoundaryError, match="file not found"):
        read_boundaries(tmp_path / "nope.geojson", "township")


def test_the_report_renders_as_a_table_and_a_map_layer(tmp_path):
    t = _two_townships()
    t.loc[1, "geometry"] = box(120.74, 30.70, 120.80, 30.75)
    _, report = read_boundaries(_write(tmp_path, "o.geojson", t), "township")
    assert list(report.to_frame().columns) == ["kind", "feature", "message", "area_m2"]
    assert len(report.problem_geometries()) == 1


def _refusals(tmp_path: Path) -> list[BoundaryError]:
    """Every kind of unusable file a person might upload, and the refusal each gets."""
    empty_zip = tmp_path / "empty.zip"
    with zipfile.ZipFile(empty_zip, "w") as zf:
        zf.writestr("readme.txt", "nothing here")
    (tmp_path / "empty.geojson").write_text("")
    (tmp_path / "none.geojson").write_text('{"type": "FeatureCollection", "features": []}')
    (tmp_path / "t.csv").write_text("a,b\n")
    (tmp_path / "bad.zip").write_text("not a zip")
    (tmp_path / "junk.geojson").write_text("{ this is not json")
    pts = gpd.GeoDataFrame({"name": ["a"]}, geometry=[Point(120.7, 30.7)], crs="EPSG:4326")
    projected = gpd.GeoDataFrame({"name": ["a"]}, geometry=[box(500_000, 3_400_000, 501_000, 3_401_000)])
    calls = [
        (empty_zip, {}), (tmp_path / "empty.geojson", {}), (tmp_path / "none.geojson", {}),
        (tmp_path / "t.csv", {}), (tmp_path / "bad.zip", {}), (tmp_path / "junk.geojson", {}),
        (tmp_path / "nope.geojson", {}), (_write(tmp_path, "p.geojson", pts), {}),
        (_write(tmp_path, "proj.geojson", projected.set_crs(4326, allow_override=True)), {}),
        (_write(tmp_path, "t.geojson", _two_townships()), {"name_field": "mc"}),
    ]  # fmt: skip
    out = []
    for path, kw in calls:
        with pytest.raises(BoundaryError) as refused:
            read_boundaries(path, "township", **kw)
        out.append(refused.value)
    return out


def test_every_unusable_file_is_refused_in_the_user_s_language_naming_the_fix(tmp_path):
    from patrol.i18n import t

    refusals = _refusals(tmp_path)
    keys = {r.key for r in refusals}
    assert len(keys) == len(refusals) and "boundary.unusable" not in keys  # each says what is wrong
    for r in refusals:
        zh, en = t(r.key, "zh", **r.values), t(r.key, "en", **r.values)
        assert "{" not in zh and "{" not in en, r.key
        assert "--" not in zh and "--" not in en  # a page has no command-line options
        assert any("\u4e00" <= ch <= "\u9fff" for ch in zh), r.key
    missing = next(r for r in refusals if r.key == "boundary.field_missing")
    assert "“mc”" in t(missing.key, "zh", **missing.values) and "name、code" in t(
        missing.key, "zh", **missing.values
    )
