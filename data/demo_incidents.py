"""Deterministic demo incidents: a year of realistic reports with their workflow histories.

Hot spots sit around residential compounds, markets and construction sites (and, in the
towns, fields and rivers); noise comes at night and at weekends, parking in the evening,
construction in the daytime, straw burning in early summer and autumn; zombie vehicles
are reported again and again for weeks. Every history is played through the domain's
transition table, so it is valid by construction: assessment delays, dispatch, some
consultations, deferrals, failed verifications, rejections, merges, and the recent ones
still open, some overdue. The same seed and end date always give the same data.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import shapely

from patrol.catalog import Catalog
from patrol.incident import (
    CALLBACK_SOURCES,
    RUNNING_STATES,
    SUPERVISION_AFTER_DAYS,
    SUPERVISION_LEVELS,
    Action,
    Incident,
    Source,
    State,
)
from patrol.incidents import AUTO_SUPERVISOR, IncidentService
from patrol.intake import VIA_IMPORT
from patrol.repeats import CLOSED_COLUMNS, REPEAT_WINDOW, link_repeats
from patrol.roles import Principal
from patrol.workdays import LOCAL_TZ_NAME

# who brings the demo history in: the system importing it, as an admin
IMPORTER = Principal("系统导入", "admin")
DEMO_SOURCE = "演示数据"  # the source its audit rows name

SOURCES = (
    (Source.PATROL, 0.38),
    (Source.HOTLINE, 0.30),
    (Source.CITIZEN, 0.12),
    (Source.CAMERA, 0.09),
    (Source.REFERRAL, 0.06),
    (Source.PETITION, 0.05),
)
# item → (place kind, relative frequency, hour profile)
ITEMS: dict[str, tuple[str, float, str]] = {
    "PARK_COMPOUND": ("residential", 14, "evening"),
    "ILLEGAL_BUILD": ("residential", 6, "day"),
    "NOISE_CONSTRUCTION": ("construction", 5, "construction_noise"),
    "NOISE_COMMERCIAL": ("market", 4, "night"),
    "NOISE_SOCIAL": ("residential", 6, "night"),
    "ZOMBIE_VEHICLE": ("residential", 4, "day"),
    "CONSTRUCTION_WASTE": ("construction", 5, "day"),
    "MUCK_SPILL": ("construction", 4, "night"),
    "BOTTLED_GAS": ("market", 3, "day"),
    "GAS_UNSAFE_USE": ("market", 2, "day"),
    "FITNESS_VENUE": ("residential", 1.5, "day"),
    "STUDY_TOUR": ("rural", 0.6, "day"),
    "STREET_VENDING": ("market", 10, "evening"),
    "CLUTTER": ("residential", 6, "day"),
    "ILLEGAL_AD": ("market", 3, "day"),
    "FLYPOSTING": ("residential", 2.5, "day"),
    "CATERING_FUMES": ("market", 4, "evening"),
    "OUTDOOR_CATERING": ("market", 6, "evening"),
    "OPEN_BURNING": ("rural", 2, "day"),
    "STRAW_BURNING": ("rural", 2, "day"),
    "UNLICENSED_BUSINESS": ("market", 3, "day"),
    "FOOD_SAFETY": ("market", 2, "day"),
    "PESTICIDE_SALE": ("rural", 0.6, "day"),
    "ILLEGAL_FISHING": ("rural", 1, "day"),
    "SEWAGE": ("rural", 1.2, "day"),
    "INTERNET_CAFE": ("market", 0.6, "night"),
    "FIRE_EXIT": ("residential", 3, "day"),
    "GREEN_DAMAGE": ("residential", 2, "day"),
}
HOUR_PROFILES: dict[str, list[float]] = {
    "day": [0.2] * 7 + [1, 2, 3, 3, 3, 2, 2, 3, 3, 3, 2, 1] + [0.5] * 5,
    "evening": [0.3] * 7 + [0.5] * 10 + [2, 3, 4, 4, 3, 1, 0.5],
    "night": [2, 1.5, 1, 0.5, 0.3, 0.2, 0.3] + [0.5] * 12 + [1, 2, 3, 3, 3],
    "construction_noise": [1, 0.8, 0.5, 0.3, 0.2, 0.5, 2] + [3] * 11 + [1, 1.5, 2, 2, 1.5, 1.2],
}
WEEKEND_BOOST = {"night": 1.6, "evening": 1.3, "day": 0.9, "construction_noise": 0.7}
ANCHORS_PER_VILLAGE = {"residential": 3, "market": 1.2, "construction": 0.6, "rural": 2}
BATCH = 50_000
CASE_REASONS = (
    "经劝导拒不改正",
    "情节较重，影响公共安全",
    "屡次违法，责令改正后仍未整改",
    "造成他人损失，需依法处理",
)
DESCRIPTION_HINTS = ("群众来电反映", "巡查发现", "多次反映未解决", "影响周边居民", "请尽快处理", "现场有照片")


@dataclass(frozen=True)
class DemoIncidentsResult:
    """What the generator made."""

    created: int
    by_state: dict[str, int]


def _hour_weights(profile: str) -> np.ndarray:
    w = np.asarray(HOUR_PROFILES[profile], dtype=float)
    return np.asarray(w / w.sum(), dtype=float)


def _anchors(svc: IncidentService, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Hot-spot anchors (lng, lat) of each place kind, inside village grids."""
    areas = svc.areas
    towns = {c for c, t in areas.townships.items() if t.kind != "street"}
    out: dict[str, list[tuple[float, float]]] = {k: [] for k in ANCHORS_PER_VILLAGE}
    for geom, township in zip(areas.geoms, areas.village_townships, strict=True):
        rural = township in towns
        for kind, per in ANCHORS_PER_VILLAGE.items():
            if kind == "rural" and not rural:
                continue
            scale = 0.4 if rural and kind != "rural" else 1.0
            k = rng.poisson(per * scale) + (1 if kind == "residential" else 0)
            minx, miny, maxx, maxy = geom.bounds
            while k > 0:
                x, y = rng.uniform(minx, maxx), rng.uniform(miny, maxy)
                if geom.contains(shapely.Point(x, y)):
                    out[kind].append((x, y))
                    k -= 1
    return {k: np.asarray(v, dtype=float) for k, v in out.items()}


