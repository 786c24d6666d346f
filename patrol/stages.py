"""The clock of each stage of a case (阶段时限): when it started, by when it had to end, and late or not.

One case passes through up to five timed stages, each with its own limit from the catalog:

====================  =========================================  ===================================
stage                 runs from … to …                           limit
====================  =========================================  ===================================
response (响应)       the report → the first response            the item's response minutes
assessment (研判)     entering assessment → its decision         the item's assessment hours (working)
acceptance (部门接收)  the handover → the department's answer    the department's accept hours (working)
handling (处置)       the dispatch → the submitted result        the approved due time (working days,
                                                                 moved by deferrals, holds, 会商)
verification (核查)   the submitted result → its verification    the item's verification hours (working)
====================  =========================================  ===================================

Hour limits count working time (:func:`patrol.workdays.add_working_hours`). A stage entered twice
(a rework, a case the department returned) is timed each time. Everything here is computed from
the incident and its event log: nothing is stored twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from patrol.catalog import Catalog
from patrol.incident import Event, Incident, State
from patrol.workdays import add_working_hours

STAGES = ("response", "assessment", "acceptance", "handling", "verification")
# the stage a state belongs to (response has none: it is the time to the first action); a hold
# or a consultation stops the handling clock and moves its due time, but stays in that stage
_STAGE_OF = {
    State.ASSESSING: "assessment",
    State.HANDED_OVER: "acceptance",
    State.HANDLING: "handling",
    State.CONSULTING: "handling",
    State.DEFERRED: "handling",
    State.VERIFYING: "verification",
}


@dataclass(frozen=True)
class StageClock:
    """One pass through one stage: its limit and whether it was (or now is) late."""

    stage: str
    started: datetime
    due: datetime
    ended: datetime | None  # None: the case is in this stage now
    paused_at: datetime | None = None  # the stage's clock stands still since then (a hold, 会商)

    def _end(self, now: datetime) -> datetime:
        return self.ended or self.paused_at or now

    def late(self, now: datetime) -> bool:
        """Whether the stage ended after its due time or, still running, is past it at ``now``."""
        return self._end(now) > self.due

    def late_by(self, now: datetime) -> timedelta:
        """How late (zero when on time)."""
        return max(self._end(now) - self.due, timedelta(0))


def stage_clocks(inc: Incident, events: Sequence[Event], catalog: Catalog) -> list[StageClock]:
    """Every timed stage the incident has passed through or is in, in order of their start."""
    out = [
        StageClock(
            "response",
            inc.reported_at,
            inc.reported_at + timedelta(minutes=inc.response_minutes),
            inc.first_response_at,
        )
    ]
    entered: tuple[str, datetime] | None = None
    for e in sorted(events, key=lambda e: e.seq):
        stage = _STAGE_OF.get(e.to_state)
        if entered is not None and stage == entered[0]:
            continue  # the same stage goes on (a reassignment, a request, 会商, supervision)
        if entered is not None:
            out.append(_clock(entered[0], entered[1], e.at, inc, catalog))
        entered = None if stage is None else (stage, e.at)
    if entered is not None:
        out.append(replace(_clock(entered[0], entered[1], None, inc, catalog), paused_at=inc.paused_at))
    return out


def _clock(
    stage: str, started: datetime, ended: datetime | None, inc: Incident, catalog: Catalog
) -> StageClock:
    item = catalog.item(inc.item_code)
    if stage == "assessment":
        due = add_working_hours(started, item.assessment_hours)
    elif stage == "verification":
        due = add_working_hours(started, item.verification_hours)
    elif stage == "acceptance":
        due = add_working_hours(started, catalog.departments[inc.department].accept_hours)
    else:  # handling: the approved due time of the case
        due = inc.due_at
    return StageClock(stage, started, due, ended)
