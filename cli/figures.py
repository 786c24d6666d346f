"""Commands that print figures and plans.

KPIs, evaluations, supervision, the rulebook, scenarios, coverage, patrol plans, the risk
backtest and hot spots.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path

from cli.common import (
    CliError,
    cli_operator,
    district_of,
    fmt,
    opened,
    print_kv,
)
from geo.grid import cell_boundary, cell_ids, cells_from_ids
from patrol.roles import Principal
from patrol.spreadsheet import write_csv
from patrol.workdays import LOCAL_TZ_NAME
from store.rows import IncidentQuery


def cmd_kpis(args: argparse.Namespace) -> int:
    """KPIs of one month per township, team or item."""
    import json
    from datetime import UTC, datetime

    from patrol.kpis import KPI_COLUMNS, month_kpis

    with opened(args) as store:
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

    who = Principal(
        cli_operator().name, "command_center"
    )  # the server's operator acts for the command centre
    with opened(args) as store:
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
    """Raise 督办 on overdue cases whose lateness calls for it (for cron; idempotent).

    Every district of the store in turn, or the one of ``--district``.
    """
    from patrol.incidents import IncidentService

    with opened(args, whole=True) as store:
        codes = [args.district] if args.district else [d.code for d in store.districts()]
        raised = [n for code in codes for n in IncidentService(district_of(store, code)).escalate_overdue()]
    print_kv({"districts": ", ".join(codes), "supervised": len(raised), "numbers": ",".join(raised) or "-"})
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

    with opened(args) as store:
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
            f"{r['theme']}  {r['name']}  volume {r['volume']}  trend {fmt(r['trend'])}  recurrence "
            f"{fmt(r['recurrence'])}  top10 {fmt(r['top10_share'])}  hot cells {r['hot_cells']}  "
            f"top-10 coverage {fmt(cover)}\n"
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
    with opened(args) as store:
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
    print_kv(
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


def cmd_patrol_plan(args: argparse.Namespace) -> int:
    """Plan a team's patrol for a shift: riskiest cells of its grid, ordered into a route."""
    from datetime import UTC, datetime, timedelta

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
    with opened(args) as store:
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
        sys.stdout.write(f"  {stop.order:2d}  {cell_ids([stop.cell])[0]}  risk {stop.risk:.2f}  "
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
    with opened(args) as store:
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


def _ring(cell: int) -> list[list[float]]:
    ring = [[lng, lat] for lat, lng in cell_boundary(cell)]
    return [*ring, ring[0]]


def cmd_hotspots(args: argparse.Namespace) -> int:
    """Gi* hot spots of the last N days, as GeoJSON or JSON."""
    import json
    from datetime import UTC, datetime

    from patrol.catalog import load_catalog
    from patrol.dashboard import HeatFilter, hot_spots

    with opened(args) as store:
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
            "cell": cell_ids([c])[0],
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
                "geometry": {"type": "Polygon", "coordinates": [_ring(int(cell))]},
            }
            for r, cell in zip(rows, cells_from_ids([str(r["cell"]) for r in rows]), strict=True)
        ]  # fmt: skip
        sys.stdout.write(json.dumps({"type": "FeatureCollection", "features": features}) + "\n")
    return 0