def _reports(
    svc: IncidentService, n: int, end: datetime, months: int, rng: np.random.Generator
) -> pd.DataFrame:
    anchors = _anchors(svc, rng)
    # a few places draw most complaints: heavy-tailed anchor weights
    weights = {}
    for kind, pts in anchors.items():
        w = rng.pareto(1.1, len(pts)) + 0.1
        weights[kind] = w / w.sum()
    codes = list(ITEMS)
    freq = np.array([ITEMS[c][1] for c in codes], dtype=float)
    item_idx = rng.choice(len(codes), size=n, p=freq / freq.sum())
    start = end - timedelta(days=int(months * 30.4))
    span_days = (end - start).days
    # days: gentle growth over the year, seasonal straw burning
    day = rng.integers(0, span_days, size=n)
    lat = np.empty(n)
    lng = np.empty(n)
    hours = np.empty(n)
    stamps = np.empty(n, dtype="datetime64[s]")
    base = np.datetime64(start.replace(tzinfo=None), "s")
    for k, code in enumerate(codes):
        sel = np.flatnonzero(item_idx == k)
        if sel.size == 0:
            continue
        kind, _, profile = ITEMS[code]
        if code == "STRAW_BURNING":
            # mostly in the early-summer and autumn harvests
            months_of_day = (pd.Timestamp(start) + pd.to_timedelta(np.arange(span_days), unit="D")).month
            season = np.flatnonzero(np.isin(months_of_day, [5, 6, 10, 11]))
            in_season = rng.random(sel.size) < 0.85
            if season.size:
                day[sel[in_season]] = rng.choice(season, size=int(in_season.sum()))
        pts = anchors[kind]
        which = rng.choice(len(pts), size=sel.size, p=weights[kind])
        scatter = rng.random(sel.size) < 0.08
        sd = 0.0006 if kind != "rural" else 0.0015
        lng[sel] = pts[which, 0] + rng.normal(0, sd, sel.size)
        lat[sel] = pts[which, 1] + rng.normal(0, sd * 0.9, sel.size)
        if scatter.any():
            bx = shapely.total_bounds(svc.areas.geoms)
            lng[sel[scatter]] = rng.uniform(bx[0], bx[2], scatter.sum())
            lat[sel[scatter]] = rng.uniform(bx[1], bx[3], scatter.sum())
        wd = (pd.Timestamp(start) + pd.to_timedelta(day[sel], unit="D")).day_of_week
        weekend = np.asarray(wd) >= 5
        h = rng.choice(24, size=sel.size, p=_hour_weights(profile))
        boost = WEEKEND_BOOST[profile]
        if boost > 1:  # more on weekends: move some weekday reports to the weekend
            move = (~weekend) & (rng.random(sel.size) < (boost - 1) / boost)
            day[sel[move]] = day[sel[move]] + (5 - np.asarray(wd)[move])
        hours[sel] = h + rng.random(sel.size)
        stamps[sel] = base + (day[sel] * 86400 + (hours[sel] * 3600).astype(int)).astype("timedelta64[s]")
    # local time (UTC+8) to UTC
    reported = pd.to_datetime(stamps).tz_localize(LOCAL_TZ_NAME).tz_convert("UTC")
    source_names = [s.value for s, _ in SOURCES]
    sw = np.array([w for _, w in SOURCES])
    sources = rng.choice(len(source_names), size=n, p=sw / sw.sum())
    frame = pd.DataFrame(
        {
            "item_code": np.asarray(codes, dtype=object)[item_idx],
            "lat": lat,
            "lng": lng,
            "source": np.asarray(source_names, dtype=object)[sources],
            "reported_at": reported,
        }
    )
    frame = frame[frame["reported_at"] < pd.Timestamp(end)]
    frame = frame.sort_values("reported_at", kind="stable").reset_index(drop=True)
    names = {code: item.name_zh for code, item in svc.catalog.items.items()}
    frame["description"] = [
        f"{names[c]}，{DESCRIPTION_HINTS[k % len(DESCRIPTION_HINTS)]}（演示）"
        for k, c in enumerate(frame["item_code"])
    ]
    return frame


