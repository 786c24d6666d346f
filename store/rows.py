"""Plain records and batches the store reads and writes; no business behaviour."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date, datetime
from typing import Any, Literal, NamedTuple


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
    request: str | None  # the pending 延期/挂账 request as JSON
    paused_at: datetime | None
    satisfaction: str | None
    callback_count: int
    supervision_level: int
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
DATETIME_COLUMNS = frozenset(
    {"reported_at", "due_at", "first_response_at", "closed_at", "paused_at", "updated_at", "at"}
)
FINAL_BUCKETS = frozenset({"closed", "rejected", "merged", "transferred"})
BUCKETS = ("open", "closed", "rejected", "merged", "transferred")


BULK_REBUILD_MIN_ROWS = 50_000


def rebuilds_indexes(new_rows: int, stored_rows: int, min_rows: int = BULK_REBUILD_MIN_ROWS) -> bool:
    """Whether a batch should drop its random-order indexes and rebuild them by sorting.

    Only for a batch of at least ``min_rows`` that at least doubles the table (a first
    load): then one sorted build costs less than that many random B-tree inserts.
    """
    return new_rows >= max(min_rows, stored_rows)


def state_bucket(state: str) -> str:
    """The rollup bucket of a state: open for every open state, else the final state itself."""
    return state if state in FINAL_BUCKETS else "open"


# state_bucket in SQL, for rollups counted by the database itself (same text on both backends)
BUCKET_SQL = (
    "CASE WHEN state IN ("
    + ", ".join(f"'{b}'" for b in sorted(FINAL_BUCKETS))
    + ") THEN state ELSE 'open' END"
)


Condition = tuple[str, str, Any]


@dataclass(frozen=True)
class IncidentQuery:
    """A filter over incidents; None means no restriction."""

    district_codes: tuple[str, ...] | None = None
    township_codes: tuple[str, ...] | None = None
    team_ids: tuple[int, ...] | None = None
    states: tuple[str, ...] | None = None
    item_codes: tuple[str, ...] | None = None
    sources: tuple[str, ...] | None = None
    reported_from: datetime | None = None
    reported_to: datetime | None = None
    due_before: datetime | None = None
    closed_from: datetime | None = None
    closed_to: datetime | None = None
    cells: tuple[int, ...] | None = None
    patrol_task_ids: tuple[str, ...] | None = None
    consult_department: str | None = None
    departments: tuple[str, ...] | None = None  # the department an incident is routed or handed to
    min_supervision: int | None = None  # 督办 at this level or higher
    below_supervision: int | None = None  # 督办 below this level (0: none yet)
    has_request: bool = False  # only incidents with a pending 延期/挂账 request
    ids: tuple[str, ...] | None = None
    external_ids: tuple[str, ...] | None = None  # the source system's numbers (12345 工单号)
    limit: int = 500
    offset: int = 0
    newest_first: bool = True  # with order_by: latest first (False: earliest first)
    order_by: Literal["reported_at", "due_at"] = "reported_at"

    def order(self) -> str:
        """The ORDER BY clause of a listing (the same on both backends)."""
        if self.order_by not in ("reported_at", "due_at"):
            msg = f"cannot order incidents by {self.order_by!r}"
            raise ValueError(msg)
        return f" ORDER BY {self.order_by} {'DESC' if self.newest_first else 'ASC'}, id"

    def conditions(self) -> list[Condition]:
        """The filter as (column, operator, value) triples; each backend writes its own SQL."""
        members = (
            ("district_code", self.district_codes), ("township_code", self.township_codes),
            ("team_id", self.team_ids), ("state", self.states),
            ("item_code", self.item_codes), ("source", self.sources), ("cell", self.cells),
            ("patrol_task_id", self.patrol_task_ids), ("department", self.departments),
            ("id", self.ids), ("external_id", self.external_ids),
        )  # fmt: skip
        ranges = (
            ("reported_at", ">=", self.reported_from), ("reported_at", "<", self.reported_to),
            ("due_at", "<", self.due_before), ("closed_at", ">=", self.closed_from),
            ("closed_at", "<", self.closed_to), ("supervision_level", ">=", self.min_supervision),
            ("supervision_level", "<", self.below_supervision),
        )  # fmt: skip
        out: list[Condition] = [(c, "in", tuple(v)) for c, v in members if v is not None] + [
            r for r in ranges if r[2] is not None
        ]
        if self.has_request:  # a pending request is stored as JSON text, none as NULL
            out.append(("request", "LIKE", "%"))
        if self.consult_department is not None:
            if not self.consult_department.isalnum():
                msg = f"not a department code: {self.consult_department!r}"
                raise ValueError(msg)
            # consult_departments is a JSON list of codes, e.g. ["scjg","sthb"]
            out.append(("consult_departments", "LIKE", f'%"{self.consult_department}"%'))
        return out


@dataclass(frozen=True)
class RollupQuery:
    """A filter over the heatmap rollups (days are local YYYY-MM-DD, inclusive)."""

    day_from: str | None = None
    day_to: str | None = None
    item_codes: tuple[str, ...] | None = None
    buckets: tuple[str, ...] | None = None
    township_codes: tuple[str, ...] | None = None
    district_codes: tuple[str, ...] | None = None

    def conditions(self) -> list[Condition]:
        """The filter as (column, operator, value) triples; each backend writes its own SQL."""
        members = (
            ("item_code", self.item_codes),
            ("bucket", self.buckets),
            ("township_code", self.township_codes),
            ("district_code", self.district_codes),
        )
        ranges = (("day", ">=", self.day_from), ("day", "<=", self.day_to))
        return [(c, "in", tuple(v)) for c, v in members if v is not None] + [
            r for r in ranges if r[2] is not None
        ]


@dataclass(frozen=True)
class PatrolTaskRow:
    """A patrol task: a team walks a set of cells in a shift window."""

    id: str
    district_code: str
    township_code: str
    team_id: int
    cells: tuple[int, ...]
    shift_start: datetime
    shift_end: datetime
    status: str
    created_by: str
    created_at: datetime
    note: str = ""
    started_at: datetime | None = None
    finished_at: datetime | None = None


PATROL_STATUSES = ("planned", "active", "done", "cancelled")


@dataclass(frozen=True)
class PatrolVisitRow:
    """A cell a patrol covered, first seen at ``at``, from a check-in or an uploaded track."""

    task_id: str
    team_id: int
    township_code: str
    cell: int
    at: datetime
    source: str  # "checkin" or "track"


@dataclass(frozen=True)
class PremisesRow:
    """A place inspected by departments: a shop, a site, a bottled-gas outlet, …."""

    id: str
    district_code: str
    name: str
    kind: str
    lat: float
    lng: float
    cell: int
    village_code: str
    township_code: str
    items: tuple[str, ...]
    departments: tuple[str, ...]


INSPECTION_STATUSES = ("planned", "done", "cancelled")


@dataclass(frozen=True)
class InspectionRow:
    """One department's inspection of one premises on one day; merged ones share a visit id."""

    id: str
    premises_id: str
    department: str
    planned_on: date
    status: str
    created_by: str
    created_at: datetime
    items: tuple[str, ...] = ()
    visit_id: str | None = None


