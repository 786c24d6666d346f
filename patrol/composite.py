"""The composite evaluation (综合评价): an evaluation scheme as data, and how a township scores on it.

A scheme (``data/evaluation``) has blocks of sub-items worth 100 points in all. A computed
sub-item reads one figure of the township's KPI table (or the ratio ``a/b`` of two) and scores
it by its rule (``linear`` or ``deduct``); an entered one takes the points an assessor entered,
with evidence.

Stated rules, in this order:

- a computed figure with nothing to compute it from (no callback, no urgent case, no planned
  joint inspection) is *not scored*: the total is the points earned ÷ the points that could be
  scored × 100, so a township is neither rewarded nor punished for what it had no case of;
- an entered sub-item nobody entered scores 0 and is flagged (the assessor's task is to enter it);
- a township with fewer received incidents than the small-sample rule is shown and not ranked;
- equal totals (to 0.01 point) are ordered by the blocks' scores, the block worth most first
  (equal worth: in the scheme's order); still equal, they share a rank (1, 2, 2, 4).
"""

from __future__ import annotations

import csv
import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeAlias

import numpy as np
import pandas as pd

from patrol.kpis import KPI_COLUMNS, MIN_CASES_TO_RANK, shared_ranks

Rule: TypeAlias = Literal["linear", "deduct", "entered"]
SCHEME_DIR = Path(__file__).resolve().parent.parent / "data" / "evaluation"
SCHEME_POINTS = 100.0
# the figures a sub-item may read: the KPIs and the township-only figures of the evaluation service
TOWNSHIP_FIGURES = ("empowered_use_share", "joint_inspection_completion")
FIGURES = frozenset((*KPI_COLUMNS, *TOWNSHIP_FIGURES))
SUMMARY_COLUMNS = ("group", "rank", "ranked", "received", "total", "earned", "scorable", "missing")
ITEM_COLUMNS = ("group", "item", "value", "points")


@dataclass(frozen=True)
class Block:
    """One block of the scheme (e.g. 执法办案) and the points its sub-items are worth."""

    code: str
    name_zh: str
    name_en: str
    points: float


@dataclass(frozen=True)
class SubItem:
    """One sub-item: where its value comes from and how it is scored."""

    code: str
    block: str
    name_zh: str
    name_en: str
    points: float
    figure: str | None  # computed from this figure; None: entered by an assessor
    rule: Rule
    zero_at: float | None = None
    full_at: float | None = None
    per: float | None = None
    rule_zh: str = ""
    rule_en: str = ""

    @property
    def computed(self) -> bool:
        """Computed from the store (else entered by an assessor)."""
        return self.figure is not None

    def score(self, value: float | None) -> float | None:
        """Points for a computed figure's value; None when there is no value (not scored)."""
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return None
        v = float(value)
        if self.rule == "deduct":
            return max(0.0, self.points - float(self.per or 0.0) * v)
        if self.rule == "linear":
            zero, full = float(self.zero_at or 0.0), float(self.full_at or 0.0)
            share = (v - zero) / (full - zero)
            return self.points * min(1.0, max(0.0, share))
        msg = f"sub-item {self.code} is entered, not computed"
        raise ValueError(msg)


@dataclass(frozen=True)
class Scheme:
    """Blocks and sub-items, checked when loaded."""

    blocks: tuple[Block, ...]
    items: tuple[SubItem, ...]

    def item(self, code: str) -> SubItem:
        """The sub-item of a code (StopIteration for an unknown one)."""
        return next(i for i in self.items if i.code == code)

    @property
    def entered(self) -> tuple[SubItem, ...]:
        """The sub-items assessors enter, in scheme order."""
        return tuple(i for i in self.items if not i.computed)

    @property
    def tie_order(self) -> tuple[str, ...]:
        """Block codes in the order ties are broken: the block worth most first, then scheme order."""
        order = {b.code: k for k, b in enumerate(self.blocks)}
        return tuple(b.code for b in sorted(self.blocks, key=lambda b: (-b.points, order[b.code])))


def figure_value(figures: Mapping[Any, object], figure: str) -> float | None:
    """A figure of a township's row, or the ratio ``a/b`` of two (None when unknown or ÷ 0)."""
    parts = figure.split("/")
    values = [figures.get(p) for p in parts]
    if any(v is None or pd.isna(v) for v in values):  # type: ignore[call-overload]
        return None
    numbers = [float(v) for v in values]  # type: ignore[arg-type]
    if len(numbers) == 1:
        return numbers[0]
    return None if numbers[1] == 0 else numbers[0] / numbers[1]


def _number(text: str) -> float | None:
    return float(text) if text.strip() else None


