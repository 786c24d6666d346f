"""Plausibility of what enters the store: times in a window, text without control characters, bounded.

One set of rules for every entry (a single report, a bulk import, a command-line file), so
both backends receive, and refuse, exactly the same rows for the same reasons. Each rule
comes in a vectorised form (a reason per row, ``""`` where the row passes) and in a
one-value form that raises :class:`ImplausibleInputError` naming the field and the fix.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import numpy.typing as npt
import pandas as pd

from patrol.refusals import Reason, Refusal

#: Longest text each free-text field may hold, in characters.
MAX_CHARS: Mapping[str, int] = {
    "description": 2000,
    "reporter_name": 100,
    "reporter_phone": 40,
    "external_id": 200,
}
#: The same for the other free text people type: workflow notes and results, names.
OTHER_MAX_CHARS: Mapping[str, int] = {
    "note": 2000,
    "result": 2000,
    "reason": 2000,
    "display_name": 80,
    "filename": 120,
}
#: Fields that may span lines (tab, CR and LF allowed); the others are one line.
MULTILINE_FIELDS = frozenset({"description", "note", "result", "reason"})

# NUL, the other C0 controls and DEL; tab, LF and CR only where a field may span lines
_CONTROL_ONE_LINE = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_MULTILINE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class ImplausibleInputError(Refusal):
    """A value no real report can hold (a time outside the window, a control character)."""


@dataclass(frozen=True)
class TimeWindow:
    """The times a report may carry: from ``earliest`` to the present plus ``future_slack``.

    A clock a little ahead on a phone is tolerated; a year 9999 or 1677 is not (pandas and
    Python cannot even convert those to local time, so one such row broke every page).
    """

    earliest: datetime = datetime(2000, 1, 1, tzinfo=UTC)
    future_slack: timedelta = timedelta(days=1)

    def bounds(self, now: datetime) -> tuple[datetime, datetime]:
        """The first and last acceptable time, given the present."""
        return self.earliest, now + self.future_slack

    def reason(self, now: datetime) -> Reason:
        """Why a time outside the window is refused (the same words for every entry)."""
        lo, hi = self.bounds(now)
        return Reason(
            f"time outside {lo:%Y-%m-%d} to {hi:%Y-%m-%d} (UTC)",
            "refuse.time_window",
            field="reported_at",
            earliest=f"{lo:%Y-%m-%d}",
            latest=f"{hi:%Y-%m-%d}",
        )

    def refusals(self, times: pd.Series, now: datetime) -> npt.NDArray[np.object_]:
        """A reason per time outside the window (``""`` inside it, and for missing times)."""
        lo, hi = self.bounds(now)
        t = pd.to_datetime(times, utc=True)
        out = np.full(len(t), "", dtype=object)
        outside = ((t < pd.Timestamp(lo)) | (t > pd.Timestamp(hi))).to_numpy(dtype=bool)
        out[outside] = self.reason(now)
        return out

    def check(self, at: datetime, now: datetime, *, field: str = "reported_at") -> None:
        """Raise ImplausibleInputError unless ``at`` lies in the window.

        Raises
        ------
        ImplausibleInputError
            Naming the field, the value and the window.
        """
        lo, hi = self.bounds(now)
        if not lo <= at <= hi:
            msg = f"{field} {at:%Y-%m-%d %H:%M} is outside {lo:%Y-%m-%d} to {hi:%Y-%m-%d} (UTC)"
            raise ImplausibleInputError(
                msg, "refuse.time_window", field=field, earliest=f"{lo:%Y-%m-%d}", latest=f"{hi:%Y-%m-%d}"
            )


DEFAULT_WINDOW = TimeWindow()


def _max_chars(field: str) -> int | None:
    return MAX_CHARS.get(field, OTHER_MAX_CHARS.get(field))


def _control(field: str) -> re.Pattern[str]:
    return _CONTROL_MULTILINE if field in MULTILINE_FIELDS else _CONTROL_ONE_LINE


def _control_reason(field: str) -> Reason:
    return Reason(f"{field} holds a control character", "refuse.control_character", field=field)


def _length_reason(field: str, limit: int) -> Reason:
    return Reason(f"{field} longer than {limit} characters", "refuse.too_long", field=field, limit=limit)


def text_reason(field: str, value: str) -> str:
    """Why one text value is refused, or ``""`` if it is acceptable."""
    limit, pattern = _max_chars(field), _control(field)
    if pattern.search(value):
        return _control_reason(field)
    if limit is not None and len(value) > limit:
        return _length_reason(field, limit)
    return ""


def text_refusals(values: pd.Series, field: str) -> npt.NDArray[np.object_]:
    """A reason per text value that holds a control character or is too long (``""`` otherwise)."""
    text = values.fillna("").astype(str)
    limit, pattern = _max_chars(field), _control(field)
    out = np.full(len(text), "", dtype=object)
    if limit is not None:
        out[(text.str.len() > limit).to_numpy(dtype=bool)] = _length_reason(field, limit)
    out[text.str.contains(pattern, regex=True).to_numpy(dtype=bool)] = _control_reason(field)
    return out


def check_text(field: str, value: str) -> None:
    """Raise ImplausibleInputError if a text value holds a control character or is too long.

    Raises
    ------
    ImplausibleInputError
        Naming the field and what is wrong with it.
    """
    reason = text_reason(field, value)
    if isinstance(reason, Reason):
        raise ImplausibleInputError(reason, reason.key, **reason.values)


def first_reason(*reasons: npt.NDArray[np.object_]) -> npt.NDArray[np.object_]:
    """Per row, the first non-empty reason of several reason arrays."""
    out = np.full(len(reasons[0]), "", dtype=object) if reasons else np.array([], dtype=object)
    for r in reasons:
        fresh = (out == "") & (r != "")
        out[fresh] = r[fresh]
    return out