def _lognormal_minutes(rng: np.random.Generator, median: float, sigma: float, size: int) -> np.ndarray:
    return np.asarray(np.exp(np.log(median) + sigma * rng.standard_normal(size)), dtype=float)


def _play(inc: Incident, r: dict[str, float], end: datetime, canonical: str | None, catalog: Catalog) -> None:
    """Play one incident's history through the workflow, stopping at ``end``.

    The catalog says which items may be closed as 首违不罚 and whom a case is copied to (抄告).
    """
    captain, cc = CAPTAIN, "指挥中心"
    t = inc.reported_at + timedelta(minutes=float(r["respond"]))
    if t >= end:
        return
    inc.apply(Action.ASSESS, actor=cc, role="command_center", at=t)
    t += timedelta(minutes=float(r["assess"]))
    if t >= end:
        return
    if canonical and r["merge"] < 0.6:
        inc.apply(
            Action.MERGE, actor=captain, role="captain", at=t, canonical_id=canonical, note="重复上报，合并"
        )
        return
    if r["reject"] < 0.05:
        inc.apply(Action.REJECT, actor=captain, role="captain", at=t, reason="经核查非执法事项")
        return
    if inc.handler == "department":  # a professional or non-empowered item: handed over (移交)
        taken = _handover(inc, r, t, end, catalog)
        if taken is None:
            return
        t = taken
    # most matters are put right on the spot (简易处置); about one in ten becomes a formal case
    # (立案): 20,000 reports a year give about 1,800 cases, the order of the district's 1,798
    outcome = (
        "simple" if r["outcome"] < 0.85 else ("case" if r["outcome"] < 0.94 else "first_offence_no_penalty")
    )
    item = catalog.item(inc.item_code)
    if outcome == "first_offence_no_penalty" and not item.first_offence:
        outcome = "simple"
    copies: dict[str, Any] = {"copies": item.copies()} if item.copy_to else {}
    reason = CASE_REASONS[int(r["outcome"] * 1000) % len(CASE_REASONS)] if outcome == "case" else ""
    inc.apply(
        Action.DISPATCH, actor=captain, role="captain", at=t, team_id=inc.team_id, outcome=outcome,
        **({"reason": reason} if reason else {}), **copies,
    )  # fmt: skip
    due_span = inc.due_at - inc.reported_at
    # zombie vehicles linger for weeks: towing needs notices and waiting periods
    t += due_span * float(r["handle"]) * (3.0 if inc.item_code == "ZOMBIE_VEHICLE" else 1.0)
    if r["consult"] < 0.08:
        if t >= end:
            return
        invited = list(dict.fromkeys([inc.department, "ga"]))
        inc.apply(Action.CONSULT, actor=captain, role="captain", at=t, departments=invited)
        span = timedelta(hours=float(r["consult_h"]))
        for k, dept in enumerate(invited, start=1):  # each invited department gives its opinion (会商意见)
            said = t + span * k / (len(invited) + 1)
            if said >= end:
                return
            inc.apply(
                Action.OPINION, actor=f"liaison-{dept}", role="liaison", at=said, department=dept,
                opinion=OPINIONS[k % len(OPINIONS)],
            )  # fmt: skip
        t += span
        if t >= end:
            return
        decision = "close" if r["decision"] < 0.3 else ("reject" if r["decision"] < 0.4 else "handle")
        inc.apply(Action.DECIDE, actor=cc, role="command_center", at=t, decision=decision, note="会商决定")
        if decision != "handle":
            return
        t += due_span * 0.2
    goes_on = _request(inc, r, t, end)
    if goes_on is None:
        return
    closed_at = _handle(inc, r, goes_on, end, due_span)
    if closed_at is None or inc.source not in CALLBACK_SOURCES:
        return
    # 回访: the command centre calls the reporter back a day or two after closure
    t = closed_at + timedelta(hours=float(r["callback_h"]))
    if t >= end:
        return
    verdict = "satisfied" if r["satisfy"] < 0.88 else ("basic" if r["satisfy"] < 0.982 else "dissatisfied")
    inc.apply(Action.CALLBACK, actor=CALLER, role="command_center", at=t, result=verdict)
    if inc.state != State.HANDLING:
        return
    closed_at = _handle(inc, r, t + timedelta(hours=8), end, due_span, rework=True)  # reopened once: rework
    if closed_at is not None and closed_at + timedelta(hours=24) < end:
        again = "satisfied" if r["satisfy_again"] < 0.7 else "basic"
        inc.apply(
            Action.CALLBACK,
            actor=CALLER,
            role="command_center",
            at=closed_at + timedelta(hours=24),
            result=again,
        )


