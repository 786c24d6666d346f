"""New incidents as columns (the bulk write of both backends) and the time conversions they use."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from store.rows import (
    DATETIME_COLUMNS,
    EVENT_COLUMNS,
    INCIDENT_COLUMNS,
    AuditRow,
    EventRow,
    IncidentRow,
    state_bucket,
)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NAT_INT = int(np.iinfo(np.int64).min)
_US = timedelta(microseconds=1)


def to_datetime64(values: Sequence[datetime | None]) -> npt.NDArray[np.datetime64]:
    """Tz-aware datetimes (or None) as naive-UTC ``datetime64[us]`` (NaT for None)."""
    us = [_NAT_INT if v is None else datetime_to_us(v) for v in values]
    return np.asarray(us, dtype=np.int64).astype("datetime64[us]")


def datetime_column(values: Any) -> npt.NDArray[np.datetime64]:
    """Any column of times (datetime64, tz-aware pandas, datetimes or None) as UTC datetime64[us]."""
    if isinstance(values, np.ndarray) and np.issubdtype(values.dtype, np.datetime64):
        return values.astype("datetime64[us]")
    if isinstance(values, pd.Series) and isinstance(values.dtype, pd.DatetimeTZDtype):
        return values.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy(dtype="datetime64[us]")
    items = values.tolist() if isinstance(values, pd.Series) else list(values)
    if not items or all(v is None for v in items):
        return np.full(len(items), np.datetime64("NaT"), dtype="datetime64[us]")
    if isinstance(items[0], np.datetime64):
        return np.asarray(items, dtype="datetime64[us]")
    return to_datetime64(items)


def us_to_datetime(us: int | None) -> datetime | None:
    """Microseconds since the epoch (UTC) as a tz-aware datetime."""
    return None if us is None else _EPOCH + timedelta(microseconds=int(us))


def datetime_to_us(value: datetime) -> int:
    """A tz-aware datetime as microseconds since the epoch."""
    if value.tzinfo is None:
        msg = f"naive datetime {value!r}: times must carry a timezone"
        raise ValueError(msg)
    return (value - _EPOCH) // _US


def checked_incident_columns(columns: Sequence[str]) -> list[str]:
    """The columns asked for, or ValueError naming those an incident does not have."""
    bad = [c for c in columns if c not in INCIDENT_COLUMNS]
    if bad:
        msg = f"unknown incident column(s): {', '.join(bad)}"
        raise ValueError(msg)
    return list(columns)


def incident_frame_from_rows(rows: Sequence[tuple[Any, ...]], columns: Sequence[str]) -> pd.DataFrame:
    """A frame of incident rows as a backend read them, times converted in one vectorised step.

    A time comes as microseconds since the epoch (SQLite) or as a datetime (PostGIS); either
    way its column becomes ``datetime64[us, UTC]`` with NaT for none (converting each value in
    Python took most of the time of reading a month of a million incidents).
    """
    frame = pd.DataFrame.from_records(rows, columns=list(columns), nrows=len(rows))
    for c in DATETIME_COLUMNS & set(columns):
        values = frame[c]
        if len(values) and pd.api.types.is_numeric_dtype(values.dtype):
            frame[c] = pd.to_datetime(values.astype("Int64"), unit="us", utc=True).astype(
                "datetime64[us, UTC]"
            )
        else:
            frame[c] = pd.to_datetime(values, utc=True).astype("datetime64[us, UTC]")
    return frame


@dataclass(frozen=True)
class IncidentBatch:
    """New incidents and their events, column by column (fast bulk writes on both backends).

    Each column is a list, a numpy array or a single scalar shared by every row. Time
    columns (``DATETIME_COLUMNS``) are ``datetime64[us]`` arrays in UTC, NaT for none.
    """

    incidents: dict[str, Any]
    events: dict[str, Any]
    n_incidents: int
    n_events: int
    creation_event: dict[str, Any] | None = None
    audit: tuple[AuditRow, ...] = ()  # written in the same transaction (an import's record of the batch)

    @classmethod
    def from_rows(
        cls, rows: Sequence[IncidentRow], events: Sequence[EventRow], audit: Sequence[AuditRow] = ()
    ) -> IncidentBatch:
        """Turn row tuples into a batch (with the audit rows written in its transaction)."""
        inc: dict[str, Any] = {c: [getattr(r, c) for r in rows] for c in INCIDENT_COLUMNS}
        ev: dict[str, Any] = {c: [getattr(e, c) for e in events] for c in EVENT_COLUMNS}
        for cols in (inc, ev):
            for c in DATETIME_COLUMNS & set(cols):
                cols[c] = to_datetime64(cols[c])
        return cls(inc, ev, len(rows), len(events), None, tuple(audit))

    @classmethod
    def new_incidents(
        cls,
        incidents: dict[str, Any],
        n: int,
        creation_event: dict[str, Any],
        audit: tuple[AuditRow, ...] = (),
    ) -> IncidentBatch:
        """New incidents, each with one creation event (seq 1) made of the given constants.

        ``creation_event`` holds action, to_state, actor, role, at, note and payload.
        """
        missing = {"action", "to_state", "actor", "role", "at", "note", "payload"} - set(creation_event)
        if missing:
            msg = f"creation_event lacks {', '.join(sorted(missing))}"
            raise ValueError(msg)
        return cls(incidents, {}, n, 0, creation_event, audit)

    def expanded_events(self) -> dict[str, Any]:
        """Event columns, with the creation events spelt out one per incident."""
        if self.creation_event is None:
            return self.events
        ev = dict(self.creation_event)
        return {
            "incident_id": self.column("incidents", "id"),
            "seq": 1,
            "district_code": self.incidents["district_code"],
            "from_state": None,
            **ev,
        }

    def column(self, table: str, name: str) -> Sequence[Any]:
        """One column as a sequence of full length (scalars repeated)."""
        if table == "incidents":
            cols, n = self.incidents, self.n_incidents
        elif self.creation_event is not None:
            cols, n = self.expanded_events(), self.n_incidents
        else:
            cols, n = self.events, self.n_events
        value = cols[name]
        if isinstance(value, list | tuple | np.ndarray | pd.Series):
            if len(value) != n:
                msg = f"column {table}.{name} has {len(value)} values for {n} rows"
                raise ValueError(msg)
            seq: Sequence[Any] = value  # type: ignore[assignment]
            return seq
        return [value] * n

    def rollup_deltas(self) -> list[tuple[int, str, str, str, str, str, int]]:
        """(cell, day, item, bucket, district, township, n) counts of the new incidents."""
        if self.n_incidents == 0:
            return []
        frame = pd.DataFrame(
            {
                c: self.column("incidents", c)
                for c in ("cell", "day", "item_code", "state", "district_code", "township_code")
            }
        )
        frame["bucket"] = frame["state"].map(state_bucket)
        grouped = frame.groupby(
            ["cell", "day", "item_code", "bucket", "district_code", "township_code"], sort=False
        ).size()
        return [
            (int(k[0]), str(k[1]), str(k[2]), str(k[3]), str(k[4]), str(k[5]), int(v))
            for k, v in zip(grouped.index.tolist(), grouped.tolist(), strict=True)
        ]
