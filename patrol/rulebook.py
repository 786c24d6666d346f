"""The rulebook, published (三项制度 — 行政执法公示).

States, transitions, who may take each, what needs someone else's approval, the rules of duty
and each item's time limits. Everything here is read from the rules the services enforce —
the transition table of :mod:`patrol.incident`, the role table of :mod:`patrol.permissions`,
the catalog — so the published rulebook cannot drift from the one applied.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from patrol.catalog import Catalog
from patrol.incident import (
    ASSESSMENT_OUTCOMES,
    CALLBACK_RESULTS,
    CALLBACK_SOURCES,
    DECISIONS,
    REQUEST_KINDS,
    REQUIRED,
    RULINGS,
    SUPERVISION_AFTER_DAYS,
    SUPERVISION_LEVELS,
    TRANSITIONS,
    URGENT_RESPONSE_MINUTES,
    URGENT_SOURCES,
    Action,
    State,
)
from patrol.permissions import roles_for
from patrol.workdays import KNOWN_YEARS

# where an action whose target depends on its fields may lead
_BRANCHES: dict[Action, tuple[State, ...]] = {
    Action.DECIDE: tuple(DECISIONS.values()),
    Action.VERIFY: (State.CLOSED, State.HANDLING),
    Action.APPROVE: (State.HANDLING, State.DEFERRED),
    Action.CALLBACK: (State.CLOSED, State.HANDLING),
    Action.RULE: tuple(RULINGS.values()),
}
# the rules of duty the services enforce beyond the role table (message keys: rule.*)
DUTIES = (
    "submitter_never_verifies",
    "requester_never_decides",
    "no_deferral_once_overdue",
    "one_request_at_a_time",
    "deferral_at_most_one_period",
    "hold_stops_the_clock",
    "callback_reopens_once",
    "dispatch_only_own_items",
    "department_accepts_or_returns",
    "supervision_escalates",
    "consultation_opinions",
    "formal_case_needs_reason",
    "first_offence_listed_items_only",
    "formal_case_two_officers",
    "grid_workers_report_officers_enforce",
    "stage_limits_in_working_time",
    "copies_as_the_catalog_says",
)
APPROVALS = (Action.REQUEST,)  # asked by one person, decided (approve/refuse) by another


@dataclass(frozen=True)
class Transition:
    """One row of the rulebook: from a state, an action, to states, by roles, with fields."""

    from_state: str
    action: str
    to_states: tuple[str, ...]
    roles: tuple[str, ...]
    needs: tuple[str, ...]
    approval: bool


def transitions() -> list[Transition]:
    """Every transition of the workflow with who may take it, in the table's order."""
    out = []
    for (frm, act), to in TRANSITIONS.items():
        targets = (to,) if to is not None else _BRANCHES[act]
        out.append(
            Transition(
                frm.value,
                act.value,
                tuple(t.value for t in targets),
                roles_for(act),
                REQUIRED[act],
                act in APPROVALS,
            )
        )
    return out


def rulebook(catalog: Catalog) -> dict[str, Any]:
    """The whole rulebook as plain data (what ``gridpatrol workflow --format json`` prints)."""
    return {
        "states": [s.value for s in State],
        "transitions": [t.__dict__ for t in transitions()],
        "duties": list(DUTIES),
        "request_kinds": list(REQUEST_KINDS),
        "assessment_outcomes": list(ASSESSMENT_OUTCOMES),
        "working_days": {"official_years": list(KNOWN_YEARS), "otherwise": "monday_to_friday"},
        "supervision": {
            "levels": list(SUPERVISION_LEVELS),
            "after_days_overdue": list(SUPERVISION_AFTER_DAYS),
        },
        "callback": {
            "sources": sorted(s.value for s in CALLBACK_SOURCES),
            "results": list(CALLBACK_RESULTS),
        },
        "urgent_response": {
            "sources": sorted(s.value for s in URGENT_SOURCES),
            "minutes": URGENT_RESPONSE_MINUTES,
        },
        "limits": [
            {
                "item_code": code,
                "name": item.name_zh,
                "response_minutes": item.response_minutes,
                "assessment_hours": item.assessment_hours,  # working hours (patrol.stages)
                "handling_days": item.handling_days,
                "verification_hours": item.verification_hours,
                "max_deferral_days": item.handling_days,  # one more handling period per deferral
                "high_frequency": item.high_frequency,
                "first_offence": item.first_offence,  # the condition of 首违不罚, "" when not listed
                "copy_to": item.copies(),  # departments told (抄告) when the case is taken on
            }
            for code, item in catalog.items.items()
        ],
        "departments": [
            {"code": d.code, "name": d.name_zh, "accept_hours": d.accept_hours}
            for d in catalog.departments.values()
        ],
    }
