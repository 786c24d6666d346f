"""Published evaluations (月晾晒 and the quarter, half-year and year): figures later events cannot change.

The command centre publishes the evaluation of a period once it is over. The KPI tables of
every grouping (township, team, item, and the district as a whole) are computed as they stand
at that moment with the definitions of :mod:`patrol.kpis`, fingerprinted by a hash of the
incidents they were computed from and of the moment, and stored immutably. A correction is a
new version with its reason; every version stays readable.

Periods are written ``2026-11`` (month), ``2026-Q4`` (quarter), ``2026-H2`` (half-year) and
``2026`` (year), in local time.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, TypeAlias

import pandas as pd

from patrol.audit import audit_row
from patrol.catalog import load_catalog
from patrol.kpis import (
    KPI_COLUMNS,
    NEEDED_COLUMNS,
    GroupBy,
    compute_kpis,
    empowered_use,
    month_bounds,
    previous_months,
)
from patrol.permissions import AccessDeniedError, check_analytics
from patrol.refusals import Refusal
from patrol.roles import Principal
from store.protocol import Store
from store.rows import EvaluationRow, IncidentQuery

PeriodKind: TypeAlias = Literal["month", "quarter", "half", "year"]
PERIOD_KINDS: tuple[PeriodKind, ...] = ("month", "quarter", "half", "year")
GROUPINGS: tuple[str, ...] = ("township", "team", "item", "all")
# the incidents' fields the figures depend on (``id`` too, for the fingerprint)
HASHED_COLUMNS = ("id", *NEEDED_COLUMNS)
_PATTERNS: tuple[tuple[PeriodKind, re.Pattern[str]], ...] = (
    ("month", re.compile(r"(\d{4})-(0[1-9]|1[0-2])")),
    ("quarter", re.compile(r"(\d{4})-Q([1-4])")),
    ("half", re.compile(r"(\d{4})-H([12])")),
    ("year", re.compile(r"(\d{4})")),
)
TABLE_COLUMNS = ("group", *KPI_COLUMNS, "ranked", "rank")
_SPAN = {"month": 1, "quarter": 3, "half": 6, "year": 12}


@dataclass(frozen=True)
class Period:
    """A month, quarter, half-year or year, by its code (``2026-11``, ``2026-Q4``, ``2026-H2``, ``2026``)."""

    code: str
    kind: PeriodKind
    months: tuple[str, ...]

    @classmethod
    def parse(cls, code: str) -> Period:
        """The period a code names; a Refusal naming the accepted forms otherwise."""
        text = (code or "").strip().upper()
        for kind, pattern in _PATTERNS:
            if match := pattern.fullmatch(text):
                year = int(match.group(1))
                index = 1 if kind == "year" else int(match.group(2))
                first = (index - 1) * _SPAN[kind] + 1
                months = tuple(f"{year}-{m:02d}" for m in range(first, first + _SPAN[kind]))
                return cls(text, kind, months)
        msg = f"period must look like 2026-11, 2026-Q4, 2026-H2 or 2026, got {code!r}"
        raise Refusal(msg, "refuse.period", value=code)

    @classmethod
    def containing(cls, kind: PeriodKind, month: str) -> Period:
        """The period of ``kind`` that holds ``month`` (``YYYY-MM``)."""
        year, m = int(month[:4]), int(month[5:7])
        index = (m - 1) // _SPAN[kind] + 1
        code = {"month": month, "quarter": f"{year}-Q{index}", "half": f"{year}-H{index}", "year": f"{year}"}[
            kind
        ]
        return cls.parse(code)

    def previous(self) -> Period:
        """The period of the same kind just before this one."""
        return Period.containing(self.kind, previous_months(self.months[0], 2)[0])

    @property
    def start(self) -> datetime:
        """First moment of the period (local midnight of its first day)."""
        return month_bounds(self.months[0])[0]

    @property
    def end(self) -> datetime:
        """First moment after the period."""
        return month_bounds(self.months[-1])[1]


def recent_periods(kind: PeriodKind, this_month: str, n: int) -> list[Period]:
    """The ``n`` periods of ``kind`` up to the one holding ``this_month``, newest first."""
    out = [Period.containing(kind, this_month)]
    while len(out) < n:
        out.append(out[-1].previous())
    return out


@dataclass(frozen=True)
class Evaluation:
    """One published version of a period's evaluation."""

    period: Period
    version: int
    published_at: datetime
    published_by: str
    reason: str
    inputs_hash: str
    received: int
    tables: dict[str, pd.DataFrame]

    def table(self, by: GroupBy | None) -> pd.DataFrame:
        """The KPI table of a grouping (None: the district as a whole), as published."""
        return self.tables["all" if by is None else by]


