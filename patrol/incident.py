"""The incident aggregate and its closed-loop workflow (standard library only).

One explicit transition table says which action moves an incident from which state to
which. Every transition checks its required fields, bumps the version and appends an
event (actor, role, time, from, to, note, payload); an illegal one raises
:class:`IllegalTransitionError` and changes nothing::

    discovered ─► assessing ─► handling ─► verifying ─► closed
                    │   │        │  ▲  │       │
                    │   │        ▼  │  ▼       └─(fails check: rework)─► handling
                    │   │     consulting   deferred (new due time) ─► handling
                    │   └─► rejected
                    └─────► merged
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from patrol.refusals import Refusal


class State(StrEnum):
    """Where an incident is in the loop."""

    DISCOVERED = "discovered"
    ASSESSING = "assessing"
    HANDLING = "handling"
    CONSULTING = "consulting"
    DEFERRED = "deferred"
    VERIFYING = "verifying"
    CLOSED = "closed"
    REJECTED = "rejected"
    MERGED = "merged"


class Action(StrEnum):
    """What a person does to an incident."""

    CREATE = "create"
    ASSESS = "assess"
    DISPATCH = "dispatch"
    REJECT = "reject"
    MERGE = "merge"
    CONSULT = "consult"
    DECIDE = "decide"
    DEFER = "defer"
    RESUME = "resume"
    SUBMIT = "submit"
    VERIFY = "verify"
    REASSIGN = "reassign"


class Source(StrEnum):
    """How the incident reached us."""

    PATROL = "patrol"
    HOTLINE = "hotline_12345"
    PETITION = "petition"
    CITIZEN = "citizen"
    CAMERA = "camera"
    REFERRAL = "department_referral"


FINAL_STATES = frozenset({State.CLOSED, State.REJECTED, State.MERGED})
OPEN_STATES = frozenset(State) - FINAL_STATES
URGENT_SOURCES = frozenset({Source.HOTLINE, Source.PETITION})
URGENT_RESPONSE_MINUTES = 15
ASSESSMENT_OUTCOMES = ("enforce", "first_offence_no_penalty", "education")
VERIFY_RESULTS = ("pass", "fail")


# (from state, action) → to state; DECIDE's target depends on the decision
TRANSITIONS: dict[tuple[State, Action], State | None] = {
    (State.DISCOVERED, Action.ASSESS): State.ASSESSING,
    (State.ASSESSING, Action.DISPATCH): State.HANDLING,
    (State.ASSESSING, Action.REJECT): State.REJECTED,
    (State.ASSESSING, Action.MERGE): State.MERGED,
    (State.HANDLING, Action.CONSULT): State.CONSULTING,
    (State.HANDLING, Action.DEFER): State.DEFERRED,
    (State.HANDLING, Action.SUBMIT): State.VERIFYING,
    (State.HANDLING, Action.REASSIGN): State.HANDLING,
    (State.CONSULTING, Action.DECIDE): None,
    (State.DEFERRED, Action.RESUME): State.HANDLING,
    (State.VERIFYING, Action.VERIFY): None,
}
DECISIONS: dict[str, State] = {"handle": State.HANDLING, "close": State.CLOSED, "reject": State.REJECTED}
REQUIRED: dict[Action, tuple[str, ...]] = {
    Action.ASSESS: (),
    Action.DISPATCH: ("team_id", "outcome"),
    Action.REJECT: ("reason",),
    Action.MERGE: ("canonical_id",),
    Action.CONSULT: ("departments",),
    Action.DECIDE: ("decision",),
    Action.DEFER: ("reason", "new_due_at"),
    Action.RESUME: (),
    Action.SUBMIT: ("result",),
    Action.VERIFY: ("result",),
    Action.REASSIGN: ("team_id",),
}


class WorkflowError(ValueError):
    """Base of the domain's refusals."""


class IllegalTransitionError(WorkflowError):
    """The action is not allowed from the incident's state."""