OPINIONS = ("属本部门职责，同意联合处置", "建议由乡镇先行劝导，部门提供执法支持", "现场核实后依法处理")
CAPTAIN, DUTY_CHIEF, CALLER, INSPECTOR = "中队长", "指挥中心值班长", "指挥中心回访员", "执法队员"
CASE_OFFICERS = (
    "执法队员甲（演示）",
    "执法队员乙（演示）",
)  # a formal case is handled by two certified officers


def _handover(
    inc: Incident, r: dict[str, float], t: datetime, end: datetime, catalog: Catalog
) -> datetime | None:
    """Hand the case over to its department, which accepts most and returns some.

    The township disputes some returns and the duty chief rules. Returns when the township
    takes the case (None: the department has it, or the story ends at ``end``).
    """
    liaison = f"liaison-{inc.department}"
    named = catalog.item(inc.item_code).copies(inc.department)
    copies: dict[str, Any] = {"copies": named} if named else {}
    inc.apply(Action.HANDOVER, actor=CAPTAIN, role="captain", at=t, department=inc.department, **copies)
    t += timedelta(hours=float(r["accept_h"]))
    if t >= end:
        return None
    if r["handover"] < 0.85:
        inc.apply(Action.ACCEPT, actor=liaison, role="liaison", at=t)
        return None
    inc.apply(
        Action.RETURN, actor=liaison, role="liaison", at=t, reason="经核查属乡镇综合执法事项，请乡镇处置"
    )
    t += timedelta(hours=2)
    if t >= end:
        return None
    if r["dispute"] >= 0.3:  # the township accepts the return and dispatches its team
        return t
    inc.apply(Action.DISPUTE, actor=CAPTAIN, role="captain", at=t, reason="属部门专业执法事项，乡镇无执法权")
    t += timedelta(hours=float(r["rule_h"]))
    if t >= end:
        return None
    ruling = "department" if r["ruling"] < 0.5 else "township"
    inc.apply(
        Action.RULE, actor=DUTY_CHIEF, role="command_center", at=t, decision=ruling, note="指挥中心争议裁定"
    )
    if ruling == "department":
        return None
    return t + timedelta(hours=1)


