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
from patrol.refusals import Refusal

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
    step(inc, "dispatch", 10, team_id=2, outcome="simple")
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
        step(inc, "dispatch", team_id=2, outcome="simple")
    assert inc.state == State.DISCOVERED and inc.version == 1 and inc.pending == []


@pytest.mark.parametrize("final", sorted(FINAL_STATES))
def test_final_states_allow_no_action_but_the_callback_of_a_closed_case(final):
    assert allowed_actions(final) == ([Action.CALLBACK] if final == State.CLOSED else [])
    inc = make()
    inc.state = final
    for action in Action:
        if action in (Action.CREATE, Action.CALLBACK):
            continue
        with pytest.raises(IllegalTransitionError):
            step(inc, action.value)


@pytest.mark.parametrize(
    ("prepare", "action", "fields", "missing"),
    [
        ("assessing", "dispatch", {"outcome": "simple"}, "team_id"),
        ("assessing", "reject", {}, "reason"),
        ("assessing", "merge", {}, "canonical_id"),
        ("handling", "consult", {}, "departments"),
        ("handling", "request", {"reason": "x"}, "kind"),
        ("handling", "request", {"kind": "defer", "reason": "x"}, "new due time"),
        ("handling", "refuse", {}, "reason"),
        ("closed", "callback", {}, "result"),
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


def request(inc: Incident, minutes: int, kind: str = "defer", by: str = "中队长", **fields) -> None:
    inc.apply("request", actor=by, role="captain", at=T0 + timedelta(minutes=minutes), kind=kind, reason="整改期",
              **fields)  # fmt: skip


def decide(inc: Incident, action: str, minutes: int, by: str = "值班长", **fields) -> None:
    inc.apply(action, actor=by, role="command_center", at=T0 + timedelta(minutes=minutes), **fields)


def test_an_approved_deferral_moves_the_due_time_and_the_case_goes_on_being_handled():
    inc = to_handling(make())
    new_due = T0 + timedelta(days=10)
    request(inc, 30, new_due_at=new_due)
    assert inc.state == State.HANDLING and inc.due_at == T0 + timedelta(days=3) and inc.request is not None
    assert inc.request["by"] == "中队长" and inc.deferral_count == 0  # asked, not yet granted
    decide(inc, "approve", 40)
    assert (
        inc.state == State.HANDLING
        and inc.due_at == new_due
        and inc.deferral_count == 1
        and inc.request is None
    )
    assert inc.pending[-1].payload["request"]["new_due_at"] == new_due.isoformat()  # the timeline says what


def test_a_refused_request_leaves_the_due_time_as_it_was():
    inc = to_handling(make())
    request(inc, 30, new_due_at=T0 + timedelta(days=10))
    decide(inc, "refuse", 40, reason="理由不充分")
    assert inc.due_at == T0 + timedelta(days=3) and inc.deferral_count == 0 and inc.request is None
    assert Action.REQUEST in inc.available(T0 + timedelta(minutes=50))  # may ask again, in time


def test_nobody_decides_their_own_request():
    inc = to_handling(make())
    request(inc, 30, new_due_at=T0 + timedelta(days=10))
    for action in ("approve", "refuse"):
        with pytest.raises(Refusal) as refused:
            decide(inc, action, 40, by="中队长", reason="x")
        assert refused.value.key == "refuse.decide_own_request"
    assert inc.request is not None and inc.due_at == T0 + timedelta(days=3)


def test_no_request_is_asked_or_granted_once_the_due_time_has_passed():
    inc = to_handling(make())
    late = 3 * 24 * 60 + 1
    assert Action.REQUEST not in inc.available(T0 + timedelta(minutes=late))
    with pytest.raises(Refusal) as refused:
        request(inc, late, new_due_at=T0 + timedelta(days=10))
    assert refused.value.key == "refuse.defer_overdue" and inc.request is None
    request(inc, 30, new_due_at=T0 + timedelta(days=10))  # asked in time, but not decided in time: it lapsed
    with pytest.raises(Refusal) as refused:
        decide(inc, "approve", late)
    assert refused.value.key == "refuse.defer_overdue" and inc.due_at == T0 + timedelta(days=3)


def test_one_request_at_a_time_and_only_a_pending_one_is_decided():
    inc = to_handling(make())
    assert Action.APPROVE not in inc.available(T0) and Action.REFUSE not in inc.available(T0)
    with pytest.raises(Refusal) as refused:
        decide(inc, "approve", 20)
    assert refused.value.key == "refuse.no_request"
    request(inc, 30, new_due_at=T0 + timedelta(days=10))
    with pytest.raises(Refusal) as refused:
        request(inc, 35, kind="hold")
    assert refused.value.key == "refuse.request_pending"


def test_a_deferral_must_ask_for_a_later_due_time():
    inc = to_handling(make())
    for new_due in (T0, T0 + timedelta(days=2)):  # in the past; before the current due time
        with pytest.raises(MissingFieldError, match="later"):
            request(inc, 30, new_due_at=new_due)


def test_an_approved_hold_stops_the_clock_until_the_case_resumes():
    inc = to_handling(make())
    request(inc, 30, kind="hold")
    decide(inc, "approve", 60)
    assert inc.state == State.DEFERRED and inc.paused_at == T0 + timedelta(minutes=60)
    assert not inc.is_overdue(T0 + timedelta(days=30))  # held: the clock does not run
    step(inc, "resume", 60 + 5 * 24 * 60)  # five days on hold
    assert inc.state == State.HANDLING and inc.paused_at is None
    assert inc.due_at == T0 + timedelta(days=8)  # the three days' limit, moved by the five held


def test_moving_on_withdraws_a_pending_request():
    inc = to_handling(make())
    request(inc, 30, new_due_at=T0 + timedelta(days=10))
    step(inc, "submit", 40, result="已整改")
    assert inc.request is None


def hotline_closed() -> Incident:
    inc = to_handling(make(Source.HOTLINE))
    step(inc, "submit", 60, result="已清理")
    step(inc, "verify", 90, result="pass")
    return inc


def test_a_satisfied_callback_is_recorded_and_the_case_stays_closed():
    inc = hotline_closed()
    decide(inc, "callback", 200, result="basic")
    assert inc.state == State.CLOSED and inc.satisfaction == "basic" and inc.callback_count == 1
    assert inc.closed_at == T0 + timedelta(minutes=90)  # the closure time is not moved by the call
    assert Action.CALLBACK not in inc.available(T0)
    with pytest.raises(Refusal) as refused:
        decide(inc, "callback", 210, result="satisfied")
    assert refused.value.key == "refuse.callback_done"


def test_a_dissatisfied_callback_reopens_the_case_once_as_rework():
    inc = hotline_closed()
    decide(inc, "callback", 200, result="dissatisfied")
    assert inc.state == State.HANDLING and inc.rework_count == 1 and inc.closed_at is None
    step(inc, "submit", 300, result="再次整改")
    step(inc, "verify", 330, result="pass")
    assert Action.CALLBACK in inc.available(T0)  # a second call after the rework
    decide(inc, "callback", 400, result="dissatisfied")
    assert inc.state == State.CLOSED and inc.rework_count == 1  # reopened once only
    assert (
        inc.satisfaction == "dissatisfied" and inc.callback_count == 2
    )  # the first verdict is the one counted
    assert Action.CALLBACK not in inc.available(T0)


def test_only_hotline_and_petition_cases_get_a_callback():
    inc = to_handling(make(Source.PATROL))
    step(inc, "submit", 60, result="已清理")
    step(inc, "verify", 90, result="pass")
    assert Action.CALLBACK not in inc.available(T0)
    with pytest.raises(Refusal) as refused:
        decide(inc, "callback", 200, result="satisfied")
    assert refused.value.key == "refuse.callback_source" and inc.callback_count == 0


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


def test_a_formal_case_needs_its_reason_and_simple_handling_does_not():
    inc = make()
    step(inc, "assess", 5)
    with pytest.raises(MissingFieldError, match="needs its reason") as missing:
        step(inc, "dispatch", 10, team_id=2, outcome="case", reason="  ")
    assert missing.value.fields == ("reason",) and inc.state == State.ASSESSING and inc.version == 2
    with pytest.raises(MissingFieldError, match="outcome must be one of"):  # the old word is history only
        step(inc, "dispatch", 10, team_id=2, outcome="enforce")
    step(inc, "dispatch", 10, team_id=2, outcome="case", reason="经劝导拒不改正")
    assert inc.assessment_outcome == "case" and inc.pending[-1].payload["reason"] == "经劝导拒不改正"
    simple = make()
    step(simple, "assess", 5)
    step(simple, "dispatch", 10, team_id=2, outcome="simple")
    assert simple.assessment_outcome == "simple"


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
            ("handling", "consult"), ("handling", "request"), ("handling", "approve"), ("handling", "refuse"),
            ("handling", "submit"), ("consulting", "decide"), ("deferred", "resume"), ("verifying", "verify"),
            ("closed", "callback")} <= edges  # fmt: skip


def department_case() -> Incident:
    inc = make()
    inc.handler, inc.department = "department", "scjg"
    step(inc, "assess", 5)
    return inc


def test_a_departments_item_is_handed_over_not_dispatched_and_an_accepted_handover_is_final():
    inc = department_case()
    with pytest.raises(Refusal) as refused:
        step(inc, "dispatch", 10, team_id=2, outcome="simple")
    assert refused.value.key == "refuse.hand_over_instead" and inc.state == State.ASSESSING
    step(inc, "handover", 10, department="scjg")
    assert inc.state == State.HANDED_OVER and not inc.is_overdue(
        T0 + timedelta(days=30)
    )  # the department's turn
    inc.apply("accept", actor="市场监管联络员", role="liaison", at=T0 + timedelta(hours=3))
    assert inc.state == State.TRANSFERRED and inc.is_final and inc.closed_at == T0 + timedelta(hours=3)


def test_a_returned_handover_is_dispatched_by_the_township_or_disputed_and_ruled_on():
    inc = department_case()
    step(inc, "handover", 10, department="scjg")
    inc.apply(
        "return", actor="市场监管联络员", role="liaison", at=T0 + timedelta(hours=3), reason="属乡镇事项"
    )
    assert inc.state == State.RETURNED and inc.is_overdue(
        T0 + timedelta(days=30)
    )  # the township's clock again
    step(inc, "dispatch", 200, team_id=2, outcome="simple")
    assert inc.state == State.HANDLING and inc.handler == "township"

    other = department_case()
    step(other, "handover", 10, department="scjg")
    other.apply("return", actor="联络员", role="liaison", at=T0 + timedelta(hours=3), reason="属乡镇事项")
    step(other, "dispute", 200, reason="乡镇无执法权")
    assert other.state == State.DISPUTED
    with pytest.raises(MissingFieldError):
        decide(other, "rule", 300, decision="nobody")
    decide(other, "rule", 300, decision="department")
    assert other.state == State.TRANSFERRED and other.handler == "department"
    assert other.pending[-1].payload["decision"] == "department"  # the ruling is on record


def test_supervision_is_called_for_by_lateness_and_only_escalates():
    inc = to_handling(make())
    due = inc.due_at
    assert [inc.supervision_due(due + timedelta(days=d)) for d in (-1, 0.5, 3.5, 10.5)] == [0, 1, 2, 3]
    decide(inc, "supervise", 20, level=2, reason="群众反映强烈")  # by hand, before it is even late
    assert (inc.state, inc.supervision_level) == (State.HANDLING, 2)  # the case goes on where it stands
    with pytest.raises(Refusal) as refused:
        decide(inc, "supervise", 30, level=1, reason="x")
    assert refused.value.key == "refuse.supervise_level" and inc.supervision_level == 2
    decide(inc, "supervise", 40, level=3, reason="挂牌")
    assert Action.SUPERVISE not in inc.available(T0)  # nothing above 挂牌督办
    held = to_handling(make())
    request(held, 30, kind="hold")
    decide(held, "approve", 40)
    assert held.supervision_due(held.due_at + timedelta(days=30)) == 0  # a held case is not late


def test_a_formal_cases_result_names_two_different_certified_officers_and_simple_handling_none():
    case = make()
    step(case, "assess", 5)
    step(case, "dispatch", 10, team_id=2, outcome="case", reason="经劝导拒不改正")
    for officers in (None, ("执法队员甲",), ("执法队员甲", " 执法队员甲 "), ("执法队员甲", "  ")):
        with pytest.raises(Refusal, match="two different certified officers") as refused:
            step(case, "submit", 30, result="已立案查处", officers=officers)
        assert refused.value.key == "refuse.case_two_officers"
        assert case.state == State.HANDLING and case.version == 3
    step(case, "submit", 30, result="已立案查处", officers=("执法队员甲", "执法队员乙"))
    assert case.state == State.VERIFYING
    assert case.pending[-1].payload["officers"] == ["执法队员甲", "执法队员乙"]
    simple = to_handling(make())
    step(simple, "submit", 30, result="已现场处置")
    assert simple.state == State.VERIFYING


def test_a_consultation_stops_the_handling_clock_and_its_decision_resumes_it():
    inc = to_handling(make())
    due = inc.due_at
    step(inc, "consult", 60, departments=["scjg"])
    assert inc.paused_at == T0 + timedelta(minutes=60)
    assert not inc.is_overdue(due + timedelta(days=30))  # nobody is late while the departments are asked
    step(inc, "decide", 60 + 5 * 24 * 60, decision="handle")  # five days of consultation
    assert inc.state == State.HANDLING and inc.paused_at is None
    assert inc.due_at == due + timedelta(days=5)
    assert inc.is_overdue(inc.due_at + timedelta(minutes=1)) and not inc.is_overdue(inc.due_at)