@dataclass(frozen=True)
class UserRow:
    """A user who signs in: role and scope, and a salted password hash (never the password)."""

    username: str
    display_name: str
    role: str
    township_code: str | None
    team_id: int | None
    department: str | None
    password_hash: str
    active: bool
    created_at: datetime
    updated_at: datetime
    district_code: str | None = None  # None: every district of the deployment (a city's command centre)


# Where areas are named, for a boundary re-import: counted before it (what would be orphaned)
# and re-pointed by it (old code -> new code, in a temporary table area_remap). Plain SQL that
# both engines run as it is (UPDATE ... FROM: SQLite 3.33+).
AREA_REFERENCES: dict[str, str] = {
    "incidents_by_township": "SELECT township_code, count(*) FROM incidents GROUP BY township_code",
    "incidents_by_team": "SELECT team_id, count(*) FROM incidents GROUP BY team_id",
    "users_by_township": "SELECT township_code, count(*) FROM users WHERE township_code IS NOT NULL"
    " GROUP BY township_code",
    "users_by_team": "SELECT team_id, count(*) FROM users WHERE team_id IS NOT NULL GROUP BY team_id",
    "patrols_by_township": "SELECT township_code, count(*) FROM patrol_tasks GROUP BY township_code",
    "patrols_by_team": "SELECT team_id, count(*) FROM patrol_tasks GROUP BY team_id",
    "premises_by_village": "SELECT village_code, count(*) FROM premises GROUP BY village_code",
}
CREATE_REMAP_TABLE = "CREATE TEMP TABLE IF NOT EXISTS area_remap (old TEXT PRIMARY KEY, new TEXT NOT NULL)"
REMAP_STATEMENTS: tuple[str, ...] = tuple(
    f"UPDATE {table} SET {column} = m.new FROM area_remap m WHERE {table}.{column} = m.old"
    for table, column in (
        ("incidents", "township_code"),
        ("incidents", "village_code"),
        ("users", "township_code"),
        ("patrol_tasks", "township_code"),
        ("patrol_visits", "township_code"),
        ("premises", "township_code"),
        ("premises", "village_code"),
    )
)


