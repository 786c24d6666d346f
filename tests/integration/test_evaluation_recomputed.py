"""Every published figure, recomputed from the exported raw data by code of its own.

The export (``gridpatrol export --format csv``) is read with the csv module, and each KPI is
counted by a plain loop written from the definitions in the README, not from patrol.kpis:
a published evaluation must be reproducible by anyone who holds the raw data.
"""

from __future__ import annotations

import csv
import json
import math
import statistics
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from cli import main
from patrol.evaluation import EvaluationService
from patrol.roles import Principal
from store import open_store

BEIJING = ZoneInfo("Asia/Shanghai")
RUNNING = {
    "discovered",
    "assessing",
    "handling",
    "consulting",
    "verifying",
    "returned",
}  # the township's clock runs
# on hold, with the department, with the command centre, in a consultation not yet decided
STILL = {"deferred", "handed_over", "disputed", "consulting"}
READER = Principal("规划员", "planner")


def _time(text: str) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _recompute(
    rows: list[dict[str, str]], start: datetime, end: datetime, cutoff: datetime, key: str
) -> dict:
    groups: dict[str, list[dict[str, str]]] = defaultdict(list)
    for r in rows:
        reported = _time(r["reported_at"])
        assert reported is not None
        if start <= reported < end:
            groups["all" if key == "all" else r[key]].append(r)
    out = {}
    for group, members in groups.items():
        n = {k: 0 for k in ("received", "to_close", "closed", "due", "deferred", "on_time", "urgent",
                            "urgent_in_time", "rework", "consulted", "repeat", "proactive", "overdue_open",
                            "called_back", "satisfied", "supervised")}  # fmt: skip
        minutes = []
        for r in members:
            reported, due, closed_at, first = (
                _time(r[c]) for c in ("reported_at", "due_at", "closed_at", "first_response_at")
            )
            is_closed = r["state"] == "closed"
            to_close = r["state"] not in ("rejected", "merged", "transferred")
            is_due = to_close and r["state"] not in STILL and (due <= cutoff or is_closed)
            is_deferred = is_due and int(r["deferral_count"]) > 0
            n["received"] += 1
            n["to_close"] += to_close
            n["closed"] += is_closed
            n["due"] += is_due
            n["deferred"] += is_deferred
            n["on_time"] += is_due and is_closed and closed_at <= due  # against the approved due time
            if first is not None:
                wait = (first - reported).total_seconds() / 60
                minutes.append(wait)
                if r["source"] in ("hotline_12345", "petition"):
                    n["urgent"] += 1
                    n["urgent_in_time"] += wait <= 15
            n["rework"] += is_closed and int(r["rework_count"]) > 0
            n["consulted"] += json.loads(r["consult_departments"]) != []
            n["repeat"] += r["repeat_of"] != ""
            n["proactive"] += r["source"] == "patrol"
            n["overdue_open"] += r["state"] in RUNNING and due < cutoff
            n["called_back"] += r["satisfaction"] != ""
            n["supervised"] += int(r["supervision_level"]) > 0
            n["satisfied"] += r["satisfaction"] in ("satisfied", "basic")

        def rate(a: int, b: int) -> float | None:
            return None if b == 0 else a / b

        out[group] = {
            **{
                k: n[k]
                for k in (
                    "received",
                    "to_close",
                    "closed",
                    "due",
                    "deferred",
                    "on_time",
                    "overdue_open",
                    "called_back",
                    "supervised",
                )
            },
            "closure_rate": rate(n["closed"], n["to_close"]),
            "on_time_rate": rate(n["on_time"], n["due"]),
            "satisfaction_rate": rate(n["satisfied"], n["called_back"]),
            "response_median_min": statistics.median(minutes) if minutes else None,
            "response_p90_min": (
                statistics.quantiles(minutes, n=10, method="inclusive")[8]
                if len(minutes) > 1
                else (minutes[0] if minutes else None)
            ),
            "urgent_within_15_share": rate(n["urgent_in_time"], n["urgent"]),
            "rework_rate": rate(n["rework"], n["closed"]),
            "consultation_share": rate(n["consulted"], n["received"]),
            "repeat_rate": rate(n["repeat"], n["received"]),
            "proactive_share": rate(n["proactive"], n["received"]),
        }
    return out