def _request(inc: Incident, r: dict[str, float], t: datetime, end: datetime) -> datetime | None:
    """Some cases ask for a deferral (延期) or a hold (挂账) before their due time.

    The duty chief approves most and refuses some. Returns when handling goes on (None: the
    story ends at ``end``).
    """
    if not (r["defer"] < 0.06 and t < inc.due_at):  # asked before the due time, never after
        return t
    if t >= end:
        return None
    hold = r["defer"] < 0.008
    if hold:
        inc.apply(
            Action.REQUEST, actor=CAPTAIN, role="captain", at=t, kind="hold", reason="涉及诉讼，待法院裁定"
        )
    else:
        handling = inc.due_at - inc.reported_at
        new_due = inc.due_at + min(timedelta(days=float(r["defer_days"])), handling)
        inc.apply(
            Action.REQUEST,
            actor=CAPTAIN,
            role="captain",
            at=t,
            kind="defer",
            reason="当事人申请整改期",
            new_due_at=new_due,
        )
    t += timedelta(hours=float(r["decide_h"]))
    if t >= end:
        return None
    if t > inc.due_at:  # not decided in time: the request lapsed; it is withdrawn by handing in the result
        return t
    if r["refuse"] < 0.2:
        inc.apply(
            Action.REFUSE, actor=DUTY_CHIEF, role="command_center", at=t, reason="理由不充分，按原期限办结"
        )
        return t
    inc.apply(Action.APPROVE, actor=DUTY_CHIEF, role="command_center", at=t)
    if not hold:
        return t + timedelta(days=float(r["defer_days"]) * 0.5)
    t += timedelta(days=float(r["defer_days"]))
    if t >= end:
        return None
    inc.apply(Action.RESUME, actor=CAPTAIN, role="captain", at=t, note="法院已裁定，恢复办理")
    return t + timedelta(hours=8)


