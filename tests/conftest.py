"""Shared fixtures: stores on both backends, the demo district, the local PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from store import Store, open_store


@pytest.fixture(autouse=True)
def _pages_raise_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    """A page that fails shows users an error id only; in tests it raises, so AppTest sees it."""
    monkeypatch.setenv("GRIDPATROL_RAISE_ERRORS", "1")


PG_ADMIN_URL = os.environ.get("GRIDPATROL_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def _pg_base(url: str) -> str:
    return url.rsplit("/", 1)[0]


@pytest.fixture(scope="session")
def postgis_server() -> str:
    """The local PostgreSQL with PostGIS; fails (never skips) when it is missing."""
    try:
        with psycopg.connect(PG_ADMIN_URL, connect_timeout=5, autocommit=True) as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_available_extensions WHERE name = 'postgis'"
            ).fetchone()
    except psycopg.Error as exc:
        pytest.fail(f"PostgreSQL not reachable at {PG_ADMIN_URL} ({exc}); run .ci/run or start it")
    if not row or row[0] == 0:
        pytest.fail("PostGIS is not installed: apt-get install -y postgresql-15-postgis-3 (see .ci/run)")
    return PG_ADMIN_URL


@pytest.fixture
def postgis_url(postgis_server: str) -> Iterator[str]:
    """A fresh database for one test, dropped afterwards."""
    name = f"gp_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgis_server, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield f"{_pg_base(postgis_server)}/{name}"
    with psycopg.connect(postgis_server, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'gridpatrol.sqlite'}"


@pytest.fixture(params=["sqlite", "postgis"])
def store(request: pytest.FixtureRequest) -> Iterator[Store]:
    """A migrated, empty store on each backend (the contract suite runs on both)."""
    url = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "postgis_url")
    s = open_store(url)
    s.migrate()
    yield s
    s.close()


@pytest.fixture(scope="session")
def demo_district():  # type: ignore[no-untyped-def]
    from data.demo_district import build_demo_district

    return build_demo_district(0)


@pytest.fixture(scope="session")
def demo_sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A SQLite store with the demo district loaded once for the session (read-only use)."""
    from data.demo_district import load_demo_district

    url = f"sqlite:///{tmp_path_factory.mktemp('demo') / 'demo.sqlite'}"
    s = open_store(url)
    s.migrate()
    load_demo_district(s, seed=0)
    s.close()
    return url


@pytest.fixture
def district_sqlite_url(demo_sqlite_url: str, tmp_path: Path) -> str:
    """A private copy of the demo-district SQLite store, free to change."""
    import shutil

    src = Path(demo_sqlite_url.removeprefix("sqlite:///"))
    dest = tmp_path / "district.sqlite"
    shutil.copy(src, dest)
    return f"sqlite:///{dest}"


@pytest.fixture
def district_store(store: Store) -> Store:
    """A store on each backend holding the demo district (no incidents)."""
    from data.demo_district import load_demo_district

    load_demo_district(store, seed=0)
    return store


DEMO_END = "2026-11-27"


