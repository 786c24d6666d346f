"""Repeat cases (反复发案): same item, same cell, reported within 30 days after the case closed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd

from patrol.repeats import REPEAT_WINDOW, link_repeats

T = datetime(2026, 10, 1, 8, 0, tzinfo=UTC)


def _new(*rows):
    return pd.DataFrame(rows, columns=["item_code", "cell", "reported_at"])


def _closed(*rows):
    return pd.DataFrame(rows, columns=["id", "item_code", "cell", "closed_at"])


def test_a_report_repeats_the_case_closed_last_before_it_in_the_same_cell_and_item():
    closed = _closed(
        ("A", "PARK", 1, T), ("B", "PARK", 1, T + timedelta(days=3)), ("C", "PARK", 1, T + timedelta(days=9))
    )
    got = link_repeats(_new(("PARK", 1, T + timedelta(days=5))), closed)
    assert got.tolist() == ["B"]  # C closed after the report; A is older than B


def test_another_item_another_cell_too_late_or_not_yet_closed_is_no_repeat():
    closed = _closed(("A", "PARK", 1, T), ("B", "NOISE", 2, T))
    new = _new(
        ("NOISE", 1, T + timedelta(days=1)),  # another item in the cell
        ("PARK", 2, T + timedelta(days=1)),  # another cell
        ("PARK", 1, T + REPEAT_WINDOW + timedelta(minutes=1)),  # too long after
        ("PARK", 1, T),  # at the very moment of closing: not after it
        ("PARK", 1, T - timedelta(days=1)),  # before the case closed
        ("PARK", 1, T + REPEAT_WINDOW),  # the last moment of the window
    )
    assert link_repeats(new, closed).tolist() == [None, None, None, None, None, "A"]


def test_rows_keep_their_order_and_nothing_to_link_gives_nones():
    closed = _closed(("A", "PARK", 1, T))
    new = _new(("PARK", 1, T + timedelta(days=2)), ("PARK", 9, T), ("PARK", 1, T + timedelta(days=1)))
    assert link_repeats(new, closed).tolist() == ["A", None, "A"]
    assert link_repeats(new, _closed()).tolist() == [None] * 3
    assert link_repeats(_new(), closed).tolist() == []
    open_case = _closed(("O", "PARK", 1, pd.NaT))
    assert link_repeats(new, open_case).tolist() == [None] * 3