def _tables_json(tables: dict[str, pd.DataFrame]) -> str:
    return json.dumps(
        {k: json.loads(t.to_json(orient="records", force_ascii=False)) for k, t in tables.items()},
        ensure_ascii=False,
        sort_keys=True,
    )


def _tables_from_json(text: str) -> dict[str, pd.DataFrame]:
    """The published tables; a figure defined after publishing is there, as none (shown as a dash)."""
    out = {}
    for k, records in json.loads(text).items():
        table = pd.DataFrame.from_records(records)
        table = table.reindex(columns=[*TABLE_COLUMNS, *(c for c in table.columns if c not in TABLE_COLUMNS)])
        if "rank" in table:  # a rank is a whole number or none, as compute_kpis gives it
            table["rank"] = pd.Series([None if pd.isna(r) else int(r) for r in table["rank"]], dtype=object)
        if k == "team" and len(table):
            table["group"] = table["group"].astype(int)
        out[k] = table
    return out


def _evaluation(row: EvaluationRow) -> Evaluation:
    return Evaluation(
        Period.parse(row.period),
        row.version,
        row.published_at,
        row.published_by,
        row.reason,
        row.inputs_hash,
        row.received,
        _tables_from_json(row.figures),
    )


def fingerprint(frame: pd.DataFrame, at: datetime) -> str:
    """SHA-256 of the incidents an evaluation is computed from (in id order) and of its moment."""
    ordered = frame.sort_values("id", kind="stable").reset_index(drop=True)[list(HASHED_COLUMNS)]
    digest = hashlib.sha256(pd.util.hash_pandas_object(ordered, index=False).to_numpy().tobytes())
    digest.update(at.astimezone(UTC).isoformat().encode())
    return digest.hexdigest()


