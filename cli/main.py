"""The ``gridpatrol`` command line: set up the store, load areas, print figures.

Every command takes ``--db URL`` (else ``$GRIDPATROL_DB``, else the embedded SQLite
file). Errors go to stderr, one line, with exit status 2 for bad input and 1 for a
store that cannot be reached; never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from cli.api_cmds import cmd_api, cmd_api_keys, cmd_create_api_key, cmd_deliver, cmd_revoke_api_key
from cli.common import EXIT_BAD_INPUT, EXIT_STORE, CliError
from cli.figures import (
    cmd_coverage,
    cmd_evaluation,
    cmd_hotspots,
    cmd_kpis,
    cmd_patrol_plan,
    cmd_risk_backtest,
    cmd_scenarios,
    cmd_supervise,
    cmd_workflow,
)
from cli.store_cmds import (
    cmd_copy_store,
    cmd_create_user,
    cmd_demo,
    cmd_export,
    cmd_import_boundaries,
    cmd_import_incidents,
    cmd_info,
    cmd_init,
)
from geo.boundaries import BoundaryError
from geo.crs import CRS_NAMES
from geo.grid import DEFAULT_RESOLUTION
from patrol.catalog import CatalogError
from patrol.exporter import EXPORT_FORMATS
from patrol.i18n import LANGS
from patrol.incident import Source
from patrol.roles import ROLES
from store import StoreError


def _add_db(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--db", default=None, help="store URL (postgresql://… or sqlite:///path); default $GRIDPATROL_DB"
    )
    p.add_argument(
        "--district",
        default=None,
        metavar="CODE",
        help="the district (division code, e.g. 330402) of a store that holds several",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``gridpatrol``."""
    parser = argparse.ArgumentParser(prog="gridpatrol", description="GridPatrol 网格巡查 command line")
    sub = parser.add_subparsers(dest="command", required=True)
    commands: dict[str, tuple[Callable[[argparse.Namespace], int], str]] = {
        "init": (cmd_init, "create or migrate the store"),
        "demo": (cmd_demo, "load the demo of a Jiaxing district, Nanhu unless --district (演示数据)"),
        "import-boundaries": (cmd_import_boundaries, "validate and load township or village boundaries"),
        "info": (cmd_info, "print key figures as key: value lines"),
        "import-incidents": (cmd_import_incidents, "import incidents from CSV, XLSX or GeoJSON"),
        "export": (cmd_export, "export incidents (csv, geojson, gpkg, open311)"),
        "kpis": (cmd_kpis, "KPIs of a month per township, team or item (ranked)"),
        "evaluation": (
            cmd_evaluation,
            "publish, show or compare a period's evaluation (月晾晒, quarter, year)",
        ),
        "hotspots": (cmd_hotspots, "Getis-Ord Gi* hot spots over H3 cells"),
        "create-user": (
            cmd_create_user,
            "create a user, e.g. the first admin (password from a prompt or stdin)",
        ),
        "coverage": (cmd_coverage, "patrol coverage per team for a week; cells not patrolled for N days"),
        "patrol-plan": (cmd_patrol_plan, "plan a team's patrol route for a shift (GPX, GeoJSON)"),
        "risk-backtest": (cmd_risk_backtest, "hit rate of the risk ranking against last week's counts"),
        "scenarios": (cmd_scenarios, 'evidence per "一件事" theme: volume, trend, concentration, backtest'),
        "copy-store": (cmd_copy_store, "copy a whole store to an empty one (SQLite <-> PostGIS), verified"),
        "supervise": (
            cmd_supervise,
            "raise 督办 on overdue cases as lateness calls for, in every district unless --district (cron)",
        ),
        "workflow": (
            cmd_workflow,
            "the published rulebook: transitions, who may take them, approvals, limits",
        ),
        "api": (cmd_api, "serve the HTTP API: Open311 GeoReport v2 and the workflow (/docs)"),
        "create-api-key": (cmd_create_api_key, "make an API client and print its key once"),
        "revoke-api-key": (cmd_revoke_api_key, "revoke an API client's key"),
        "api-keys": (cmd_api_keys, "list API clients"),
        "deliver": (cmd_deliver, "deliver queued status changes to clients' webhooks once"),
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
    demo.add_argument(
        "--incidents", type=int, default=20_000, help="demo incidents to generate (default 20000)"
    )
    demo.add_argument("--end", default=None, help="last day of the demo year, YYYY-MM-DD (default today)")
    ii = parsers["import-incidents"]
    ii.add_argument("file", help="CSV, XLSX or GeoJSON")
    ii.add_argument("--mapping", default=None, help="mapping TOML file or preset name (hotline12345)")
    ii.add_argument(
        "--crs", choices=CRS_NAMES, default=None, help="coordinate system (overrides the mapping)"
    )
    ii.add_argument("--rejects", default=None, help="where to write refused rows (default FILE.rejects.csv)")
    kp = parsers["kpis"]
    kp.add_argument("--month", required=True, help="YYYY-MM")
    kp.add_argument("--by", choices=["township", "team", "item"], default="township")
    kp.add_argument("--format", choices=["table", "json", "csv"], default="table")
    ev = parsers["evaluation"]
    ev.add_argument("action", choices=["publish", "show", "diff"])
    ev.add_argument("--period", required=True, help="2026-11 (month), 2026-Q4, 2026-H2 or 2026")
    ev.add_argument("--reason", default=None, help="publish: why a published period is published again")
    ev.add_argument(
        "--by",
        choices=["township", "team", "item", "all", "composite", "composite_items", "classes"],
        default="township",
        help="a KPI grouping, the composite (综合评价: summary, sub-items) or the figures per class",
    )
    ev.add_argument("--version", type=int, default=None, help="show: this version (default the newest)")
    ev.add_argument("--old", type=int, default=None, help="diff: the older version (default the one before)")
    ev.add_argument("--new", type=int, default=None, help="diff: the newer version (default the newest)")
    ev.add_argument("--format", choices=["table", "json", "csv"], default="table")
    hs = parsers["hotspots"]
    hs.add_argument("--item", default=None, help="one enforcement item code")
    hs.add_argument("--res", type=int, default=9, help="H3 resolution of the analysis (default 9)")
    hs.add_argument("--k", type=int, default=1, help="k-ring radius of the neighbourhood (default 1)")
    hs.add_argument("--days", type=int, default=90, help="time window in days (default 90)")
    hs.add_argument("--all", action="store_true", help="include cells that are not significant")
    hs.add_argument("--measure", choices=["count", "share"], default="count",
                    help="count, or the item's share of all incidents in the cell (a rate)")  # fmt: skip
    hs.add_argument("--format", choices=["geojson", "json"], default="geojson")
    parsers["scenarios"].add_argument("--format", choices=["table", "json"], default="table")
    parsers["workflow"].add_argument("--format", choices=["table", "json"], default="table")
    pp = parsers["patrol-plan"]
    pp.add_argument("--team", type=int, required=True, help="team id")
    pp.add_argument("--start", required=True, help="shift start, local time, e.g. '2026-11-28 08:00'")
    pp.add_argument("--hours", type=float, default=4.0)
    pp.add_argument("--mode", choices=["walk", "ebike", "car"], default="walk")
    pp.add_argument("--minutes-per-stop", type=float, default=10.0)
    pp.add_argument("--max-stops", type=int, default=20)
    pp.add_argument("--gpx", default=None, help="write the route as GPX")
    pp.add_argument("--geojson", default=None, help="write the route as GeoJSON")
    parsers["risk-backtest"].add_argument("--weeks", type=int, default=8)
    api = parsers["api"]
    api.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    api.add_argument("--port", type=int, default=8502, help="port (default 8502)")
    api.add_argument("--keys-only", action="store_true", help="refuse reading requests without an api_key")
    api.add_argument(
        "--deliver-every", type=float, default=5.0, help="seconds between webhook rounds (0: none)"
    )
    api.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    key = parsers["create-api-key"]
    key.add_argument("name", help="the client's name, e.g. hotline-12345")
    key.add_argument("--role", required=True, choices=list(ROLES))
    key.add_argument("--township", default=None, help="township code (captain role)")
    key.add_argument("--team", type=int, default=None, help="team id (inspector or grid_member role)")
    key.add_argument("--department", default=None, help="department code (liaison role)")
    key.add_argument(
        "--source", default="hotline_12345", choices=[s.value for s in Source],
        help="the channel its reports count as (default hotline_12345)",
    )  # fmt: skip
    key.add_argument(
        "--crs", default="wgs84", choices=list(CRS_NAMES), help="coordinate system of its points"
    )
    key.add_argument("--webhook", default=None, help="http(s) address to post status changes to")
    key.add_argument("--rate", type=int, default=600, help="requests a minute (default 600)")
    parsers["revoke-api-key"].add_argument("name")
    cu = parsers["create-user"]
    cu.add_argument("username")
    cu.add_argument(
        "--role",
        required=True,
        choices=list(ROLES),
    )
    cu.add_argument("--display-name", default=None)
    cu.add_argument("--township", default=None, help="township code (captains)")
    cu.add_argument("--team", type=int, default=None, help="team id (inspector or grid_member role)")
    cu.add_argument("--department", default=None, help="department code (liaisons)")
    cu.add_argument(
        "--password-stdin", action="store_true", help="read the password from the first line of stdin"
    )
    cv = parsers["coverage"]
    cv.add_argument("--week", default=None, help="ISO week, e.g. 2026-W47 (default: this week)")
    cv.add_argument("--township", default=None, help="one township code (default: all)")
    cv.add_argument("--stale-days", type=int, default=14, help="count cells not patrolled for this many days")
    cv.add_argument("--csv", default=None, help="write the per-team table as CSV")
    cp = parsers["copy-store"]
    cp.add_argument("source", help="URL of the store to copy (sqlite:///file.sqlite or postgresql://…)")
    cp.add_argument("target", help="URL of an empty store to copy into")
    ex = parsers["export"]
    ex.add_argument(
        "--format",
        required=True,
        choices=list(EXPORT_FORMATS),
        help="table: a CSV to read, in words (--lang); csv: every stored field, to move into another store",
    )
    ex.add_argument("--lang", choices=list(LANGS), default="zh", help="language of a table export")
    ex.add_argument("--out", required=True, help="output file")
    ex.add_argument(
        "--with-personal-data",
        action="store_true",
        help="include reporters' names and phone numbers unmasked (masked by default)",
    )
    ib = parsers["import-boundaries"]
    ib.add_argument("file", help="GeoJSON, GeoPackage, zipped Shapefile or KML")
    ib.add_argument("--level", required=True, choices=["township", "village"])
    ib.add_argument(
        "--crs", choices=CRS_NAMES, default=None, help="coordinate system when the file cannot say it"
    )
    ib.add_argument("--name-field", default=None)
    ib.add_argument("--code-field", default=None)
    ib.add_argument("--parent-field", default=None, help="villages: attribute holding the township code")
    ib.add_argument("--district-code", dest="district", default=None, help="the same as --district")
    ib.add_argument("--district-name", default=None)
    ib.add_argument("--res", type=int, default=None, help="H3 resolution of the cell map")
    ib.add_argument(
        "--dry-run", action="store_true", help="validate and report only (with the effect on stored rows)"
    )
    ib.add_argument(
        "--code-map",
        default=None,
        help="CSV old_code,new_code: re-point incidents, users, patrols and premises from removed codes",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result: int = args.func(args)
        sys.stdout.flush()
    except BrokenPipeError:
        # the reader went away (``gridpatrol kpis | head``): stop quietly, as other tools do
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except (CliError, BoundaryError, FileNotFoundError, CatalogError) as exc:
        sys.stderr.write(f"gridpatrol: error: {exc}\n")
        return EXIT_BAD_INPUT
    except StoreError as exc:
        sys.stderr.write(f"gridpatrol: store error: {exc}\n")
        return EXIT_STORE
    return result


if __name__ == "__main__":
    raise SystemExit(main())