class MissingFieldError(WorkflowError):
    """The action lacks a field it needs (or a field has a wrong value); ``fields`` names them."""

    def __init__(self, message: str, fields: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.fields = fields


class ConflictError(WorkflowError):
    """Someone else changed the incident since it was read (stale version)."""


def allowed_actions(state: State | str) -> list[Action]:
    """Actions the table allows from a state (an empty list for final states)."""
    s = State(state)
    return [a for (frm, a) in TRANSITIONS if frm == s]


@dataclass(frozen=True)
class Event:
    """One entry of the append-only event log."""

    incident_id: str
    seq: int
    action: Action
    from_state: State | None
    to_state: State
    actor: str
    role: str
    at: datetime
    note: str = ""
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass
class Incident:
    """An incident and the events it has recorded since it was loaded."""

    id: str
    number: str
    district_code: str
    item_code: str
    source: Source
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
    reported_at: datetime
    due_at: datetime
    response_minutes: int
    reporter_name: str = ""
    reporter_phone: str = ""
    external_id: str | None = None
    state: State = State.DISCOVERED
    version: int = 1
    first_response_at: datetime | None = None
    closed_at: datetime | None = None
    rework_count: int = 0
    deferral_count: int = 0
    assessment_outcome: str | None = None
    consult_departments: tuple[str, ...] = ()
    duplicate_of: str | None = None
    repeat_of: str | None = None
    suspected_duplicate_of: str | None = None
    patrol_task_id: str | None = None
    last_seq: int = 0
    pending: list[Event] = field(default_factory=list)

    @property
    def is_final(self) -> bool:
        """Whether the incident is closed, rejected or merged."""
        return self.state in FINAL_STATES

    def response_due_at(self) -> datetime:
        """When the first assessment action is due."""
        return self.reported_at + timedelta(minutes=self.response_minutes)

    def is_overdue(self, now: datetime) -> bool:
        """Overdue is derived: open past its due time."""
        return not self.is_final and now > self.due_at

    def awaiting_response_overdue(self, now: datetime) -> bool:
        """Still not assessed past its response time (the 15-minute alarm)."""
        return self.state == State.DISCOVERED and now > self.response_due_at()

    def record_creation(self, actor: str, role: str, at: datetime, note: str = "", **payload: Any) -> Event:
        """Append the creation event (no state change)."""
        self.last_seq += 1
        event = Event(self.id, self.last_seq, Action.CREATE, None, self.state, actor, role, at, note, payload)
        self.pending.append(event)
        return event

    def apply(
        self, action: Action | str, *, actor: str, role: str, at: datetime, note: str = "", **fields: Any
    ) -> Event:
        """Apply one workflow action; return the event it recorded.

        Raises
        ------
        IllegalTransitionError
            If the table does not allow ``action`` from the current state.
        MissingFieldError
            If a required field is missing or has a wrong value.
        """
        act = Action(action)
        key = (self.state, act)
        if key not in TRANSITIONS:
            allowed = ", ".join(a.value for a in allowed_actions(self.state)) or "none (final state)"
            msg = f"cannot {act.value} an incident that is {self.state.value}; allowed: {allowed}"
            raise IllegalTransitionError(msg)
        missing = [f for f in REQUIRED[act] if fields.get(f) in (None, "", (), [])]
        if missing:
            msg = f"{act.value} needs {', '.join(missing)}"
            raise MissingFieldError(msg, tuple(missing))
        if not actor:
            msg = f"{act.value} needs an actor"
            raise MissingFieldError(msg, ("actor",))
        target = self._target(act, fields)
        changes = self._changes(act, fields, at)
        before = self.state
        # validated: apply changes atomically
        for name, value in changes.items():
            setattr(self, name, value)
        self.state = target
        if self.first_response_at is None and act != Action.CREATE:
            self.first_response_at = at
        if target in (State.CLOSED, State.REJECTED, State.MERGED):
            self.closed_at = at
        self.version += 1
        self.last_seq += 1
        payload = {k: _plain(v) for k, v in fields.items()}
        event = Event(self.id, self.last_seq, act, before, target, actor, role, at, note, payload)
        self.pending.append(event)
        return event

    def _target(self, act: Action, fields: dict[str, Any]) -> State:
        fixed = TRANSITIONS[(self.state, act)]
        if fixed is not None:
            return fixed
        if act == Action.DECIDE:
            decision = fields["decision"]
            if decision not in DECISIONS:
                msg = f"decision must be one of {', '.join(DECISIONS)}, got {decision!r}"
                raise MissingFieldError(msg, ("decision",))
            return DECISIONS[decision]
        result = fields["result"]
        if result not in VERIFY_RESULTS:
            msg = f"verification result must be pass or fail, got {result!r}"
            raise MissingFieldError(msg, ("result",))
        return State.CLOSED if result == "pass" else State.HANDLING

    def _changes(self, act: Action, fields: dict[str, Any], at: datetime) -> dict[str, Any]:
        if act in (Action.DISPATCH, Action.REASSIGN):
            if act == Action.DISPATCH and fields["outcome"] not in ASSESSMENT_OUTCOMES:
                msg = f"outcome must be one of {', '.join(ASSESSMENT_OUTCOMES)}, got {fields['outcome']!r}"
                raise MissingFieldError(msg, ("outcome",))
            out: dict[str, Any] = {"team_id": int(fields["team_id"])}
            if fields.get("township_code"):  # the team's township: a case follows its team
                out["township_code"] = str(fields["township_code"])
            if act == Action.DISPATCH:
                out["assessment_outcome"] = fields["outcome"]
            return out
        if act == Action.MERGE:
            if fields["canonical_id"] == self.id:
                msg = "an incident cannot be merged into itself"
                raise MissingFieldError(msg, ("canonical_id",))
            return {"duplicate_of": str(fields["canonical_id"])}
        if act == Action.CONSULT:
            return {"consult_departments": tuple(fields["departments"])}
        if act == Action.DEFER:
            if not self.deferrable(at):  # deferring after the fact would move the ranking: supervise instead
                due = f"{self.due_at:%Y-%m-%d %H:%M} UTC"
                msg = f"incident {self.number} is already overdue (due {due}); it cannot be deferred"
                raise Refusal(msg, "refuse.defer_overdue")
            new_due = fields["new_due_at"]
            if not isinstance(new_due, datetime) or new_due <= at:
                msg = "a deferral needs a new due time in the future"
                raise MissingFieldError(msg, ("new_due_at",))
            return {"due_at": new_due, "deferral_count": self.deferral_count + 1}
        if act == Action.VERIFY and fields["result"] == "fail":
            return {"rework_count": self.rework_count + 1}
        return {}

    def deferrable(self, at: datetime) -> bool:
        """Whether a deferral may still be asked at ``at``: only before the due time has passed."""
        return at <= self.due_at

    def snapshot(self) -> Incident:
        """A copy without pending events (what a reader would see)."""
        return replace(self, pending=[])


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, tuple | list | set | frozenset):
        return [_plain(v) for v in value]
    return value
