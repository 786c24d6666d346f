"""Working days on China's official calendar: the handling clocks count them, not calendar days.

Public holidays and the make-up workdays (调休) come from the maintained ``chinesecalendar``
package, which knows the years the State Council has announced (2004 to its newest release). For
a year it does not know yet the policy is stated, not guessed: Monday to Friday are working days,
and the rulebook says so.

A limit of N working days runs from the report to the same local time of the N-th working day
after the day it was reported on (a report on Friday 10:00 with one working day is due on Monday
10:00; a report during the National Day holiday counts from the first working day after it).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import chinese_calendar
import numpy as np
import numpy.typing as npt
import pandas as pd

LOCAL_TZ_NAME = "Asia/Shanghai"  # the district's time zone: every local day and clock reads it from here
LOCAL_TZ = ZoneInfo(LOCAL_TZ_NAME)


def local_day(at: datetime) -> str:
    """The local calendar day (YYYY-MM-DD) of a time."""
    return at.astimezone(LOCAL_TZ).strftime("%Y-%m-%d")


def local_minutes(at: datetime | None) -> str:
    """A time as local minutes (``YYYY-MM-DD HH:MM``), ``—`` for none.

    A stored time too close to the end of the calendar to shift to local time (a year-9999
    row let in before times were checked) is shown in UTC instead of breaking the page.
    """
    if at is None:
        return "—"
    try:
        return at.astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M")
    except OverflowError:
        return at.strftime("%Y-%m-%d %H:%M UTC")


_FIRST, _LAST = date(2000, 1, 1), date(2045, 12, 31)  # the span the clocks are defined on


def _known_years() -> tuple[int, int]:
    """The years the package has official holiday data for."""
    years = sorted({d.year for d in chinese_calendar.holidays})
    return years[0], years[-1]


KNOWN_YEARS = _known_years()


@lru_cache(maxsize=1)
def working_days() -> npt.NDArray[np.datetime64]:
    """Every working day from 2000 to 2045 as sorted ``datetime64[D]`` (official where known)."""
    days = pd.date_range(_FIRST, _LAST, freq="D")
    weekday = np.asarray(days.day_of_week) < 5
    first, last = KNOWN_YEARS
    known = (days.year >= first) & (days.year <= last)
    official = np.array([chinese_calendar.is_workday(d.date()) for d in days[known]], dtype=bool)
    working = weekday.copy()
    working[np.asarray(known)] = official
    return np.asarray(days[working].values.astype("datetime64[D]"))


def add_working_days(start: pd.Series, days: npt.ArrayLike) -> pd.Series:
    """For each tz-aware time, the same local time on the ``days``-th working day after its date.

    Vectorised (a million reports in well under a second). Returns UTC times.
    """
    n = np.asarray(days, dtype=np.int64)
    local = start.dt.tz_convert(LOCAL_TZ)
    day = local.dt.tz_localize(None).dt.normalize().to_numpy().astype("datetime64[D]")
    table = working_days()
    if len(day) and (day.min() < table[0] or day.max() >= table[-1]):
        msg = f"working days are defined from {_FIRST} to {_LAST}"
        raise ValueError(msg)
    first_after = np.searchsorted(table, day, side="right")  # the first working day after that date
    target = table[np.minimum(first_after + n - 1, len(table) - 1)]
    time_of_day = local.dt.tz_localize(None) - local.dt.tz_localize(None).dt.normalize()
    out = pd.Series(pd.to_datetime(target), index=start.index) + time_of_day.to_numpy()
    localized = out.dt.tz_localize(LOCAL_TZ, ambiguous="NaT", nonexistent="shift_forward")
    utc: pd.Series = localized.dt.tz_convert("UTC")
    return utc


def add_working_days_one(start: datetime, days: int) -> datetime:
    """:func:`add_working_days` for one time."""
    out = add_working_days(pd.Series([pd.Timestamp(start)]), [days]).iloc[0]
    return out.to_pydatetime()  # type: ignore[no-any-return]


def is_working_day(day: date) -> bool:
    """Whether a date is a working day on the official calendar (Monday–Friday where unknown)."""
    return day in _working_day_set()


@lru_cache(maxsize=1)
def _working_day_set() -> frozenset[date]:
    return frozenset(d.astype(date) for d in working_days())


def add_working_hours(start: datetime, hours: float) -> datetime:
    """The time ``hours`` of working time after ``start``: only the hours of working days count.

    A stage limit in hours (assessment, a department's acceptance, verification) runs on working
    days only: hours on a weekend or holiday do not count, so 24 hours from Friday 10:00 end on
    Monday 10:00, and a limit that starts on a holiday starts counting at the next working day's
    midnight. Returns a UTC time.
    """
    if start.tzinfo is None:
        msg = "start must be timezone-aware"
        raise ValueError(msg)
    t = start.astimezone(LOCAL_TZ)
    remaining = timedelta(hours=hours)
    while True:
        midnight = datetime.combine(t.date() + timedelta(days=1), time(0), LOCAL_TZ)
        if is_working_day(t.date()):
            if t + remaining <= midnight:
                return (t + remaining).astimezone(UTC)
            remaining -= midnight - t
        t = midnight
