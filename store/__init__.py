"""Persistence behind one protocol: SQLite (embedded default) or PostGIS.

``GRIDPATROL_DB`` selects the backend: unset → a SQLite file in the user's data
directory; ``postgresql://…`` → PostGIS; ``sqlite:///path`` or a bare path → SQLite.
"""

from __future__ import annotations

import os
from pathlib import Path

from store.protocol import Store, StoreError
from store.urls import redact_url

ENV_VAR = "GRIDPATROL_DB"

__all__ = ["ENV_VAR", "Store", "StoreError", "default_sqlite_path", "open_store", "redact_url", "resolve_url"]


def default_sqlite_path() -> Path:
    """Where the embedded store lives when nothing is configured."""
    from platformdirs import user_data_dir

    return Path(user_data_dir("gridpatrol", appauthor=False)) / "gridpatrol.sqlite"


def resolve_url(url: str | None = None) -> str:
    """Return the store URL: ``url``, else ``$GRIDPATROL_DB``, else the default SQLite file."""
    if url:
        return url
    env = os.environ.get(ENV_VAR, "").strip()
    if env:
        return env
    return f"sqlite:///{default_sqlite_path()}"


def open_store(url: str | None = None) -> Store:
    """Open (without migrating) the store named by ``url`` or the environment.

    Raises
    ------
    StoreError
        If the store cannot be reached or opened.
    """
    resolved = resolve_url(url)
    if resolved.startswith(("postgresql://", "postgres://")):
        from store.postgis import PostGISStore

        return PostGISStore(resolved)
    from store.sqlite import SQLiteStore, sqlite_path_from_url

    return SQLiteStore(sqlite_path_from_url(resolved))
