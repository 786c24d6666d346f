"""The one map legend: a box of titled sections, each a list of swatches, and its class breaks.

Every map in the app carries exactly one legend box (``.gp-legend``), built here, so that
fills, outlines and markers are explained the same way everywhere. Class breaks are clean
round numbers (1, 2, 2.5, 5 × 10ⁿ), never a raw quantile such as 0.0833333.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

import folium
import numpy as np
import numpy.typing as npt

SwatchKind: TypeAlias = Literal["fill", "line", "dashed", "dot", "ring"]


@dataclass(frozen=True)
class Swatch:
    """One legend row: how the symbol looks (``kind``, ``colour``) and what it means."""

    colour: str
    label: str
    kind: SwatchKind = "fill"


Entry: TypeAlias = Swatch | tuple[str, str]
Section: TypeAlias = tuple[str, Sequence[Entry]]


def _symbol(s: Swatch) -> str:
    base = "display:inline-block;margin-right:5px;vertical-align:middle;"
    colour = html.escape(s.colour, quote=True)
    if s.kind == "line":
        return f'<span style="{base}width:16px;height:0;border-top:2px solid {colour}"></span>'
    if s.kind == "dashed":
        style = f"width:16px;height:8px;border:2px dashed {colour};background:{colour}22"
        return f'<span style="{base}{style}"></span>'
    if s.kind == "dot":
        return (
            f'<span style="{base}width:10px;height:10px;border-radius:50%;background:{colour};'
            'border:1px solid #fff;box-shadow:0 0 0 1px #999"></span>'
        )
    if s.kind == "ring":
        return (
            f'<span style="{base}width:10px;height:10px;border-radius:50%;border:3px solid {colour}"></span>'
        )
    return f'<span style="{base}width:14px;height:10px;background:{colour};border:1px solid #999"></span>'


def _swatch(entry: Entry) -> Swatch:
    return entry if isinstance(entry, Swatch) else Swatch(entry[0], entry[1])


def legend_sections(sections: Sequence[Section]) -> str:
    """One legend box with a bold title per section; every text is HTML-escaped.

    The box is a ``<details>`` element: a tap on its first title folds it away, so on a
    phone it does not hide the map (:mod:`layers.locale` folds it on narrow maps).
    """
    parts: list[str] = []
    for title, entries in sections:
        if not entries:
            continue
        rows = "".join(f"<div>{_symbol(s)}{html.escape(s.label)}</div>" for s in map(_swatch, entries))
        head = (
            f'<summary style="cursor:pointer;font-weight:bold">{html.escape(title)}</summary>'
            if not parts
            else f"<b>{html.escape(title)}</b>"
        )
        parts.append(f'<div style="margin-top:2px">{head}{rows}</div>' if parts else head + rows)
    return (
        '<details class="gp-legend" open style="position:absolute;bottom:24px;right:10px;z-index:1000;'
        "background:rgba(255,255,255,.92);padding:6px 8px;border:1px solid #bbb;border-radius:4px;"
        'font:12px/1.5 sans-serif;max-height:45%;overflow:auto">'
        f"{''.join(parts)}</details>"
    )


def legend_box(title: str, entries: Sequence[Entry]) -> str:
    """A legend box of one section."""
    return legend_sections([(title, entries)])


def add_legend(m: folium.Map, legend: str) -> None:
    """Put a legend box on the map (one per map: build several sections with :func:`legend_sections`)."""
    root: Any = m.get_root()
    root.html.add_child(folium.Element(legend))


def nice_number(x: float, *, up: bool = True) -> float:
    """The nearest of 1, 2, 2.5, 5 × 10ⁿ at or above ``x`` (``up``) or at or below it."""
    if x <= 0 or not math.isfinite(x):
        return 0.0
    exp = math.floor(math.log10(x))
    steps = (1.0, 2.0, 2.5, 5.0, 10.0)
    scale = 10.0**exp
    mantissa = x / scale
    if up:
        pick = next(s for s in steps if s >= mantissa - 1e-9)
    else:
        pick = next(s for s in reversed(steps) if s <= mantissa + 1e-9)
    return float(round(pick * scale, 12))


def class_breaks(values: npt.ArrayLike, k: int, step: float | None = None) -> list[float]:
    """Upper bounds of at most ``k`` classes, each a clean round number, the last ≥ the maximum.

    Quantile bounds are rounded up to 1, 2, 2.5 or 5 × 10ⁿ (to whole numbers when the values
    are counts, whose last class ends at the largest count: "3–14", not "3–100"), or to a
    multiple of ``step`` when given (rates that all lie between 40 % and 70 % want steps of
    5 %, not a jump from 50 % to 100 %); ties merge classes, so few or tied values give fewer
    classes.
    """
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return []
    integral = bool(np.all(v == np.round(v)))
    distinct = np.unique(v)
    if distinct.size <= k and (integral or distinct.size <= 1):
        return [float(x) for x in distinct]
    raw = np.quantile(v, np.linspace(0, 1, k + 1)[1:], method="higher")
    breaks: list[float] = []
    for b in raw:
        nb = round(math.ceil(float(b) / step - 1e-9) * step, 12) if step else nice_number(float(b))
        if integral:
            nb = float(max(math.ceil(nb), 1))
        if not breaks or nb > breaks[-1]:
            breaks.append(nb)
    if integral:  # counts: the top class ends at the largest count, not at the next round number
        top = float(distinct[-1])
        breaks = sorted({min(b, top) for b in breaks})
    return breaks


def range_labels(breaks: Sequence[float], *, integral: bool, percent: bool = False) -> list[str]:
    """Readable class labels: ``≤ 2``, ``3–5``, ``6–10`` for counts; ``≤ 5%``, ``5%–10%`` for shares."""

    def fmt(x: float) -> str:
        return f"{x * 100:g}%" if percent else f"{x:g}"

    labels: list[str] = []
    for i, b in enumerate(breaks):
        if i == 0:
            labels.append(f"≤ {fmt(b)}")
            continue
        lo = breaks[i - 1]
        if integral and not percent:
            lo_txt = fmt(lo + 1)
            labels.append(fmt(b) if lo + 1 == b else f"{lo_txt}–{fmt(b)}")
        else:
            labels.append(f"{fmt(lo)}–{fmt(b)}")
    return labels