def _supervise_until(inc: Incident, t: datetime) -> None:
    """Raise 督办 as the case's lateness called for before ``t`` (the automatic supervision)."""
    for level, days in zip(SUPERVISION_LEVELS, SUPERVISION_AFTER_DAYS, strict=True):
        at = inc.due_at + timedelta(days=days, hours=1)
        if inc.pending:  # never before what already happened to it
            at = max(at, inc.pending[-1].at)
        if at < t and inc.state in RUNNING_STATES and level > inc.supervision_level:
            late = (at - inc.due_at).days
            inc.apply(
                Action.SUPERVISE, actor=AUTO_SUPERVISOR.name, role="command_center", at=at, level=level,
                reason=f"超期 {late} 天，自动督办",
            )  # fmt: skip


def _handle(
    inc: Incident,
    r: dict[str, float],
    t: datetime,
    end: datetime,
    due_span: timedelta,
    *,
    rework: bool = False,
) -> datetime | None:
    """Results and checks until one passes; returns the closure time (None: still open at ``end``)."""
    for attempt in range(2):
        if t >= end:
            return None
        _supervise_until(inc, t)
        officers: dict[str, Any] = {"officers": CASE_OFFICERS} if inc.assessment_outcome == "case" else {}
        inc.apply(Action.SUBMIT, actor=INSPECTOR, role="inspector", at=t, result="已现场处置", **officers)
        t += timedelta(hours=float(r["verify_h"]))
        if t >= end:
            return None
        _supervise_until(inc, t)
        fail = attempt == 0 and not rework and r["rework"] < 0.06
        inc.apply(
            Action.VERIFY, actor=DUTY_CHIEF, role="command_center", at=t, result="fail" if fail else "pass"
        )
        if not fail:
            return t
        t += due_span * 0.15
    return None


def _draws(rng: np.random.Generator, sources: np.ndarray, n: int) -> dict[str, np.ndarray]:
    urgent = np.isin(sources, [Source.HOTLINE.value, Source.PETITION.value])
    respond = np.where(urgent, _lognormal_minutes(rng, 9, 0.7, n), _lognormal_minutes(rng, 35, 0.9, n))
    return {
        "respond": respond,
        "assess": _lognormal_minutes(rng, 40, 0.8, n),
        "merge": rng.random(n),
        "reject": rng.random(n),
        "outcome": rng.random(n),
        "handle": np.clip(rng.lognormal(math.log(0.45), 0.7, n), 0.02, 3.0),
        "consult": rng.random(n),
        "consult_h": rng.uniform(4, 72, n),
        "decision": rng.random(n),
        "defer": rng.random(n),
        "defer_days": rng.uniform(3, 20, n),
        "decide_h": rng.uniform(1, 24, n),
        "accept_h": rng.lognormal(math.log(8), 0.8, n),
        "handover": rng.random(n),
        "dispute": rng.random(n),
        "rule_h": rng.uniform(2, 48, n),
        "ruling": rng.random(n),
        "refuse": rng.random(n),
        "callback_h": rng.uniform(4, 48, n),
        "satisfy": rng.random(n),
        "satisfy_again": rng.random(n),
        "rework": rng.random(n),
        "verify_h": rng.uniform(1, 30, n),
    }


def _incidents(svc: IncidentService, prepared: pd.DataFrame) -> Iterator[Incident]:
    rep = prepared["reported_at"].dt.to_pydatetime()
    due = prepared["due_at"].dt.to_pydatetime()
    cols = {c: prepared[c].tolist() for c in prepared.columns if c not in ("reported_at", "due_at")}
    d = svc.district.code
    for i in range(len(prepared)):
        sus = cols["suspected_duplicate_of"][i]
        yield Incident(
            id=cols["id"][i], number=cols["number"][i], district_code=d, item_code=cols["item_code"][i],
            source=Source(cols["source"][i]), lat=cols["lat"][i], lng=cols["lng"][i], cell=cols["cell"][i],
            village_code=cols["village_code"][i], township_code=cols["township_code"][i],
            team_id=cols["team_id"][i], handler=cols["handler"][i], department=cols["department"][i],
            routing_reason=cols["routing_reason"][i], description=cols["description"][i], reported_at=rep[i],
            due_at=due[i], response_minutes=cols["response_minutes"][i],
            suspected_duplicate_of=sus if isinstance(sus, str) else None,
        )  # fmt: skip


