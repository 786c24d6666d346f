"""Move a whole store between backends (SQLite ⇄ PostGIS), verified by counts and content hashes.

Everything a deployment holds goes: the district's areas and cell map, the incidents with
their complete event logs (rollups rebuilt by the target from the incidents and checked
against the source's), number sequences, patrols and their covered cells, premises and
inspections, users and the audit log (sequence numbers kept), published evaluations, API
clients with their requests and outbox (ids kept), evidence files, entered evaluation scores.
Sign-in failure counters are transient and stay behind. The target must be empty.

A content hash is computed per table from what the store protocol returns, in a form that
does not depend on the engine (times in UTC, JSON with sorted keys, geometry normalised), so
a store copied to PostGIS and back hashes exactly as it started.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, fields, is_dataclass
from datetime import UTC, date, datetime
from typing import Any

import shapely

from store.batch import IncidentBatch
from store.protocol import Store
from store.rows import EventRow, IncidentQuery, IncidentRow

PAGE = 20_000
_JSON_FIELDS = frozenset({"payload", "before", "after", "consult_departments", "figures"})


class CopyError(ValueError):
    """The target is not empty, or the copy does not match its source."""


@dataclass
class CopyReport:
    """Rows copied and the content hash of each table, on both sides."""

    source: dict[str, tuple[int, str]] = field(default_factory=dict)
    target: dict[str, tuple[int, str]] = field(default_factory=dict)

    @property
    def identical(self) -> bool:
        """Whether every table has the same count and hash on both sides."""
        return self.source == self.target


def _plain(name: str, value: Any) -> Any:
    """One field in an engine-independent form."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bytes):  # WKB: PostGIS keeps areas as MultiPolygon, with its own byte layout
        geom = shapely.from_wkb(value)
        if isinstance(geom, shapely.Polygon):
            geom = shapely.MultiPolygon([geom])
        return shapely.to_wkb(shapely.normalize(geom), hex=True, include_srid=False)
    if isinstance(value, float):
        return repr(value)
    if name in _JSON_FIELDS and isinstance(value, str):
        return json.dumps(json.loads(value), sort_keys=True, ensure_ascii=False)
    if isinstance(value, tuple | list):
        return [_plain(name, v) for v in value]
    return value


def _record(row: Any) -> list[Any]:
    if is_dataclass(row):
        return [_plain(f.name, getattr(row, f.name)) for f in fields(row)]
    names = getattr(row, "_fields", None)
    if names is not None:
        return [_plain(n, v) for n, v in zip(names, row, strict=True)]
    return [_plain("", v) for v in row]


def _digest(rows: Iterable[Any]) -> tuple[int, str]:
    lines = sorted(json.dumps(_record(r), ensure_ascii=False) for r in rows)
    h = hashlib.sha256()
    for line in lines:
        h.update(line.encode("utf-8"))
        h.update(b"\n")
    return len(lines), h.hexdigest()[:16]


def _incident_pages(store: Store) -> Iterator[list[IncidentRow]]:
    offset = 0
    while True:
        page = store.list_incidents(IncidentQuery(limit=PAGE, offset=offset, newest_first=False))
        if page:
            yield page
        if len(page) < PAGE:
            return
        offset += PAGE


def _events(store: Store) -> Iterator[EventRow]:
    for page in _incident_pages(store):
        yield from store.events_of([r.id for r in page])