def _exported(url: str, tmp_path: Path) -> list[dict[str, str]]:
    """The store's incidents as `gridpatrol export --format csv` writes them, read with the csv module."""
    out = tmp_path / "raw.csv"
    assert main(["export", "--format", "csv", "--out", str(out), "--db", url]) == 0
    with out.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def _bounds(months: tuple[str, ...]) -> tuple[datetime, datetime]:
    """First moment of the first month and of the month after the last, Beijing time."""
    first, last = months[0], months[-1]
    y, m = int(last[:4]), int(last[5:]) + 1
    return (
        datetime(int(first[:4]), int(first[5:]), 1, tzinfo=BEIJING),
        datetime(y + (m > 12), (m - 1) % 12 + 1, 1, tzinfo=BEIJING),
    )


def _same(published: object, mine: object) -> bool:
    if mine is None:
        return published is None or (isinstance(published, float) and math.isnan(published))
    return published == pytest.approx(mine, rel=1e-9, abs=1e-9)


@pytest.mark.parametrize("period", ["2026-10", "2026-Q3"])
def test_every_published_figure_is_recomputed_from_the_export_by_independent_code(
    incidents_sqlite_url, tmp_path, period
):
    rows = _exported(incidents_sqlite_url, tmp_path)
    store = open_store(incidents_sqlite_url)
    evaluation = EvaluationService(store).latest(READER, period)
    store.close()
    assert evaluation is not None  # the demo published it
    start, end = _bounds(evaluation.period.months)
    checked = 0
    for key, grouping in (
        ("township_code", "township"),
        ("team_id", "team"),
        ("item_code", "item"),
        ("all", "all"),
    ):
        mine = _recompute(rows, start, end, evaluation.published_at, key)
        table = evaluation.table(None if grouping == "all" else grouping)  # type: ignore[arg-type]
        assert sorted(str(g) for g in table["group"]) == sorted(mine), grouping
        for record in table.to_dict(orient="records"):
            expected = mine[str(record["group"])]
            for figure, value in expected.items():
                assert _same(record[figure], value), (
                    grouping,
                    record["group"],
                    figure,
                    record[figure],
                    value,
                )
                checked += 1
    # the reform's empowered-items figure, per township, from the catalog file and the export
    with (Path(__file__).resolve().parents[2] / "data" / "catalog" / "items.csv").open(encoding="utf-8") as f:
        items = list(csv.DictReader(f))
    store = open_store(incidents_sqlite_url)
    classes = {t.code: t.empowerment_class for t in store.townships()}
    store.close()
    published = evaluation.table("township").set_index("group")
    for code, klass in classes.items():
        empowered = {
            i["code"]
            for i in items
            if i["list_type"] != "professional" and klass in i["empowered_classes"].split(";")
        }
        used = {r["item_code"] for r in rows if r["township_code"] == code and r["handler"] == "township"
                and start <= _time(r["reported_at"]) < end} & empowered  # fmt: skip
        assert published.loc[code, "empowered_items"] == len(empowered)
        assert published.loc[code, "empowered_used"] == len(used)
        assert _same(
            published.loc[code, "empowered_use_share"], len(used) / len(empowered) if empowered else None
        )
        checked += 3
    assert evaluation.received == sum(1 for r in rows if start <= _time(r["reported_at"]) < end)
    assert checked > 1000


def _scheme() -> list[dict[str, str]]:
    with (Path(__file__).resolve().parents[2] / "data" / "evaluation" / "scheme.csv").open(
        encoding="utf-8"
    ) as f:
        return list(csv.DictReader(f))


def _item_points(item: dict[str, str], figures: dict) -> float | None:  # type: ignore[type-arg]
    """A computed sub-item's points, from the rule as scheme.csv states it."""
    names = item["source"].split("/")
    values = [figures.get(n) for n in names]
    if any(v is None or (isinstance(v, float) and math.isnan(v)) for v in values):
        return None
    if len(values) == 2:
        if values[1] == 0:
            return None
        value = values[0] / values[1]
    else:
        value = float(values[0])
    points = float(item["points"])
    if item["rule"] == "deduct":
        return max(0.0, points - float(item["per"]) * value)
    zero, full = float(item["zero_at"]), float(item["full_at"])
    return points * min(1.0, max(0.0, (value - zero) / (full - zero)))


