"""The command centre's tiles mean something on every day of the month."""

from __future__ import annotations

import sqlite3
from datetime import timedelta

from patrol.dashboard import kpi_tiles
from patrol.incidents import LOCAL_TZ
from store import open_store
from store.batch import datetime_to_us
from store.rows import IncidentQuery


def test_on_the_first_night_of_a_month_the_tiles_show_the_last_30_days_not_a_dash(incidents_sqlite_url):
    store = open_store(incidents_sqlite_url)
    latest = max(r.reported_at for r in store.list_incidents(IncidentQuery(limit=100_000)))
    store.close()
    month = latest.astimezone(LOCAL_TZ).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    now = month + timedelta(minutes=30)  # 00:30 on the 1st: nothing reported or closed this month yet
    cut = datetime_to_us(month)
    with sqlite3.connect(incidents_sqlite_url.removeprefix("sqlite:///")) as db:
        db.execute("DELETE FROM incidents WHERE reported_at >= ?", (cut,))
        db.execute("UPDATE incidents SET first_response_at = NULL WHERE first_response_at >= ?", (cut,))
        db.execute("UPDATE incidents SET closed_at = NULL, state = 'handling' WHERE closed_at >= ?", (cut,))
    store = open_store(incidents_sqlite_url)
    tiles = kpi_tiles(store, now)
    store.close()
    assert tiles.median_response_min is not None and tiles.median_response_min > 0
    assert tiles.on_time_rate is not None and 0 < tiles.on_time_rate <= 1
    assert tiles.judged_on_time > 100 and tiles.window_days == 30


def test_the_on_time_tile_is_the_ranking_s_on_time_rate_over_the_same_incidents(incidents_sqlite_url):
    from datetime import UTC, datetime

    from patrol.kpis import NEEDED_COLUMNS, compute_kpis

    store = open_store(incidents_sqlite_url)
    now = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)
    tiles = kpi_tiles(store, now)
    window = store.incident_frame(
        IncidentQuery(reported_from=now - timedelta(days=30), reported_to=now), NEEDED_COLUMNS
    )
    store.close()
    k = compute_kpis(window, None, now).iloc[0]
    # one name, one figure: closed on time (against the approved due time) ÷ due, as in the ranking
    assert tiles.on_time_rate == k["on_time_rate"]
    assert tiles.judged_on_time == k["due"]
    assert tiles.median_response_min == k["response_median_min"]
