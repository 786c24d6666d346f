"""Uploaded files in one managed folder: one file per content, removed after use or when stale.

Streamlit hands a page the upload's bytes on every rerun; the importers want a path. Saving
by content hash gives every rerun the same path (a page used to leave a new temporary
folder per rerun), and anything older than :data:`MAX_AGE` is swept at the next save.
``GRIDPATROL_UPLOAD_DIR`` moves the folder (default: the user's cache folder).
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

MAX_AGE = timedelta(hours=2)
_UNSAFE = re.compile(r"[^\w.\-]+")


def upload_dir() -> Path:
    """The managed upload folder (created on first use)."""
    from platformdirs import user_cache_dir

    folder = Path(os.environ.get("GRIDPATROL_UPLOAD_DIR") or Path(user_cache_dir("gridpatrol")) / "uploads")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def save_upload(name: str, data: bytes) -> Path:
    """Store an upload under its content hash, keeping its file name's suffix; sweep stale ones."""
    sweep()
    digest = hashlib.sha256(data).hexdigest()[:20]
    safe = _UNSAFE.sub("_", Path(name).name)[-80:] or "upload"
    path = upload_dir() / f"{digest}-{safe}"
    if not path.exists():
        partial = path.with_name(path.name + ".part")
        partial.write_bytes(data)
        partial.replace(path)
    else:
        path.touch()  # still in use: not stale
    return path


def discard(path: Path) -> None:
    """Remove an upload (and what an import wrote beside it) once it has been used."""
    for p in path.parent.glob(path.name + "*"):
        p.unlink(missing_ok=True)


def sweep(max_age: timedelta = MAX_AGE) -> int:
    """Remove uploads not touched for ``max_age``; return how many."""
    cutoff = time.time() - max_age.total_seconds()
    removed = 0
    for p in upload_dir().iterdir():
        try:
            if p.is_file() and p.stat().st_mtime < cutoff:
                p.unlink()
                removed += 1
        except FileNotFoundError:  # another session swept it first
            continue
    return removed


@contextmanager
def scratch_file(name: str) -> Iterator[Path]:
    """A path for a file written and read back at once (an export), removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="gridpatrol-", dir=upload_dir()) as folder:
        yield Path(folder) / Path(name).name
