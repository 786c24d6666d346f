"""Commands of the HTTP API: serve it, manage its clients' keys, deliver webhooks."""

from __future__ import annotations

import argparse
import sys

from cli.common import (
    CliError,
    cli_operator,
    district_of,
    open_migrated,
    opened,
    print_kv,
)


def cmd_api(args: argparse.Namespace) -> int:
    """Serve the HTTP API (Open311 GeoReport v2 and the workflow) until interrupted."""
    import uvicorn

    from api.app import create_app

    store = open_migrated(args)
    if store.district() is None:
        store.close()
        raise CliError(
            "the store holds no district yet: run 'gridpatrol demo' or 'gridpatrol import-boundaries'"
        )
    try:
        served = district_of(store, args.district)  # the API serves one district
    except CliError:
        store.close()
        raise
    app = create_app(
        served,
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

    with opened(args, whole=True) as store:
        try:
            row, key = ApiClientService(store).create(
                cli_operator(), args.name, args.role, township_code=args.township, team_id=args.team,
                department=args.department, source=args.source, crs=args.crs,
                webhook_url=args.webhook or "", rate_per_minute=args.rate,
            )  # fmt: skip
        except ValueError as exc:
            raise CliError(str(exc)) from exc
    print_kv({"client": row.name, "role": row.role, "api_key": key})
    sys.stderr.write("keep the key now: it is not stored and cannot be shown again\n")
    return 0


def cmd_revoke_api_key(args: argparse.Namespace) -> int:
    """Revoke a client's key at once."""
    from patrol.api_clients import ApiClientService

    with opened(args, whole=True) as store:
        try:
            row = ApiClientService(store).revoke(cli_operator(), args.name)
        except KeyError as exc:
            raise CliError(str(exc.args[0])) from exc
    print_kv({"client": row.name, "revoked_at": row.revoked_at})
    return 0


def cmd_api_keys(args: argparse.Namespace) -> int:
    """List API clients: name, role, scope, source, webhook, limit, revoked."""
    from patrol.api_clients import ApiClientService

    with opened(args, whole=True) as store:
        rows = ApiClientService(store).clients(cli_operator())
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

    with opened(args, whole=True) as store:
        labels = Labels.of(IncidentService(store), "zh")
        done = OutboxService(store, labels).deliver_all(ApiClientService(store))
    print_kv({"delivered": done.sent, "held_back": len(done.failed)})
    for name, error in done.failed.items():
        sys.stderr.write(f"{name}: {error}\n")
    return 0
