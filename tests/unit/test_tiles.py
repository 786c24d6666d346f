"""Offline tile packages: MBTiles and z/x/y folders read by slippy-map coordinates."""

from __future__ import annotations

from pathlib import Path

import pytest

from patrol.tiles import TilePackage, TilePackageError
from tests.conftest import make_tile_package


def test_an_mbtiles_package_returns_each_tile_by_xyz_although_it_stores_rows_from_the_south(
    tmp_path: Path,
) -> None:
    tiles = make_tile_package(tmp_path / "nanhu.mbtiles")
    package = TilePackage(tmp_path / "nanhu.mbtiles")
    for (z, x, y), data in list(tiles.items())[::7]:
        assert package.tile(z, x, y) == (data, "image/png")
    assert package.info.name == "南湖区测试底图"
    assert package.info.attribution == "测试瓦片"
    assert (package.info.min_zoom, package.info.max_zoom) == (8, 13)
    assert package.info.bounds == (120.65, 30.60, 120.98, 30.85)


def test_a_folder_package_returns_the_same_tiles_and_reads_its_zoom_range_from_the_folders(
    tmp_path: Path,
) -> None:
    tiles = make_tile_package(tmp_path / "tiles", zooms=range(10, 12), folder=True)
    package = TilePackage(tmp_path / "tiles")
    for (z, x, y), data in tiles.items():
        assert package.tile(z, x, y) == (data, "image/png")
    assert (package.info.min_zoom, package.info.max_zoom) == (10, 11)


@pytest.mark.parametrize("folder", [False, True])
def test_a_tile_outside_the_package_or_outside_the_world_is_none(tmp_path: Path, folder: bool) -> None:
    path = tmp_path / ("tiles" if folder else "t.mbtiles")
    make_tile_package(path, zooms=range(10, 11), folder=folder)
    package = TilePackage(path)
    assert package.tile(10, 0, 0) is None  # the other side of the world
    assert package.tile(10, 1024, 5) is None  # x beyond 2^10
    assert package.tile(3, -1, 2) is None
    assert package.tile(14, 13700, 6700) is None  # deeper than the package


def test_a_missing_path_an_empty_folder_and_a_file_that_is_not_mbtiles_are_refused_by_name(
    tmp_path: Path,
) -> None:
    with pytest.raises(TilePackageError, match="no such file"):
        TilePackage(tmp_path / "nowhere.mbtiles")
    (tmp_path / "empty").mkdir()
    with pytest.raises(TilePackageError, match="no zoom folders"):
        TilePackage(tmp_path / "empty")
    (tmp_path / "notes.mbtiles").write_text("not a database", encoding="utf-8")
    with pytest.raises(TilePackageError, match="not an MBTiles file"):
        TilePackage(tmp_path / "notes.mbtiles")
