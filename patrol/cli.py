"""The ``gridpatrol`` command line: set up the store, load areas, print figures.

Every command takes ``--db URL`` (else ``$GRIDPATROL_DB``, else the embedded SQLite
file). Errors go to stderr, one line, with exit status 2 for bad input and 1 for a
store that cannot be reached; never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from geo.boundaries import BoundaryError
from geo.crs import CRS_NAMES
from geo.grid import DEFAULT_RESOLUTION
from patrol.catalog import CatalogError
from patrol.exporter import EXPORT_FORMATS
from patrol.i18n import LANGS
from patrol.incident import Source
from patrol.roles import ROLES, Principal
from patrol.spreadsheet import write_csv
from patrol.workdays import LOCAL_TZ, LOCAL_TZ_NAME
from store import StoreError, open_store, redact_url
from store.protocol import Store
from store.rows import IncidentQuery

EXIT_BAD_INPUT = 2
EXIT_STORE = 1


class CliError(Exception):
    """Bad input from the command line; printed as one line, exit status 2."""


def _open(args: argparse.Namespace) -> Store:
    store = open_store(args.db)
    store.migrate()
    return store


@contextmanager
def _opened(args: argparse.Namespace) -> Iterator[Store]:
    """The migrated store of ``--db``, closed afterwards whatever happens."""
    store = _open(args)
    try:
        yield store
    finally:
        store.close()


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
                "store": redact_url(store.url),
                "migrations_applied": len(applied),
                "schema": ",".join(store.applied_migrations()),
            }
        )
    finally:
        store.close()
    return 0


def _progress(label: str) -> Callable[[int, int], None]:
    def report(done: int, total: int) -> None:
        sys.stderr.write(f"{label}: {done:,}/{total:,}\n")
        sys.stderr.flush()

    return report


def _parse_day(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError as exc:
        msg = f"--end must be a date like 2026-11-27, got {text!r}"
        raise CliError(msg) from exc
    return datetime(day.year, day.month, day.day, tzinfo=LOCAL_TZ)


def _local_midnight() -> datetime:
    now = datetime.now(LOCAL_TZ)
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def _operator() -> Principal:
    """Whoever runs the command line on the server: an admin, named by their system account."""
    import getpass

    try:
        name = getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a container)
        name = "unknown"
    return Principal(f"cli:{name}", "admin")


def cmd_demo(args: argparse.Namespace) -> int:
    """Load the Nanhu demo district and a year of demo incidents."""
    from data.demo_district import DEMO_NOTICE_EN, DEMO_NOTICE_ZH
    from data.demo_evaluations import publish_demo_evaluations
    from data.demo_incidents import generate_demo_incidents
    from data.demo_patrols import generate_demo_patrols
    from data.demo_users import DEMO_PASSWORD, create_demo_users
    from patrol.areas import load_demo_district
    from patrol.incidents import IncidentService

    if args.incidents < 0:
        raise CliError(f"--incidents must be 0 or more, got {args.incidents}")
    end = _parse_day(args.end)
    with _opened(args) as store:
        district = store.district()
        has_users = bool(store.users())
        if args.if_empty and (district is not None or has_users):
            what = "a district" if district is not None else "users"
            sys.stdout.write(f"store already holds {what}; nothing loaded (--if-empty)\n")
            if district is not None and district.is_demo and not has_users:
                # a demo store from before sign-in existed
                users = create_demo_users(store)
                sys.stdout.write(f"demo users: {len(users)} (password {DEMO_PASSWORD!r}; see README)\n")
            return 0
        if has_users:
            # demo accounts share a published password: never beside real ones
            raise CliError("the store already has users; use a new store (--db) for the demo")
        if store.count_incidents(IncidentQuery(limit=1)) > 0:
            raise CliError("the store already holds incidents; use a new store (--db) for the demo")
        load_demo_district(store, seed=args.seed, res=args.res)
        if args.incidents:
            svc = IncidentService(store)
            generate_demo_incidents(
                svc, args.incidents, seed=args.seed, end=end, progress=_progress("incidents")
            )
        users = create_demo_users(store)
        sys.stdout.write(f"demo users: {len(users)} (password {DEMO_PASSWORD!r}; see README)\n")
        patrols = generate_demo_patrols(store, seed=args.seed, end=end or _local_midnight())
        sys.stdout.write(
            f"demo patrols: {patrols.tasks} tasks, {patrols.visits} covered cells,"
            f" {patrols.premises} premises,"
            f" {patrols.inspections} inspections\n"
        )
        if args.incidents:  # published last: the composite reads the joint inspections
            published = publish_demo_evaluations(
                store, end or _local_midnight(), seed=args.seed, progress=_progress("evaluations")
            )
            sys.stdout.write(f"demo evaluations published: {len(published)} ({', '.join(published)})\n")
        sys.stdout.write(f"{DEMO_NOTICE_ZH}\n{DEMO_NOTICE_EN}\n")
        _print_kv(_full_info(store))
    return 0


def cmd_import_incidents(args: argparse.Namespace) -> int:
    """Import incidents from CSV, XLSX or GeoJSON."""
    from patrol.importer import IncidentImportError, import_incidents, load_mapping
    from patrol.incidents import IncidentService

    with _opened(args) as store:
        try:
            mapping = load_mapping(args.mapping)
            svc = IncidentService(store)
            report = import_incidents(
                svc, _operator(), args.file, mapping=mapping, crs=args.crs, progress=_progress("imported")
            )
        except (IncidentImportError, ValueError) as exc:
            raise CliError(str(exc)) from exc
        rejects = Path(args.rejects or f"{args.file}.rejects.csv")
        if report.rejected:
            report.write_rejects(rejects)
        _print_kv(
            {
                "rows": report.total,
                "accepted": report.accepted,
                "skipped_already_imported": report.skipped_existing,
                "rejected": len(report.rejected),
                "suspected_duplicates": report.duplicates_flagged,
                "rejects_file": str(rejects) if report.rejected else "",
            }
        )
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """Export incidents."""
    from patrol.exporter import export_incidents
    from patrol.incidents import IncidentService

    with _opened(args) as store:
        n = export_incidents(
            IncidentService(store), _operator(), args.out, args.format,
            personal_data=args.with_personal_data, lang=args.lang,
        )  # fmt: skip
        _print_kv({"format": args.format, "incidents": n, "file": args.out})
    return 0


def _copy_progress(what: str, n: int) -> None:
    sys.stderr.write(f"{what}: {n:,}\r")


def cmd_copy_store(args: argparse.Namespace) -> int:
    """Copy a whole store into an empty one and verify it by counts and content hashes."""
    from patrol.portability import CopyError, copy_store

    src = open_store(args.source)
    try:
        src.migrate()
        dst = open_store(args.target)
        try:
            report = copy_store(src, dst, progress=_copy_progress)
        except CopyError as exc:
            raise CliError(str(exc)) from exc
        finally:
            dst.close()
    finally:
        src.close()
    sys.stderr.write("\n")
    _print_kv({"source": redact_url(args.source), "target": redact_url(args.target)})
    _print_kv({table: f"{n} rows, sha256 {digest}" for table, (n, digest) in report.target.items()})
    _print_kv({"verified": "identical counts and content hashes"})
    return 0


def cmd_import_boundaries(args: argparse.Namespace) -> int:
    """Validate a boundary file and load it."""
    from patrol.areas import import_boundaries, read_code_map

    with _opened(args) as store:
        try:
            code_map = read_code_map(args.code_map) if args.code_map else None
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
                who=_operator(),
                code_map=code_map,
            )
        except ValueError as exc:  # BoundaryError and OrphaningImportError are ValueErrors
            raise CliError(str(exc)) from exc
        report = result.report
        sys.stdout.write(f"features: {report.n_features}\nproblems: {len(report.problems)}\n")
        for p in report.problems:
            area = f" [{p.area_m2:,.0f} m²]" if p.area_m2 is not None else ""
            sys.stdout.write(f"  {p.kind}: {p.feature}: {p.message}{area}\n")
        sys.stdout.write(f"saved: {'yes' if result.saved else 'no (dry run)'}\n")
        if result.effect is not None:
            _print_kv({f"orphaned_{kind}": n for kind, n in result.effect.orphans.items()})
            _print_kv({"codes_removed": len(result.effect.removed), "codes_remapped": result.effect.remapped})
        _print_kv(result.counts)
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    """Print key figures as ``key: value`` lines."""
    with _opened(args) as store:
        _print_kv(_full_info(store))
    return 0


def _full_info(store: Store) -> dict[str, Any]:
    from patrol.areas import district_info
    from patrol.incident import State

    info = district_info(store)
    states = store.state_counts()
    info["incidents"] = sum(states.values())
    for state in State:
        info[f"state_{state.value}"] = states.get(state.value, 0)
    return info


def cmd_kpis(args: argparse.Namespace) -> int:
    """KPIs of one month per township, team or item."""
    import json
    from datetime import UTC, datetime

    from patrol.kpis import KPI_COLUMNS, month_kpis

    with _opened(args) as store:
        try:
            table = month_kpis(store, args.month, args.by, datetime.now(UTC))
        except ValueError as exc:
            raise CliError(str(exc)) from exc
    columns = ["group", "rank", *KPI_COLUMNS]
    table = table[columns]
    if args.format == "json":
        records = json.loads(table.to_json(orient="records", force_ascii=False))
        sys.stdout.write(
            json.dumps({"month": args.month, "by": args.by, "rows": records}, ensure_ascii=False, indent=1)
            + "\n"
        )
    elif args.format == "csv":
        write_csv(table, sys.stdout)
    else:
        sys.stdout.write(table.to_string(index=False, float_format=lambda v: f"{v:.3f}") + "\n")
    return 0


def cmd_evaluation(args: argparse.Namespace) -> int:
    """Publish, show or compare the evaluation of a period (月晾晒, quarter, half-year, year)."""
    import json

    from patrol.evaluation import COMPOSITE_TABLES, EvaluationService
    from patrol.kpis import KPI_COLUMNS
    from patrol.refusals import Refusal

    who = Principal(_operator().name, "command_center")  # the server's operator acts for the command centre
    with _opened(args) as store:
        svc = EvaluationService(store)
        try:
            if args.action == "publish":
                ev = svc.publish(who, args.period, args.reason or "")
                sys.stdout.write(
                    f"published {ev.period.code} version {ev.version}: {ev.received} incidents,"
                    f" inputs {ev.inputs_hash[:12]}\n"
                )
                return 0
            versions = svc.versions(who, args.period)
            if not versions:
                raise CliError(f"{args.period} is not published (gridpatrol evaluation publish --period …)")
            by = None if args.by == "all" else args.by
            if args.action == "diff":
                old = args.old if args.old is not None else (versions[-2].version if len(versions) > 1 else 1)
                new = args.new if args.new is not None else versions[-1].version
                table = svc.diff(who, args.period, old, new, by)
                head = {"period": versions[0].period.code, "old": old, "new": new, "by": args.by}
            else:
                chosen = [e for e in versions if args.version in (None, e.version)]
                if not chosen:
                    raise CliError(f"{args.period} has no version {args.version}")
                ev = chosen[-1]
                table = ev.table(by)
                if by not in COMPOSITE_TABLES:
                    table = table[["group", "rank", *KPI_COLUMNS]]
                head = {
                    "period": ev.period.code, "version": ev.version, "by": args.by,
                    "published_at": ev.published_at.isoformat(), "published_by": ev.published_by,
                    "reason": ev.reason, "inputs_hash": ev.inputs_hash,
                }  # fmt: skip
        except Refusal as exc:
            raise CliError(str(exc)) from exc
    if args.format == "json":
        rows = json.loads(table.to_json(orient="records", force_ascii=False))
        sys.stdout.write(json.dumps({**head, "rows": rows}, ensure_ascii=False, indent=1) + "\n")
    elif args.format == "csv":
        write_csv(table, sys.stdout)
    else:
        sys.stdout.write(" · ".join(f"{k}: {v}" for k, v in head.items() if v not in ("", None)) + "\n")
        if table.empty:
            sys.stdout.write("no figure differs\n")
        else:
            sys.stdout.write(table.to_string(index=False, float_format=lambda v: f"{v:.3f}") + "\n")
    return 0


def cmd_supervise(args: argparse.Namespace) -> int:
    """Raise 督办 on overdue cases whose lateness calls for it (for cron; idempotent)."""
    from patrol.incidents import IncidentService

    with _opened(args) as store:
        raised = IncidentService(store).escalate_overdue()
    _print_kv({"supervised": len(raised), "numbers": ",".join(raised) or "-"})
    return 0


def cmd_workflow(args: argparse.Namespace) -> int:
    """Print the rulebook: states, transitions and who may take them, approvals, duties, limits."""
    import json

    from patrol.catalog import load_catalog
    from patrol.rulebook import rulebook

    book = rulebook(load_catalog())
    if args.format == "json":
        sys.stdout.write(json.dumps(book, ensure_ascii=False, indent=1) + "\n")
        return 0
    lines = ["states: " + ", ".join(book["states"]), "", "transitions (from --action--> to: roles; needs):"]
    for t in book["transitions"]:
        approval = "  [asked here, approved or refused by someone else]" if t["approval"] else ""
        needs = ", ".join(t["needs"]) or "-"
        lines.append(
            f"  {t['from_state']} --{t['action']}--> {'|'.join(t['to_states'])}: "
            f"{', '.join(t['roles']) or 'nobody'}; needs {needs}{approval}"
        )
    lines += [
        "",
        "rules of duty: " + ", ".join(book["duties"]),
        "",
        "limits (item: response min, assessment working h, handling working days, verification working h;"
        " * high-frequency; 首违不罚 condition if listed; departments copied (抄告)):",
    ]
    lines += [
        f"  {x['item_code']} {x['name']}{'*' if x['high_frequency'] else ''}: "
        f"{x['response_minutes']}, {x['assessment_hours']}, {x['handling_days']}, {x['verification_hours']}"
        + (f"; 首违不罚: {x['first_offence']}" if x["first_offence"] else "")
        + (f"; 抄告: {', '.join(x['copy_to'])}" if x["copy_to"] else "")
        for x in book["limits"]
    ]
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


def cmd_scenarios(args: argparse.Namespace) -> int:
    """Evidence per "一件事" theme over the last twelve months."""
    import json
    from datetime import UTC, datetime

    from patrol.catalog import load_catalog
    from patrol.dashboard import area_cells
    from patrol.scenarios import HOTSPOT_RES, load_year, theme_figures

    with _opened(args) as store:
        now = datetime.now(UTC)
        themes = theme_figures(load_year(store, now), load_catalog(), now, area_cells(store, HOTSPOT_RES))
    rows = [
        {"theme": t.code, "name": t.name_zh, "volume": t.volume, "trend": t.trend, "recurrence": t.recurrence,
         "departments": list(t.departments), "median_response_min": t.median_response_min,
         "on_time_rate": t.on_time_rate, "top10_share": t.top10_share, "hot_cells": t.hot_cells,
         "coverage": {str(k): v for k, v in t.coverage.items()}}
        for t in themes
    ]  # fmt: skip
    if args.format == "json":
        sys.stdout.write(json.dumps(rows, ensure_ascii=False, indent=1) + "\n")
        return 0
    for r, t in zip(rows, themes, strict=True):
        cover = t.coverage.get(10)
        sys.stdout.write(
            f"{r['theme']}  {r['name']}  volume {r['volume']}  trend {_fmt(r['trend'])}  recurrence "
            f"{_fmt(r['recurrence'])}  top10 {_fmt(r['top10_share'])}  hot cells {r['hot_cells']}  "
            f"top-10 coverage {_fmt(cover)}\n"
        )
    return 0


def cmd_coverage(args: argparse.Namespace) -> int:
    """Patrol coverage per team for one ISO week, and the cells not patrolled for N days."""
    from patrol.coverage import coverage_for_week, stale_cells_for, week_bounds, week_of

    week = args.week or week_of(datetime.now(UTC))
    try:
        _, week_end = week_bounds(week)
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    if args.stale_days < 1:
        raise CliError(f"--stale-days must be 1 or more, got {args.stale_days}")
    with _opened(args) as store:
        if args.township and args.township not in {t.code for t in store.townships()}:
            raise CliError(f"no township {args.township}")
        table = coverage_for_week(store, week, args.township)
        now = min(datetime.now(UTC), week_end)
        cells, days = stale_cells_for(store, now, args.township, lookback_days=max(90, args.stale_days))
    if args.csv:
        write_csv(table, args.csv)
    planned, covered = int(table["planned_cells"].sum()), int(table["covered_cells"].sum())
    hours = float(table["patrol_hours"].sum())
    found, total = int(table["patrol_incidents"].sum()), int(table["incidents"].sum())
    stale = int((days >= args.stale_days).sum())
    _print_kv(
        {
            "week": week,
            "teams": len(table),
            "teams_with_patrols": int((table["tasks"] > 0).sum()),
            "tasks": int(table["tasks"].sum()),
            "planned_cells": planned,
            "covered_cells": covered,
            "coverage": f"{covered / planned:.3f}" if planned else "-",
            "patrol_hours": f"{hours:.1f}",
            "patrol_incidents_per_hour": f"{found / hours:.3f}" if hours else "-",
            "proactive_share": f"{found / total:.3f}" if total else "-",
            f"cells_not_patrolled_{args.stale_days}d": f"{stale} of {len(cells)}",
        }
    )
    if args.csv:
        sys.stdout.write(f"per-team table: {args.csv}\n")
    return 0


def cmd_create_user(args: argparse.Namespace) -> int:
    """Create a user (the first admin, on a new store)."""
    import getpass

    from patrol.users import UserService

    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("password: ")
        if getpass.getpass("again: ") != password:
            raise CliError("the two passwords differ")
    with _opened(args) as store:
        try:
            user = UserService(store).create(
                None, args.username, password, args.role, display_name=args.display_name or "",
                township_code=args.township, team_id=args.team, department=args.department,
            )  # fmt: skip
        except ValueError as exc:
            raise CliError(str(exc)) from exc
    _print_kv({"user": user.username, "role": user.role})
    return 0


def cmd_patrol_plan(args: argparse.Namespace) -> int:
    """Plan a team's patrol for a shift: riskiest cells of its grid, ordered into a route."""
    from datetime import UTC, datetime, timedelta

    import h3.api.basic_int as h3i
    import pandas as pd
    import shapely

    from patrol.catalog import load_catalog
    from patrol.risk import risk_scores
    from patrol.route import plan_route

    try:
        start = pd.Timestamp(args.start, tz=LOCAL_TZ_NAME).to_pydatetime()
    except ValueError as exc:
        raise CliError(f"--start must look like '2026-11-28 08:00', got {args.start!r}") from exc
    end = start + timedelta(hours=args.hours)
    with _opened(args) as store:
        team = next((t for t in store.teams() if t.id == args.team), None)
        if team is None:
            raise CliError(f"no team {args.team}")
        village = next(v for v in store.villages() if v.code == team.village_code)
        cells, owners = store.cell_map()
        mine = tuple(int(c) for c, o in zip(cells.tolist(), owners, strict=True) if o == team.village_code)
        frame = store.incident_frame(
            IncidentQuery(cells=mine, reported_from=datetime.now(UTC) - timedelta(days=90)),
            ["cell", "item_code", "reported_at"],
        )
    severity = {code: item.severity for code, item in load_catalog().items.items()}
    risk = risk_scores(frame, severity, min(datetime.now(UTC), start), shift=(start, end))
    centre = shapely.from_wkb(village.geometry_wkb).representative_point()
    try:
        route = plan_route(
            list(risk.index), list(risk.to_numpy()), (centre.y, centre.x), start, end,
            mode=args.mode, minutes_per_stop=args.minutes_per_stop, max_stops=args.max_stops,
        )  # fmt: skip
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    sys.stdout.write(f"team: {team.name}\nstops: {len(route.stops)}\nlength_m: {route.length_m:.0f}\n"
                     f"back_at: {route.end_at.astimezone(start.tzinfo):%H:%M}\n")  # fmt: skip
    for stop in route.stops:
        sys.stdout.write(f"  {stop.order:2d}  {h3i.int_to_str(stop.cell)}  risk {stop.risk:.2f}  "
                         f"{stop.arrival.astimezone(start.tzinfo):%H:%M}\n")  # fmt: skip
    if args.gpx:
        Path(args.gpx).write_text(route.to_gpx(team.name), encoding="utf-8")
    if args.geojson:
        Path(args.geojson).write_text(route.to_geojson(), encoding="utf-8")
    return 0