def generate_demo_incidents(
    svc: IncidentService,
    n: int = 20_000,
    *,
    seed: int = 0,
    end: datetime | None = None,
    months: int = 12,
    progress: Callable[[int, int], None] | None = None,
) -> DemoIncidentsResult:
    """Generate ``n`` demo incidents over ``months`` months ending at ``end`` and store them.

    Parameters
    ----------
    svc : IncidentService
        On a store holding a district.
    n : int
        How many reports to make (a few may fall outside the district and are dropped).
    seed : int
        Random seed; with the same ``end``, the same data.
    end : datetime, optional
        End of the period (tz-aware); default: today's local midnight.
    progress : callable, optional
        Called with (done, total) after each stored batch.
    """
    if end is None:
        end = pd.Timestamp.now(tz=LOCAL_TZ_NAME).normalize().to_pydatetime()
    rng = np.random.default_rng(seed)
    frame = _reports(svc, n, end, months, rng)
    prepared, _ = svc.intake.prepare(frame, IMPORTER)  # routed, timed, numbered and flagged as any import
    total = len(prepared)
    draws = _draws(rng, prepared["source"].to_numpy(), total)
    keys = list(draws)
    values = np.column_stack([draws[k] for k in keys]).tolist()
    created = 0
    by_state: dict[str, int] = {}
    batch: list[Incident] = []
    recent_closed = pd.DataFrame(columns=list(CLOSED_COLUMNS))  # what later reports may repeat

    def store_batch() -> None:
        nonlocal created, recent_closed
        # reports come oldest first, so every case a report of this batch can repeat closed
        # in this batch or is kept from earlier ones (patrol.repeats, the rule of every import)
        closed = pd.concat(
            [recent_closed, pd.DataFrame(
                [(c.id, c.item_code, c.cell, c.closed_at) for c in batch if c.state == State.CLOSED],
                columns=list(CLOSED_COLUMNS),
            )],
            ignore_index=True,
        )  # fmt: skip
        closed["closed_at"] = pd.to_datetime(closed["closed_at"], utc=True)
        new = pd.DataFrame(
            {
                "item_code": [c.item_code for c in batch],
                "cell": [c.cell for c in batch],
                "reported_at": [c.reported_at for c in batch],
            }
        )
        for inc, link in zip(batch, link_repeats(new, closed), strict=True):
            inc.repeat_of = link
        # each case with every event of its past, one transaction
        svc.add_histories(IMPORTER, batch, DEMO_SOURCE)
        created += len(batch)
        horizon = pd.Timestamp(max(c.reported_at for c in batch)) - pd.Timedelta(REPEAT_WINDOW)
        recent_closed = closed[closed["closed_at"] >= horizon]
        batch.clear()
        if progress:
            progress(created, total)

    for i, inc in enumerate(_incidents(svc, prepared)):
        created_at = inc.reported_at + timedelta(minutes=1)
        links = {"suspected_duplicate_of": inc.suspected_duplicate_of} if inc.suspected_duplicate_of else {}
        inc.record_creation(IMPORTER.name, IMPORTER.role, min(created_at, end), via=VIA_IMPORT, **links)
        _play(inc, dict(zip(keys, values[i], strict=True)), end, inc.suspected_duplicate_of, svc.catalog)
        _supervise_until(inc, end)  # still open and late at the end: supervised as far as it is late
        by_state[inc.state.value] = by_state.get(inc.state.value, 0) + 1
        batch.append(inc)
        if len(batch) >= BATCH:
            store_batch()
    if batch:
        store_batch()
    return DemoIncidentsResult(created=created, by_state=dict(sorted(by_state.items())))
