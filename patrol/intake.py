"""The rules every new incident is made by, one report or a million: :class:`IncidentFactory`.

A file imported by the command centre goes through :meth:`IncidentFactory.create` column by
column; a report typed on the phone is built as one case (``IncidentService.report``) with the
same pieces. Both are routed by the same router, timed by the same rules (the 15-minute
response target of urgent sources, the item's handling days in working days), numbered from
the same daily counters, flagged by the same duplicate rule (for a batch over the store and the
batch, for one report through the cell index), linked to the case they repeat by the same rule
(:mod:`patrol.repeats`), refused outside the creator's scope by the same policy, and recorded
with the same creation event naming who created them and how. A test keeps the two equal.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from geo.crs import geodesic_m
from geo.grid import cells_near
from patrol.audit import audit_row
from patrol.catalog import Catalog
from patrol.duplicates import flag_duplicates
from patrol.incident import (
    OPEN_STATES,
    URGENT_RESPONSE_MINUTES,
    URGENT_SOURCES,
    Action,
    Incident,
    Source,
    State,
)
from patrol.permissions import AccessDeniedError, allowed, creates_in
from patrol.plausibility import MAX_CHARS, TimeWindow, first_reason, text_refusals
from patrol.refusals import Reason
from patrol.repeats import closed_cases, link_repeats
from patrol.roles import Principal
from patrol.routing import Router, Routes
from patrol.workdays import LOCAL_TZ, add_working_days, local_day
from store.batch import IncidentBatch, datetime_column, datetime_to_us
from store.protocol import Store
from store.rows import AuditRow, DistrictRow, IncidentQuery, IncidentRow

_OPEN = tuple(sorted(s.value for s in OPEN_STATES))
OUTSIDE_DISTRICT = Reason("outside the district", "reason.outside_district")
OUTSIDE_TOWNSHIP = Reason("outside your township", "reason.outside_township")
OUTSIDE_GRID = Reason("outside your grid", "reason.outside_grid")

# how an incident came: said by its creation event (the timeline names it, data/i18n ``via.*``)
VIA_REPORT = "report"
VIA_IMPORT = "bulk import"

# the columns of the incident table an intake fills; the rest start as every new case does
_ROUTED = (
    "item_code", "source", "lat", "lng", "cell", "village_code", "township_code", "team_id", "handler",
    "department", "routing_reason", "description", "reporter_name", "reporter_phone", "day",
    "response_minutes", "external_id", "patrol_task_id", "repeat_of",
)  # fmt: skip
_FRESH: dict[str, Any] = {
    "state": State.DISCOVERED.value, "version": 1, "first_response_at": None, "closed_at": None,
    "rework_count": 0, "deferral_count": 0, "assessment_outcome": None, "consult_departments": "[]",
    "duplicate_of": None, "request": None, "paused_at": None, "satisfaction": None, "callback_count": 0,
    "supervision_level": 0, "last_seq": 1,
}  # fmt: skip


@dataclass(frozen=True)
class NewIncident:
    """What a person reports: an item at a point, with the point's coordinate system."""

    item_code: str
    lat: float
    lng: float
    source: Source | str = Source.PATROL
    description: str = ""
    crs: str = "wgs84"
    reporter_name: str = ""
    reporter_phone: str = ""
    reported_at: datetime | None = None
    external_id: str | None = None
    patrol_task_id: str | None = None


@dataclass(frozen=True)
class ReportResult:
    """The created incident and, if any, the open incident it probably duplicates."""

    incident: Incident
    suspected_duplicate: Incident | None


@dataclass
class BulkResult:
    """Outcome of a bulk create: how many were created, and why each refused row was refused."""

    created: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)
    duplicates_flagged: int = 0


def creation_payload(via: str) -> dict[str, str]:
    """What the creation event of every new incident says besides who and when: how it came."""
    return {"via": via}