def content_hashes(store: Store) -> dict[str, tuple[int, str]]:
    """Row count and content hash of every table a copy carries."""
    codes = [d.code for d in store.districts()]
    cells, cell_villages = store.cell_map()
    return {
        "district": _digest(store.districts()),
        "townships": _digest(store.townships()),
        "villages": _digest(store.villages()),
        "teams": _digest(store.teams()),
        "cells": _digest(zip(cells.tolist(), cell_villages, strict=True)),
        "incidents": _digest(r for page in _incident_pages(store) for r in page),
        "events": _digest(_events(store)),
        "rollups": _digest(store.rollup_rows()),
        "numbers": _digest(store.number_sequences().items()),
        "patrol_tasks": _digest(store.patrol_tasks(limit=None)),
        "patrol_visits": _digest(store.patrol_visits()),
        "premises": _digest(store.premises()),
        "inspections": _digest(store.inspections()),
        "users": _digest(store.users()),
        "audit": _digest(store.audit_log(limit=10**9)),
        "evaluations": _digest(e for code in codes for e in store.evaluations(code)),
        "api_clients": _digest(store.api_clients()),
        "api_requests": _digest(sorted(store.api_requests(), key=lambda r: r.incident_id)),
        "api_outbox": _digest(store.outbox_rows()),
        "evidence": _digest(store.all_evidence()),
        "evidence_content": _digest(_evidence_contents(store)),
        "score_entries": _digest(e for code in codes for e in store.score_entries(code)),
    }


def _evidence_contents(store: Store) -> Iterator[tuple[str, str]]:
    """Each stored evidence content as its hash and the hash of the bytes read back."""
    attached = {s.sha256 for d in store.districts() for s in store.score_entries(d.code)} - {""}
    for sha in sorted({e.sha256 for e in store.all_evidence()} | attached):
        data = store.evidence_content(sha)
        yield sha, hashlib.sha256(data or b"").hexdigest()


def copy_store(src: Store, dst: Store, progress: Callable[[str, int], None] | None = None) -> CopyReport:
    """Copy everything ``src`` holds into the empty ``dst``, then compare their content hashes.

    Raises
    ------
    CopyError
        If ``dst`` already holds a district, incidents or users, or if the copy differs from
        its source (the report names the tables).
    """
    dst.migrate()
    if dst.district() is not None or dst.users() or dst.count_incidents(IncidentQuery(limit=1)):
        msg = "the target store is not empty; copy into a new database or file"
        raise CopyError(msg)
    districts = src.districts()
    if not districts:
        msg = "the source store holds no district"
        raise CopyError(msg)
    note = progress or (lambda what, n: None)
    for district in districts:  # a city's store: each district with its own areas
        code = district.code
        cells, cell_villages = src.cell_map(code)
        dst.replace_areas(
            district, src.townships(code), src.villages(district_code=code), src.teams(district_code=code),
            cells, cell_villages,
        )  # fmt: skip
        note("areas", len(cells))
    numbers = src.number_sequences()
    if numbers:
        dst.allocate_numbers(numbers)
    copied = 0
    for page in _incident_pages(src):
        dst.insert_incidents(IncidentBatch.from_rows(page, src.events_of([r.id for r in page])))
        copied += len(page)
        note("incidents", copied)
    tasks = src.patrol_tasks(limit=None)
    if tasks:
        dst.insert_patrol_tasks(tasks)
    visits = src.patrol_visits()
    if visits:
        dst.add_patrol_visits(visits)
    note("patrols", len(tasks))
    premises = src.premises()
    if premises:
        dst.insert_premises(premises)
    inspections = src.inspections()
    if inspections:
        dst.insert_inspections(inspections)
    note("inspections", len(inspections))
    evaluations = [e for d in districts for e in src.evaluations(d.code)]
    dst.restore(src.users(), sorted(src.audit_log(limit=10**9), key=lambda a: a.seq), evaluations)
    dst.restore_api(src.api_clients(), src.api_requests(), src.outbox_rows())
    note("api", len(src.api_clients()))
    evidence = src.all_evidence()
    contents = {sha: src.evidence_content(sha) or b"" for sha in {e.sha256 for e in evidence}}
    dst.restore_evidence(evidence, contents)
    note("evidence", len(evidence))
    scores = [e for d in districts for e in src.score_entries(d.code)]
    attachments = {sha: src.evidence_content(sha) or b"" for sha in {e.sha256 for e in scores} - {""}}
    dst.restore_score_entries(scores, attachments)
    note("scores", len(scores))
    report = CopyReport(content_hashes(src), content_hashes(dst))
    if not report.identical:
        differ = [t for t in report.source if report.source[t] != report.target.get(t)]
        msg = f"the copy differs from its source in: {', '.join(differ)}"
        raise CopyError(msg)
    return report
