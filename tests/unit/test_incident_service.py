"""Incident services on the embedded store: routing, duplicates, repeats, role scoping."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from pyproj import Geod

from geo.crs import wgs84_to_gcj02
from patrol.incident import State
from patrol.incidents import IncidentService, NewIncident
from patrol.permissions import AccessDeniedError
from patrol.roles import Principal
from patrol.routing import OutsideDistrictError
from store import open_store
from store.rows import IncidentQuery

IMPORTER = Principal("导入员", "admin")

CC = Principal("指挥员", "command_center")
CHECKER = Principal("值班长", "command_center")  # who verifies is never who submitted
NOW = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)
P = (30.7552, 120.7601)  # in a street (commercial_service class)


@pytest.fixture
def sqlite_store(district_sqlite_url):
    store = open_store(district_sqlite_url)
    yield store
    store.close()


@pytest.fixture
def svc(sqlite_store):
    clock = {"now": NOW}
    service = IncidentService(sqlite_store, clock=lambda: clock["now"])
    service.test_clock = clock  # type: ignore[attr-defined]
    return service


def _offset(lat: float, lng: float, north_m: float, east_m: float) -> tuple[float, float]:
    return lat + north_m / 110_900, lng + east_m / (111_320 * np.cos(np.radians(lat)))


def report(svc, item="PARK_COMPOUND", at=None, point=P, **kw):
    return svc.report(
        CC,
        NewIncident(item, point[0], point[1], kw.pop("source", "patrol"), "d", reported_at=at or NOW, **kw),
    )


def test_routing_keeps_empowered_items_and_refers_professional_ones(svc):
    kept = report(svc, "PARK_COMPOUND").incident
    assert kept.handler == "township" and "乡镇承接" in kept.routing_reason
    referred = report(svc, "FOOD_SAFETY").incident
    assert referred.handler == "department" and referred.department == "scjg"
    assert "专业事项，移交市场监管" in referred.routing_reason


def test_an_item_not_empowered_to_the_townships_class_is_referred(svc):
    # straw burning is empowered to agriculture_rural townships only; P lies in a commercial street
    inc = report(svc, "STRAW_BURNING").incident
    assert inc.handler == "department" and inc.department == "ny"
    assert "未向商业服务业类乡镇赋权" in inc.routing_reason


def test_the_team_is_the_one_of_the_village_the_point_lies_in(svc):
    inc = report(svc).incident
    idx = svc.areas.assigner.assign([P[0]], [P[1]]).village[0]
    assert inc.village_code == svc.areas.village_codes[idx]
    assert svc.teams[inc.team_id].village_code == inc.village_code


def test_a_point_outside_the_district_is_refused(svc):
    with pytest.raises(OutsideDistrictError, match="outside the district"):
        report(svc, point=(31.5, 121.5))


def test_gcj02_input_is_converted_to_wgs84_before_routing(svc):
    g_lat, g_lng = wgs84_to_gcj02(*P)
    inc = svc.report(CC, NewIncident("CLUTTER", float(g_lat), float(g_lng), crs="gcj02")).incident
    assert inc.lat == pytest.approx(P[0], abs=1e-7) and inc.lng == pytest.approx(P[1], abs=1e-7)


def test_an_unknown_item_is_refused(svc):
    with pytest.raises(ValueError, match="unknown enforcement item 'NOPE'"):
        report(svc, "NOPE")


def test_hotline_and_petition_reports_get_a_fifteen_minute_response_target(svc):
    assert report(svc, source="hotline_12345").incident.response_minutes == 15
    assert report(svc, source="petition").incident.response_minutes == 15
    assert report(svc, "ILLEGAL_BUILD", source="patrol").incident.response_minutes == 60


def test_the_due_time_follows_the_items_handling_days_in_working_days(svc):
    inc = report(svc, "ILLEGAL_BUILD").incident  # 15 working days from Friday 27 November 2026, 10:00
    assert inc.due_at - inc.reported_at == timedelta(days=21)  # three weeks of weekdays: Friday 18 December
    bulk, _ = svc.intake.prepare(
        pd.DataFrame(
            {"item_code": ["ILLEGAL_BUILD"], "lat": [P[0]], "lng": [P[1]], "source": ["patrol"],
             "reported_at": [pd.Timestamp(NOW)]}
        ), CC,
    )  # fmt: skip
    assert bulk["due_at"].iloc[0].to_pydatetime() == inc.due_at  # one rule for a report and an import


@pytest.mark.parametrize(
    ("north_m", "hours", "item", "flagged"),
    [(30, 10, "PARK_COMPOUND", True), (45, 71, "PARK_COMPOUND", True), (60, 10, "PARK_COMPOUND", False),
     (30, 73, "PARK_COMPOUND", False), (30, 10, "CLUTTER", False)],
)  # fmt: skip
def test_a_same_item_report_within_50_m_and_72_h_of_an_open_one_is_a_suspected_duplicate(
    svc, north_m, hours, item, flagged
):
    first = report(svc, "PARK_COMPOUND", at=NOW).incident
    svc.test_clock["now"] = NOW + timedelta(hours=hours)  # reported as it happens, not in the future
    later = report(svc, item, at=NOW + timedelta(hours=hours), point=_offset(*P, north_m, 0)).incident
    assert (later.suspected_duplicate_of == first.id) is flagged


def test_a_closed_incident_does_not_attract_duplicates(svc):
    first = report(svc).incident
    svc.act(CC, first.id, "assess", expected_version=1)
    svc.act(CC, first.id, "reject", expected_version=2, reason="非执法事项")
    assert report(svc, point=_offset(*P, 10, 0)).incident.suspected_duplicate_of is None


def test_the_duplicate_radius_and_window_are_configurable(district_sqlite_url):
    store = open_store(district_sqlite_url)
    clock = {"now": NOW}
    svc = IncidentService(store, clock=lambda: clock["now"], duplicate_radius_m=100, duplicate_window_h=24)
    first = report(svc).incident
    assert report(svc, point=_offset(*P, 90, 0)).incident.suspected_duplicate_of == first.id
    clock["now"] = NOW + timedelta(hours=25)
    assert report(svc, at=NOW + timedelta(hours=25)).incident.suspected_duplicate_of is None
    store.close()


def test_a_complaint_about_a_closed_case_is_a_new_incident_linked_as_a_repeat(svc):
    inc = report(svc).incident
    for action, fields in [("assess", {}), ("dispatch", {"team_id": inc.team_id, "outcome": "simple"}),
                           ("submit", {"result": "ok"}), ("verify", {"result": "pass"})]:  # fmt: skip
        inc = svc.act(
            CHECKER if action == "verify" else CC, inc.id, action, expected_version=inc.version, **fields
        )
    repeat = svc.report_repeat(CC, inc.id, NewIncident("PARK_COMPOUND", *P)).incident
    assert repeat.repeat_of == inc.id and repeat.id != inc.id
    assert svc.timeline(CC, repeat.id)[0].payload == {"via": "report"}  # the link is on the row


def test_a_repeat_of_an_open_case_is_refused(svc):
    inc = report(svc).incident
    with pytest.raises(ValueError, match="not closed"):
        svc.report_repeat(CC, inc.id, NewIncident("PARK_COMPOUND", *P))


def test_a_captain_cannot_see_or_change_another_townships_incident(svc):
    inc = report(svc).incident
    other = next(c for c in svc.areas.townships if c != inc.township_code)
    intruder = Principal("乙", "captain", township_code=other)
    with pytest.raises(AccessDeniedError):
        svc.get(intruder, inc.id)
    with pytest.raises(AccessDeniedError):
        svc.act(intruder, inc.id, "assess", expected_version=1)
    assert svc.list_incidents(intruder, IncidentQuery()) == []
    with pytest.raises(AccessDeniedError):
        svc.list_incidents(intruder, IncidentQuery(township_codes=(inc.township_code,)))
    assert svc.get(CC, inc.id).state == State.DISCOVERED


def test_a_captain_cannot_dispatch_to_a_team_of_another_township(svc):
    inc = report(svc).incident
    captain = Principal("甲", "captain", township_code=inc.township_code)
    svc.act(captain, inc.id, "assess", expected_version=1)
    foreign = next(t for t in svc.teams.values() if not t.village_code.startswith(inc.township_code))
    with pytest.raises(AccessDeniedError, match="may not assign"):
        svc.act(captain, inc.id, "dispatch", expected_version=2, team_id=foreign.id, outcome="simple")


def test_an_inspector_sees_only_their_team_and_may_not_dispatch(svc):
    inc = report(svc).incident
    mine = Principal("网格员", "inspector", team_id=inc.team_id)
    other = Principal("网格员", "inspector", team_id=inc.team_id + 1)
    assert [i.id for i in svc.list_incidents(mine, IncidentQuery())] == [inc.id]
    assert svc.list_incidents(other, IncidentQuery()) == []
    svc.act(CC, inc.id, "assess", expected_version=1)
    with pytest.raises(AccessDeniedError, match="may not dispatch"):
        svc.act(mine, inc.id, "dispatch", expected_version=2, team_id=inc.team_id, outcome="simple")


def test_a_planner_may_read_but_not_act(svc):
    inc = report(svc).incident
    planner = Principal("规划", "planner")
    assert svc.get(planner, inc.id).id == inc.id
    with pytest.raises(AccessDeniedError):
        svc.act(planner, inc.id, "assess", expected_version=1)


def test_bulk_creation_routes_numbers_and_flags_duplicates_within_the_batch(svc, sqlite_store):
    near = _offset(*P, 20, 0)
    frame = pd.DataFrame({
        "item_code": ["PARK_COMPOUND", "PARK_COMPOUND", "SEWAGE", "CLUTTER"],
        "lat": [P[0], near[0], P[0], 31.9], "lng": [P[1], near[1], P[1], 121.9],
        "source": ["patrol", "citizen", "camera", "patrol"],
        "reported_at": pd.to_datetime([NOW, NOW + timedelta(hours=1), NOW, NOW], utc=True),
    })  # fmt: skip
    result = svc.create_many(frame, IMPORTER)
    assert result.created == 3 and result.rejected == [(3, "outside the district")]
    assert result.duplicates_flagged == 1
    rows = sqlite_store.list_incidents(IncidentQuery(newest_first=False))
    first, second = (r for r in rows if r.item_code == "PARK_COMPOUND")
    assert second.suspected_duplicate_of == first.id
    assert len({r.number for r in rows}) == 3
    assert all(len(sqlite_store.events(r.id)) == 1 for r in rows)


def test_each_routing_reason_names_the_village_by_name_and_code_and_whether_the_point_lies_in_it_or_only_in_its_cell(
    svc,
):
    import shapely

    rng = np.random.default_rng(11)
    areas = svc.router.areas
    xmin, ymin, xmax, ymax = shapely.total_bounds(areas.geoms)
    lng, lat = rng.uniform(xmin, xmax, 20_000), rng.uniform(ymin, ymax, 20_000)
    items = rng.choice(["PARK_COMPOUND", "FOOD_SAFETY", "STRAW_BURNING"], 20_000)
    routes = svc.router.route(lat, lng, items)
    index = {code: i for i, code in enumerate(areas.village_codes.tolist())}
    names = {v.code: f"{areas.townships[v.township_code].name} · {v.name}" for v in areas.villages}
    seen = {"点位所在": 0, "单元格兜底": 0}
    for k in np.flatnonzero(routes.ok).tolist():
        village = routes.village_codes[k]
        inside = shapely.intersects_xy(areas.geoms[index[village]], lng[k], lat[k])
        place = "点位所在" if inside else "单元格兜底"
        assert routes.reasons[k].endswith(f"；属地：{names[village]}（{village}，{place}）"), routes.reasons[
            k
        ]
        assert routes.reasons[k].startswith(("专业事项", "未向", "综合事项", "乡镇赋权事项"))
        seen[place] += 1
    assert seen["点位所在"] > 10_000 and seen["单元格兜底"] > 0


def _east_at(origin: tuple[float, float], metres: float) -> tuple[float, float]:
    """The point ``metres`` due east of ``origin`` along the WGS84 ellipsoid."""
    lng, lat, _ = Geod(ellps="WGS84").fwd(origin[1], origin[0], 90.0, metres)
    return lat, lng


def _village_point(svc, south: bool) -> tuple[float, float]:
    reps = [g.representative_point() for g in svc.areas.geoms]
    far = min(reps, key=lambda p: p.y) if south else max(reps, key=lambda p: p.y)
    return far.y, far.x


@pytest.mark.parametrize(("metres", "rest_of_batch_south"), [(49.97, True), (50.03, False)])
def test_an_import_flags_a_pair_near_the_radius_by_its_true_distance_wherever_the_rest_of_the_batch_lies(
    svc, sqlite_store, metres, rest_of_batch_south
):
    # the rest of the batch (another item, a month earlier) lies at the district's south or north edge
    near = _east_at(P, metres)
    far = _village_point(svc, south=rest_of_batch_south)
    frame = pd.DataFrame({
        "item_code": ["PARK_COMPOUND", "PARK_COMPOUND"] + ["CLUTTER"] * 20,
        "lat": [P[0], near[0]] + [far[0]] * 20, "lng": [P[1], near[1]] + [far[1]] * 20,
        "source": "patrol",
        "reported_at": pd.to_datetime([NOW, NOW + timedelta(hours=1)] + [NOW - timedelta(days=30)] * 20, utc=True),
    })  # fmt: skip
    svc.create_many(frame, IMPORTER)
    first, second = sqlite_store.list_incidents(
        IncidentQuery(item_codes=("PARK_COMPOUND",), newest_first=False)
    )
    assert (second.suspected_duplicate_of == first.id) is (metres <= 50)


@pytest.mark.parametrize("metres", [49.97, 50.03])
def test_a_single_report_near_the_radius_is_judged_by_its_true_distance(svc, metres):
    first = report(svc, at=NOW).incident
    later = report(svc, at=NOW + timedelta(hours=1), point=_east_at(P, metres)).incident
    assert (later.suspected_duplicate_of == first.id) is (metres <= 50)


def _to_handling(svc, inc):
    inc = svc.act(CC, inc.id, "assess", expected_version=inc.version)
    return svc.act(
        CC, inc.id, "dispatch", expected_version=inc.version, team_id=inc.team_id, outcome="simple"
    )


def test_who_submitted_a_result_never_verifies_it(svc):
    from patrol.refusals import Refusal

    inc = _to_handling(svc, report(svc).incident)
    inc = svc.act(CC, inc.id, "submit", expected_version=inc.version, result="已整改")
    with pytest.raises(Refusal) as refused:
        svc.act(CC, inc.id, "verify", expected_version=inc.version, result="pass")
    assert refused.value.key == "refuse.verify_own_result"
    assert svc.get(CC, inc.id).state.value == "verifying"  # nothing written
    closed = svc.act(CHECKER, inc.id, "verify", expected_version=inc.version, result="pass")
    assert closed.state.value == "closed"


def _captain(inc):  # the captain of the incident's township
    return Principal("中队长", "captain", township_code=inc.township_code)


def test_a_deferral_is_asked_in_time_within_its_limit_and_granted_by_someone_else(svc):
    from patrol.refusals import Refusal

    inc = _to_handling(svc, report(svc).incident)  # PARK_COMPOUND: 3 days to handle
    captain = _captain(inc)

    latest = svc.latest_deferral(inc)  # three more working days: Wednesday 10:00 → Monday 10:00
    assert latest - inc.due_at == timedelta(days=5)

    def ask(later: timedelta):  # type: ignore[no-untyped-def]
        new_due = inc.due_at + later
        fresh = svc.get(CC, inc.id)
        return svc.act(
            captain,
            inc.id,
            "request",
            expected_version=fresh.version,
            kind="defer",
            reason="整改期",
            new_due_at=new_due,
        )

    with pytest.raises(Refusal) as refused:
        ask(timedelta(days=5, minutes=1))  # a minute past the limit
    assert refused.value.key == "refuse.defer_too_long" and refused.value.values["days"] == 3
    svc.test_clock["now"] = inc.due_at + timedelta(minutes=1)  # the due time has passed
    with pytest.raises(Refusal) as refused:
        ask(timedelta(days=2))
    assert refused.value.key == "refuse.defer_overdue"
    after = svc.get(CC, inc.id)
    assert (after.state.value, after.due_at, after.deferral_count, after.request) == (
        "handling",
        inc.due_at,
        0,
        None,
    )
    svc.test_clock["now"] = inc.due_at - timedelta(hours=1)  # before the due time, within the limit: asked
    asked = ask(timedelta(days=5))  # exactly the limit
    assert asked.request is not None and asked.due_at == inc.due_at  # stored, not yet granted
    assert svc.get(CC, inc.id).request == asked.request  # the request survives a reload
    with pytest.raises(AccessDeniedError):  # the township never grants its own deferral
        svc.act(captain, inc.id, "approve", expected_version=asked.version)
    granted = svc.act(CHECKER, inc.id, "approve", expected_version=asked.version)
    assert (granted.state.value, granted.due_at, granted.deferral_count) == (
        "handling",
        latest,
        1,
    )
    events = svc.timeline(CC, inc.id)
    assert [e.action.value for e in events[-2:]] == ["request", "approve"] and events[-1].actor == "值班长"


def test_a_hold_keeps_its_stopped_clock_in_the_store(svc):
    inc = _to_handling(svc, report(svc).incident)
    inc = svc.act(
        _captain(inc), inc.id, "request", expected_version=inc.version, kind="hold", reason="待法院裁定"
    )
    held = svc.act(CHECKER, inc.id, "approve", expected_version=inc.version)
    stored = svc.get(CC, inc.id)
    assert (stored.state.value, stored.paused_at) == ("deferred", NOW) and held.paused_at == NOW
    svc.test_clock["now"] = NOW + timedelta(days=10)
    assert not stored.is_overdue(svc.test_clock["now"])
    resumed = svc.act(CC, inc.id, "resume", expected_version=stored.version)
    assert resumed.due_at == inc.due_at + timedelta(days=10) and svc.get(CC, inc.id).paused_at is None


def test_the_incident_page_offers_only_what_the_rules_of_duty_allow(svc):
    from patrol.incident import Action

    inc = _to_handling(svc, report(svc).incident)
    captain = _captain(inc)
    assert Action.REQUEST in svc.actions_for(captain, inc) and Action.APPROVE not in svc.actions_for(CC, inc)
    asked = svc.act(
        CC,
        inc.id,
        "request",
        expected_version=inc.version,
        kind="defer",
        reason="x",
        new_due_at=inc.due_at + timedelta(days=1),
    )
    assert Action.APPROVE not in svc.actions_for(CC, asked)  # CC asked: someone else decides
    assert {Action.APPROVE, Action.REFUSE} <= set(svc.actions_for(CHECKER, asked))
    assert Action.APPROVE not in svc.actions_for(captain, asked)  # a captain never decides requests
    inc = svc.act(CHECKER, inc.id, "refuse", expected_version=asked.version, reason="理由不足")
    svc.test_clock["now"] = inc.due_at + timedelta(minutes=1)
    assert Action.REQUEST not in svc.actions_for(captain, inc) and Action.SUBMIT in svc.actions_for(
        captain, inc
    )
    inc = svc.act(CC, inc.id, "submit", expected_version=inc.version, result="已整改")
    assert Action.VERIFY not in svc.actions_for(CC, inc)  # CC handed in the result
    assert Action.VERIFY in svc.actions_for(CHECKER, inc)


def test_the_command_centre_calls_back_a_closed_hotline_case_and_dissatisfaction_reopens_it(svc):
    from tests.conftest import close_incident

    inc = report(svc, source="hotline_12345").incident
    captain = _captain(inc)
    inc = close_incident(svc, inc, CC, CHECKER)
    with pytest.raises(AccessDeniedError):  # the township does not record its own satisfaction
        svc.act(captain, inc.id, "callback", expected_version=inc.version, result="satisfied")
    reopened = svc.act(
        CC, inc.id, "callback", expected_version=inc.version, result="dissatisfied", note="仍有车辆"
    )
    stored = svc.get(CC, inc.id)
    assert (
        (stored.state.value, stored.satisfaction, stored.callback_count, stored.rework_count)
        == ("handling", "dissatisfied", 1, reopened.rework_count)
        and reopened.rework_count == 1
        and stored.closed_at is None
    )


def test_a_handover_is_answered_by_its_departments_liaison_only_and_listed_for_it(svc):
    inc = report(svc, "FOOD_SAFETY").incident  # a professional item: market regulation's
    assert (inc.handler, inc.department) == ("department", "scjg")
    inc = svc.act(CC, inc.id, "assess", expected_version=inc.version)
    inc = svc.act(_captain(inc), inc.id, "handover", expected_version=inc.version, department="scjg")
    mine, other = (
        Principal("市场监管联络员", "liaison", department="scjg"),
        Principal("农业联络员", "liaison", department="ny"),
    )
    assert [i.id for i in svc.handovers(mine)] == [inc.id] and svc.handovers(other) == []
    # market regulation's own limit, 24 working hours: handed over on Friday 10:00, due on Monday 10:00
    assert svc.acceptance_due(inc) == NOW + timedelta(hours=24 + 48)
    with pytest.raises(AccessDeniedError):  # not handed to agriculture
        svc.act(other, inc.id, "accept", expected_version=inc.version)
    with pytest.raises(AccessDeniedError):  # the township does not accept its own handover
        svc.act(_captain(inc), inc.id, "accept", expected_version=inc.version)
    returned = svc.act(mine, inc.id, "return", expected_version=inc.version, reason="属乡镇综合执法事项")
    assert returned.state.value == "returned" and svc.get(mine, inc.id).state.value == "returned"
    disputed = svc.act(
        _captain(inc), inc.id, "dispute", expected_version=returned.version, reason="乡镇无执法权"
    )
    with pytest.raises(AccessDeniedError):  # only the command centre rules
        svc.act(_captain(inc), inc.id, "rule", expected_version=disputed.version, decision="township")
    ruled = svc.act(CHECKER, inc.id, "rule", expected_version=disputed.version, decision="department")
    assert (
        ruled.state.value == "transferred"
        and svc.timeline(CC, inc.id)[-1].payload["decision"] == "department"
    )


def test_the_bulk_assignment_hands_nothing_of_a_department_to_a_team_and_says_why(svc):
    own = report(svc, "PARK_COMPOUND").incident
    professional = report(svc, "FOOD_SAFETY").incident
    done = svc.assign_many(_captain(own), [own.id, professional.id], own.team_id)
    assert done.done == [own.number] and [n for n, _ in done.refused] == [professional.number]
    assert done.refused[0][1].key == "refuse.hand_over_instead"  # type: ignore[attr-defined]
    assert svc.get(CC, professional.id).state.value == "assessing"  # assessed, not dispatched


def test_overdue_cases_are_supervised_as_far_as_they_are_late_and_a_second_run_changes_nothing(svc):
    a = _to_handling(svc, report(svc).incident)  # PARK_COMPOUND: due in 3 days
    svc.test_clock["now"] = NOW + timedelta(days=3)  # Monday: due on Thursday
    b = _to_handling(svc, report(svc, at=NOW + timedelta(days=3)).incident)
    svc.test_clock["now"] = a.due_at + timedelta(days=4)  # a: 4 days late; b: 3 days late
    raised = svc.escalate_overdue()
    assert sorted(raised) == sorted([a.number, b.number])
    assert (svc.get(CC, a.id).supervision_level, svc.get(CC, b.id).supervision_level) == (2, 1)
    assert svc.escalate_overdue() == []  # idempotent: cron and the command page may both run it
    event = svc.timeline(CC, a.id)[-1]
    assert (event.action.value, event.actor, event.payload["level"]) == ("supervise", "自动督办", 2)
    assert [i.id for i in svc.supervised(_captain(a))] == [a.id, b.id]  # the captain sees it, most late first
    with pytest.raises(AccessDeniedError):
        svc.act(
            _captain(a), a.id, "supervise", expected_version=svc.get(CC, a.id).version, level=3, reason="x"
        )


def test_every_invited_department_gives_its_opinion_once_and_then_whoever_called_it_decides(svc):
    from patrol.incident import Action
    from patrol.refusals import Refusal

    inc = _to_handling(svc, report(svc).incident)
    captain = _captain(inc)
    inc = svc.act(captain, inc.id, "consult", expected_version=inc.version, departments=["scjg", "ga"])
    market, police = (Principal(f"{d}联络员", "liaison", department=d) for d in ("scjg", "ga"))
    assert Action.DECIDE not in svc.actions_for(captain, inc)  # nobody has spoken yet
    with pytest.raises(Refusal) as refused:
        svc.act(captain, inc.id, "decide", expected_version=inc.version, decision="handle")
    assert refused.value.key == "refuse.opinions_missing"
    inc = svc.act(market, inc.id, "opinion", expected_version=inc.version, opinion="属市场监管职责，联合处置")
    with pytest.raises(Refusal) as refused:  # a department speaks once
        svc.act(market, inc.id, "opinion", expected_version=inc.version, opinion="再说一次")
    assert refused.value.key == "refuse.opinion_given"
    with pytest.raises(AccessDeniedError):  # a department not invited has no say (it cannot even see it)
        svc.act(Principal("农业", "liaison", department="ny"), inc.id, "opinion", expected_version=inc.version,
                opinion="x")  # fmt: skip
    inc = svc.act(police, inc.id, "opinion", expected_version=inc.version, opinion="配合现场秩序维护")
    talk = svc.consultation(inc)
    assert talk.missing == () and talk.opinions["scjg"].text == "属市场监管职责，联合处置"
    other = Principal("另一中队长", "captain", township_code=inc.township_code)
    with pytest.raises(Refusal) as refused:
        svc.act(other, inc.id, "decide", expected_version=inc.version, decision="handle")
    assert refused.value.key == "refuse.decide_not_caller"
    decided = svc.act(captain, inc.id, "decide", expected_version=inc.version, decision="handle")
    assert decided.state.value == "handling"


def test_the_command_centre_may_decide_a_consultation_a_department_never_answers(svc):
    inc = _to_handling(svc, report(svc).incident)
    inc = svc.act(_captain(inc), inc.id, "consult", expected_version=inc.version, departments=["scjg"])
    assert (
        svc.act(CHECKER, inc.id, "decide", expected_version=inc.version, decision="close").state.value
        == "closed"
    )


def test_a_few_escalations_at_a_time_never_wait_behind_cases_already_supervised_enough(svc):
    old = [_to_handling(svc, report(svc).incident) for _ in range(3)]
    svc.test_clock["now"] = old[0].due_at + timedelta(days=11)
    assert len(svc.escalate_overdue()) == 3  # all three at 挂牌督办 now
    fresh_at = svc.test_clock["now"] - timedelta(days=3, hours=2)  # Mon 23:00 UTC: due on Thu 23:00
    svc.test_clock["now"] = fresh_at
    new = _to_handling(svc, report(svc, at=fresh_at).incident)
    svc.test_clock["now"] = new.due_at + timedelta(hours=1)
    assert svc.escalate_overdue(limit=1) == [new.number]  # not starved by the three most overdue


def test_a_report_and_an_import_of_the_same_cases_are_made_by_one_rule(demo_sqlite_url, tmp_path):
    """Numbering, routing, response target, due time, duplicate flag, scope and creation event:
    one factory makes a case typed in one by one and the same cases loaded from a file."""
    import shutil

    src = demo_sqlite_url.removeprefix("sqlite:///")
    cases = [  # (item, source, point, hours after NOW)
        ("PARK_COMPOUND", "hotline_12345", P, 0),
        ("PARK_COMPOUND", "patrol", _offset(*P, 30, 0), 2),  # 30 m and 2 h later: a suspected duplicate
        ("ILLEGAL_BUILD", "patrol", _offset(*P, -200, 150), 3),
    ]
    made = {}
    for way in ("report", "import"):
        shutil.copy(src, tmp_path / f"{way}.sqlite")
        store = open_store(f"sqlite:///{tmp_path / way}.sqlite")
        svc = IncidentService(store, clock=lambda: NOW + timedelta(hours=4))
        if way == "report":
            for item, source, (lat, lng), hours in cases:
                svc.report(
                    CC, NewIncident(item, lat, lng, source, "d", reported_at=NOW + timedelta(hours=hours))
                )
        else:
            frame = pd.DataFrame(
                [
                    {"item_code": i, "source": s, "lat": la, "lng": ln, "description": "d",
                     "reported_at": pd.Timestamp(NOW + timedelta(hours=h))}
                    for i, s, (la, ln), h in cases
                ]
            )  # fmt: skip
            assert svc.create_many(frame, CC).created == 3
        rows = store.list_incidents(IncidentQuery(newest_first=False))
        events = [
            (e.actor, e.role, e.action, e.seq, sorted(json.loads(e.payload)))
            for r in rows
            for e in store.events(r.id)
        ]
        made[way] = ([r._replace(updated_at=None) for r in rows], events)
        store.close()
    assert made["report"] == made["import"]
    rows = made["report"][0]
    assert [r.response_minutes for r in rows] == [15, 30, 60]  # hotline 15, the items' own 30 and 60
    assert rows[1].suspected_duplicate_of == rows[0].id and rows[2].suspected_duplicate_of is None


def test_a_grid_member_may_report_in_their_own_grid_only(svc):
    inc = report(svc).incident
    member = Principal("网格员", "grid_member", team_id=inc.team_id)
    assert svc.report(member, NewIncident("CLUTTER", *P)).incident.team_id == inc.team_id
    other = next(t for t in svc.teams.values() if t.id != inc.team_id)
    elsewhere = Principal("网格员", "grid_member", team_id=other.id)
    with pytest.raises(AccessDeniedError, match="outside your grid"):
        svc.report(elsewhere, NewIncident("CLUTTER", *P))


def test_cases_with_their_history_come_in_only_as_an_import_and_only_into_their_own_district(
    svc, sqlite_store
):
    from dataclasses import replace

    inc = report(svc).incident
    before = sqlite_store.count_incidents(IncidentQuery())
    copy = replace(inc, id="other", number="NH-X-1", pending=[])
    with pytest.raises(AccessDeniedError, match="may not import"):
        svc.add_histories(Principal("网格员", "grid_member", team_id=inc.team_id), [copy], "t")
    with pytest.raises(ValueError, match="330411"):
        svc.add_histories(Principal("系统导入", "admin"), [replace(copy, district_code="330411")], "t")
    assert sqlite_store.count_incidents(IncidentQuery()) == before


def test_cases_with_their_history_come_in_with_one_audit_row_of_the_import_or_not_at_all(
    svc, sqlite_store, monkeypatch
):
    from dataclasses import replace

    inc = report(svc).incident
    events = [replace(e, incident_id="NH-H-1") for e in svc.timeline(CC, inc.id)]
    played = replace(inc, id="NH-H-1", number="NH-H-1", pending=events)
    before = sqlite_store.count_incidents(IncidentQuery())

    def fail(cur, rows):  # the record of the import cannot be written
        raise RuntimeError("audit_log is full")

    monkeypatch.setattr(sqlite_store, "_append_audit", fail)
    with pytest.raises(RuntimeError, match="audit_log is full"):
        svc.add_histories(Principal("系统导入", "admin"), [played], "旧系统")
    monkeypatch.undo()
    assert sqlite_store.count_incidents(IncidentQuery()) == before

    svc.add_histories(Principal("系统导入", "admin"), [played], "旧系统")
    assert sqlite_store.count_incidents(IncidentQuery()) == before + 1
    records = [
        (a.entity, a.entity_id, a.after) for a in sqlite_store.audit_log() if a.action == "import_history"
    ]
    assert records == [("import", "旧系统", '{"events": 1, "incidents": 1}')]