@dataclass(frozen=True)
class SignInFailures:
    """Failed sign-ins since the last success for one key (``user:<name>`` or ``client:<address>``)."""

    key: str
    failures: int
    first_at: datetime
    last_at: datetime
    locked: bool


@dataclass(frozen=True)
class AuditRow:
    """One change: who, when, what, and the record before and after (JSON text)."""

    seq: int  # assigned by the store; 0 for a new row
    at: datetime
    actor: str
    role: str
    action: str
    entity: str
    entity_id: str
    before: str
    after: str


@dataclass(frozen=True)
class EvaluationRow:
    """One published evaluation (月晾晒 and longer periods): immutable once stored.

    ``figures`` is JSON text: for each grouping (township, team, item, all) the KPI table as it
    stood at ``published_at``; ``inputs_hash`` fingerprints the incidents it was computed from.
    A correction is a new ``version`` of the same period with its ``reason``.
    """

    district_code: str
    period: str
    version: int
    published_at: datetime
    published_by: str
    role: str
    reason: str
    inputs_hash: str
    received: int
    figures: str


EVALUATION_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(EvaluationRow))


@dataclass(frozen=True)
class ScoreEntryRow:
    """Points an assessor entered for one sub-item of the composite evaluation, with evidence.

    Append-only: a correction is a newer row for the same district, period, township and
    sub-item; the newest counts. ``sha256`` names an attached file (kept with the evidence
    contents) or is empty.
    """

    id: str
    district_code: str
    period: str
    township_code: str
    item_code: str
    points: float
    evidence: str
    filename: str
    sha256: str
    entered_by: str
    role: str
    at: datetime


SCORE_ENTRY_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(ScoreEntryRow))


@dataclass(frozen=True)
class ApiClientRow:
    """A system that calls the HTTP API (a 12345 hotline system, a department's system, an app).

    Its key is stored only as a hash; the role and scope are a user's; ``source`` is the channel
    its reports count as (12345 热线, …) and ``crs`` the coordinate system its points arrive in;
    ``webhook_url`` (may be empty) is where status changes go.
    """

    name: str
    role: str
    township_code: str | None
    team_id: int | None
    department: str | None
    key_hash: str
    source: str
    crs: str
    webhook_url: str
    rate_per_minute: int
    created_at: datetime
    revoked_at: datetime | None


API_CLIENT_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(ApiClientRow))


@dataclass(frozen=True)
class ApiRequestRow:
    """An incident a client created (or claimed by its external id), with the Open311 token."""

    incident_id: str
    client: str
    token: str
    created_at: datetime


API_REQUEST_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(ApiRequestRow))


@dataclass(frozen=True)
class OutboxRow:
    """A status change of a client's incident, to deliver to it (webhook) or for it to poll.

    Written in the transaction of the change itself; ``delivered_at`` is set once the client
    has it; a failed delivery counts ``attempts`` and waits until ``next_attempt_at``.
    """

    id: int
    client: str
    incident_id: str
    seq: int
    action: str
    to_state: str
    at: datetime
    attempts: int
    next_attempt_at: datetime
    delivered_at: datetime | None
    last_error: str


OUTBOX_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(OutboxRow))


@dataclass(frozen=True)
class EvidenceRow:
    """A file kept as evidence of an incident (证据材料): a photo, a scan, a notice.

    The content is stored once per ``sha256`` (the same photo attached twice is kept once);
    rows are never changed or removed, like the event log.
    """

    id: str
    incident_id: str
    stage: str
    filename: str
    content_type: str
    size: int
    sha256: str
    uploaded_by: str
    role: str
    at: datetime
    note: str


EVIDENCE_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(EvidenceRow))
