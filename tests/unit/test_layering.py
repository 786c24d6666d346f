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
    # common.py opens the store of the session (as the session's district) and streamlit_app.py
    # names its error; api/app.py is handed the store it serves and names the evidence row it
    # serialises; nobody else reaches the store
    allowed = {
        "common.py": {"store", "store.district_view"},
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


def test_no_page_holds_the_store_it_reads_through_the_services_and_patrol_reads():
    # only common.py opens the session's store, to build the services and the read models from it
    offenders = {}
    for p in sorted((ROOT / "app_pages").glob("*.py")):
        if p.name == "common.py":
            continue
        tree = ast.parse(p.read_text(encoding="utf-8"))
        names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
        attributes = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
        reached = (names & {"get_store", "store", "open_store"}) | (attributes & {"store", "_store"})
        if reached:
            offenders[p.name] = reached
    assert offenders == {}


def test_the_captains_township_rule_is_written_once_in_permissions():
    import re

    compares = re.compile(r"[!=]=\s*who\.township_code|who\.township_code\s*[!=]=")
    places = {
        f"{p.parent.name}/{p.name}:{n}"
        for folder in ("patrol", "api", "app_pages")
        for p in sorted((ROOT / folder).glob("*.py"))
        for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), start=1)
        if compares.search(line)
    }
    assert len(places) == 1 and next(iter(places)).startswith("patrol/permissions.py:"), places


def test_no_arrow_runs_up_from_the_layers_to_an_entry_or_the_demo_and_benchmark_clients():
    # geo, store, the domain and services, the layers and the API are imported by the entries
    # (app, command line, API) and by the demo generators and the benchmarks, never the other way
    above = {"data", "bench", "cli", "app_pages", "streamlit_app", "serve"}
    offenders = {}
    for folder in ("geo", "store", "patrol", "layers", "api"):
        for p in sorted((ROOT / folder).glob("*.py")):
            reached = {m.split(".")[0] for m in _imports(p)} & above
            if reached:
                offenders[f"{folder}/{p.name}"] = reached
    assert offenders == {}


def test_the_command_line_is_an_entry_package_of_modules_readable_in_one_sitting():
    assert not (ROOT / "patrol" / "cli.py").exists()
    sizes = {p.name: len(p.read_text(encoding="utf-8").splitlines()) for p in (ROOT / "cli").glob("*.py")}
    assert sizes and max(sizes.values()) <= 600, sizes


