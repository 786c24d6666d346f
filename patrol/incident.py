"""The incident aggregate and its closed-loop workflow (standard library only).

One explicit transition table says which action moves an incident from which state to
which. Every transition checks its required fields, bumps the version and appends an
event (actor, role, time, from, to, note, payload); an illegal one raises
:class:`IllegalTransitionError` and changes nothing::

    discovered ─► assessing ─► handling ─► verifying ─► closed ─(回访 dissatisfied, once)─► handling
                    │   │ │        │  ▲  │       │
                    │   │ │        ▼  │  ▼       └─(fails check: rework)─► handling
                    │   │ │     consulting   deferred (挂账, clock stopped) ─► handling
                    │   │ └─► rejected
                    │   └───► merged
                    └─► handed_over (移交) ─► transferred (the department accepted)
                            └─► returned ─► handling (the township takes it)
                                   └─► disputed ─(the command centre rules)─► transferred | assessing

A deferral (延期) or a hold (挂账) is a *request* by the case's captain that someone else (the
command centre) approves or refuses; an approved deferral moves the due time, an approved hold
stops the clock until the case resumes. Neither may be asked or granted once the due time has
passed: an overdue case is supervised, not deferred.
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
    HANDED_OVER = "handed_over"  # 移交: waiting for the department to accept or return it
    RETURNED = "returned"  # the department returned it: the township takes it or disputes
    DISPUTED = "disputed"  # the command centre decides who handles it (争议裁定)
    CLOSED = "closed"
    REJECTED = "rejected"
    MERGED = "merged"
    TRANSFERRED = "transferred"  # the department accepted it: handled in its own system


class Action(StrEnum):
    """What a person does to an incident."""

    CREATE = "create"
    ASSESS = "assess"
    DISPATCH = "dispatch"
    REJECT = "reject"
    MERGE = "merge"
    CONSULT = "consult"
    DECIDE = "decide"
    DEFER = "defer"  # a self-granted deferral of earlier versions: read in old timelines, never taken now
    REQUEST = "request"
    APPROVE = "approve"
    REFUSE = "refuse"
    RESUME = "resume"
    SUBMIT = "submit"
    VERIFY = "verify"
    REASSIGN = "reassign"
    CALLBACK = "callback"
    HANDOVER = "handover"
    ACCEPT = "accept"
    RETURN = "return"
    DISPUTE = "dispute"
    RULE = "rule"
    SUPERVISE = "supervise"
    OPINION = "opinion"


class Source(StrEnum):
    """How the incident reached us."""

    PATROL = "patrol"
    HOTLINE = "hotline_12345"
    PETITION = "petition"
    CITIZEN = "citizen"
    CAMERA = "camera"
    REFERRAL = "department_referral"


FINAL_STATES = frozenset({State.CLOSED, State.REJECTED, State.MERGED, State.TRANSFERRED})
OPEN_STATES = frozenset(State) - FINAL_STATES
# open with the township's clock running; only these go overdue. Not: an approved hold (挂账), a
# handover waiting for the department, a dispute waiting for the command centre's ruling
# the open states whose clock runs: not on hold, not waiting for a department, a ruling or a
# consultation (会商 stops the clock; its decision resumes it)
RUNNING_STATES = OPEN_STATES - {State.DEFERRED, State.HANDED_OVER, State.DISPUTED, State.CONSULTING}
# the states in which a case has been taken on or handed over: from then on the departments the
# catalog names for its item are copied (抄告) and may read it
COPIED_STATES = frozenset(State) - {State.DISCOVERED, State.ASSESSING, State.REJECTED, State.MERGED}
HANDOVER_STATES = frozenset({State.HANDED_OVER, State.RETURNED, State.DISPUTED, State.TRANSFERRED})
RULINGS: dict[str, State] = {"department": State.TRANSFERRED, "township": State.ASSESSING}
# 督办: levels 1 一般督办, 2 重点督办, 3 挂牌督办; raised automatically once a case is overdue by
# more than these many days (and by hand by the command centre, at any time)
SUPERVISION_LEVELS = (1, 2, 3)
SUPERVISION_AFTER_DAYS = (0, 3, 10)
URGENT_SOURCES = frozenset({Source.HOTLINE, Source.PETITION})
URGENT_RESPONSE_MINUTES = 15
# what the assessment decides for a case it takes on (不予立案 is REJECT, with its reason):
# 简易处置 a minor matter put right on the spot; 立案 a formal case, with its reason; 首违不罚 a
# first minor offence corrected in time, closed without a penalty
ASSESSMENT_OUTCOMES = ("simple", "case", "first_offence_no_penalty")
# the words events written before 2026-12 used for two of them
LEGACY_OUTCOMES = {"enforce": "case", "education": "simple"}
VERIFY_RESULTS = ("pass", "fail")
REQUEST_KINDS = ("defer", "hold")  # 延期: a later due time; 挂账: the clock stops until resumed
# 回访: the reporter's verdict after closure of a hotline or petition case
CALLBACK_SOURCES = frozenset({Source.HOTLINE, Source.PETITION})
CALLBACK_RESULTS = ("satisfied", "basic", "dissatisfied")
SATISFIED_RESULTS = frozenset({"satisfied", "basic"})


# (from state, action) → to state; DECIDE's target depends on the decision
TRANSITIONS: dict[tuple[State, Action], State | None] = {
    (State.DISCOVERED, Action.ASSESS): State.ASSESSING,
    (State.ASSESSING, Action.DISPATCH): State.HANDLING,
    (State.ASSESSING, Action.REJECT): State.REJECTED,
    (State.ASSESSING, Action.MERGE): State.MERGED,
    (State.ASSESSING, Action.HANDOVER): State.HANDED_OVER,
    (State.HANDED_OVER, Action.ACCEPT): State.TRANSFERRED,
    (State.HANDED_OVER, Action.RETURN): State.RETURNED,
    (State.RETURNED, Action.DISPATCH): State.HANDLING,
    (State.RETURNED, Action.DISPUTE): State.DISPUTED,
    (State.DISPUTED, Action.RULE): None,
    (State.HANDLING, Action.CONSULT): State.CONSULTING,
    (State.HANDLING, Action.REQUEST): State.HANDLING,
    (State.HANDLING, Action.APPROVE): None,
    (State.HANDLING, Action.REFUSE): State.HANDLING,
    (State.HANDLING, Action.SUBMIT): State.VERIFYING,
    (State.HANDLING, Action.REASSIGN): State.HANDLING,
    (State.CONSULTING, Action.OPINION): State.CONSULTING,
    (State.CONSULTING, Action.DECIDE): None,
    (State.DEFERRED, Action.RESUME): State.HANDLING,
    (State.VERIFYING, Action.VERIFY): None,
    (State.CLOSED, Action.CALLBACK): None,
    # 督办 keeps the state: the case goes on where it stands, now watched
    **{(s, Action.SUPERVISE): s for s in sorted(RUNNING_STATES | {State.CONSULTING})},
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
    Action.REQUEST: ("kind", "reason"),
    Action.APPROVE: (),
    Action.REFUSE: ("reason",),
    Action.CALLBACK: ("result",),
    Action.HANDOVER: ("department",),
    Action.ACCEPT: (),
    Action.RETURN: ("reason",),
    Action.DISPUTE: ("reason",),
    Action.RULE: ("decision",),
    Action.SUPERVISE: ("level", "reason"),
    Action.OPINION: ("department", "opinion"),
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
    """Actions the table allows from a state (final states: only the callback of a closed case)."""
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
    request: dict[str, Any] | None = None  # the pending 延期/挂账 request: kind, by, at, reason, new_due_at
    paused_at: datetime | None = (
        None  # when an approved hold (挂账) or a consultation (会商) stopped the clock
    )
    satisfaction: str | None = None  # the first callback's verdict (回访), the one the evaluation counts
    callback_count: int = 0
    supervision_level: int = 0  # 督办: 0 none, 1 一般, 2 重点, 3 挂牌
    last_seq: int = 0
    updated_at: datetime | None = None  # when it was last stored (None: not stored yet)
    pending: list[Event] = field(default_factory=list)

    @property
    def is_final(self) -> bool:
        """Whether the incident is closed, rejected or merged."""
        return self.state in FINAL_STATES

    def response_due_at(self) -> datetime:
        """When the first assessment action is due."""
        return self.reported_at + timedelta(minutes=self.response_minutes)

    @property
    def is_paused(self) -> bool:
        """Whether the clock is stopped: on an approved hold (挂账)."""
        return self.state == State.DEFERRED

    def is_overdue(self, now: datetime) -> bool:
        """Overdue is derived: open past its due time, unless an approved hold stopped the clock."""
        return self.state in RUNNING_STATES and now > self.due_at

    def supervision_due(self, now: datetime) -> int:
        """The supervision level its lateness calls for at ``now`` (0: not overdue)."""
        if not self.is_overdue(now):
            return 0
        late_days = (now - self.due_at).total_seconds() / 86400
        return max(
            lvl
            for lvl, days in zip(SUPERVISION_LEVELS, SUPERVISION_AFTER_DAYS, strict=True)
            if late_days > days
        )

    def available(self, at: datetime) -> list[Action]:
        """The actions the incident itself admits at ``at``: its state and its own rules.

        The transition table, then: no request once overdue or while one is pending, an approval
        or refusal only of a pending request, a callback only of a hotline or petition case and
        only as often as the callback rule allows. Who may take them is the services' business.
        """
        out = []
        for act in allowed_actions(self.state):
            if act == Action.REQUEST and (self.request is not None or not self.deferrable(at)):
                continue
            if act in (Action.APPROVE, Action.REFUSE) and self.request is None:
                continue
            if act == Action.CALLBACK and not self.callback_due():
                continue
            if act == Action.SUPERVISE and self.supervision_level >= max(SUPERVISION_LEVELS):
                continue
            out.append(act)
        return out

    def callback_due(self) -> bool:
        """Whether a callback may be recorded now.

        A closed hotline or petition case is called back once, and once more after the rework
        a dissatisfied first verdict reopened.
        """
        if self.state != State.CLOSED or self.source not in CALLBACK_SOURCES:
            return False
        return self.callback_count == 0 or (self.callback_count == 1 and self.satisfaction == "dissatisfied")

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
        changes = self._changes(act, fields, at, actor)
        before = self.state
        decided = self.request if act in (Action.APPROVE, Action.REFUSE) else None
        # validated: apply changes atomically
        for name, value in changes.items():
            setattr(self, name, value)
        self.state = target
        if self.first_response_at is None and act != Action.CREATE:
            self.first_response_at = at
        if target in FINAL_STATES and before not in FINAL_STATES:
            self.closed_at = at
        self.version += 1
        self.last_seq += 1
        payload = {k: _plain(v) for k, v in fields.items()}
        if decided is not None:  # the timeline says what was approved or refused
            payload["request"] = decided
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
        if act == Action.RULE:
            if fields["decision"] not in RULINGS:
                msg = f"ruling must be one of {', '.join(RULINGS)}, got {fields['decision']!r}"
                raise MissingFieldError(msg, ("decision",))
            return RULINGS[fields["decision"]]
        if act == Action.APPROVE:
            if self.request is None:
                msg = f"incident {self.number} has no pending request to approve"
                raise Refusal(msg, "refuse.no_request")
            return State.DEFERRED if self.request["kind"] == "hold" else State.HANDLING
        if act == Action.CALLBACK:
            if fields["result"] not in CALLBACK_RESULTS:
                msg = (
                    f"callback result must be one of {', '.join(CALLBACK_RESULTS)}, got {fields['result']!r}"
                )
                raise MissingFieldError(msg, ("result",))
            reopens = fields["result"] == "dissatisfied" and self.callback_count == 0
            return State.HANDLING if reopens else State.CLOSED
        result = fields["result"]
        if result not in VERIFY_RESULTS:
            msg = f"verification result must be pass or fail, got {result!r}"
            raise MissingFieldError(msg, ("result",))
        return State.CLOSED if result == "pass" else State.HANDLING

    def _check_officers(self, officers: Any) -> None:
        """A formal case's result is signed by two different certified officers (两名持证执法人员)."""
        named = {str(o).strip() for o in officers or () if str(o).strip()}
        if len(named) < 2:
            msg = f"the result of formal case {self.number} needs two different certified officers"
            raise Refusal(msg, "refuse.case_two_officers")

    def _changes(self, act: Action, fields: dict[str, Any], at: datetime, actor: str) -> dict[str, Any]:
        if act == Action.HANDOVER:
            return {"department": str(fields["department"]), "handler": "department"}
        if act == Action.SUPERVISE:
            level = fields["level"]
            if (
                level not in SUPERVISION_LEVELS or level <= self.supervision_level
            ):  # supervision only escalates
                msg = f"{self.number} is supervised at level {self.supervision_level}: only higher (max 3)"
                raise Refusal(msg, "refuse.supervise_level", level=self.supervision_level)
            return {"supervision_level": int(level)}
        if act == Action.RULE:
            return {"handler": "department" if fields["decision"] == "department" else "township"}
        if act == Action.DISPATCH and self.state == State.ASSESSING and self.handler == "department":
            msg = f"{self.number} is a {self.department} matter: hand it over; its department may return it"
            raise Refusal(msg, "refuse.hand_over_instead")
        if act in (Action.DISPATCH, Action.REASSIGN):
            if act == Action.DISPATCH and fields["outcome"] not in ASSESSMENT_OUTCOMES:
                msg = f"outcome must be one of {', '.join(ASSESSMENT_OUTCOMES)}, got {fields['outcome']!r}"
                raise MissingFieldError(msg, ("outcome",))
            if (
                act == Action.DISPATCH
                and fields["outcome"] == "case"
                and not str(fields.get("reason") or "").strip()
            ):
                msg = f"a formal case (立案) of {self.number} needs its reason"
                raise MissingFieldError(msg, ("reason",))
            out: dict[str, Any] = {"team_id": int(fields["team_id"])}
            if fields.get("township_code"):  # the team's township: a case follows its team
                out["township_code"] = str(fields["township_code"])
            if act == Action.DISPATCH:
                out["assessment_outcome"] = fields["outcome"]
                out["handler"] = "township"  # taken by the township (also after a department returned it)
            return out
        if act == Action.MERGE:
            if fields["canonical_id"] == self.id:
                msg = "an incident cannot be merged into itself"
                raise MissingFieldError(msg, ("canonical_id",))
            return {"duplicate_of": str(fields["canonical_id"])}
        if act == Action.CONSULT:  # the handling clock stops while the departments are consulted
            return {"consult_departments": tuple(fields["departments"]), "paused_at": at}
        if act == Action.OPINION and fields["department"] not in self.consult_departments:
            msg = f"{fields['department']} is not invited to the consultation on {self.number}"
            raise Refusal(msg, "refuse.not_invited")
        if act == Action.REQUEST:
            return {"request": self._request(fields, at, actor)}
        if act in (Action.APPROVE, Action.REFUSE):
            return self._decide_request(act, at, actor)
        if act in (Action.RESUME, Action.DECIDE) and self.paused_at is not None:
            # after a hold or a consultation the clock resumes where it stopped
            return {"due_at": self.due_at + (at - self.paused_at), "paused_at": None}
        if act == Action.CALLBACK:
            self._check_callback()
            out = {"callback_count": self.callback_count + 1}
            if self.callback_count == 0:
                out["satisfaction"] = fields["result"]
            if fields["result"] == "dissatisfied" and self.callback_count == 0:  # reopened once, as rework
                out |= {"rework_count": self.rework_count + 1, "closed_at": None}
            return out
        if act == Action.SUBMIT and self.assessment_outcome == "case":
            self._check_officers(fields.get("officers"))
        out = {"request": None} if self.request is not None else {}  # moving on withdraws a pending request
        if act == Action.VERIFY and fields["result"] == "fail":
            out["rework_count"] = self.rework_count + 1
        return out

    def _check_callback(self) -> None:
        if self.source not in CALLBACK_SOURCES:
            msg = f"{self.number} is from {self.source.value}: only hotline/petition cases get a callback"
            raise Refusal(msg, "refuse.callback_source")
        if not self.callback_due():
            msg = f"incident {self.number} has had its callback"
            raise Refusal(msg, "refuse.callback_done")

    def _overdue_refusal(self) -> Refusal:
        due = f"{self.due_at:%Y-%m-%d %H:%M} UTC"
        msg = f"incident {self.number} is already overdue (due {due}); it cannot be deferred"
        return Refusal(msg, "refuse.defer_overdue")

    def _request(self, fields: dict[str, Any], at: datetime, actor: str) -> dict[str, Any]:
        """A new pending request, checked: one at a time, before the due time, a later due time."""
        if self.request is not None:
            msg = f"incident {self.number} already has a pending {self.request['kind']} request"
            raise Refusal(msg, "refuse.request_pending")
        if not self.deferrable(at):  # deferring after the fact would move the ranking: supervise instead
            raise self._overdue_refusal()
        kind = fields["kind"]
        if kind not in REQUEST_KINDS:
            msg = f"request kind must be one of {', '.join(REQUEST_KINDS)}, got {kind!r}"
            raise MissingFieldError(msg, ("kind",))
        out: dict[str, Any] = {"kind": kind, "by": actor, "at": at.isoformat()}
        out["reason"] = str(fields["reason"])
        if kind == "defer":
            new_due = fields.get("new_due_at")
            if not isinstance(new_due, datetime) or new_due <= max(at, self.due_at):
                msg = "a deferral needs a new due time later than now and than the current due time"
                raise MissingFieldError(msg, ("new_due_at",))
            out["new_due_at"] = new_due.isoformat()
        return out

    def _decide_request(self, act: Action, at: datetime, actor: str) -> dict[str, Any]:
        """Approve or refuse the pending request: never by its requester, never once overdue."""
        req = self.request
        if req is None:
            msg = f"incident {self.number} has no pending request"
            raise Refusal(msg, "refuse.no_request")
        if actor == req["by"]:
            msg = f"{req['by']} asked for this {req['kind']}; someone else must decide it"
            raise Refusal(msg, "refuse.decide_own_request")
        if act == Action.REFUSE:
            return {"request": None}
        if not self.deferrable(at):  # the request lapsed with the due time
            raise self._overdue_refusal()
        if req["kind"] == "hold":
            return {"request": None, "paused_at": at}
        new_due = datetime.fromisoformat(req["new_due_at"])
        return {"request": None, "due_at": new_due, "deferral_count": self.deferral_count + 1}

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