class EvaluationService:
    """Publish evaluations and read them back (the command centre publishes; analysts read)."""

    def __init__(self, store: Store, clock: Callable[[], datetime] | None = None) -> None:
        self.store = store
        self.clock = clock or (lambda: datetime.now(UTC))

    def _district(self) -> str:
        district = self.store.district()
        if district is None:
            msg = "no district loaded"
            raise Refusal(msg, "refuse.no_district")
        return district.code

    def _frame(self, period: Period) -> pd.DataFrame:
        return self.store.incident_frame(
            IncidentQuery(reported_from=period.start, reported_to=period.end), HASHED_COLUMNS
        )

    def table(self, frame: pd.DataFrame, by: GroupBy | None, at: datetime) -> pd.DataFrame:
        """The KPI table of one grouping as it stands at ``at``.

        The KPIs and, per township, the share of its empowered items it used: one builder for
        live and published figures.
        """
        table = compute_kpis(frame, by, at)
        if by != "township":
            return table
        catalog = load_catalog()
        empowered = {t.code: catalog.empowered_items(t.empowerment_class) for t in self.store.townships()}
        use = empowered_use(frame, empowered)
        return table.merge(use, on="group", how="left")

    def live(self, code: str, by: GroupBy | None) -> pd.DataFrame:
        """The table of a period as it stands now (not published: changes with every event)."""
        return self.table(self._frame(Period.parse(code)), by, self.clock())

    def compute(self, period: Period, at: datetime) -> tuple[dict[str, pd.DataFrame], str, int]:
        """The KPI tables of every grouping as they stand at ``at``, the inputs' hash, and the count."""
        frame = self._frame(period)
        tables = {g: self.table(frame, None if g == "all" else g, at) for g in GROUPINGS}  # type: ignore[arg-type]
        return tables, fingerprint(frame, at), len(frame)

    def publish(self, who: Principal, code: str, reason: str = "") -> Evaluation:
        """Publish the evaluation of a period that is over; a later version needs its reason.

        Raises
        ------
        AccessDeniedError
            Unless ``who`` is the command centre.
        Refusal
            A bad period code, a period not over yet, or a correction without a reason.
        """
        if who.role != "command_center":
            msg = f"a {who.role} may not publish evaluations (the command centre does)"
            raise AccessDeniedError(msg)
        period = Period.parse(code)
        at = self.clock()
        if at < period.end:
            msg = f"period {period.code} is not over until {period.end:%Y-%m-%d %H:%M} local time"
            raise Refusal(msg, "refuse.period_open", period=period.code, end=f"{period.end:%Y-%m-%d}")
        district = self._district()
        stored = self.store.evaluations(district, period.code)
        reason = reason.strip()
        if stored and not reason:
            version = stored[-1].version
            msg = f"{period.code} is already published (version {version}); a correction needs its reason"
            raise Refusal(msg, "refuse.correction_reason", period=period.code, version=stored[-1].version)
        tables, digest, received = self.compute(period, at)
        row = EvaluationRow(
            district, period.code, (stored[-1].version if stored else 0) + 1, at, who.name, who.role,
            reason, digest, received, _tables_json(tables),
        )  # fmt: skip
        audit = audit_row(
            who,
            at,
            "evaluation.publish",
            "evaluation",
            f"{period.code}#{row.version}",
            after={"period": period.code, "version": row.version, "reason": reason, "inputs_hash": digest},
        )
        self.store.insert_evaluation(row, audit)
        return _evaluation(row)

    def versions(self, who: Principal, code: str) -> list[Evaluation]:
        """Every published version of a period, oldest first (empty when not published)."""
        check_analytics(who)
        period = Period.parse(code)
        return [_evaluation(r) for r in self.store.evaluations(self._district(), period.code)]

    def latest(self, who: Principal, code: str) -> Evaluation | None:
        """The newest published version of a period, or None."""
        versions = self.versions(who, code)
        return versions[-1] if versions else None

    def published(self, who: Principal) -> dict[str, int]:
        """Every published period with its newest version number."""
        check_analytics(who)
        return {r.period: r.version for r in self.store.evaluations(self._district())}

    def diff(
        self, who: Principal, code: str, old: int, new: int, by: GroupBy | None = "township"
    ) -> pd.DataFrame:
        """The figures that differ between two versions: group, figure, old value, new value."""
        versions = {e.version: e for e in self.versions(who, code)}
        missing = [v for v in (old, new) if v not in versions]
        if missing:
            have = ", ".join(map(str, sorted(versions))) or "none"
            msg = f"{code} has no version {missing[0]} (published: {have})"
            raise Refusal(msg, "refuse.no_version", period=code, version=missing[0])
        return table_diff(versions[old].table(by), versions[new].table(by))


def table_diff(old: pd.DataFrame, new: pd.DataFrame, figures: Sequence[str] | None = None) -> pd.DataFrame:
    """Per group and figure, the values that differ between two KPI tables.

    A group missing from one side shows as none there.
    """
    columns = [c for c in (figures or old.columns) if c != "group" and c in new.columns]
    a, b = old.set_index("group"), new.set_index("group")
    rows = []
    for group in sorted(set(a.index) | set(b.index), key=str):
        for c in columns:
            x = a[c].get(group) if group in a.index else None
            y = b[c].get(group) if group in b.index else None
            same = ((x is None or pd.isna(x)) and (y is None or pd.isna(y))) or x == y
            if not same:
                rows.append({"group": group, "figure": c, "old": x, "new": y})
    return pd.DataFrame(rows, columns=["group", "figure", "old", "new"])
