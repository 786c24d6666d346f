"""Each stage of a case is timed against its own limit, in working time."""

from datetime import UTC, datetime, timedelta

from patrol.catalog import load_catalog
from patrol.incident import Incident, Source
from patrol.stages import stage_clocks
from patrol.workdays import LOCAL_TZ

CATALOG = load_catalog()
T0 = datetime(2026, 11, 25, 9, 0, tzinfo=LOCAL_TZ).astimezone(UTC)  # a Wednesday, 09:00


def make(item: str = "PARK_COMPOUND") -> Incident:
    return Incident(
        id="i1", number="NH-20261125-0001", district_code="330402", item_code=item, source=Source.PATROL,
        lat=30.75, lng=120.76, cell=1, village_code="v", township_code="t", team_id=1, handler="township",
        department="zhzf", routing_reason="r", description="d", reported_at=T0, due_at=T0 + timedelta(days=3),
        response_minutes=30,
    )  # fmt: skip


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def play(inc: Incident, *steps: tuple[float, str, dict]) -> list:
    for hours, action, fields in steps:
        inc.apply(action, actor="甲" if action != "verify" else "乙", role="captain", at=at(hours), **fields)
    return list(inc.pending)


# assessed after a quarter of an hour, dispatched after one, the result handed in after two
SUBMITTED = (
    (0.25, "assess", {}),
    (1, "dispatch", {"team_id": 1, "outcome": "simple"}),
    (2, "submit", {"result": "已处置"}),
)


def test_each_stage_has_its_own_limit_and_a_late_assessment_shows_as_late():
    inc = make()  # 小区乱停车: 30 minutes to respond, 8 working hours to assess, 24 to verify
    events = play(
        inc,
        (0.25, "assess", {}),
        (10.25, "dispatch", {"team_id": 1, "outcome": "simple"}),  # ten hours of assessment: two too many
        (30, "submit", {"result": "已处置"}),
        (40, "verify", {"result": "pass"}),
    )
    clocks = stage_clocks(inc, events, CATALOG)
    assert [c.stage for c in clocks] == ["response", "assessment", "handling", "verification"]
    response, assessment, handling, verification = clocks
    assert (response.due, response.late(at(50))) == (at(0.5), False)
    assert (assessment.started, assessment.due, assessment.ended) == (at(0.25), at(8.25), at(10.25))
    assert assessment.late(at(50)) and assessment.late_by(at(50)) == timedelta(hours=2)
    assert (handling.due, handling.late(at(50))) == (inc.due_at, False)
    assert (verification.due, verification.late(at(50))) == (at(54), False)


def test_a_stage_still_running_is_late_once_now_passes_its_limit_and_a_weekend_does_not_count():
    inc = make()
    events = play(inc, *SUBMITTED)
    verification = stage_clocks(inc, events, CATALOG)[-1]
    assert verification.ended is None and verification.due == at(26)
    assert not verification.late(at(25)) and verification.late(at(27))
    friday = make()
    friday.reported_at = T0 + timedelta(days=2)  # Friday 09:00
    events = play(friday, (48.25, "assess", {}))
    assessment = stage_clocks(friday, events, CATALOG)[-1]
    assert assessment.due == at(48.25 + 8)
    late_friday = make()
    events = play(late_friday, (48 + 11, "assess", {}))  # Friday 20:00: 4 hours left that day
    assert stage_clocks(late_friday, events, CATALOG)[-1].due == at(48 + 11 + 4 + 48 + 4)  # Monday 04:00


def test_a_consultation_keeps_the_handling_stage_whole_and_its_clock_stands_still_meanwhile():
    inc = make()
    events = play(
        inc,
        (0.25, "assess", {}),
        (1, "dispatch", {"team_id": 1, "outcome": "simple"}),
        (5, "consult", {"departments": ["scjg"]}),
    )
    handling = stage_clocks(inc, events, CATALOG)[-1]
    assert handling.stage == "handling" and handling.paused_at == at(5)
    assert not handling.late(at(24 * 30))  # a month of consultation: nobody is late meanwhile
    events = play(inc, (5 + 24 * 5, "decide", {"decision": "handle"}))
    clocks = stage_clocks(inc, events, CATALOG)
    assert [c.stage for c in clocks] == ["response", "assessment", "handling"]
    assert (
        clocks[-1].started == at(1)
        and clocks[-1].due == T0 + timedelta(days=8)
        and clocks[-1].paused_at is None
    )


def test_a_failed_verification_times_the_rework_as_a_second_handling_and_verification():
    inc = make()
    events = play(
        inc,
        *SUBMITTED,
        (3, "verify", {"result": "fail"}),
        (4, "submit", {"result": "已整改"}),
    )
    assert [c.stage for c in stage_clocks(inc, events, CATALOG)] == [
        "response", "assessment", "handling", "verification", "handling", "verification",
    ]  # fmt: skip