def response_targets(sources: pd.Series, item_minutes: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """Response time targets: 15 minutes for hotline and petition sources, else the item's."""
    urgent = sources.isin([s.value for s in URGENT_SOURCES]).to_numpy()
    minutes = np.asarray(item_minutes, dtype=np.int64)
    return np.where(urgent, np.minimum(URGENT_RESPONSE_MINUTES, minutes), minutes)


class IncidentFactory:
    """Turns reports (a frame of them) into new incidents of one district, as one principal."""

    def __init__(
        self,
        store: Store,
        catalog: Catalog,
        router: Router,
        district: DistrictRow,
        *,
        clock: Callable[[], datetime],
        time_window: TimeWindow,
        duplicate_radius_m: float,
        duplicate_window: timedelta,
    ) -> None:
        self._store = store
        self.catalog = catalog
        self.router = router
        self.district = district
        self.clock = clock
        self.time_window = time_window
        self.duplicate_radius_m = duplicate_radius_m
        self.duplicate_window = duplicate_window

    # -- the rules ---------------------------------------------------------------------------
    def out_of_scope(self, who: Principal, routes: Routes) -> npt.NDArray[np.object_]:
        """Per routed point, why ``who`` may not create an incident there ("" where they may).

        The one creation scope: where the creator could read the new case (a captain: their
        township; a grid team's member: their grid).
        """
        out = np.full(len(routes.ok), "", dtype=object)
        if who.role == "captain":
            inside = np.fromiter((creates_in(who, str(c)) for c in routes.township_codes), bool, len(out))
            out[routes.ok & ~inside] = OUTSIDE_TOWNSHIP
        elif who.on_team:
            out[routes.ok & (routes.team_ids != int(who.team_id or -1))] = OUTSIDE_GRID
        return out

    def duplicates(
        self, items: npt.NDArray[np.object_], lat: npt.ArrayLike, lng: npt.ArrayLike, reported: pd.Series,
        ids: Sequence[str],
    ) -> list[str | None]:  # fmt: skip
        """For each report, the open incident it probably duplicates, or None: the one duplicate rule.

        The nearest earlier open incident of its item within the radius and the window, stored
        or earlier in the batch.
        """
        return flag_duplicates(
            self._store, items, np.asarray(lat, float), np.asarray(lng, float), reported, list(ids),
            self.duplicate_radius_m, self.duplicate_window,
        )  # fmt: skip

    def number(self, reported: datetime) -> str:
        """The next number of the local day of ``reported``: the counters every new incident takes."""
        return self._numbers(np.zeros(1, dtype=np.intp), [local_day(reported).replace("-", "")])[0]

    def nearest_open(self, item_code: str, lat: float, lng: float, at: datetime) -> IncidentRow | None:
        """The duplicate rule for one report, read through the cell index, or None.

        The nearest open incident of the item reported within the window before ``at`` and within
        the radius: what :meth:`duplicates` finds for a batch.
        """
        near = cells_near(lat, lng, self.duplicate_radius_m, self.router.areas.res)
        query = IncidentQuery(
            cells=tuple(near.tolist()), item_codes=(item_code,), states=_OPEN, limit=10_000,
            reported_from=at - self.duplicate_window, reported_to=at + timedelta(microseconds=1),
        )  # fmt: skip
        earlier = self._store.list_incidents(query)
        if not earlier:
            return None
        dist = geodesic_m(lat, lng, [r.lat for r in earlier], [r.lng for r in earlier])
        nearest = int(np.argmin(dist))
        return earlier[nearest] if dist[nearest] <= self.duplicate_radius_m else None

    def _numbers(self, day_codes: npt.NDArray[np.intp], day_keys: Sequence[str]) -> list[str]:
        """Consecutive numbers per day (``day_keys[day_codes[i]]`` is row i's YYYYMMDD), in row order."""
        numbers: list[str] = [""] * len(day_codes)
        order = np.argsort(day_codes, kind="stable")
        groups = np.split(order, np.flatnonzero(np.diff(day_codes[order])) + 1)
        prefix = self.district.number_prefix
        keys = [f"{prefix}-{day_keys[int(day_codes[idx[0]])]}" for idx in groups]
        firsts = self._store.allocate_numbers({key: len(idx) for key, idx in zip(keys, groups, strict=True)})
        for key, idx in zip(keys, groups, strict=True):
            first = firsts[key]
            for i, number in zip(np.asarray(idx).tolist(), range(first, first + len(idx)), strict=True):
                numbers[i] = f"{key}-{number:04d}"
        return numbers

    # -- preparing and creating ---------------------------------------------------------------
    def prepare(
        self, frame: pd.DataFrame, who: Principal, *, flag_duplicates: bool = True
    ) -> tuple[pd.DataFrame, BulkResult]:
        """Route, number and time reports; one row per report that may be created, oldest first.

        ``frame`` has columns item_code, lat, lng (WGS84), source, reported_at (tz-aware), and
        optionally description, external_id, reporter_name, reporter_phone, patrol_task_id and
        repeat_of (a stated link to the closed case it repeats; else found by the rule). Rows
        that are implausible, cannot be routed or fall outside what ``who`` may create are
        refused in the result with their index and reason.
        """
        result = BulkResult()
        implausible = first_reason(
            self.time_window.refusals(frame["reported_at"], self.clock()),
            *(text_refusals(frame[name], name) for name in MAX_CHARS if name in frame),
        )
        routes = self.router.route(
            frame["lat"].to_numpy(), frame["lng"].to_numpy(), frame["item_code"].to_numpy()
        )
        outside = np.full(len(frame), "", dtype=object)
        outside[~routes.ok] = OUTSIDE_DISTRICT
        reasons = first_reason(implausible, outside, self.out_of_scope(who, routes))
        result.rejected.extend(
            (int(frame.index[i]), reasons[i]) for i in np.flatnonzero(reasons != "").tolist()
        )
        routed = np.flatnonzero(reasons == "")
        n = routed.size
        out = pd.DataFrame(index=range(n))
        if n == 0:
            return out, result
        # oldest first: numbers (and so ids) grow with time, and indexes are appended to;
        # one take of the frame in that order (each take copies every column)
        reported_all = pd.to_datetime(frame["reported_at"], utc=True)
        taken = routed[reported_all.iloc[routed].argsort(kind="stable").to_numpy()]
        df = frame.iloc[taken].reset_index(drop=True)
        routes = _take(routes, taken)
        reported = reported_all.iloc[taken].reset_index(drop=True)
        items = _obj(df["item_code"].astype(str).to_numpy(dtype=object))
        sources = _obj(df["source"].astype(str).to_numpy(dtype=object))
        cat = self.catalog.items
        handling_days = items.map({c: i.handling_days for c, i in cat.items()}).to_numpy()
        item_minutes = items.map({c: i.response_minutes for c, i in cat.items()}).to_numpy()
        day_codes, day_names = _local_days(reported)
        out["number"] = _obj(self._numbers(day_codes, [d.replace("-", "") for d in day_names]))
        out["id"] = out["number"]  # the human number is unique in the district and time-ordered
        out["item_code"] = items
        out["source"] = sources
        out["lat"] = df["lat"].to_numpy(float)
        out["lng"] = df["lng"].to_numpy(float)
        out["cell"] = routes.cells
        out["village_code"] = _obj(routes.village_codes)
        out["township_code"] = _obj(routes.township_codes)
        out["team_id"] = routes.team_ids
        out["handler"] = _obj(routes.handlers)
        out["department"] = _obj(routes.departments)
        out["routing_reason"] = _obj(routes.reasons)
        out["reported_at"] = reported
        out["day"] = _obj(np.array(day_names, dtype=object)[day_codes])
        out["due_at"] = add_working_days(reported, handling_days)
        out["response_minutes"] = response_targets(sources, item_minutes)
        for col in ("description", "reporter_name", "reporter_phone"):
            out[col] = _obj(df[col].fillna("").astype(str).to_numpy(dtype=object)) if col in df else ""
        for col in ("external_id", "patrol_task_id"):
            out[col] = _optional(df[col]) if col in df else None
        out["suspected_duplicate_of"] = None
        if flag_duplicates:
            out["suspected_duplicate_of"] = _obj(
                self.duplicates(items.to_numpy(), out["lat"], out["lng"], reported, out["id"].tolist())
            )
            result.duplicates_flagged = int(out["suspected_duplicate_of"].notna().sum())
        closed = closed_cases(self._store, items, out["cell"], reported.min(), reported.max())
        found = _obj(link_repeats(out, closed))
        stated = _optional(df["repeat_of"]) if "repeat_of" in df else None
        out["repeat_of"] = found if stated is None else stated.where(stated.notna(), found)
        return out, result

    def creation(self, who: Principal, at: datetime, via: str) -> dict[str, Any]:
        """The creation event every new incident gets: who created it, when, and how it came.

        What it was routed to and linked with (suspected duplicate, repeated case) is on the
        incident's own row, where the detail page reads it.
        """
        return {
            "action": Action.CREATE.value,
            "to_state": State.DISCOVERED.value,
            "actor": who.name,
            "role": who.role,
            "at": np.datetime64(datetime_to_us(at), "us"),
            "note": "",
            "payload": json.dumps(creation_payload(via), ensure_ascii=False),
        }

    def create(
        self,
        frame: pd.DataFrame,
        who: Principal,
        *,
        via: str,
        flag_duplicates: bool = True,
        source: str | None = None,
    ) -> tuple[pd.DataFrame, BulkResult]:
        """Create the reports of ``frame`` as ``who``: the prepared rows and what was refused.

        The incidents that may be created commit together in one transaction with their
        creation events and rollups, written column by column so that a million rows stay
        fast. Given a ``source`` (an imported file's name), an audit row of the batch commits
        with them, so an import killed later still leaves a record of every batch it stored.

        Raises
        ------
        AccessDeniedError
            If the role may not create incidents at all.
        """
        if not allowed(who, Action.CREATE):
            msg = f"a {who.role} may not create incidents"
            raise AccessDeniedError(msg)
        now = self.clock()
        prepared, result = self.prepare(frame, who, flag_duplicates=flag_duplicates)
        n = len(prepared)
        if n == 0:
            return prepared, result
        numbers = prepared["number"].tolist()
        incidents: dict[str, Any] = {
            **{c: prepared[c].to_numpy() for c in _ROUTED},
            **_FRESH,
            "id": numbers,
            "number": numbers,
            "district_code": self.district.code,
            "reported_at": datetime_column(prepared["reported_at"]),
            "due_at": datetime_column(prepared["due_at"]),
            "suspected_duplicate_of": prepared["suspected_duplicate_of"].to_numpy(),
            "updated_at": np.datetime64(datetime_to_us(now), "us"),
        }
        audit: tuple[AuditRow, ...] = ()
        if source is not None:
            record = {
                "created": n, "first": numbers[0], "last": numbers[-1], "refused": len(result.rejected),
                "suspected_duplicates": result.duplicates_flagged,
            }  # fmt: skip
            audit = (audit_row(who, now, "import_batch", "import", source, None, record),)
        creation = self.creation(who, now, via)
        self._store.insert_incidents(IncidentBatch.new_incidents(incidents, n, creation, audit))
        result.created = n
        return prepared, result


def _obj(values: Any) -> pd.Series:
    """A column kept as plain Python objects (no conversion to Arrow strings and back)."""
    return pd.Series(np.asarray(values, dtype=object), dtype=object)


def _optional(column: pd.Series) -> pd.Series:
    """An optional text column as objects, None where empty."""
    return _obj(column.astype(object).where(column.notna(), None).to_numpy())


def _local_days(reported: pd.Series) -> tuple[npt.NDArray[np.intp], list[str]]:
    """Local calendar days of UTC times (China keeps UTC+8 all year), vectorised.

    Returns a code per time and the distinct days as YYYY-MM-DD, ``names[codes[i]]`` being
    the day of time i: a year of reports has a few hundred days, each formatted once.
    """
    offset = LOCAL_TZ.utcoffset(datetime(2000, 1, 1))
    assert offset is not None
    utc = reported.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy(dtype="datetime64[s]")
    local = (utc + np.timedelta64(int(offset.total_seconds()), "s")).astype("datetime64[D]")
    codes, uniques = pd.factorize(local.astype(np.int64))
    names: list[str] = np.datetime_as_string(uniques.astype("datetime64[D]"), unit="D").tolist()
    return codes, names


def _take(routes: Routes, idx: npt.NDArray[np.int64]) -> Routes:
    """The routes of the points at ``idx``, in that order."""
    return Routes(*(getattr(routes, f.name)[idx] for f in fields(Routes)))