def cmd_risk_backtest(args: argparse.Namespace) -> int:
    """Hit rate of the risk ranking vs last week's counts, week by week, past data only."""
    from datetime import UTC, datetime, timedelta

    from patrol.catalog import load_catalog
    from patrol.risk import backtest

    now = datetime.now(UTC)
    with _opened(args) as store:
        frame = store.incident_frame(
            IncidentQuery(reported_from=now - timedelta(weeks=args.weeks + 26)),
            ["cell", "item_code", "reported_at"],
        )
    severity = {code: item.severity for code, item in load_catalog().items.items()}
    bt = backtest(frame, severity, now, weeks=args.weeks)
    sys.stdout.write(f"weeks: {bt.weeks}\n")
    for k in bt.ks:
        sys.stdout.write(f"top_{k}: risk {bt.ours[k]:.3f}  last_week {bt.naive[k]:.3f}\n")
    return 0


def _fmt(value: object) -> str:
    return "—" if value is None else f"{float(value):.2f}"  # type: ignore[arg-type]


def _ring(cell: int) -> list[list[float]]:
    import h3.api.basic_int as h3i

    ring = [[lng, lat] for lat, lng in h3i.cell_to_boundary(cell)]
    return [*ring, ring[0]]


def cmd_hotspots(args: argparse.Namespace) -> int:
    """Gi* hot spots of the last N days, as GeoJSON or JSON."""
    import json
    from datetime import UTC, datetime

    import h3.api.basic_int as h3i

    from patrol.catalog import load_catalog
    from patrol.dashboard import HeatFilter, hot_spots

    with _opened(args) as store:
        catalog = load_catalog()
        if args.item and args.item not in catalog.items:
            raise CliError(f"unknown item {args.item!r}")
        f = HeatFilter(days=args.days, item_codes=(args.item,) if args.item else None)
        if args.measure == "share" and not args.item:
            raise CliError("--measure share needs --item (the share of that item among all incidents)")
        hs = hot_spots(store, catalog, f, datetime.now(UTC), res=args.res, k=args.k, measure=args.measure)
    keep = hs.klass != 0 if not args.all else slice(None)
    rows = [
        {
            "cell": h3i.int_to_str(int(c)),
            "value": float(v),
            "z": round(float(z), 4),
            "p": float(p),
            "class": int(k),
        }
        for c, v, z, p, k in zip(
            hs.cells[keep], hs.values[keep], hs.z[keep], hs.p[keep], hs.klass[keep], strict=True
        )
    ]
    if args.format == "json":
        sys.stdout.write(
            json.dumps({"res": args.res, "k": args.k, "days": args.days, "cells": rows}, indent=1) + "\n"
        )
    else:
        features = [
            {
                "type": "Feature",
                "properties": r,
                "geometry": {"type": "Polygon", "coordinates": [_ring(h3i.str_to_int(r["cell"]))]},
            }
            for r in rows
        ]  # fmt: skip
        sys.stdout.write(json.dumps({"type": "FeatureCollection", "features": features}) + "\n")
    return 0


