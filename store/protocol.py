"""The one repository protocol both storage backends implement."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import pandas as pd

from store.batch import IncidentBatch
from store.rows import (
    ApiClientRow,
    ApiRequestRow,
    AuditRow,
    DistrictRow,
    EvaluationRow,
    EventRow,
    EvidenceRow,
    IncidentQuery,
    IncidentRow,
    InspectionRow,
    OutboxRow,
    PatrolTaskRow,
    PatrolVisitRow,
    PremisesRow,
    RollupQuery,
    ScoreEntryRow,
    SignInFailures,
    TeamRow,
    TownshipRow,
    UserRow,
    VillageRow,
)


class StoreError(RuntimeError):
    """The store cannot do what was asked (unreachable, locked, read-only, …)."""


class DuplicateError(StoreError):
    """A row with the same key (id, number or external id) already exists."""


class VersionConflict(StoreError):
    """The row was changed by someone else since it was read."""


class Store(Protocol):
    """Persistence for GridPatrol; every method is one transaction."""

    url: str

    def migrate(self) -> list[str]:
        """Apply pending migrations in order; return the names applied."""
        ...

    def applied_migrations(self) -> list[str]:
        """Names of the migrations already applied, in order."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...

    def replace_areas(
        self,
        district: DistrictRow,
        townships: Sequence[TownshipRow],
        villages: Sequence[VillageRow],
        teams: Sequence[TeamRow],
        cells: npt.NDArray[np.int64],
        cell_villages: Sequence[str],
        remap: Mapping[str, str] | None = None,
        audit: Sequence[AuditRow] = (),
    ) -> None:
        """Replace the district, its areas, teams and cell map in one transaction (that district's only).

        The ``audit`` rows (the record of the change) commit in the same transaction.

        ``remap`` (old township or village code -> new code) re-points, in the same
        transaction, the incidents, users, patrols and premises that name an old code, and
        rebuilds the rollups.
        """
        ...

    def area_references(self) -> dict[str, dict[str, int]]:
        """How many rows name each area (codes and team ids as text), per kind of reference.

        Kinds: ``incidents_by_township``, ``incidents_by_team``, ``users_by_township``,
        ``users_by_team``, ``patrols_by_township``, ``patrols_by_team``, ``premises_by_village``.
        """
        ...

    def districts(self) -> list[DistrictRow]:
        """Every district the store holds, by code (a city command centre runs several)."""
        ...

    def district(self, code: str | None = None) -> DistrictRow | None:
        """The district ``code`` (without a code: the first held, by code), or None."""
        ...

    def district_of(self, *, township_code: str | None = None, team_id: int | None = None) -> str | None:
        """The district of a township or of a team, or None."""
        ...

    def areas_version(self) -> str | None:
        """A new value each time ``replace_areas`` commits; None if it never did since this was kept.

        What is built from the areas (the district context) is kept while this stays the same.
        """
        ...

    def townships(self, district_code: str | None = None) -> list[TownshipRow]:
        """Townships, by code; only one district's when given."""
        ...

    def villages(
        self, township_code: str | None = None, district_code: str | None = None
    ) -> list[VillageRow]:
        """Village grids, by code; only one township's or one district's when given."""
        ...

    def teams(self, township_code: str | None = None, district_code: str | None = None) -> list[TeamRow]:
        """Grid teams, by village code; only one township's or one district's when given."""
        ...

    def cell_map(self, district_code: str | None = None) -> tuple[npt.NDArray[np.int64], list[str]]:
        """Sorted cells and the code of each cell's owning village; only one district's when given."""
        ...

    def area_counts(self, district_code: str | None = None) -> dict[str, int]:
        """Counts of townships, villages, teams and cells (of one district when given)."""
        ...

    def cells_held_elsewhere(self, district_code: str) -> npt.NDArray[np.int64]:
        """Sorted cells the store's other districts hold (a district's view: still the city's)."""
        ...

    def next_team_id(self) -> int:
        """The first team id after every team of every district (team ids are the store's)."""
        ...

    def allocate_numbers(self, counts: Mapping[str, int]) -> dict[str, int]:
        """Reserve consecutive incident numbers per key in one transaction; return each first."""
        ...

    def insert_incidents(self, batch: IncidentBatch) -> None:
        """Insert new incidents, their events and rollups in one transaction (DuplicateError)."""
        ...

    def update_incident(self, row: IncidentRow, expected_version: int, events: Sequence[EventRow]) -> None:
        """Write a changed incident, its new events and rollups, or raise VersionConflict."""
        ...

    def get_incident(self, incident_id: str) -> IncidentRow | None:
        """The incident with this id, or None."""
        ...

    def find_incident(self, number: str) -> IncidentRow | None:
        """The incident with this human number, or None."""
        ...

    def list_incidents(self, query: IncidentQuery) -> list[IncidentRow]:
        """Incidents matching the query, paged."""
        ...

    def count_incidents(self, query: IncidentQuery) -> int:
        """Number of incidents matching the query."""
        ...

    def count_by_cell(self, query: IncidentQuery) -> list[tuple[int, int]]:
        """Counts per cell of the incidents matching the query."""
        ...

    def incident_columns(self, query: IncidentQuery, columns: Sequence[str]) -> dict[str, list[Any]]:
        """Some columns of every incident matching the query."""
        ...

    def incident_frame(self, query: IncidentQuery, columns: Sequence[str]) -> pd.DataFrame:
        """Some columns of every incident matching the query, one row each, for figures.

        Times are ``datetime64[us, UTC]``, NaT for none.
        """
        ...

    def events(self, incident_id: str) -> list[EventRow]:
        """The event log of one incident, in order."""
        ...

    def recent_events(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        actor: str | None = None,
        limit: int = 1000,
    ) -> list[EventRow]:
        """Incident events of every incident, newest first, filtered by time and actor."""
        ...

    def existing_external_ids(self, district_code: str, external_ids: Sequence[str]) -> set[str]:
        """Which of these external ids are already stored."""
        ...

    def rollup_by_cell(self, query: RollupQuery) -> list[tuple[int, int]]:
        """Counts per cell from the rollup tables."""
        ...

    def rollup_rows(self) -> list[tuple[int, str, str, str, str, int]]:
        """Every non-zero rollup row (cell, day, item, bucket, township, n), sorted."""
        ...

    def state_counts(self, district_code: str | None = None) -> dict[str, int]:
        """Number of incidents in each state."""
        ...

    def insert_patrol_tasks(
        self,
        tasks: Sequence[PatrolTaskRow],
        audit: Sequence[AuditRow] = (),
        visits: Sequence[PatrolVisitRow] = (),
    ) -> None:
        """Store new patrol tasks, cells covered and audit rows at once (stored id: DuplicateError)."""
        ...

    def transition_patrol(
        self, task_id: str, from_status: str, to_status: str, at: datetime, audit: Sequence[AuditRow] = ()
    ) -> bool:
        """Move a patrol task to another status with its audit rows, in one transaction.

        False (nothing written) if it was not in ``from_status``.

        Entering ``active`` records ``started_at``; entering ``done`` records ``finished_at``.
        """
        ...

    def patrol_task(self, task_id: str) -> PatrolTaskRow | None:
        """One patrol task, or None."""
        ...

    def patrol_tasks(
        self,
        *,
        district_code: str | None = None,
        township_code: str | None = None,
        team_id: int | None = None,
        ending_after: datetime | None = None,
        starting_from: datetime | None = None,
        starting_before: datetime | None = None,
        limit: int | None = 500,
    ) -> list[PatrolTaskRow]:
        """Patrol tasks, newest shift first, filtered by township, team, and shift times."""
        ...

    def add_patrol_visits(self, visits: Sequence[PatrolVisitRow]) -> int:
        """Record covered cells; a cell already covered by the same task keeps its first time.

        Returns the number of cells newly covered.
        """
        ...

    def patrol_visits(
        self,
        *,
        township_code: str | None = None,
        team_id: int | None = None,
        task_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        district_code: str | None = None,
    ) -> list[PatrolVisitRow]:
        """Covered cells, oldest first, filtered by township, team, task, time and district."""
        ...

    def insert_premises(
        self,
        premises: Sequence[PremisesRow],
        inspections: Sequence[InspectionRow] = (),
        audit: Sequence[AuditRow] = (),
    ) -> None:
        """Store premises with their inspections and audit rows, all or none (a stored id: DuplicateError)."""
        ...

    def premises(
        self, *, township_code: str | None = None, district_code: str | None = None
    ) -> list[PremisesRow]:
        """Premises, optionally of one township, by id."""
        ...

    def insert_inspections(
        self, inspections: Sequence[InspectionRow], audit: Sequence[AuditRow] = ()
    ) -> None:
        """Store planned inspections and their audit rows in one transaction."""
        ...

    def inspections(
        self,
        *,
        premises_ids: Sequence[str] | None = None,
        since: date | None = None,
        district_code: str | None = None,
    ) -> list[InspectionRow]:
        """Inspections, by planned day then id, optionally of some premises and from a day on."""
        ...

    def set_inspection_visits(self, visits: Mapping[str, str], audit: Sequence[AuditRow] = ()) -> None:
        """Set the merged visit id of inspections (inspection id -> visit id) with the audit rows, at once."""
        ...

    def insert_user(self, user: UserRow, audit: AuditRow) -> None:
        """Store a new user and its audit row in one transaction (DuplicateError if the name is taken)."""
        ...

    def update_user(self, user: UserRow, audit: AuditRow) -> None:
        """Replace a user's record and append its audit row in one transaction (KeyError if unknown)."""
        ...

    def get_user(self, username: str) -> UserRow | None:
        """One user, or None."""
        ...

    def users(self) -> list[UserRow]:
        """Every user, by name."""
        ...

    def insert_evaluation(self, row: EvaluationRow, audit: AuditRow) -> None:
        """Store a published evaluation and its audit row in one transaction.

        DuplicateError if that version of the period is already stored (two publishers at once:
        one wins). Stored evaluations are immutable: the database refuses updates and deletes.
        """
        ...

    def evaluations(self, district_code: str, period: str | None = None) -> list[EvaluationRow]:
        """Published evaluations of a district (of one period), by period then version."""
        ...

    def append_audit(self, rows: Sequence[AuditRow]) -> None:
        """Append audit rows (the log is append-only: the database refuses updates and deletes)."""
        ...

    def events_of(self, incident_ids: Sequence[str]) -> list[EventRow]:
        """The event logs of several incidents, by incident id then seq (a copy reads them in pages)."""
        ...

    def number_sequences(self) -> dict[str, int]:
        """The last number handed out per number key (district prefix and day)."""
        ...

    def restore(
        self, users: Sequence[UserRow], audit: Sequence[AuditRow], evaluations: Sequence[EvaluationRow] = ()
    ) -> None:
        """Load users, audit rows and published evaluations as they were elsewhere, in one transaction.

        Audit ``seq`` numbers are kept.
        For copying a whole store into a new, empty one; normal changes go through the
        methods that write their own audit rows.
        """
        ...

    def sign_in_failures(self, keys: Sequence[str]) -> dict[str, SignInFailures]:
        """The failure counts of these keys (absent keys have none)."""
        ...

    def add_sign_in_failure(self, keys: Sequence[str], at: datetime) -> dict[str, SignInFailures]:
        """Count one more failure for each key, in one transaction; return the new counts."""
        ...

    def lock_sign_in(self, key: str, audit: AuditRow) -> None:
        """Lock a key until it is cleared, with its audit row, in one transaction."""
        ...

    def clear_sign_in_failures(self, keys: Sequence[str], audit: Sequence[AuditRow]) -> None:
        """Forget the failures (and lock) of these keys, with their audit rows, in one transaction."""
        ...

    def audit_log(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        actor: str | None = None,
        entity: str | None = None,
        limit: int = 1000,
    ) -> list[AuditRow]:
        """Audit rows, newest first, filtered by time, actor and entity kind."""
        ...

    # -- the HTTP API (store.api, the same queries on both backends) ----------------------------
    def insert_api_client(self, client: ApiClientRow, audit: AuditRow) -> None:
        """Store a new client (its key hashed) and its audit row in one transaction."""
        ...

    def update_api_client(self, client: ApiClientRow, audit: AuditRow) -> None:
        """Change a client (revoke it, set its webhook or limit) and record it, in one transaction."""
        ...

    def api_clients(self) -> list[ApiClientRow]:
        """Every client, revoked ones too, by name."""
        ...

    def api_client_by_hash(self, key_hash: str) -> ApiClientRow | None:
        """The client whose key hashes to ``key_hash``, or None."""
        ...

    def link_api_request(self, row: ApiRequestRow) -> ApiRequestRow:
        """Record that a client created (or claimed) an incident; the link already stored wins."""
        ...

    def api_requests(
        self, *, incident_ids: Sequence[str] | None = None, token: str | None = None
    ) -> list[ApiRequestRow]:
        """Client links of these incidents, or the one of a token."""
        ...

    def outbox(
        self, client: str, *, due_at: datetime | None = None, after_id: int = 0, limit: int = 100
    ) -> list[OutboxRow]:
        """A client's undelivered status changes in the order they happened."""
        ...

    def outbox_delivered(
        self, client: str, ids: Sequence[int], at: datetime, audit: Sequence[AuditRow] = ()
    ) -> int:
        """Mark a client's changes delivered (acknowledged), with any audit rows; the number newly marked."""
        ...

    def outbox_failed(self, outbox_id: int, next_attempt_at: datetime, error: str) -> None:
        """Count a failed delivery and when to try again."""
        ...

    def outbox_rows(self) -> list[OutboxRow]:
        """Every outbox row, delivered ones too, by id (a store copy carries them all)."""
        ...

    def restore_api(
        self, clients: Sequence[ApiClientRow], requests: Sequence[ApiRequestRow], outbox: Sequence[OutboxRow]
    ) -> None:
        """Load clients, their requests and the outbox as they were elsewhere (ids kept), in one go."""
        ...

    # -- evidence (store.evidence, the same queries on both backends) ----------------------------
    def add_evidence(self, row: EvidenceRow, data: bytes, audit: AuditRow) -> None:
        """Keep a file (its content once) and its audit row, in one transaction."""
        ...

    def evidence_of(self, incident_ids: Sequence[str]) -> list[EvidenceRow]:
        """The evidence of these incidents, oldest first."""
        ...

    def evidence_row(self, evidence_id: str) -> EvidenceRow | None:
        """One evidence row by id, or None."""
        ...

    def evidence_content(self, sha256: str) -> bytes | None:
        """The stored bytes of a content hash, or None."""
        ...

    def all_evidence(self) -> list[EvidenceRow]:
        """Every evidence row, by time (a store copy carries them all)."""
        ...

    def restore_evidence(self, rows: Sequence[EvidenceRow], contents: dict[str, bytes]) -> None:
        """Load evidence as it was elsewhere, in one transaction."""
        ...

    # -- entered scores of the composite evaluation (store.scores, the same queries on both) ----
    def add_score_entries(
        self,
        rows: Sequence[ScoreEntryRow],
        audit: Sequence[AuditRow],
        contents: dict[str, bytes] | None = None,
    ) -> None:
        """Keep entered scores (an attached file's content once) and their audit rows, in one transaction."""
        ...

    def score_entries(self, district_code: str, period: str | None = None) -> list[ScoreEntryRow]:
        """Entered scores of a district (of one period), oldest first: the newest of a sub-item counts."""
        ...

    def restore_score_entries(self, rows: Sequence[ScoreEntryRow], contents: dict[str, bytes]) -> None:
        """Load entered scores as they were elsewhere, in one transaction."""
        ...
