"""What every command shares: the store of ``--db``, bad input, progress and plain output."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any

from patrol.roles import Principal
from patrol.workdays import LOCAL_TZ
from store import open_store
from store.district_view import district_view
from store.protocol import Store

EXIT_BAD_INPUT = 2
EXIT_STORE = 1


class CliError(Exception):
    """Bad input from the command line; printed as one line, exit status 2."""


def open_migrated(args: argparse.Namespace) -> Store:
    """The store of ``--db``, migrated to the newest schema."""
    store = open_store(args.db)
    store.migrate()
    return store


@contextmanager
def opened(args: argparse.Namespace, *, whole: bool = False) -> Iterator[Store]:
    """The migrated store of ``--db``, closed afterwards whatever happens.

    As the district of ``--district`` (see :func:`district_of`) unless ``whole``: a command on
    the deployment (info, users, API keys) takes the whole store.
    """
    store = open_migrated(args)
    try:
        yield store if whole else district_of(store, getattr(args, "district", None))
    finally:
        store.close()


def district_of(store: Store, code: str | None) -> Store:
    """The store as its district ``code``; without one, the store when it holds a single district.

    Raises
    ------
    CliError
        If the store holds no district ``code``, or several districts and none was named.
    """
    if code is not None:
        try:
            return district_view(store, code)
        except ValueError as exc:
            raise CliError(str(exc)) from exc
    held = store.districts()
    if len(held) > 1:
        names = ", ".join(f"{d.code} {d.name}" for d in held)
        msg = f"the store holds {len(held)} districts ({names}); name one with --district CODE"
        raise CliError(msg)
    return store


def print_kv(pairs: dict[str, Any]) -> None:
    """Print ``key: value`` lines."""
    for key, value in pairs.items():
        sys.stdout.write(f"{key}: {value}\n")


def progress_printer(label: str) -> Callable[[int, int], None]:
    """A progress callback writing ``label: done/total`` to stderr."""

    def report(done: int, total: int) -> None:
        sys.stderr.write(f"{label}: {done:,}/{total:,}\n")
        sys.stderr.flush()

    return report


def parse_day(text: str | None) -> datetime | None:
    """Local midnight of a ``YYYY-MM-DD`` day (``--end``), None for none."""
    if text is None:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError as exc:
        msg = f"--end must be a date like 2026-11-27, got {text!r}"
        raise CliError(msg) from exc
    return datetime(day.year, day.month, day.day, tzinfo=LOCAL_TZ)


def local_midnight() -> datetime:
    """Today's local midnight."""
    now = datetime.now(LOCAL_TZ)
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def cli_operator() -> Principal:
    """Whoever runs the command line on the server: an admin, named by their system account."""
    import getpass

    try:
        name = getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a container)
        name = "unknown"
    return Principal(f"cli:{name}", "admin")


def fmt(value: object) -> str:
    """A figure with two decimals, ``—`` for none."""
    return "—" if value is None else f"{float(value):.2f}"  # type: ignore[arg-type]
