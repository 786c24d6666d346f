"""The layers of DESIGN.md hold: pages and the API call services, never h3 or the store's engines."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def _entry_files() -> list[Path]:
    return [
        *sorted((ROOT / "app_pages").glob("*.py")),
        ROOT / "streamlit_app.py",
        *sorted((ROOT / "api").glob("*.py")),
    ]


def test_no_page_and_no_api_module_imports_h3():
    offenders = {p.name for p in _entry_files() if any(m == "h3" or m.startswith("h3.") for m in _imports(p))}
    assert offenders == set()


def test_pages_and_the_api_reach_the_store_only_for_the_connection():
    # common.py opens the store of the session and streamlit_app.py names its error; api/app.py is
    # handed the store it serves and names the evidence row it serialises; nobody else reaches the store
    allowed = {
        "common.py": {"store"},
        "streamlit_app.py": {"store"},
        "app.py": {"store.protocol", "store.rows"},
    }
    offenders = {}
    for p in _entry_files():
        reached = {m for m in _imports(p) if m == "store" or m.startswith("store.")}
        extra = reached - allowed.get(p.name, set())
        if extra:
            offenders[p.name] = extra
    assert offenders == {}


def test_geo_stays_pure_of_the_domain_the_store_and_the_interface():
    for p in sorted((ROOT / "geo").glob("*.py")):
        reached = {m.split(".")[0] for m in _imports(p)}
        assert not reached & {"patrol", "store", "streamlit", "layers", "app_pages", "api", "folium"}, p.name
