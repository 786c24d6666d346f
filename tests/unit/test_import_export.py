"""Importing incident files (CSV, XLSX, GeoJSON, the 12345 preset) and exporting them."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest

from geo.crs import wgs84_to_gcj02
from patrol.exporter import export_incidents
from patrol.importer import IncidentImportError, import_incidents, load_mapping
from patrol.incidents import LOCAL_TZ, IncidentService
from patrol.roles import Principal
from store import open_store
from store.rows import IncidentQuery

IMPORTER = Principal("导入员", "admin")

P = (30.7552, 120.7601)


@pytest.fixture
def sqlite_store(district_sqlite_url):
    store = open_store(district_sqlite_url)
    yield store
    store.close()


@pytest.fixture
def svc(sqlite_store):
    return IncidentService(sqlite_store, clock=lambda: datetime(2026, 11, 27, tzinfo=UTC))


def _csv(path: Path, rows: list[dict[str, str]], encoding: str = "utf-8") -> Path:
    with path.open("w", encoding=encoding, newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return path


GOOD = {"id": "A1", "time": "2026-11-20 08:30", "lat": str(P[0]), "lng": str(P[1]), "item": "PARK_COMPOUND",
        "source": "patrol", "description": "小区乱停车"}  # fmt: skip


def test_a_csv_imports_good_rows_and_rejects_each_bad_one_with_its_line_and_reason(
    svc, sqlite_store, tmp_path
):
    rows = [
        GOOD,
        {**GOOD, "id": "A2", "lat": ""},
        {**GOOD, "id": "A3", "lat": "abc"},
        {**GOOD, "id": "A4", "lat": "31.9", "lng": "121.9"},
        {**GOOD, "id": "A5", "item": "外星人入侵"},
        {**GOOD, "id": "A6", "time": "昨天下午"},
        {**GOOD, "id": "A1"},
        {**GOOD, "id": "A7", "lat": "95"},
        {**GOOD, "id": "A8", "item": "小区乱停车", "source": "12345"},
    ]
    report = import_incidents(svc, IMPORTER, _csv(tmp_path / "in.csv", rows))
    assert report.accepted == 2
    assert [(line, why) for line, why, _ in report.rejected] == [
        (3, "missing or non-numeric coordinates"),
        (4, "missing or non-numeric coordinates"),
        (5, "outside the district"),
        (6, "unknown item"),
        (7, "unparseable time"),
        (8, "duplicate external id in this file"),
        (9, "coordinates out of range"),
    ]
    report.write_rejects(tmp_path / "rejects.csv")
    back = list(csv.DictReader((tmp_path / "rejects.csv").read_text(encoding="utf-8-sig").splitlines()))
    assert back[0]["line"] == "3" and back[0]["id"] == "A2"
    hotline = sqlite_store.list_incidents(IncidentQuery(sources=("hotline_12345",)))
    assert len(hotline) == 1 and hotline[0].response_minutes == 15


def test_a_file_out_of_time_order_is_imported_oldest_first_in_every_batch(
    svc, sqlite_store, tmp_path, monkeypatch
):
    import patrol.importer

    monkeypatch.setattr(patrol.importer, "BATCH_ROWS", 2)
    # newest first in the file: the repeat (same item, same spot, an hour later) comes first,
    # and batches of two put the pair in different batches
    rows = [
        {**GOOD, "id": "R4", "time": "2026-11-20 09:30", "item": "SEWAGE"},
        {**GOOD, "id": "R3", "time": "2026-11-20 09:00", "item": "CLUTTER"},
        {**GOOD, "id": "R2", "time": "2026-11-20 08:45", "item": "NOISE_SOCIAL"},
        {**GOOD, "id": "R1", "time": "2026-11-20 08:30", "item": "SEWAGE"},
    ]
    report = import_incidents(svc, IMPORTER, _csv(tmp_path / "newest_first.csv", rows))
    assert report.accepted == 4 and report.duplicates_flagged == 1
    stored = sorted(sqlite_store.list_incidents(IncidentQuery(limit=10)), key=lambda r: r.reported_at)
    assert [r.external_id for r in stored] == ["R1", "R2", "R3", "R4"]
    assert [int(r.number[-4:]) for r in stored] == [1, 2, 3, 4]  # numbers follow time
    assert stored[3].suspected_duplicate_of == stored[0].id and stored[0].suspected_duplicate_of is None


def test_reimporting_the_same_file_adds_nothing(svc, sqlite_store, tmp_path):
    path = _csv(tmp_path / "in.csv", [GOOD, {**GOOD, "id": "B2"}])
    first = import_incidents(svc, IMPORTER, path)
    second = import_incidents(svc, IMPORTER, path)
    assert (first.accepted, second.accepted, second.skipped_existing) == (2, 0, 2)
    assert sqlite_store.count_incidents(IncidentQuery()) == 2


def test_rows_without_an_id_are_still_imported_only_once(svc, tmp_path):
    rows = [{k: v for k, v in GOOD.items() if k != "id"}]
    path = _csv(tmp_path / "noid.csv", rows)
    assert import_incidents(svc, IMPORTER, path).accepted == 1
    assert import_incidents(svc, IMPORTER, path).accepted == 0


def test_the_12345_preset_reads_a_gbk_export_with_gcj02_coordinates(svc, sqlite_store, tmp_path):
    g_lat, g_lng = wgs84_to_gcj02(*P)
    row = {"工单编号": "GD2026112000001", "受理时间": "2026/11/20 09:15:00", "经度": f"{float(g_lng):.6f}",
           "纬度": f"{float(g_lat):.6f}", "诉求分类": "油烟扰民", "诉求内容": "楼下饭店油烟很大", "来电人": "王女士",
           "联系电话": "13800000000"}  # fmt: skip
    path = _csv(tmp_path / "12345.csv", [row], encoding="gbk")
    report = import_incidents(svc, IMPORTER, path, mapping=load_mapping("hotline12345"))
    assert report.accepted == 1, report.rejected
    (inc,) = sqlite_store.list_incidents(IncidentQuery())
    assert (
        inc.item_code == "CATERING_FUMES"
        and inc.source == "hotline_12345"
        and inc.external_id == "GD2026112000001"
    )
    assert inc.lat == pytest.approx(P[0], abs=1e-6) and inc.reporter_phone == "13800000000"
    assert inc.reported_at == datetime(2026, 11, 20, 1, 15, tzinfo=UTC)  # 09:15 Beijing time


def test_an_xlsx_file_imports(svc, tmp_path):
    path = tmp_path / "in.xlsx"
    pd.DataFrame([GOOD, {**GOOD, "id": "X2"}]).to_excel(path, index=False)
    assert import_incidents(svc, IMPORTER, path).accepted == 2


def test_a_geojson_file_imports_point_geometries(svc, tmp_path):
    gdf = gpd.GeoDataFrame(
        [{k: v for k, v in GOOD.items() if k not in ("lat", "lng")}],
        geometry=gpd.points_from_xy([P[1]], [P[0]]),
        crs="EPSG:4326",
    )
    path = tmp_path / "in.geojson"
    gdf.to_file(path)
    assert import_incidents(svc, IMPORTER, path).accepted == 1


def test_a_mapping_file_names_columns_and_maps_foreign_labels(svc, tmp_path):
    mapping = tmp_path / "m.toml"
    mapping.write_text('[columns]\nid = "编号"\ntime = "时间"\nlat = "y"\nlng = "x"\nitem = "类别"\n'
                       '[items]\n"乱停" = "PARK_COMPOUND"\n', encoding="utf-8")  # fmt: skip
    path = _csv(
        tmp_path / "m.csv",
        [{"编号": "M1", "时间": "2026-11-20T10:00:00+08:00", "y": str(P[0]), "x": str(P[1]), "类别": "乱停"}],
    )
    assert import_incidents(svc, IMPORTER, path, mapping=load_mapping(mapping)).accepted == 1


def test_a_file_without_the_needed_columns_is_refused_in_one_line(svc, tmp_path):
    path = _csv(tmp_path / "bad.csv", [{"a": "1", "b": "2"}])
    with pytest.raises(IncidentImportError, match=r"not in the file .* give a --mapping"):
        import_incidents(svc, IMPORTER, path)


def test_an_unknown_mapping_names_the_presets():
    with pytest.raises(IncidentImportError, match="hotline12345"):
        load_mapping("no-such-mapping")


def test_formula_injection_is_neutralised_in_exports_and_rejects(svc, tmp_path):
    path = _csv(
        tmp_path / "f.csv",
        [{**GOOD, "description": '=HYPERLINK("http://x","点我")'}, {**GOOD, "id": "F2", "item": "=1+1"}],
    )
    report = import_incidents(svc, IMPORTER, path)
    report.write_rejects(tmp_path / "rej.csv")
    assert "'=1+1" in (tmp_path / "rej.csv").read_text(encoding="utf-8-sig")
    export_incidents(svc, IMPORTER, tmp_path / "out.csv", "csv")
    assert "'=HYPERLINK" in (tmp_path / "out.csv").read_text(encoding="utf-8-sig")


@pytest.fixture
def filled(svc, tmp_path):
    import_incidents(svc, IMPORTER, _csv(tmp_path / "in.csv", [GOOD, {**GOOD, "id": "E2", "item": "SEWAGE"}]))
    return svc


@pytest.mark.parametrize("fmt", ["csv", "geojson", "gpkg"])
def test_exports_round_trip_every_incident(filled, tmp_path, fmt):
    out = tmp_path / f"out.{fmt}"
    assert export_incidents(filled, IMPORTER, out, fmt) == 2
    frame = pd.read_csv(out) if fmt == "csv" else gpd.read_file(out)
    assert sorted(frame["external_id"]) == ["A1", "E2"]
    if fmt != "csv":
        assert frame.geometry.iloc[0].x == pytest.approx(P[1])


def test_the_open311_export_maps_states_to_open_and_closed_with_notes(filled, sqlite_store, tmp_path):
    inc = sqlite_store.list_incidents(IncidentQuery())[0]
    from patrol.roles import Principal

    cc = Principal("指挥员", "command_center")
    filled.act(cc, inc.id, "assess", expected_version=1)
    filled.act(cc, inc.id, "reject", expected_version=2, reason="非执法事项")
    out = tmp_path / "requests.json"
    export_incidents(filled, IMPORTER, out, "open311")
    reqs = {r["service_request_id"]: r for r in json.loads(out.read_text(encoding="utf-8"))}
    assert reqs[inc.number]["status"] == "closed" and "rejected" in reqs[inc.number]["status_notes"]
    other = next(r for k, r in reqs.items() if k != inc.number)
    assert other["status"] == "open"
    for key in (
        "service_request_id",
        "status",
        "service_name",
        "service_code",
        "requested_datetime",
        "lat",
        "long",
        "agency_responsible",
    ):
        assert key in other


def test_a_file_mixing_utf8_and_gbk_lines_is_refused_naming_a_line_of_each(svc, tmp_path):
    header = b"id,time,lat,lng,item,description\n"
    utf8 = f"M1,2026-11-20 08:30,{P[0]},{P[1]},PARK_COMPOUND,小区门口乱停车\n".encode()
    gbk = f"M2,2026-11-20 09:30,{P[0]},{P[1]},PARK_COMPOUND,商铺占道经营\n".encode("gbk")
    path = tmp_path / "mixed.csv"
    path.write_bytes(header + utf8 + gbk)
    with pytest.raises(IncidentImportError, match=r"mixes encodings.*line 2 is UTF-8, line 3 is not"):
        import_incidents(svc, IMPORTER, path)
    path.write_bytes(header + gbk + gbk.replace(b"M2", b"M3"))  # all GBK still imports
    assert import_incidents(svc, IMPORTER, path).accepted == 2


def test_a_file_with_a_million_columns_is_refused_before_parsing_with_a_short_message(svc, tmp_path):
    path = tmp_path / "wide.csv"
    path.write_text(",".join(f"c{i}" for i in range(1_000_000)) + "\n" + ",".join("1" * 1_000_000) + "\n")
    with pytest.raises(IncidentImportError, match="1,000,000 columns") as exc:
        import_incidents(svc, IMPORTER, path)
    assert len(str(exc.value)) < 200


def test_a_missing_column_message_names_at_most_twenty_of_the_files_columns(svc, tmp_path):
    path = tmp_path / "odd.csv"
    path.write_text(",".join(f"col{i}" for i in range(300)) + "\n" + ",".join("x" * 300) + "\n")
    with pytest.raises(IncidentImportError, match=r"col19 … \(280 more\)") as exc:
        import_incidents(svc, IMPORTER, path)
    assert len(str(exc.value)) < 500


def test_the_projects_own_csv_export_imports_as_it_is_into_another_store_and_only_once(
    filled, sqlite_store, district_sqlite_url, tmp_path
):
    out = tmp_path / "export.csv"
    export_incidents(filled, IMPORTER, out, "csv")
    other_path = tmp_path / "other.sqlite"
    import shutil

    shutil.copy(district_sqlite_url.removeprefix("sqlite:///"), other_path)
    other = open_store(f"sqlite:///{other_path}")
    svc = IncidentService(other, clock=lambda: datetime(2026, 11, 27, tzinfo=UTC))
    first = import_incidents(svc, IMPORTER, out)
    assert (first.accepted, first.rejected) == (2, [])
    again = import_incidents(svc, IMPORTER, out)
    assert (again.accepted, again.skipped_existing) == (0, 2)
    src = sorted(
        (r.item_code, r.lat, r.lng, r.reported_at, r.description)
        for r in sqlite_store.list_incidents(IncidentQuery())
    )
    dst = sorted(
        (r.item_code, r.lat, r.lng, r.reported_at, r.description)
        for r in other.list_incidents(IncidentQuery())
    )
    assert src == dst
    other.close()


def test_the_apps_own_chinese_and_english_source_names_are_recognised_spaces_and_case_aside(
    svc, sqlite_store, tmp_path
):
    sources = [
        "12345 热线",
        "12345热线",
        "巡查发现",
        "群众反映",
        "视频监控",
        "部门移交",
        "12345 Hotline",
        "PATROL",
    ]
    rows = [{**GOOD, "id": f"S{i}", "source": s} for i, s in enumerate(sources)]
    report = import_incidents(svc, IMPORTER, _csv(tmp_path / "in.csv", rows))
    assert report.rejected == [] and report.accepted == len(sources)
    stored = {i.external_id: i.source for i in sqlite_store.list_incidents(IncidentQuery())}
    assert stored["S0"] == stored["S1"] == stored["S6"] == "hotline_12345"
    assert (stored["S2"], stored["S3"], stored["S4"], stored["S5"]) == (
        "patrol", "citizen", "camera", "department_referral"
    )  # fmt: skip


def test_columns_are_guessed_from_chinese_and_english_names_each_column_used_once():
    from patrol.importer import guess_columns

    guess = guess_columns(
        ["工单编号", "上报时间", "纬度", "经度", "问题类型", "来源渠道", "诉求内容", "备注"]
    )
    assert guess == {
        "id": "工单编号", "time": "上报时间", "lat": "纬度", "lng": "经度", "item": "问题类型",
        "source": "来源渠道", "description": "诉求内容",
    }  # fmt: skip
    own = guess_columns(["number", "external_id", "item_code", "reported_at", "lat", "lng", "source"])
    assert (own["id"], own["item"], own["time"], own["description"]) == (
        "external_id", "item_code", "reported_at", None
    )  # fmt: skip
    assert guess_columns(["Latitude ", "LONGITUDE"]) == {
        **dict.fromkeys(guess, None),
        "lat": "Latitude ",
        "lng": "LONGITUDE",
    }


def test_the_label_check_lists_only_unknown_labels_with_their_rows_and_a_mapping_answers_them(svc, tmp_path):
    from dataclasses import replace

    from patrol.importer import check_labels, read_table

    rows = [
        {**GOOD, "id": "L1", "item": "小区乱停车", "source": "12345 热线"},
        {**GOOD, "id": "L2", "item": "流动摊贩", "source": "网格员上报"},
        {**GOOD, "id": "L3", "item": "流动摊贩", "source": ""},
    ]
    frame, _ = read_table(_csv(tmp_path / "in.csv", rows))
    mapping = load_mapping(None)
    check = check_labels(svc, frame, mapping)
    assert (check.items, check.sources, check.refused) == ({"流动摊贩": 2}, {"网格员上报": 1}, 2)
    answered = replace(mapping, items={"流动摊贩": "STREET_VENDING"}, sources={"网格员上报": "patrol"})
    again = check_labels(svc, frame, answered)
    assert (again.items, again.sources, again.refused) == ({}, {}, 0)
    report = import_incidents(svc, IMPORTER, tmp_path / "in.csv", mapping=answered)
    assert report.accepted == 3 and report.rejected == []


def test_refused_rows_carry_a_reason_a_page_can_say_in_chinese(svc, tmp_path):
    from patrol.i18n import t
    from patrol.refusals import Reason

    rows = [
        {**GOOD, "id": "R1", "lat": ""},
        {**GOOD, "id": "R2", "item": "外星人入侵"},
        {**GOOD, "id": "R3", "lat": "31.9", "lng": "121.9"},
    ]
    report = import_incidents(svc, IMPORTER, _csv(tmp_path / "in.csv", rows))
    reasons = [why for _, why, _ in report.rejected]
    assert all(isinstance(r, Reason) for r in reasons)
    assert [t(r.key, "zh", **r.values) for r in reasons] == [
        "缺少经纬度或经纬度不是数字", "执法事项无法识别（请在“标签对应”中选择）", "位置不在本区范围内",
    ]  # fmt: skip
    text = report.rejects_csv(lambda r: t(r.key, "zh"), ("行号", "原因")).decode("utf-8-sig")
    assert text.splitlines()[0].startswith("行号,原因,") and "位置不在本区范围内" in text


def test_a_table_export_reads_in_words_in_the_chosen_language_and_local_time(filled, sqlite_store, tmp_path):
    svc = filled
    who = Principal("指挥中心", "command_center")
    n = export_incidents(svc, who, tmp_path / "zh.csv", "table")
    zh = pd.read_csv(tmp_path / "zh.csv", dtype=str, keep_default_na=False, encoding="utf-8-sig")
    assert n == len(zh) > 0
    assert list(zh.columns[:6]) == ["编号", "时间", "事项", "来源", "状态", "乡镇/街道"]
    items = {i.name_zh for i in svc.catalog.items.values()}
    assert set(zh["事项"]) <= items and not any("_" in s for s in zh["状态"])
    first = sqlite_store.list_incidents(IncidentQuery(limit=1, newest_first=False))[0]
    row = zh[zh["编号"] == first.number].iloc[0]
    local = first.reported_at.astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M")
    assert row["时间"] == local
    export_incidents(svc, who, tmp_path / "en.csv", "table", lang="en")
    en = pd.read_csv(tmp_path / "en.csv", dtype=str, keep_default_na=False, encoding="utf-8-sig")
    assert list(en.columns[:3]) == ["Number", "Time", "Item"] and len(en) == n


def test_a_time_pandas_reads_as_the_year_one_is_refused_as_out_of_the_window_not_a_crash_of_the_file(
    svc, tmp_path
):
    # "2T" is read as 0001-01-01, outside what a nanosecond timestamp holds: the whole file
    # failed on OutOfBoundsDatetime (found by the hostile-rows property test); it is now
    # refused in words like any other implausible time (the year 9999 always was)
    from patrol.importer import parse_times

    got = parse_times(pd.Series(["2T", "2026-11-20 08:30"]), None, "Asia/Shanghai")
    assert got.iloc[0].year == 1 and got.iloc[1] == pd.Timestamp("2026-11-20 00:30", tz="UTC")
    report = import_incidents(
        svc, IMPORTER, _csv(tmp_path / "t.csv", [GOOD, {**GOOD, "id": "E2", "time": "2T"}])
    )
    assert report.accepted == 1
    assert [(line, reason.split(" 2000")[0]) for line, reason, _ in report.rejected] == [(3, "time outside")]