@pytest.mark.parametrize("period", ["2026-10", "2026-Q3"])
def test_the_published_composite_is_recomputed_from_the_scheme_file_the_export_and_the_entered_scores(
    incidents_sqlite_url, tmp_path, period
):
    rows = _exported(incidents_sqlite_url, tmp_path)
    store = open_store(incidents_sqlite_url)
    try:
        evaluation = EvaluationService(store).latest(READER, period)
        assert evaluation is not None and evaluation.composite() is not None
        classes = {t.code: t.empowerment_class for t in store.townships()}
        premises = {p.id: p.township_code for p in store.premises()}
        inspections = store.inspections()
        entries = store.score_entries(store.district().code, period)
    finally:
        store.close()
    start, end = _bounds(evaluation.period.months)
    in_period = [r for r in rows if start <= _time(r["reported_at"]) < end]

    # joint inspections planned for a day of the period, per township, and those done
    planned: dict[str, int] = defaultdict(int)
    done: dict[str, int] = defaultdict(int)
    for i in inspections:
        if start.date() <= i.planned_on < end.date() and i.status != "cancelled":
            planned[premises[i.premises_id]] += 1
            done[premises[i.premises_id]] += i.status == "done"
    assert sum(planned.values()) > 0  # the demo plans joint inspections over the year
    township_table = evaluation.table("township").set_index("group")
    for code in classes:
        assert township_table.loc[code, "joint_planned"] == planned[code]
        assert _same(
            township_table.loc[code, "joint_inspection_completion"],
            done[code] / planned[code] if planned[code] else None,
        )

    # the figures per empowerment class
    published_classes = evaluation.table("classes").set_index("group")
    for klass in set(classes.values()):
        mine = [r for r in in_period if classes[r["township_code"]] == klass]
        own = [r for r in mine if r["handler"] == "township"]
        cases = sum(r["assessment_outcome"] == "case" for r in own)
        n = sum(1 for c in classes.values() if c == klass)
        assert published_classes.loc[klass, ["townships", "received", "by_township", "cases"]].tolist() == [
            n, len(mine), len(own), cases,
        ]  # fmt: skip
        assert _same(published_classes.loc[klass, "cases_per_township"], cases / n)

    # every sub-item's points, each township's total, and the ranks
    latest: dict[tuple[str, str], float] = {}
    for e in sorted(entries, key=lambda e: (e.at, e.id)):
        if e.at <= evaluation.published_at:
            latest[(e.township_code, e.item_code)] = e.points
    summary, items = evaluation.composite()  # type: ignore[misc]
    published_items = {(r["group"], r["item"]): r["points"] for r in items.to_dict(orient="records")}
    totals: dict[str, float | None] = {}
    block_points: dict[str, dict[str, float]] = {}
    scheme = _scheme()
    for code in classes:
        figures = township_table.loc[code].to_dict()
        earned = scorable = 0.0
        blocks: dict[str, float] = defaultdict(float)
        for item in scheme:
            if item["source"]:
                points = _item_points(item, figures)
                if points is None:
                    assert published_items[(code, item["code"])] is None
                    continue
            else:
                points = latest.get((code, item["code"]), 0.0)
            assert _same(published_items[(code, item["code"])] or 0.0, points), (code, item["code"])
            earned += points
            scorable += float(item["points"])
            blocks[item["block"]] += points
        totals[code] = round(earned / scorable * 100, 2) if scorable else None
        block_points[code] = blocks
    by = summary.set_index("group")
    for code, total in totals.items():
        assert _same(by.loc[code, "total"], total), code
    # ranks: by total, then the blocks by their worth (执法办案 30 first), then shared
    worth: dict[str, float] = defaultdict(float)
    for item in scheme:
        worth[item["block"]] += float(item["points"])
    order = [b for b in dict.fromkeys(i["block"] for i in scheme)]
    order.sort(key=lambda b: -worth[b])
    ranked = [c for c in classes if by.loc[c, "received"] >= 20 and totals[c] is not None]
    key = {c: (-totals[c], *(-round(block_points[c][b], 2) for b in order)) for c in ranked}  # type: ignore[operator]
    for c in ranked:
        assert by.loc[c, "rank"] == 1 + sum(key[o] < key[c] for o in ranked), c
    assert all(by.loc[c, "rank"] is None for c in classes if c not in ranked)
