"""The ``gridpatrol`` command line: set up the store, load areas, print figures.

Every command takes ``--db URL`` (else ``$GRIDPATROL_DB``, else the embedded SQLite
file). Errors go to stderr, one line, with exit status 2 for bad input and 1 for a
store that cannot be reached; never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any

from geo.boundaries import BoundaryError
from geo.crs import CRS_NAMES
from geo.grid import DEFAULT_RESOLUTION
from store import StoreError, open_store
from store.protocol import Store

EXIT_BAD_INPUT = 2
EXIT_STORE = 1


class CliError(Exception):
    """Bad input from the command line; printed as one line, exit status 2."""


def _open(args: argparse.Namespace) -> Store:
    store = open_store(args.db)
    store.migrate()
    return store


def _print_kv(pairs: dict[str, Any]) -> None:
    for key, value in pairs.items():
        sys.stdout.write(f"{key}: {value}\n")


def cmd_init(args: argparse.Namespace) -> int:
    """Create or migrate the store."""
    store = open_store(args.db)
    try:
        applied = store.migrate()
        _print_kv(
            {
                "store": store.url,
                "migrations_applied": len(applied),
                "schema": ",".join(store.applied_migrations()),
            }
        )
    finally:
        store.close()
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """Load the Nanhu demo district."""
    from data.demo_district import DEMO_NOTICE_EN, DEMO_NOTICE_ZH
    from patrol.areas import district_info, load_demo_district

    store = _open(args)
    try:
        if args.if_empty and store.district() is not None:
            sys.stdout.write("store already holds a district; nothing loaded (--if-empty)\n")
            return 0
        load_demo_district(store, seed=args.seed, res=args.res)
        sys.stdout.write(f"{DEMO_NOTICE_ZH}\n{DEMO_NOTICE_EN}\n")
        _print_kv(district_info(store))
    finally:
        store.close()
    return 0


def cmd_import_boundaries(args: argparse.Namespace) -> int:
    """Validate a boundary file and load it."""
    from patrol.areas import import_boundaries

    store = _open(args)
    try:
        try:
            result = import_boundaries(
                store,
                args.file,
                args.level,
                crs=args.crs,
                name_field=args.name_field,
                code_field=args.code_field,
                parent_field=args.parent_field,
                district_code=args.district_code,
                district_name=args.district_name,
                res=args.res,
                dry_run=args.dry_run,
            )
        except ValueError as exc:  # BoundaryError is a ValueError
            raise CliError(str(exc)) from exc
        report = result.report
        sys.stdout.write(f"features: {report.n_features}\nproblems: {len(report.problems)}\n")
        for p in report.problems:
            area = f" [{p.area_m2:,.0f} m²]" if p.area_m2 is not None else ""
            sys.stdout.write(f"  {p.kind}: {p.feature}: {p.message}{area}\n")
        sys.stdout.write(f"saved: {'yes' if result.saved else 'no (dry run)'}\n")
        _print_kv(result.counts)
    finally:
        store.close()
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    """Print key figures as ``key: value`` lines."""
    from patrol.areas import district_info

    store = _open(args)
    try:
        _print_kv(district_info(store))
    finally:
        store.close()
    return 0


def _add_db(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--db", default=None, help="store URL (postgresql://… or sqlite:///path); default $GRIDPATROL_DB"
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``gridpatrol``."""
    parser = argparse.ArgumentParser(prog="gridpatrol", description="GridPatrol 网格巡查 command line")
    sub = parser.add_subparsers(dest="command", required=True)
    commands: dict[str, tuple[Callable[[argparse.Namespace], int], str]] = {
        "init": (cmd_init, "create or migrate the store"),
        "demo": (cmd_demo, "load the Nanhu demo district (演示数据)"),
        "import-boundaries": (cmd_import_boundaries, "validate and load township or village boundaries"),
        "info": (cmd_info, "print key figures as key: value lines"),
    }
    parsers = {}
    for name, (func, text) in commands.items():
        p = sub.add_parser(name, help=text, description=text)
        _add_db(p)
        p.set_defaults(func=func)
        parsers[name] = p
    demo = parsers["demo"]
    demo.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    demo.add_argument("--res", type=int, default=DEFAULT_RESOLUTION, help="H3 resolution of the cell map")
    demo.add_argument("--if-empty", action="store_true", help="do nothing if a district is already loaded")
    ib = parsers["import-boundaries"]
    ib.add_argument("file", help="GeoJSON, GeoPackage, zipped Shapefile or KML")
    ib.add_argument("--level", required=True, choices=["township", "village"])
    ib.add_argument(
        "--crs", choices=CRS_NAMES, default=None, help="coordinate system when the file cannot say it"
    )
    ib.add_argument("--name-field", default=None)
    ib.add_argument("--code-field", default=None)
    ib.add_argument("--parent-field", default=None, help="villages: attribute holding the township code")
    ib.add_argument("--district-code", default=None)
    ib.add_argument("--district-name", default=None)
    ib.add_argument("--res", type=int, default=None, help="H3 resolution of the cell map")
    ib.add_argument("--dry-run", action="store_true", help="validate and report only")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result: int = args.func(args)
    except (CliError, BoundaryError, FileNotFoundError) as exc:
        sys.stderr.write(f"gridpatrol: error: {exc}\n")
        return EXIT_BAD_INPUT
    except StoreError as exc:
        sys.stderr.write(f"gridpatrol: store error: {exc}\n")
        return EXIT_STORE
    return result


if __name__ == "__main__":
    raise SystemExit(main())