def cmd_api(args: argparse.Namespace) -> int:
    """Serve the HTTP API (Open311 GeoReport v2 and the workflow) until interrupted."""
    import uvicorn

    from api.app import create_app

    store = _open(args)
    if store.district() is None:
        store.close()
        raise CliError(
            "the store holds no district yet: run 'gridpatrol demo' or 'gridpatrol import-boundaries'"
        )
    app = create_app(
        store,
        anonymous_read=not args.keys_only,
        deliver_every=args.deliver_every or None,
    )
    sys.stderr.write(f"GridPatrol API on http://{args.host}:{args.port} (documentation: /docs)\n")
    try:
        uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, access_log=False)
    finally:
        store.close()
    return 0


def cmd_create_api_key(args: argparse.Namespace) -> int:
    """Make an API client and print its key, once (only its hash is stored)."""
    from patrol.api_clients import ApiClientService

    with _opened(args) as store:
        try:
            row, key = ApiClientService(store).create(
                _operator(), args.name, args.role, township_code=args.township, team_id=args.team,
                department=args.department, source=args.source, crs=args.crs,
                webhook_url=args.webhook or "", rate_per_minute=args.rate,
            )  # fmt: skip
        except ValueError as exc:
            raise CliError(str(exc)) from exc
    _print_kv({"client": row.name, "role": row.role, "api_key": key})
    sys.stderr.write("keep the key now: it is not stored and cannot be shown again\n")
    return 0


