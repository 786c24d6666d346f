"""Commands that set up and fill the store: init, demo, boundaries, imports, exports, copies, users, info."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from cli.common import (
    CliError,
    cli_operator,
    district_of,
    local_midnight,
    opened,
    parse_day,
    print_kv,
    progress_printer,
)
from store import open_store, redact_url
from store.protocol import Store


def cmd_init(args: argparse.Namespace) -> int:
    """Create or migrate the store."""
    store = open_store(args.db)
    try:
        applied = store.migrate()
        print_kv(
            {
                "store": redact_url(store.url),
                "migrations_applied": len(applied),
                "schema": ",".join(store.applied_migrations()),
            }
        )
    finally:
        store.close()
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """Load the demo of a district of Jiaxing (Nanhu unless ``--district``) and a year of its incidents.

    Next to the districts a demo store already holds: a city's demo grows a district at a time.
    """
    from data.demo_district import (
        DEMO_NOTICE_EN,
        DEMO_NOTICE_ZH,
        NANHU,
        load_demo_district,
        shipped_districts,
    )
    from data.demo_evaluations import publish_demo_evaluations
    from data.demo_incidents import generate_demo_incidents
    from data.demo_patrols import generate_demo_patrols
    from data.demo_users import DEMO_PASSWORD, create_demo_users
    from patrol.incidents import IncidentService

    if args.incidents < 0:
        raise CliError(f"--incidents must be 0 or more, got {args.incidents}")
    code = args.district or NANHU
    if code not in shipped_districts():
        shipped = ", ".join(f"{c} {n}" for c, n in shipped_districts().items())
        raise CliError(f"no outline of district {code} ships with GridPatrol; these do: {shipped}")
    end = parse_day(args.end)
    with opened(args, whole=True) as store:
        held = store.districts()
        has_users = bool(store.users())
        if args.if_empty and (held or has_users):
            what = "a district" if held else "users"
            sys.stdout.write(f"store already holds {what}; nothing loaded (--if-empty)\n")
            if held and all(d.is_demo for d in held) and not has_users:
                # a demo store from before sign-in existed
                users = create_demo_users(district_of(store, held[0].code if len(held) > 1 else None))
                sys.stdout.write(f"demo users: {len(users)} (password {DEMO_PASSWORD!r}; see README)\n")
            return 0
        if has_users and not (held and all(d.is_demo for d in held)):
            # demo accounts share a published password: never beside real ones
            raise CliError("the store already has users; use a new store (--db) for the demo")
        if any(not d.is_demo for d in held):
            raise CliError("the store holds real districts; use a new store (--db) for the demo")
        if any(d.code == code for d in held):
            raise CliError(
                f"the store already holds district {code}; use a new store (--db) to seed it again"
            )
        load_demo_district(store, seed=args.seed, res=args.res, code=code)
        district = district_of(store, code)
        if args.incidents:
            svc = IncidentService(district)
            generate_demo_incidents(
                svc, args.incidents, seed=args.seed, end=end, progress=progress_printer("incidents")
            )
        users = create_demo_users(district)
        sys.stdout.write(f"demo users: {len(users)} (password {DEMO_PASSWORD!r}; see README)\n")
        patrols = generate_demo_patrols(district, seed=args.seed, end=end or local_midnight())
        sys.stdout.write(
            f"demo patrols: {patrols.tasks} tasks, {patrols.visits} covered cells,"
            f" {patrols.premises} premises,"
            f" {patrols.inspections} inspections\n"
        )
        if args.incidents:  # published last: the composite reads the joint inspections
            published = publish_demo_evaluations(
                district, end or local_midnight(), seed=args.seed, progress=progress_printer("evaluations")
            )
            sys.stdout.write(f"demo evaluations published: {len(published)} ({', '.join(published)})\n")
        sys.stdout.write(f"{DEMO_NOTICE_ZH}\n{DEMO_NOTICE_EN}\n")
        print_kv(_full_info(store))
    return 0


def cmd_import_incidents(args: argparse.Namespace) -> int:
    """Import incidents from CSV, XLSX or GeoJSON."""
    from patrol.importer import IncidentImportError, import_incidents, load_mapping
    from patrol.incidents import IncidentService

    with opened(args) as store:
        try:
            mapping = load_mapping(args.mapping)
            svc = IncidentService(store)
            report = import_incidents(
                svc,
                cli_operator(),
                args.file,
                mapping=mapping,
                crs=args.crs,
                progress=progress_printer("imported"),
            )
        except (IncidentImportError, ValueError) as exc:
            raise CliError(str(exc)) from exc
        rejects = Path(args.rejects or f"{args.file}.rejects.csv")
        if report.rejected:
            report.write_rejects(rejects)
        print_kv(
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

    with opened(args) as store:
        n = export_incidents(
            IncidentService(store), cli_operator(), args.out, args.format,
            personal_data=args.with_personal_data, lang=args.lang,
        )  # fmt: skip
        print_kv({"format": args.format, "incidents": n, "file": args.out})
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
    print_kv({"source": redact_url(args.source), "target": redact_url(args.target)})
    print_kv({table: f"{n} rows, sha256 {digest}" for table, (n, digest) in report.target.items()})
    print_kv({"verified": "identical counts and content hashes"})
    return 0


def cmd_import_boundaries(args: argparse.Namespace) -> int:
    """Validate a boundary file and load it."""
    from patrol.areas import import_boundaries, read_code_map

    with opened(args, whole=True) as store:  # the district of --district, held or new
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
                district_code=args.district,
                district_name=args.district_name,
                res=args.res,
                dry_run=args.dry_run,
                who=cli_operator(),
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
            print_kv({f"orphaned_{kind}": n for kind, n in result.effect.orphans.items()})
            print_kv({"codes_removed": len(result.effect.removed), "codes_remapped": result.effect.remapped})
        print_kv(result.counts)
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    """Print key figures as ``key: value`` lines: of every district held, or of ``--district``."""
    with opened(args, whole=True) as store:
        print_kv(_full_info(district_of(store, args.district) if args.district else store))
    return 0


def _full_info(store: Store) -> dict[str, Any]:
    from patrol.areas import district_info
    from patrol.incident import State

    info = district_info(store)
    states = store.state_counts()  # a district view's own; the whole store's over its districts
    info["incidents"] = sum(states.values())
    for state in State:
        info[f"state_{state.value}"] = states.get(state.value, 0)
    return info


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
    with opened(args, whole=True) as store:  # --district: the user's district (none: every district)
        try:
            user = UserService(store).create(
                None, args.username, password, args.role, display_name=args.display_name or "",
                township_code=args.township, team_id=args.team, department=args.department,
                district_code=args.district,
            )  # fmt: skip
        except ValueError as exc:
            raise CliError(str(exc)) from exc
    print_kv({"user": user.username, "role": user.role})
    return 0
