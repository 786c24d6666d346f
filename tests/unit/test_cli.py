import subprocess
import sys

import geopandas as gpd
import pytest
from shapely.geometry import Point, box

from cli import main


def _kv(text: str) -> dict[str, str]:
    return dict(line.split(": ", 1) for line in text.splitlines() if ": " in line)


def test_init_creates_the_store_and_reports_migrations(sqlite_url, capsys):
    assert main(["init", "--db", sqlite_url]) == 0
    out = _kv(capsys.readouterr().out)
    assert out["migrations_applied"] != "0"
    assert main(["init", "--db", sqlite_url]) == 0
    assert _kv(capsys.readouterr().out)["migrations_applied"] == "0"


def test_info_on_an_empty_store_prints_zero_counts(sqlite_url, capsys):
    assert main(["info", "--db", sqlite_url]) == 0
    out = _kv(capsys.readouterr().out)
    for key in ("townships", "villages", "teams", "cells"):
        assert out[key] == "0"
    assert out["h3_resolution"] == "10"


def test_demo_then_info_prints_the_demo_district(sqlite_url, capsys):
    assert main(["demo", "--db", sqlite_url, "--seed", "0", "--incidents", "0"]) == 0
    out = capsys.readouterr().out
    assert "演示数据" in out and "not official" in out
    assert main(["info", "--db", sqlite_url]) == 0
    info = _kv(capsys.readouterr().out)
    assert info["townships"] == "13"
    assert info["villages"] == "143"
    assert info["teams"] == info["villages"]
    assert int(info["cells"]) > 30_000


def test_demo_of_a_second_district_goes_beside_the_first_and_commands_then_ask_which_district(
    sqlite_url, capsys
):
    assert main(["demo", "--db", sqlite_url, "--incidents", "150", "--end", "2026-11-27"]) == 0
    assert (
        main(
            ["demo", "--db", sqlite_url, "--district", "330411", "--incidents", "150", "--end", "2026-11-27"]
        )
        == 0
    )
    capsys.readouterr()
    assert main(["info", "--db", sqlite_url]) == 0
    info = _kv(capsys.readouterr().out)
    assert (info["districts"], info["townships"], info["villages"]) == ("2", "22", "313")
    assert info["district"] == "南湖区 (330402)、秀洲区 (330411)"
    assert main(["info", "--db", sqlite_url, "--district", "330411"]) == 0
    xiuzhou = _kv(capsys.readouterr().out)
    assert (xiuzhou["districts"], xiuzhou["townships"], xiuzhou["villages"]) == ("1", "9", "170")
    assert int(xiuzhou["incidents"]) + int(_kv_of(sqlite_url, "330402", capsys)["incidents"]) == int(
        info["incidents"]
    )
    # a command on one district's figures names the district when the store holds two
    assert main(["kpis", "--db", sqlite_url, "--month", "2026-10"]) == 2
    err = capsys.readouterr().err
    assert "holds 2 districts (330402 南湖区, 330411 秀洲区); name one with --district CODE" in err
    assert (
        main(["kpis", "--db", sqlite_url, "--month", "2026-10", "--district", "330411", "--format", "csv"])
        == 0
    )
    rows = capsys.readouterr().out.splitlines()[1:]
    assert rows and all(r.startswith("330411") for r in rows)
    assert main(["kpis", "--db", sqlite_url, "--month", "2026-10", "--district", "330499"]) == 2
    assert "holds no district 330499" in capsys.readouterr().err
    # the same district twice, and one whose outline does not ship, are refused in words
    assert main(["demo", "--db", sqlite_url, "--district", "330411", "--incidents", "0"]) == 2
    assert "already holds district 330411" in capsys.readouterr().err
    assert main(["demo", "--db", sqlite_url, "--district", "330499", "--incidents", "0"]) == 2
    assert (
        "no outline of district 330499 ships with GridPatrol; these do: 330402 南湖区"
        in capsys.readouterr().err
    )
    # the cron job of 督办 runs over every district of the city unless one is named; idempotent
    assert main(["supervise", "--db", sqlite_url]) == 0
    first = _kv(capsys.readouterr().out)
    assert first["districts"] == "330402, 330411"
    assert {n[:2] for n in first["numbers"].split(",") if n != "-"} <= {"NH", "XZ"}
    assert main(["supervise", "--db", sqlite_url]) == 0
    assert _kv(capsys.readouterr().out)["supervised"] == "0"
    assert main(["supervise", "--db", sqlite_url, "--district", "330411"]) == 0
    assert _kv(capsys.readouterr().out)["districts"] == "330411"


