"""Offline tile packages: an MBTiles file or a z/x/y folder, as GIS departments hand them out.

The app serves the package itself (``serve.py`` mounts it at
``/tiles/{z}/{x}/{y}``), so a map on a network cut off from the internet still has a
basemap. Only integers reach the file system: a request cannot name a path.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

TILE_ROUTE = "/tiles/{z}/{x}/{y}"


def tile_route(base_url_path: str = "") -> str:
    """The tile route under the app's base path (``server.baseUrlPath``).

    A proxy that forwards only that path reaches the tiles too: ``gp`` → ``/gp/tiles/{z}/{x}/{y}``.
    """
    base = base_url_path.strip("/")
    return f"/{base}{TILE_ROUTE}" if base else TILE_ROUTE


_MEDIA = {"png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "webp": "image/webp"}
_MAGIC = ((b"\x89PNG", "image/png"), (b"\xff\xd8", "image/jpeg"), (b"RIFF", "image/webp"))


class TilePackageError(ValueError):
    """The configured tile package cannot be read (the message names the path and why)."""


@dataclass(frozen=True)
class TileInfo:
    """What the package says about itself (MBTiles metadata, or what a folder shows)."""

    name: str
    attribution: str
    min_zoom: int
    max_zoom: int
    bounds: tuple[float, float, float, float] | None  # (min_lng, min_lat, max_lng, max_lat)


class TilePackage:
    """Read tiles by XYZ (slippy-map) coordinates from an MBTiles file or a z/x/y folder."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path).expanduser()
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        if self.path.is_dir():
            self.kind = "folder"
            zooms = sorted(int(p.name) for p in self.path.iterdir() if p.is_dir() and p.name.isdigit())
            if not zooms:
                raise TilePackageError(f"{self.path}: no zoom folders (expected {{z}}/{{x}}/{{y}}.png)")
            self.info = TileInfo(self.path.name, "", zooms[0], zooms[-1], None)
        elif self.path.is_file():
            self.kind = "mbtiles"
            try:
                self._db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)
                meta = dict(self._db.execute("SELECT name, value FROM metadata").fetchall())
                zooms = self._db.execute("SELECT min(zoom_level), max(zoom_level) FROM tiles").fetchone()
            except sqlite3.DatabaseError as exc:
                raise TilePackageError(f"{self.path}: not an MBTiles file ({exc})") from exc
            if zooms[0] is None:
                raise TilePackageError(f"{self.path}: the MBTiles file holds no tiles")
            self.info = TileInfo(
                name=str(meta.get("name") or self.path.stem),
                attribution=str(meta.get("attribution") or ""),
                min_zoom=int(meta.get("minzoom") or zooms[0]),
                max_zoom=int(meta.get("maxzoom") or zooms[1]),
                bounds=_bounds(meta.get("bounds")),
            )
        else:
            raise TilePackageError(f"{self.path}: no such file or folder")

    def tile(self, z: int, x: int, y: int) -> tuple[bytes, str] | None:
        """The tile's bytes and media type, or None when the package does not hold it."""
        if z < 0 or x < 0 or y < 0 or x >= 1 << z or y >= 1 << z:
            return None
        if self._db is not None:
            with self._lock:  # MBTiles rows are TMS: y counts from the south
                row = self._db.execute(
                    "SELECT tile_data FROM tiles WHERE zoom_level=? AND tile_column=? AND tile_row=?",
                    (z, x, (1 << z) - 1 - y),
                ).fetchone()
            return None if row is None else (bytes(row[0]), _sniff(bytes(row[0])))
        for ext, media in _MEDIA.items():
            f = self.path / str(z) / str(x) / f"{y}.{ext}"
            if f.is_file():
                return f.read_bytes(), media
        return None


def _sniff(data: bytes) -> str:
    return next((media for magic, media in _MAGIC if data.startswith(magic)), "application/octet-stream")


def _bounds(text: str | None) -> tuple[float, float, float, float] | None:
    try:
        parts = tuple(float(v) for v in str(text).split(","))
    except ValueError:
        return None
    return parts if len(parts) == 4 else None  # type: ignore[return-value]


@lru_cache(maxsize=4)
def open_package(path: str) -> TilePackage:
    """The package at ``path``, opened once per process."""
    return TilePackage(path)


def configured_package() -> TilePackage | None:
    """The package named by ``GRIDPATROL_TILES``, or None when none is configured."""
    path = os.environ.get("GRIDPATROL_TILES", "").strip()
    return open_package(path) if path else None
