"""The server's start: what it imports and freezes before anyone signs in."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_warm_up_imports_what_the_pages_use_and_freezes_it_out_of_full_collections():
    # in a process of its own: a freeze here would hold the test session's objects for good
    probe = (
        "import gc, sys\n"
        "from app_pages.startup import warm_up\n"
        "frozen = warm_up()\n"
        "garbage = [[] for _ in range(1000)]\n"
        "assert warm_up() == frozen and gc.get_freeze_count() <= frozen  # once: later objects stay collectable\n"
        "wanted = ('esda', 'folium', 'geopandas', 'patrol.kpis', 'store.postgis', 'layers.base')\n"
        "print(frozen, gc.get_freeze_count(), *(m in sys.modules for m in wanted), 'streamlit' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True, timeout=300
    ).stdout.split()
    frozen, count, *imported, streamlit = out
    assert int(frozen) > 50_000 and int(count) > 50_000  # the libraries' objects, not a handful
    assert imported == ["True"] * 6
    assert streamlit == "False"  # its components are declared when the server runs the pages


def test_the_server_runs_the_warm_up_in_the_background_when_it_starts():
    tree = ast.parse((ROOT / "serve.py").read_text(encoding="utf-8"))
    lifespan = next(
        f for f in ast.walk(tree) if isinstance(f, ast.AsyncFunctionDef) and f.name == "_lifespan"
    )
    targets = [
        k.value.id
        for call in ast.walk(lifespan)
        if isinstance(call, ast.Call)
        for k in call.keywords
        if k.arg == "target" and isinstance(k.value, ast.Name)
    ]
    assert targets == ["warm_up"]