def _kv_of(url, district, capsys):
    assert main(["info", "--db", url, "--district", district]) == 0
    return _kv(capsys.readouterr().out)


def test_demo_if_empty_leaves_a_loaded_store_alone(sqlite_url, capsys):
    main(["demo", "--db", sqlite_url, "--seed", "0", "--incidents", "0"])
    capsys.readouterr()
    assert main(["demo", "--db", sqlite_url, "--if-empty", "--seed", "3", "--incidents", "0"]) == 0
    assert "nothing loaded" in capsys.readouterr().out


def test_gridpatrol_db_environment_variable_selects_the_store(sqlite_url, monkeypatch, capsys):
    monkeypatch.setenv("GRIDPATROL_DB", sqlite_url)
    assert main(["info"]) == 0
    assert _kv(capsys.readouterr().out)["store"] == sqlite_url


def test_importing_townships_then_villages_builds_teams_and_cells(sqlite_url, tmp_path, capsys):
    towns = gpd.GeoDataFrame(
        {"name": ["甲镇", "乙镇"], "code": ["330499101", "330499102"]},
        geometry=[box(120.70, 30.70, 120.72, 30.72), box(120.72, 30.70, 120.74, 30.72)],
        crs="EPSG:4326",
    )
    towns.to_file(tmp_path / "towns.geojson")
    assert (
        main(
            [
                "import-boundaries",
                str(tmp_path / "towns.geojson"),
                "--level",
                "township",
                "--db",
                sqlite_url,
                "--district-code",
                "330499",
            ]
        )
        == 0
    )
    out = _kv(capsys.readouterr().out)
    assert out["townships"] == "2" and out["villages"] == "2"  # one grid per township until villages come
    villages = gpd.GeoDataFrame(
        {"name": ["一村", "二村", "三村"], "code": ["330499101201", "330499101202", "330499102201"]},
        geometry=[
            box(120.70, 30.70, 120.71, 30.72),
            box(120.71, 30.70, 120.72, 30.72),
            box(120.72, 30.70, 120.74, 30.72),
        ],
        crs="EPSG:4326",
    )
    villages.to_file(tmp_path / "villages.geojson")
    assert (
        main(
            [
                "import-boundaries",
                str(tmp_path / "villages.geojson"),
                "--level",
                "village",
                "--db",
                sqlite_url,
            ]
        )
        == 0
    )
    out = _kv(capsys.readouterr().out)
    assert out["villages"] == "3" and out["teams"] == "3"
    assert int(out["cells"]) > 100


def test_villages_before_townships_are_refused_with_exit_2(sqlite_url, tmp_path, capsys):
    gpd.GeoDataFrame({"name": ["一村"]}, geometry=[box(120.7, 30.7, 120.71, 30.71)], crs="EPSG:4326").to_file(
        tmp_path / "v.geojson"
    )
    assert (
        main(["import-boundaries", str(tmp_path / "v.geojson"), "--level", "village", "--db", sqlite_url])
        == 2
    )
    assert "import townships first" in capsys.readouterr().err


def test_a_point_file_is_refused_with_one_line_and_exit_2(sqlite_url, tmp_path, capsys):
    gpd.GeoDataFrame({"name": ["x"]}, geometry=[Point(120.7, 30.7)], crs="EPSG:4326").to_file(
        tmp_path / "p.geojson"
    )
    assert (
        main(["import-boundaries", str(tmp_path / "p.geojson"), "--level", "township", "--db", sqlite_url])
        == 2
    )
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "has no polygons" in err


