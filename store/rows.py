"""Plain records the store reads and writes; no behaviour, standard library only."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple


@dataclass(frozen=True)
class DistrictRow:
    """The district the store holds (one per store in this version)."""

    code: str
    name: str
    name_en: str
    h3_resolution: int
    is_demo: bool
    number_prefix: str = "GP"


@dataclass(frozen=True)
class TownshipRow:
    """A township (镇) or street (街道); geometry as WKB in WGS84."""

    code: str
    name: str
    name_en: str
    kind: str
    empowerment_class: str
    geometry_wkb: bytes


@dataclass(frozen=True)
class VillageRow:
    """A village (村) or community (社区) grid; geometry as WKB in WGS84."""

    code: str
    township_code: str
    name: str
    kind: str
    geometry_wkb: bytes


@dataclass(frozen=True)
class TeamRow:
    """The grid team (网格团队) of one village grid."""

    id: int
    village_code: str
    name: str
    captain: str
    members: tuple[str, ...]


class IncidentRow(NamedTuple):
    """An incident as stored: a plain tuple in column order, so bulk inserts stay fast."""

    id: str
    district_code: str
    number: str
    external_id: str | None
    item_code: str
    source: str
    lat: float
    lng: float
    cell: int
    village_code: str
    township_code: str
    team_id: int
    handler: str
    department: str
    routing_reason: str
    description: str
    reporter_name: str
    reporter_phone: str
    reported_at: datetime
    day: str
    due_at: datetime
    response_minutes: int
    state: str
    version: int
    first_response_at: datetime | None
    closed_at: datetime | None
    rework_count: int
    deferral_count: int
    assessment_outcome: str | None
    consult_departments: str
    duplicate_of: str | None
    repeat_of: str | None
    suspected_duplicate_of: str | None
    patrol_task_id: str | None
    last_seq: int
    updated_at: datetime


class EventRow(NamedTuple):
    """One entry of the append-only event log."""

    incident_id: str
    seq: int
    district_code: str
    action: str
    from_state: str | None
    to_state: str
    actor: str
    role: str
    at: datetime
    note: str
    payload: str


INCIDENT_COLUMNS: tuple[str, ...] = IncidentRow._fields
EVENT_COLUMNS: tuple[str, ...] = EventRow._fields
DATETIME_COLUMNS = frozenset({"reported_at", "due_at", "first_response_at", "closed_at", "updated_at", "at"})
FINAL_BUCKETS = frozenset({"closed", "rejected", "merged"})
BUCKETS = ("open", "closed", "rejected", "merged")


def state_bucket(state: str) -> str:
    """The rollup bucket of a state: open for every open state, else the final state itself."""
    return state if state in FINAL_BUCKETS else "open"


@dataclass(frozen=True)
class IncidentQuery:
    """A filter over incidents; None means no restriction."""

    township_codes: tuple[str, ...] | None = None
    team_ids: tuple[int, ...] | None = None
    states: tuple[str, ...] | None = None
    item_codes: tuple[str, ...] | None = None
    sources: tuple[str, ...] | None = None
    reported_from: datetime | None = None
    reported_to: datetime | None = None
    due_before: datetime | None = None
    cells: tuple[int, ...] | None = None
    limit: int = 500
    offset: int = 0
    newest_first: bool = True


@dataclass(frozen=True)
class RollupQuery:
    """A filter over the heatmap rollups (days are local YYYY-MM-DD, inclusive)."""

    day_from: str | None = None
    day_to: str | None = None
    item_codes: tuple[str, ...] | None = None
    buckets: tuple[str, ...] | None = None
    township_codes: tuple[str, ...] | None = None


def rollup_deltas(
    rows: Iterable[tuple[int, str, str, str, str, str, int]],
) -> list[tuple[int, str, str, str, str, str, int]]:
    """Sum (cell, day, item, bucket, district, township, n) deltas per rollup key."""
    sums: dict[tuple[int, str, str, str], list[Any]] = {}
    for cell, day, item, bucket, district, township, n in rows:
        key = (cell, day, item, bucket)
        if key in sums:
            sums[key][2] += n
        else:
            sums[key] = [district, township, n]
    return [(*k, d, t, n) for k, (d, t, n) in sums.items() if n != 0]
