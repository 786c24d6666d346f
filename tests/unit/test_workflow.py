from datetime import UTC, datetime, timedelta

import pytest

from patrol.incident import (
    FINAL_STATES,
    TRANSITIONS,
    Action,
    IllegalTransitionError,
    Incident,
    MissingFieldError,
    Source,
    State,
    allowed_actions,
)

T0 = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)


def make(source: Source = Source.PATROL) -> Incident:
    return Incident(
        id="i1", number="NH-20261127-0001", district_code="330402", item_code="PARK_COMPOUND", source=source,
        lat=30.75, lng=120.76, cell=1, village_code="v", township_code="t", team_id=1, handler="township",
        department="zhzf", routing_reason="r", description="d", reported_at=T0, due_at=T0 + timedelta(days=3),
        response_minutes=15 if source == Source.HOTLINE else 30,
    )  # fmt: skip


def step(inc: Incident, action: str, minutes: int = 10, **fields) -> None:
    inc.apply(action, actor="张三", role="captain", at=T0 + timedelta(minutes=minutes), **fields)


def to_handling(inc: Incident) -> Incident:
    step(inc, "assess", 5)
    step(inc, "dispatch", 10, team_id=2, outcome="enforce")
    return inc


def test_the_happy_path_closes_and_records_every_event():
    inc = to_handling(make())
    step(inc, "submit", 60, result="已清理")
    step(inc, "verify", 90, result="pass")
    assert inc.state == State.CLOSED
    assert [e.to_state for e in inc.pending] == [
        State.ASSESSING,
        State.HANDLING,
        State.VERIFYING,
        State.CLOSED,
    ]
    assert inc.version == 5
    assert inc.closed_at == T0 + timedelta(minutes=90)
    assert inc.team_id == 2


def test_an_illegal_transition_raises_and_changes_nothing():
    inc = make()
    with pytest.raises(
        IllegalTransitionError, match="cannot dispatch an incident that is discovered; allowed: assess"
    ):
        step(inc, "dispatch", team_id=2, outcome="enforce")
    assert inc.state == State.DISCOVERED and inc.version == 1 and inc.pending == []


@pytest.mark.parametrize("final", sorted(FINAL_STATES))
def test_final_states_allow_no_action(final):
    assert allowed_actions(final) == []
    inc = make()
    inc.state = final
    for action in Action:
        if action == Action.CREATE:
            continue
        with pytest.raises(IllegalTransitionError):
            step(inc, action.value)


@pytest.mark.parametrize(
    ("prepare", "action", "fields", "missing"),
    [
        ("assessing", "dispatch", {"outcome": "enforce"}, "team_id"),
        ("assessing", "reject", {}, "reason"),
        ("assessing", "merge", {}, "canonical_id"),
        ("handling", "consult", {}, "departments"),
        ("handling", "defer", {"reason": "x"}, "new_due_at"),
        ("handling", "submit", {}, "result"),
        ("verifying", "verify", {}, "result"),
        ("consulting", "decide", {}, "decision"),
    ],
)
def test_each_transition_demands_its_fields(prepare, action, fields, missing):
    inc = make()
    inc.state = State(prepare)
    with pytest.raises(MissingFieldError, match=missing):
        step(inc, action, **fields)
    assert inc.state == State(prepare) and inc.pending == []


def test_a_failed_verification_counts_a_rework_and_goes_back_to_handling():
    inc = to_handling(make())
    step(inc, "submit", 60, result="done")
    step(inc, "verify", 70, result="fail")
    assert inc.state == State.HANDLING and inc.rework_count == 1


def test_a_deferral_moves_the_due_time_and_resumes_to_handling():
    inc = to_handling(make())
    new_due = T0 + timedelta(days=10)
    step(inc, "defer", 30, reason="整改期", new_due_at=new_due)
    assert inc.state == State.DEFERRED and inc.due_at == new_due and inc.deferral_count == 1
    step(inc, "resume", 40)
    assert inc.state == State.HANDLING


def test_a_deferral_into_the_past_is_refused():
    inc = to_handling(make())
    with pytest.raises(MissingFieldError, match="future"):
        step(inc, "defer", 30, reason="x", new_due_at=T0)


@pytest.mark.parametrize(
    ("decision", "state"), [("handle", "handling"), ("close", "closed"), ("reject", "rejected")]
)
def test_a_consultation_ends_in_its_decision(decision, state):
    inc = to_handling(make())
    step(inc, "consult", 20, departments=["scjg", "ga"])
    assert inc.consult_departments == ("scjg", "ga")
    step(inc, "decide", 30, decision=decision)
    assert inc.state == State(state)


def test_an_unknown_decision_is_refused():
    inc = to_handling(make())
    step(inc, "consult", 20, departments=["ga"])
    with pytest.raises(MissingFieldError, match="decision must be one of"):
        step(inc, "decide", 30, decision="maybe")


def test_a_minor_first_violation_is_an_assessment_outcome_on_record():
    inc = make()
    step(inc, "assess", 5)
    step(inc, "dispatch", 10, team_id=2, outcome="first_offence_no_penalty")
    assert inc.assessment_outcome == "first_offence_no_penalty"
    assert inc.pending[-1].payload["outcome"] == "first_offence_no_penalty"


def test_an_incident_cannot_be_merged_into_itself():
    inc = make()
    step(inc, "assess", 5)
    with pytest.raises(MissingFieldError, match="itself"):
        step(inc, "merge", 6, canonical_id="i1")


def test_the_first_action_sets_the_response_time():
    inc = make()
    step(inc, "assess", 12)
    assert inc.first_response_at == T0 + timedelta(minutes=12)


def test_hotline_reports_get_the_fifteen_minute_response_alarm():
    inc = make(Source.HOTLINE)
    assert inc.response_due_at() == T0 + timedelta(minutes=15)
    assert not inc.awaiting_response_overdue(T0 + timedelta(minutes=14))
    assert inc.awaiting_response_overdue(T0 + timedelta(minutes=16))


def test_overdue_is_derived_from_the_due_time_and_ends_with_closure():
    inc = to_handling(make())
    assert not inc.is_overdue(T0 + timedelta(days=2))
    assert inc.is_overdue(T0 + timedelta(days=4))
    step(inc, "submit", 60, result="ok")
    step(inc, "verify", 70, result="pass")
    assert not inc.is_overdue(T0 + timedelta(days=4))


def test_every_event_carries_actor_role_time_states_and_payload():
    inc = make()
    step(inc, "assess", 5, note="受理")
    e = inc.pending[0]
    assert (e.actor, e.role, e.from_state, e.to_state, e.note, e.seq) == (
        "张三",
        "captain",
        State.DISCOVERED,
        State.ASSESSING,
        "受理",
        1,
    )


def test_the_table_covers_the_design_diagram():
    edges = {(f.value, a.value) for f, a in TRANSITIONS}
    assert {("discovered", "assess"), ("assessing", "dispatch"), ("assessing", "reject"), ("assessing", "merge"),
            ("handling", "consult"), ("handling", "defer"), ("handling", "submit"), ("consulting", "decide"),
            ("deferred", "resume"), ("verifying", "verify")} <= edges  # fmt: skip
