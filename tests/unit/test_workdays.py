"""Handling clocks count working days on China's official calendar."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from patrol.workdays import (
    KNOWN_YEARS,
    LOCAL_TZ,
    add_working_days,
    add_working_days_one,
    add_working_hours,
    is_working_day,
)


def local(y: int, m: int, d: int, h: int = 10) -> datetime:
    return datetime(y, m, d, h, tzinfo=LOCAL_TZ)


def test_a_friday_report_with_one_working_day_is_due_on_monday_at_the_same_time():
    due = add_working_days_one(local(2026, 11, 27), 1)  # Friday
    assert due.astimezone(LOCAL_TZ) == local(2026, 11, 30)


def test_the_national_day_holiday_and_its_make_up_workday_follow_the_official_calendar():
    assert not is_working_day(date(2026, 10, 1)) and not is_working_day(date(2026, 10, 7))
    # 2026: National Day and Mid-Autumn, 1–7 October off; Saturday 10 October is worked instead
    assert is_working_day(date(2026, 10, 10))
    due = add_working_days_one(local(2026, 9, 30), 2)  # Wednesday before the holiday
    assert due.astimezone(LOCAL_TZ) == local(2026, 10, 9)  # 8th and 9th October: the first two working days


def test_a_report_during_the_holiday_counts_from_the_first_working_day_after_it():
    due = add_working_days_one(local(2026, 10, 3, 15), 1)
    assert due.astimezone(LOCAL_TZ) == local(2026, 10, 8, 15)


def test_beyond_the_announced_years_monday_to_friday_are_the_working_days():
    assert KNOWN_YEARS[1] >= 2026
    year = KNOWN_YEARS[1] + 1
    monday = next(date(year, 3, d) for d in range(1, 8) if date(year, 3, d).weekday() == 0)
    assert is_working_day(monday) and not is_working_day(monday + timedelta(days=5))


@settings(max_examples=200, deadline=None)
@given(
    st.datetimes(min_value=datetime(2004, 1, 1), max_value=datetime(2040, 12, 1)),
    st.integers(min_value=1, max_value=30),
)
def test_a_due_time_is_a_working_day_at_the_reports_local_time_and_later_by_exactly_n_working_days(naive, n):
    start = naive.replace(tzinfo=LOCAL_TZ)
    due = add_working_days_one(start, n).astimezone(LOCAL_TZ)
    assert is_working_day(due.date()) and due.time() == start.time()
    between = [start.date() + timedelta(days=k) for k in range(1, (due.date() - start.date()).days + 1)]
    assert sum(is_working_day(d) for d in between) == n


def test_many_at_once_equal_one_at_a_time():
    starts = pd.Series(pd.to_datetime(["2026-09-30 02:00", "2026-12-31 23:30", "2025-01-26 01:00"], utc=True))
    many = add_working_days(starts, [2, 1, 5])
    one = [add_working_days_one(t.to_pydatetime(), n) for t, n in zip(starts, [2, 1, 5], strict=True)]
    assert [t.to_pydatetime() for t in many] == one


def test_stage_hours_count_working_days_only():
    friday = datetime(2026, 11, 27, 10, 0, tzinfo=LOCAL_TZ)
    assert add_working_hours(friday, 8) == datetime(2026, 11, 27, 18, 0, tzinfo=LOCAL_TZ)
    assert add_working_hours(friday, 24) == datetime(
        2026, 11, 30, 10, 0, tzinfo=LOCAL_TZ
    )  # the weekend is skipped
    saturday = datetime(
        2026, 11, 28, 15, 0, tzinfo=LOCAL_TZ
    )  # started on a rest day: counts from Monday 00:00
    assert add_working_hours(saturday, 2) == datetime(2026, 11, 30, 2, 0, tzinfo=LOCAL_TZ)
    holiday = datetime(2026, 10, 1, 10, 0, tzinfo=LOCAL_TZ)  # National Day
    assert not is_working_day(holiday.date())
    first = next(d for d in (date(2026, 10, 1) + timedelta(days=k) for k in range(15)) if is_working_day(d))
    assert add_working_hours(holiday, 8) == datetime.combine(
        first, datetime.min.time(), LOCAL_TZ
    ) + timedelta(hours=8)
    with pytest.raises(ValueError, match="timezone-aware"):
        add_working_hours(datetime(2026, 11, 27, 10, 0), 1)


@settings(max_examples=200, deadline=None)
@given(
    st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 12, 31)),
    st.integers(min_value=1, max_value=240),
)
def test_working_hours_never_end_on_a_rest_day_and_grow_with_the_limit(start, hours):
    at = start.replace(tzinfo=LOCAL_TZ)
    end = add_working_hours(at, hours).astimezone(LOCAL_TZ)
    assert end >= at + timedelta(hours=hours)
    assert is_working_day(end.date()) or end.time() == datetime.min.time()  # midnight ending a working day
    assert add_working_hours(at, hours + 1) > add_working_hours(at, hours)