@functools.cache
def load_scheme(directory: Path = SCHEME_DIR) -> Scheme:
    """The scheme in ``directory`` (``blocks.csv`` and ``scheme.csv``).

    Raises
    ------
    ValueError
        Naming the first problem: an unknown block or figure, an incomplete rule, points not
        adding up to 100, a duplicate code.
    """
    with (directory / "blocks.csv").open(encoding="utf-8") as f:
        block_rows = list(csv.DictReader(f))
    with (directory / "scheme.csv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    items = []
    for r in rows:
        rule = r["rule"]
        figure = r["source"].strip() or None
        item = SubItem(
            r["code"], r["block"], r["name_zh"], r["name_en"], float(r["points"]), figure, rule,  # type: ignore[arg-type]
            _number(r["zero_at"]), _number(r["full_at"]), _number(r["per"]), r["rule_zh"], r["rule_en"],
        )  # fmt: skip
        problem = _problem(item, {b["code"] for b in block_rows})
        if problem:
            msg = f"scheme.csv, sub-item {item.code}: {problem}"
            raise ValueError(msg)
        items.append(item)
    codes = [i.code for i in items]
    if len(set(codes)) != len(codes):
        msg = f"scheme.csv: duplicate sub-item codes {sorted({c for c in codes if codes.count(c) > 1})}"
        raise ValueError(msg)
    total = sum(i.points for i in items)
    if abs(total - SCHEME_POINTS) > 1e-9:
        msg = f"scheme.csv: the sub-items' points add up to {total:g}, not {SCHEME_POINTS:g}"
        raise ValueError(msg)
    blocks = tuple(
        Block(b["code"], b["name_zh"], b["name_en"], sum(i.points for i in items if i.block == b["code"]))
        for b in block_rows
    )
    return Scheme(blocks, tuple(items))


def _problem(item: SubItem, blocks: set[str]) -> str:
    if item.block not in blocks:
        return f"unknown block {item.block!r}"
    if item.points <= 0:
        return "points must be more than 0"
    if item.rule == "entered":
        return f"an entered sub-item names no figure (has {item.figure!r})" if item.figure else ""
    parts = (item.figure or "").split("/")
    if len(parts) > 2 or any(p not in FIGURES for p in parts):
        return f"unknown figure {item.figure!r} (a figure, or a/b: the ratio of two)"
    if item.rule == "linear":
        if item.zero_at is None or item.full_at is None or item.zero_at == item.full_at:
            return "a linear rule needs zero_at and full_at, and they must differ"
        return ""
    if item.rule == "deduct":
        return "" if item.per is not None and item.per > 0 else "a deduct rule needs per > 0"
    return f"unknown rule {item.rule!r}"


def score_townships(
    scheme: Scheme,
    figures: pd.DataFrame,
    entered: Mapping[tuple[str, str], float],
    min_cases: int = MIN_CASES_TO_RANK,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each township's points on every sub-item, and its blocks, total and rank.

    Parameters
    ----------
    figures : pandas.DataFrame
        The township KPI table (``group`` = township code, ``received`` and every figure the
        scheme's computed sub-items read).
    entered : mapping
        ``(township code, sub-item code) -> points`` as the assessors entered them.

    Returns
    -------
    (summary, details)
        ``summary``: ``SUMMARY_COLUMNS`` and one ``block:<code>`` column per block (points, none
        when nothing in it could be scored), ranked; ``details``: one row per township and
        sub-item with ``group``, ``item``, ``value`` (the figure, or none for entered ones) and
        ``points`` (none: not scored or not entered).
    """
    details: list[tuple[str, str, float | None, float | None]] = []
    summary = []
    for row in figures.to_dict("records"):
        township = str(row["group"])
        earned = scorable = 0.0
        missing = 0
        by_block: dict[str, float | None] = {b.code: None for b in scheme.blocks}
        for item in scheme.items:
            if item.computed:
                value = figure_value(row, item.figure or "")
                points = item.score(value)
                if points is None:  # nothing to compute it from: not scored
                    details.append((township, item.code, value, None))
                    continue
            else:
                value = None
                points = entered.get((township, item.code))
                missing += points is None
            got = 0.0 if points is None else float(points)
            earned += got
            scorable += item.points
            by_block[item.block] = (by_block[item.block] or 0.0) + got
            details.append((township, item.code, value, points))
        total = None if scorable == 0 else round(earned / scorable * SCHEME_POINTS, 2)
        summary.append(
            {
                "group": township,
                "received": int(row["received"]),
                "total": total,
                "earned": round(earned, 2),
                "scorable": scorable,
                "missing": missing,
                **{f"block:{b}": None if v is None else round(v, 2) for b, v in by_block.items()},
            }
        )
    columns = [*SUMMARY_COLUMNS[3:], *(f"block:{b.code}" for b in scheme.blocks)]
    table = rank_composite(pd.DataFrame(summary, columns=["group", *columns]), scheme, min_cases)
    return table[[*SUMMARY_COLUMNS, *columns[5:]]], pd.DataFrame(details, columns=list(ITEM_COLUMNS))


def rank_composite(table: pd.DataFrame, scheme: Scheme, min_cases: int = MIN_CASES_TO_RANK) -> pd.DataFrame:
    """Add ``ranked`` and ``rank`` by total, ties broken by the blocks in ``scheme.tie_order``."""
    out = table.copy()
    out["ranked"] = (out["received"] >= min_cases) & out["total"].notna()
    keys = pd.DataFrame(
        {
            "k0": -out["total"].astype(float).fillna(-np.inf).round(2),
            **{
                f"k{n}": -out[f"block:{b}"].astype(float).fillna(-np.inf).round(2)
                for n, b in enumerate(scheme.tie_order, start=1)
            },
        },
        index=out.index,
    )
    out["rank"] = shared_ranks(keys, out["ranked"])
    return out