def cmd_revoke_api_key(args: argparse.Namespace) -> int:
    """Revoke a client's key at once."""
    from patrol.api_clients import ApiClientService

    with _opened(args) as store:
        try:
            row = ApiClientService(store).revoke(_operator(), args.name)
        except KeyError as exc:
            raise CliError(str(exc.args[0])) from exc
    _print_kv({"client": row.name, "revoked_at": row.revoked_at})
    return 0


def cmd_api_keys(args: argparse.Namespace) -> int:
    """List API clients: name, role, scope, source, webhook, limit, revoked."""
    from patrol.api_clients import ApiClientService

    with _opened(args) as store:
        rows = ApiClientService(store).clients(_operator())
    for c in rows:
        scope = c.township_code or (f"team {c.team_id}" if c.team_id is not None else c.department) or "-"
        state = f"revoked {c.revoked_at:%Y-%m-%d %H:%M}" if c.revoked_at else "active"
        sys.stdout.write(
            f"{c.name}\t{c.role}\t{scope}\t{c.source}\t{c.crs}\t{c.webhook_url or '-'}\t"
            f"{c.rate_per_minute}/min\t{state}\n"
        )
    return 0


def cmd_deliver(args: argparse.Namespace) -> int:
    """Deliver queued status changes to the clients' webhooks once (the API does it continuously)."""
    from patrol.api_clients import ApiClientService
    from patrol.incidents import IncidentService
    from patrol.labels import Labels
    from patrol.outbox import OutboxService

    with _opened(args) as store:
        labels = Labels.of(IncidentService(store), "zh")
        done = OutboxService(store, labels).deliver_all(ApiClientService(store))
    _print_kv({"delivered": done.sent, "held_back": len(done.failed)})
    for name, error in done.failed.items():
        sys.stderr.write(f"{name}: {error}\n")
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
            "raise 督办 on overdue cases as their lateness calls for (run from cron)",
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
    ib.add_argument("--district-code", default=None)
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
    raw = list(sys.argv[1:] if argv is None else argv)
    if raw[:1] == ["bench"]:  # the benchmark suite has its own options
        from bench.__main__ import main as bench_main

        return bench_main(raw[1:])
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
