"""Ids people's rows are given: readable, ordered within a batch, never reused within a second."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from patrol.ids import stamped_id

AT = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)


def test_two_hundred_thousand_ids_made_in_one_second_at_one_place_of_a_batch_are_all_different():
    # the demo publishes fifteen periods at one clock: entry k of every batch shares second and k
    ids = [stamped_id("SC", AT, "00000") for _ in range(200_000)]
    assert len(set(ids)) == len(ids)


def test_an_id_says_what_it_names_when_it_was_made_and_keeps_its_batch_order():
    ids = [stamped_id("SC", AT, f"{k:05d}") for k in range(12)]
    assert all(re.fullmatch(r"SC-20261127080000-\d{5}-[0-9a-f]{16}", i) for i in ids)
    assert sorted(ids) == ids