def test_dry_run_reports_but_saves_nothing(sqlite_url, tmp_path, capsys):
    gpd.GeoDataFrame(
        {"name": ["x"], "code": ["1"]}, geometry=[box(120.7, 30.7, 120.71, 30.71)], crs="EPSG:4326"
    ).to_file(tmp_path / "t.geojson")
    assert (
        main(
            [
                "import-boundaries",
                str(tmp_path / "t.geojson"),
                "--level",
                "township",
                "--db",
                sqlite_url,
                "--dry-run",
            ]
        )
        == 0
    )
    out = _kv(capsys.readouterr().out)
    assert out["saved"] == "no (dry run)" and out["townships"] == "0"


def test_an_unreachable_postgis_is_an_error_line_not_a_traceback():
    proc = subprocess.run(
        [sys.executable, "-m", "cli", "info", "--db", "postgresql://postgres@127.0.0.1:1/none"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith("gridpatrol: store error: cannot reach PostGIS")


@pytest.mark.parametrize(
    "argv", [["import-boundaries", "x.geojson"], ["import-boundaries", "x", "--level", "county"]]
)
def test_bad_arguments_exit_with_status_2(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2


def test_demo_generates_incidents_and_info_counts_them_by_state(sqlite_url, capsys):
    assert main(["demo", "--db", sqlite_url, "--incidents", "1500", "--end", "2026-11-27"]) == 0
    assert "incidents: " in capsys.readouterr().err  # progress
    assert main(["info", "--db", sqlite_url]) == 0
    info = _kv(capsys.readouterr().out)
    states = {k: int(v) for k, v in info.items() if k.startswith("state_")}
    assert int(info["incidents"]) == sum(states.values()) > 1300
    assert states["state_closed"] > 0 and states["state_rejected"] > 0


def test_demo_refuses_a_bad_end_date(sqlite_url, capsys):
    assert main(["demo", "--db", sqlite_url, "--end", "27/11/2026"]) == 2
    assert "--end must be a date" in capsys.readouterr().err


def test_import_incidents_prints_counts_and_writes_rejects_then_export(sqlite_url, tmp_path, capsys):
    main(["demo", "--db", sqlite_url, "--incidents", "0"])
    path = tmp_path / "in.csv"
    path.write_text(
        "id,time,lat,lng,item,source,description\n"
        "A1,2026-11-20 08:30,30.7552,120.7601,PARK_COMPOUND,patrol,小区乱停车\n"
        "A2,2026-11-20 08:30,,120.7601,PARK_COMPOUND,patrol,缺坐标\n",
        encoding="utf-8",
    )
    capsys.readouterr()
    assert main(["import-incidents", str(path), "--db", sqlite_url]) == 0
    out = _kv(capsys.readouterr().out)
    assert (out["accepted"], out["rejected"]) == ("1", "1")
    assert "A2" in (tmp_path / "in.csv.rejects.csv").read_text(encoding="utf-8-sig")
    assert main(["import-incidents", str(path), "--db", sqlite_url]) == 0
    assert _kv(capsys.readouterr().out)["skipped_already_imported"] == "1"
    assert (
        main(["export", "--db", sqlite_url, "--format", "geojson", "--out", str(tmp_path / "o.geojson")]) == 0
    )
    assert _kv(capsys.readouterr().out)["incidents"] == "1"


def test_import_of_an_unreadable_file_is_one_line_and_exit_2(sqlite_url, tmp_path, capsys):
    main(["demo", "--db", sqlite_url, "--incidents", "0"])
    bad = tmp_path / "x.csv"
    bad.write_bytes(b"a,b\n1,2\n")
    capsys.readouterr()
    assert main(["import-incidents", str(bad), "--db", sqlite_url]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "give a --mapping" in err


def test_kpis_and_hotspots_commands_print_machine_readable_figures(sqlite_url, capsys):
    import json

    main(["demo", "--db", sqlite_url, "--incidents", "3000", "--end", "2026-11-27"])
    capsys.readouterr()
    assert main(["kpis", "--db", sqlite_url, "--month", "2026-10", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert len(doc["rows"]) == 13 and {"on_time_rate", "rank", "received"} <= set(doc["rows"][0])
    assert main(["kpis", "--db", sqlite_url, "--month", "2026-10", "--by", "item", "--format", "csv"]) == 0
    assert capsys.readouterr().out.startswith("group,rank,received")
    assert main(["hotspots", "--db", sqlite_url, "--days", "365", "--format", "geojson"]) == 0
    fc = json.loads(capsys.readouterr().out)
    assert fc["type"] == "FeatureCollection" and fc["features"]
    assert all(f["properties"]["class"] != 0 for f in fc["features"])
    assert main(["kpis", "--db", sqlite_url, "--month", "Oct"]) == 2
    # the demo scored and published October: its composite and its figures per empowerment class
    assert main(["evaluation", "show", "--db", sqlite_url, "--period", "2026-10", "--by", "composite",
                 "--format", "json"]) == 0  # fmt: skip
    doc = json.loads(capsys.readouterr().out)
    assert (doc["version"], len(doc["rows"])) == (1, 13)
    assert list(doc["rows"][0])[:5] == ["group", "rank", "ranked", "received", "total"]
    assert all(0 <= r["total"] <= 100 and r["missing"] == 0 for r in doc["rows"])
    assert main(["evaluation", "show", "--db", sqlite_url, "--period", "2026-Q3", "--by", "classes",
                 "--format", "csv"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert (
        out.lstrip("\ufeff").splitlines()[0]
        == "group,townships,received,by_township,cases,cases_per_township"
    )
    assert len(out.splitlines()) == 4  # the three classes


@pytest.mark.parametrize(
    ("text", "value"), [("20k", 20_000), ("1M", 1_000_000), ("5000", 5000), ("0.5m", 500_000)]
)
def test_bench_sizes_read_like_people_write_them(text, value):
    from bench.__main__ import parse_size

    assert parse_size(text) == value


@pytest.mark.parametrize("argv", [["--sizes", "2x"], ["--suites", "nope"], ["--sizes", "-5"]])
def test_bench_refuses_bad_options_with_exit_2(argv, capsys):
    from bench.__main__ import main as bench_main

    with pytest.raises(SystemExit) as exc:
        bench_main(argv)
    assert exc.value.code == 2
    assert "gridpatrol-bench: error" in capsys.readouterr().err


def test_scenarios_command_reports_every_theme(sqlite_url, capsys):
    import json

    main(["demo", "--db", sqlite_url, "--incidents", "2000"])
    capsys.readouterr()
    assert main(["scenarios", "--db", sqlite_url, "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) >= 10 and {"volume", "trend", "top10_share", "coverage", "hot_cells"} <= set(rows[0])
    assert rows[0]["volume"] >= rows[-1]["volume"]


def test_patrol_plan_writes_a_route_that_fits_the_shift_and_the_backtest_compares_honestly(
    sqlite_url, tmp_path, capsys
):
    import json

    from geo.tracks import read_gpx

    main(["demo", "--db", sqlite_url, "--incidents", "3000"])
    capsys.readouterr()
    gpx, geojson = tmp_path / "r.gpx", tmp_path / "r.geojson"
    assert main(["patrol-plan", "--db", sqlite_url, "--team", "15", "--start", "2030-01-07 08:00", "--hours", "2",
                 "--gpx", str(gpx), "--geojson", str(geojson)]) == 0  # fmt: skip
    out = _kv(capsys.readouterr().out)
    assert int(out["stops"]) >= 1 and out["back_at"] <= "10:00"
    lat, _ = read_gpx(gpx.read_text(encoding="utf-8"))
    assert len(lat) == int(out["stops"])
    assert json.loads(geojson.read_text(encoding="utf-8"))["type"] == "FeatureCollection"
    assert main(["patrol-plan", "--db", sqlite_url, "--team", "9999", "--start", "2030-01-07 08:00"]) == 2
    capsys.readouterr()
    assert main(["risk-backtest", "--db", sqlite_url, "--weeks", "4"]) == 0
    bt = _kv(capsys.readouterr().out)
    assert bt["weeks"] == "4" and "last_week" in bt["top_10"]


def test_demo_if_empty_gives_an_older_demo_store_its_demo_users(sqlite_url, capsys):
    from data.demo_district import load_demo_district
    from store import open_store

    store = open_store(sqlite_url)
    store.migrate()
    load_demo_district(store, seed=0)  # a demo store seeded before users existed
    store.close()
    assert main(["demo", "--db", sqlite_url, "--if-empty", "--incidents", "0"]) == 0
    # 3 district-wide, 13 captains, 2 certified officers and 1 grid worker per township, 6 liaisons
    assert "demo users: 61" in capsys.readouterr().out
    assert main(["demo", "--db", sqlite_url, "--if-empty", "--incidents", "0"]) == 0
    assert "demo users" not in capsys.readouterr().out  # once only


def test_demo_if_empty_adds_no_demo_accounts_to_a_store_that_already_has_real_users(
    sqlite_url, monkeypatch, capsys
):
    import io

    from store import open_store

    main(["init", "--db", sqlite_url])
    monkeypatch.setattr(sys, "stdin", io.StringIO("a-real-Passphrase-42\n"))
    assert main(["create-user", "chief", "--role", "admin", "--password-stdin", "--db", sqlite_url]) == 0
    capsys.readouterr()
    assert main(["demo", "--db", sqlite_url, "--if-empty", "--incidents", "0"]) == 0
    assert "nothing loaded" in capsys.readouterr().out
    assert main(["demo", "--db", sqlite_url, "--incidents", "0"]) == 2
    assert "already has users" in capsys.readouterr().err
    store = open_store(sqlite_url)
    assert [u.username for u in store.users()] == ["chief"] and store.district() is None
    store.close()


def test_demo_users_are_refused_in_a_store_not_created_as_a_demo(district_sqlite_url):
    from dataclasses import replace

    from data.demo_users import create_demo_users
    from store import open_store

    store = open_store(district_sqlite_url)
    district = store.district()
    store.replace_areas(
        replace(district, is_demo=False),
        store.townships(),
        store.villages(),
        store.teams(),
        *store.cell_map(),
    )
    with pytest.raises(ValueError, match="created as a demo"):
        create_demo_users(store)
    assert store.users() == []
    store.close()


def test_a_reader_that_goes_away_ends_the_output_quietly_not_with_a_broken_pipe_traceback(sqlite_url):
    import os

    main(["init", "--db", sqlite_url])
    read_end, write_end = os.pipe()
    os.close(read_end)  # as `gridpatrol info | head -0` does before the first line
    done = subprocess.run(
        [sys.executable, "-m", "cli", "info", "--db", sqlite_url],
        stdout=write_end, stderr=subprocess.PIPE, text=True, check=False,
    )  # fmt: skip
    os.close(write_end)
    assert done.returncode == 0 and done.stderr == ""


def test_no_command_prints_a_database_password(capsys):
    url = "postgresql://gp:hunter2@127.0.0.1:1/gp?password=hunter2&connect_timeout=1"
    assert main(["info", "--db", url]) == 1
    assert main(["init", "--db", url]) == 1
    out = capsys.readouterr()
    assert "hunter2" not in out.out + out.err and "gp:***@127.0.0.1" in out.err


def test_the_bench_imports_a_suite_only_when_it_runs_it():
    # a suite's figures (its garbage collections, the peak memory) must not carry what the others import
    import subprocess
    import sys

    probe = (
        "import sys, bench.__main__; print(sorted(m for m in sys.modules if m.startswith('bench.bench_')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == "[]"
