"""The demo's published evaluations: every period of the demo year that was over when the demo was made.

A command centre publishes each month's 月晾晒 (and each quarter, half-year and year) once the
period is over, after its assessors entered the sub-items of the composite evaluation that the
system cannot compute; the demo does the same at its end, as 指挥中心（演示）.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import numpy as np

from patrol.district import district_context
from patrol.evaluation import PERIOD_KINDS, EvaluationService, ScoreInput, recent_periods
from patrol.incidents import LOCAL_TZ
from patrol.roles import Principal
from store.protocol import Store

DEMO_PUBLISHER = Principal("指挥中心（演示）", "command_center")


def publish_demo_evaluations(
    store: Store,
    end: datetime,
    *,
    months: int = 12,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> list[str]:
    """Score and publish every period lying wholly in the ``months`` before ``end``; their codes.

    The command centre's assessors enter the sub-items the system cannot compute, then publish.

    The entered scores are illustrative: drawn around a steady level per township.
    """
    start = end - timedelta(days=int(months * 30.4))
    this_month = end.astimezone(LOCAL_TZ).strftime("%Y-%m")
    svc = EvaluationService(store, clock=lambda: end)
    due = [
        p
        for kind in PERIOD_KINDS
        for p in reversed(recent_periods(kind, this_month, months + 1))
        if p.start >= start and p.end <= end
    ]
    rng = np.random.default_rng(seed)
    townships = list(district_context(store).townships)
    # each township's assessors are steady: a township that keeps good files keeps them
    care = {code: rng.uniform(0.55, 0.95) for code in townships}
    for k, period in enumerate(due, start=1):
        scores = [
            ScoreInput(
                code,
                item.code,
                round(item.points * float(np.clip(care[code] + rng.normal(0, 0.1), 0, 1)), 1),
                f"演示：{item.name_zh}考核材料（{period.code}）",
            )
            for code in townships
            for item in svc.scheme.entered
        ]
        svc.enter_scores(DEMO_PUBLISHER, period.code, scores)
        svc.publish(DEMO_PUBLISHER, period.code)
        if progress is not None:
            progress(k, len(due))
    return [p.code for p in due]
