"""The demo's published evaluations: every period of the demo year that was over when the demo was made.

A command centre publishes each month's 月晾晒 (and each quarter, half-year and year) once the
period is over; the demo does the same at its end, as 指挥中心（演示）.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from patrol.evaluation import PERIOD_KINDS, EvaluationService, recent_periods
from patrol.incidents import LOCAL_TZ
from patrol.roles import Principal
from store.protocol import Store

DEMO_PUBLISHER = Principal("指挥中心（演示）", "command_center")


def publish_demo_evaluations(
    store: Store,
    end: datetime,
    *,
    months: int = 12,
    progress: Callable[[int, int], None] | None = None,
) -> list[str]:
    """Publish every period lying wholly in the ``months`` before ``end``; return their codes."""
    start = end - timedelta(days=int(months * 30.4))
    this_month = end.astimezone(LOCAL_TZ).strftime("%Y-%m")
    svc = EvaluationService(store, clock=lambda: end)
    due = [
        p
        for kind in PERIOD_KINDS
        for p in reversed(recent_periods(kind, this_month, months + 1))
        if p.start >= start and p.end <= end
    ]
    for k, period in enumerate(due, start=1):
        svc.publish(DEMO_PUBLISHER, period.code)
        if progress is not None:
            progress(k, len(due))
    return [p.code for p in due]