@pytest.fixture(scope="session")
def demo_incidents_sqlite_url(demo_sqlite_url: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The demo district with 3000 demo incidents and demo patrols (read-only use, or copy it)."""
    import shutil

    import pandas as pd

    from data.demo_evaluations import publish_demo_evaluations
    from data.demo_incidents import generate_demo_incidents
    from data.demo_patrols import generate_demo_patrols
    from data.demo_users import create_demo_users
    from patrol.incidents import IncidentService

    dest = tmp_path_factory.mktemp("demo_inc") / "demo_incidents.sqlite"
    shutil.copy(Path(demo_sqlite_url.removeprefix("sqlite:///")), dest)
    url = f"sqlite:///{dest}"
    s = open_store(url)
    end = pd.Timestamp(DEMO_END, tz="Asia/Shanghai").to_pydatetime()
    generate_demo_incidents(IncidentService(s, clock=lambda: end), 3000, seed=1, end=end)
    generate_demo_patrols(s, seed=1, end=end)
    publish_demo_evaluations(s, end)  # last, as the demo command does: the composite reads the inspections
    create_demo_users(s)
    s.close()
    return url


@pytest.fixture
def incidents_sqlite_url(demo_incidents_sqlite_url: str, tmp_path: Path) -> str:
    """A private copy of the demo store with incidents, free to change."""
    import shutil

    dest = tmp_path / "incidents.sqlite"
    shutil.copy(Path(demo_incidents_sqlite_url.removeprefix("sqlite:///")), dest)
    return f"sqlite:///{dest}"


def make_tile_package(
    path: Path, *, zooms: range = range(8, 14), folder: bool = False
) -> dict[tuple[int, int, int], bytes]:
    """Write a small offline tile package over the demo district (MBTiles, or a z/x/y folder).

    Each tile is a 256-px PNG of its own colour, so a test can tell which one it got.
    Returns the tiles written, by XYZ (slippy-map) coordinates.
    """
    import io
    import math
    import sqlite3

    from PIL import Image

    west, south, east, north = 120.65, 30.60, 120.98, 30.85

    def xy(lng: float, lat: float, z: int) -> tuple[int, int]:
        n = 1 << z
        y = (1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n
        return int((lng + 180) / 360 * n), int(y)

    tiles: dict[tuple[int, int, int], bytes] = {}
    for z in zooms:
        (x0, y0), (x1, y1) = xy(west, north, z), xy(east, south, z)
        for x in range(x0, x1 + 1):
            for y in range(y0, y1 + 1):
                buf = io.BytesIO()
                Image.new("RGB", (256, 256), ((x * 37) % 256, (y * 59) % 256, z * 16)).save(buf, "PNG")
                tiles[(z, x, y)] = buf.getvalue()
    if folder:
        for (z, x, y), data in tiles.items():
            (path / str(z) / str(x)).mkdir(parents=True, exist_ok=True)
            (path / str(z) / str(x) / f"{y}.png").write_bytes(data)
        return tiles
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE metadata (name TEXT, value TEXT)")
        db.execute("CREATE TABLE tiles (zoom_level INT, tile_column INT, tile_row INT, tile_data BLOB)")
        meta = {
            "name": "南湖区测试底图",
            "format": "png",
            "minzoom": str(zooms.start),
            "maxzoom": str(zooms.stop - 1),
            "bounds": f"{west},{south},{east},{north}",
            "attribution": "测试瓦片",
        }
        db.executemany("INSERT INTO metadata VALUES (?, ?)", meta.items())
        db.executemany(
            "INSERT INTO tiles VALUES (?, ?, ?, ?)",
            [(z, x, (1 << z) - 1 - y, data) for (z, x, y), data in tiles.items()],
        )
    db.close()
    return tiles


def raw_sql(store: Store, statement: str) -> None:
    """Run SQL behind the store's back on its own connection, as an attacker with database access would."""
    import sqlite3

    if store.url.startswith("sqlite"):
        conn = sqlite3.connect(store.url.removeprefix("sqlite:///"))
        try:
            conn.execute(statement)
            conn.commit()
        finally:
            conn.close()
    else:
        with psycopg.connect(store.url, autocommit=True) as conn:
            conn.execute(statement.encode())


def close_incident(svc, inc, who, checker):  # type: ignore[no-untyped-def]
    """Take an incident through assessment, dispatch, a result by ``who`` and a check by ``checker``."""
    for action, fields in (
        ("assess", {}),
        ("dispatch", {"team_id": inc.team_id, "outcome": "simple"}),
        ("submit", {"result": "已整改"}),
        ("verify", {"result": "pass"}),
    ):
        inc = svc.act(
            checker if action == "verify" else who, inc.id, action, expected_version=inc.version, **fields
        )
    return inc


def picture(
    kind: str = "JPEG",
    size: tuple[int, int] = (32, 24),
    colour: str = "orange",
    gps: tuple[float, float] | None = None,
) -> bytes:
    """A small real picture (JPEG, PNG or WEBP) for evidence tests, with a camera's GPS place if given."""
    import io

    from PIL import Image

    exif = Image.Exif()
    if gps is not None:  # as a phone writes it: degrees, minutes, seconds and a hemisphere

        def dms(value: float) -> tuple[float, float, float]:
            d, rest = divmod(abs(value) * 3600, 3600)
            return (d, *divmod(rest, 60))

        exif[0x8825] = {
            1: "N" if gps[0] >= 0 else "S",
            2: dms(gps[0]),
            3: "E" if gps[1] >= 0 else "W",
            4: dms(gps[1]),
        }
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, kind, exif=exif.tobytes())
    return out.getvalue()
