"""Consultations (会商): who called one, the departments invited, the opinions they gave."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from patrol.incident import Action, Event


@dataclass(frozen=True)
class Opinion:
    """A department's opinion in a consultation (会商意见): who gave it, when, what it says."""

    actor: str
    at: datetime
    text: str


@dataclass(frozen=True)
class Consultation:
    """A consultation (会商): who called it and when, the departments invited, their opinions."""

    called_by: str | None
    called_at: datetime | None
    invited: tuple[str, ...]
    opinions: dict[str, Opinion]

    @property
    def missing(self) -> tuple[str, ...]:
        """Invited departments that have not given their opinion yet."""
        return tuple(d for d in self.invited if d not in self.opinions)


def latest_consultation(events: Sequence[Event]) -> Consultation:
    """The current (latest) consultation in an incident's event log (nobody called: an empty one)."""
    start = max((k for k, e in enumerate(events) if e.action == Action.CONSULT), default=None)
    if start is None:
        return Consultation(None, None, (), {})
    called = events[start]
    opinions = {}
    for e in events[start + 1 :]:
        if e.action == Action.OPINION:
            opinions[str(e.payload["department"])] = Opinion(e.actor, e.at, str(e.payload["opinion"]))
    return Consultation(called.actor, called.at, tuple(called.payload.get("departments", [])), opinions)
