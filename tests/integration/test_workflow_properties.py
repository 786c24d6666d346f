"""Random workflows through the services on both backends keep the rules of duty (hypothesis).

The domain's own property test (tests/unit/test_properties.py) drives one Incident; this one
drives IncidentService over a real store of each engine, as several people with their roles, and
reads back what was stored after every accepted step.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings, target
from hypothesis import strategies as st

from patrol.dashboard import overdue_query
from patrol.incident import Action, State
from patrol.incidents import IncidentService, NewIncident
from patrol.permissions import AccessDeniedError, allowed
from patrol.roles import Principal

T0 = datetime(2026, 11, 25, 1, 0, tzinfo=UTC)  # a Wednesday, 09:00 in Jiaxing
POINT = (30.7552, 120.7601)
PAUSED = {State.DEFERRED, State.CONSULTING, State.HANDED_OVER, State.DISPUTED}
PEOPLE = ("值班长甲", "值班长乙", "中队长甲", "中队长乙", "市场监管联络员")

FIELDS = st.fixed_dictionaries(
    {
        "outcome": st.sampled_from(["simple", "simple", "case", "first_offence_no_penalty", "bogus"]),
        "reason": st.sampled_from(["现场核实", "经劝导拒不改正", ""]),
        "departments": st.sampled_from([["scjg"], ["scjg", "sthb"]]),
        "decision": st.sampled_from(["handle", "close", "reject", "department", "township"]),
        "days": st.sampled_from([1, 3, 9, -2]),
        "result": st.sampled_from(["pass", "fail", "satisfied", "dissatisfied"]),
        "kind": st.sampled_from(["defer", "hold"]),
        "department": st.sampled_from(["scjg", "sthb"]),
        "level": st.sampled_from([1, 2, 3]),
        "opinion": st.sampled_from(["同意", ""]),
        "officers": st.sampled_from([["甲"], []]),
    },
)


def _principal(name: str, township: str) -> Principal:
    if name.startswith("值班长"):
        return Principal(name, "command_center")
    if name.startswith("中队长"):
        return Principal(name, "captain", township_code=township)
    return Principal(name, "liaison", department="scjg")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_workflows_through_the_services_keep_every_rule_of_duty_on_each_backend(district_store, data):
    now = [T0]
    svc = IncidentService(district_store, clock=lambda: now[0])
    cc = Principal("值班长甲", "command_center")
    inc = svc.report(
        cc, NewIncident("PARK_COMPOUND", *POINT, "hotline_12345", "楼下乱停车", reported_at=T0)
    ).incident
    accepted = 0
    for _ in range(data.draw(st.integers(4, 16), label="steps")):
        # mostly what the case admits now, sometimes anything: by anyone, with any fields
        open_now = svc.get(cc, inc.id).available(now[0])
        onward = [a for a in open_now if a not in (Action.REJECT, Action.MERGE)] or open_now  # ends seldom
        pool = onward if onward and data.draw(st.integers(0, 5)) else list(Action)
        action = data.draw(st.sampled_from(pool), label="action")
        fields = data.draw(FIELDS, label="fields")
        fit = [p for p in PEOPLE if allowed(_principal(p, inc.township_code), action)]
        name = data.draw(
            st.sampled_from(fit if fit and data.draw(st.integers(0, 4)) else list(PEOPLE)), label="who"
        )
        minutes = data.draw(st.integers(1, 4000), label="minutes later")
        now[0] += timedelta(minutes=minutes)
        who = _principal(name, inc.township_code)
        before = svc.get(cc, inc.id)
        logged = len(svc.timeline(cc, inc.id))
        extra = dict(fields)
        if "days" in extra:
            extra["new_due_at"] = before.due_at + timedelta(days=extra.pop("days"))
        if action in (Action.DISPATCH, Action.REASSIGN):
            extra["team_id"] = inc.team_id
        try:
            svc.act(who, inc.id, action, expected_version=before.version, **extra)
        except (ValueError, AccessDeniedError, KeyError):  # refusals of every kind
            after = svc.get(cc, inc.id)
            assert (after.version, after.state, after.due_at) == (before.version, before.state, before.due_at)
            assert len(svc.timeline(cc, inc.id)) == logged, "a refusal wrote an event"
            continue
        events = svc.timeline(cc, inc.id)
        accepted += 1
        assert len(events) == logged + 1 and events[-1].action == Action(action)
        last = events[-1]
        if last.action in (Action.APPROVE, Action.REFUSE):  # who asked never decides
            asked = [e for e in events[:-1] if e.action == Action.REQUEST][-1]
            assert asked.actor != last.actor
        if last.action == Action.VERIFY:  # who submitted never verifies
            submitted = [e for e in events[:-1] if e.action == Action.SUBMIT][-1]
            assert submitted.actor != last.actor
        if last.action in (Action.REQUEST, Action.APPROVE):  # never once the due time has passed
            assert last.at <= before.due_at
        after = svc.get(cc, inc.id)
        if after.state in PAUSED:  # no clock runs while the case is paused
            later = now[0] + timedelta(days=400)
            assert not after.is_overdue(later)
            overdue = svc.list_incidents(cc, overdue_query(later, limit=10_000))
            assert inc.id not in {i.id for i in overdue}
        assert after.version == len(events)
    target(float(accepted), label="accepted steps")  # steer towards long lived-through workflows