def _runtime_imports(path: Path, modules: set[str]) -> set[str]:
    """The project modules ``path`` imports when it runs (deferred imports included, not those
    made for type checking only)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    typing_only = {
        id(n)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING"
        for b in node.body
        for n in ast.walk(b)
    }
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
    return found & modules


def test_no_import_circle_even_through_deferred_imports():
    from graphlib import CycleError, TopologicalSorter

    files = {
        (f"{p.parent.name}.{p.stem}" if p.stem != "__init__" else p.parent.name): p
        for folder in ("geo", "store", "patrol", "layers", "api", "cli", "data")
        for p in (ROOT / folder).glob("*.py")
    }
    graph = {name: _runtime_imports(p, set(files)) - {name} for name, p in files.items()}
    try:
        TopologicalSorter(graph).prepare()
    except CycleError as exc:
        raise AssertionError(f"import circle: {' → '.join(exc.args[1])}") from None


def test_h3_is_reached_only_through_geo():
    offenders = {
        f"{folder}/{p.name}"
        for folder in ("patrol", "store", "layers", "api", "cli", "data", "app_pages")
        for p in sorted((ROOT / folder).glob("*.py"))
        if any(m == "h3" or m.startswith("h3.") for m in _imports(p))
    }
    assert offenders == set()


def _methods_defined(path: Path, class_name: str) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    (cls,) = (n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == class_name)
    return {n.name for n in cls.body if isinstance(n, ast.FunctionDef)}


def test_the_two_backends_write_only_what_their_engines_do_differently():
    # every query is written once (store/areas.py, incidents.py, people.py, patrols.py, api.py,
    # evidence.py, scores.py); a backend keeps its connections, migrations, bulk insert of
    # incidents and the hooks the shared queries use
    sqlite = _methods_defined(ROOT / "store" / "sqlite.py", "SQLiteStore")
    postgis = _methods_defined(ROOT / "store" / "postgis.py", "PostGISStore")
    engine_specific = {"close", "migrate", "applied_migrations", "insert_incidents"}
    assert {m for m in sqlite & postgis if not m.startswith("_")} == engine_specific


def test_no_module_is_longer_than_one_sitting():
    folders = ("store", "patrol", "geo", "layers", "api", "cli", "app_pages", "data", "bench")
    sizes = {
        str(p.relative_to(ROOT)): len(p.read_text(encoding="utf-8").splitlines())
        for folder in folders
        for p in (ROOT / folder).rglob("*.py")
    }
    assert {p: n for p, n in sizes.items() if n > 620} == {}


def test_the_time_zone_is_written_once_with_the_working_days():
    folders = ("store", "patrol", "geo", "layers", "api", "cli", "app_pages", "data", "bench")
    files = [p for folder in folders for p in (ROOT / folder).rglob("*.py")]
    files += [ROOT / "streamlit_app.py", ROOT / "serve.py"]
    naming = {
        str(p.relative_to(ROOT))
        for p in files
        if any(
            z in p.read_text(encoding="utf-8") for z in ("Asia/Shanghai", "ZoneInfo(", "timezone(timedelta(")
        )
    }
    assert naming == {"patrol/workdays.py"}


def test_no_service_exposes_its_store_and_nobody_reaches_into_another_objects_store():
    # a service keeps its store to itself (``self._store``); the importer, the exporter, the
    # dossier, Open311, the evidence service and the demo call service methods instead
    offenders: dict[str, set[str]] = {}
    for package in ("patrol", "api", "cli", "data", "bench", "layers", "app_pages"):
        for p in sorted((ROOT / package).glob("*.py")):
            tree = ast.parse(p.read_text(encoding="utf-8"))
            for n in ast.walk(tree):
                if not isinstance(n, ast.Attribute):
                    continue
                owner = n.value.id if isinstance(n.value, ast.Name) else ast.unparse(n.value)
                if n.attr == "store" or (n.attr == "_store" and owner != "self"):
                    offenders.setdefault(f"{package}/{p.name}", set()).add(f"{owner}.{n.attr}")
    assert offenders == {}


def test_the_demo_generators_are_clients_of_the_services_and_call_no_store_method():
    # they hand the store to the services (and to patrol's area functions) and read the
    # district through its context: the demo goes in as any import would
    offenders: dict[str, set[str]] = {}
    for p in sorted((ROOT / "data").glob("demo_*.py")):
        tree = ast.parse(p.read_text(encoding="utf-8"))
        for n in ast.walk(tree):
            f = n.func if isinstance(n, ast.Call) else None
            if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and f.value.id == "store":
                offenders.setdefault(p.name, set()).add(f.attr)
    assert offenders == {}


def test_what_the_pages_import_from_the_domain_returns_typed_read_models_not_loose_dicts():
    # the published rulebook is JSON by design (the API serves the same document)
    published = {"rulebook"}
    loose = {}
    for page in [*sorted((ROOT / "app_pages").glob("*.py")), ROOT / "streamlit_app.py"]:
        for node in ast.walk(ast.parse(page.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("patrol.")):
                continue
            source = ROOT / (node.module.replace(".", "/") + ".py")
            functions = {
                f.name: f
                for f in ast.parse(source.read_text(encoding="utf-8")).body
                if isinstance(f, ast.FunctionDef)
            }
            for alias in node.names:
                f = functions.get(alias.name)
                if f is not None and f.returns is not None and alias.name not in published:
                    if "dict[str, Any]" in ast.unparse(f.returns):
                        loose[f"{page.name}: {node.module}.{alias.name}"] = ast.unparse(f.returns)
    assert loose == {}
