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
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal, TypeAlias

import pandas as pd

from patrol.audit import audit_row
from patrol.catalog import load_catalog
from patrol.composite import ITEM_COLUMNS, SUMMARY_COLUMNS, load_scheme, score_townships
from patrol.ids import stamped_id
from patrol.kpis import (
    KPI_COLUMNS,
    NEEDED_COLUMNS,
    GroupBy,
    compute_kpis,
    empowered_use,
    month_bounds,
    previous_months,
    ratio,
)
from patrol.permissions import AccessDeniedError, check_analytics
from patrol.refusals import Refusal
from patrol.roles import Principal
from store.protocol import Store
from store.rows import EvaluationRow, IncidentQuery, InspectionRow, ScoreEntryRow

PeriodKind: TypeAlias = Literal["month", "quarter", "half", "year"]
PERIOD_KINDS: tuple[PeriodKind, ...] = ("month", "quarter", "half", "year")
GROUPINGS: tuple[str, ...] = ("township", "team", "item", "all")
# published alongside the KPI tables: the composite (综合评价) and the figures per empowerment class
COMPOSITE_TABLES: tuple[str, ...] = ("composite", "composite_items", "classes")
CLASS_COLUMNS = ("group", "townships", "received", "by_township", "cases", "cases_per_township")
JOINT_COLUMNS = ("joint_planned", "joint_done", "joint_inspection_completion")
MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
# the incidents' fields the figures depend on (``id`` too, for the fingerprint)
HASHED_COLUMNS = ("id", *NEEDED_COLUMNS, "assessment_outcome")
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
class ScoreInput:
    """An assessor's points for one entered sub-item of one township, with what they rest on."""

    township_code: str
    item_code: str
    points: float
    evidence: str
    attachment: tuple[str, bytes] | None = None  # file name and content


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

    def table(self, by: str | None) -> pd.DataFrame:
        """A published table: a grouping's KPIs (None: the district's), or one of ``COMPOSITE_TABLES``.

        Raises
        ------
        Refusal
            For a table this version was published without (published before it existed).
        """
        key = "all" if by is None else by
        if key not in self.tables:
            msg = f"version {self.version} of {self.period.code} was published before the {key} table existed"
            raise Refusal(
                msg, "refuse.not_in_version", period=self.period.code, version=self.version, table=key
            )
        return self.tables[key]

    def composite(self) -> tuple[pd.DataFrame, pd.DataFrame] | None:
        """The composite's summary and sub-item points as published.

        None for a version published before the composite existed.
        """
        if "composite" not in self.tables:
            return None
        return self.tables["composite"], self.tables["composite_items"]


def _tables_json(tables: dict[str, pd.DataFrame]) -> str:
    return json.dumps(
        {
            k: json.loads(t.to_json(orient="records", force_ascii=False, double_precision=15))
            for k, t in tables.items()
        },
        ensure_ascii=False,
        sort_keys=True,
    )


def _tables_from_json(text: str) -> dict[str, pd.DataFrame]:
    """The published tables; a figure defined after publishing is there, as none (shown as a dash)."""
    out = {}
    for k, records in json.loads(text).items():
        table = pd.DataFrame.from_records(records)
        if k in COMPOSITE_TABLES:  # the columns in their reading order, blocks in the scheme's
            blocks = [f"block:{b.code}" for b in load_scheme().blocks]
            first = {
                "composite": [*SUMMARY_COLUMNS, *blocks],
                "composite_items": ITEM_COLUMNS,
                "classes": CLASS_COLUMNS,
            }[k]
            table = table[[c for c in first if c in table] + [c for c in table if c not in first]]
            out[k] = table.astype(object).where(table.notna(), None)
            continue
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


def fingerprint(frame: pd.DataFrame, at: datetime, others: Sequence[object] = ()) -> str:
    """SHA-256 of an evaluation's inputs.

    The incidents it is computed from (in id order), its moment, and the other rows it read
    (inspections, entered scores) in the order given.
    """
    ordered = frame.sort_values("id", kind="stable").reset_index(drop=True)[list(HASHED_COLUMNS)]
    digest = hashlib.sha256(pd.util.hash_pandas_object(ordered, index=False).to_numpy().tobytes())
    digest.update(at.astimezone(UTC).isoformat().encode())
    for row in others:
        digest.update(repr(row).encode())
    return digest.hexdigest()


def latest_entries(
    rows: Sequence[ScoreEntryRow], at: datetime | None = None
) -> dict[tuple[str, str], ScoreEntryRow]:
    """The entry that counts per (township, sub-item): the newest entered no later than ``at``."""
    out: dict[tuple[str, str], ScoreEntryRow] = {}
    for r in sorted(rows, key=lambda r: (r.at, r.id)):
        if at is None or r.at <= at:
            out[(r.township_code, r.item_code)] = r
    return out


def class_figures(frame: pd.DataFrame, classes: Mapping[str, str]) -> pd.DataFrame:
    """Per empowerment class (赋权类别), what its townships do with their powers.

    Its townships, incidents received, handled by the townships themselves, formal cases (立案)
    among those, and cases per township.
    """
    counts = {c: [0, 0, 0, 0] for c in sorted(set(classes.values()))}
    for cls in classes.values():
        counts[cls][0] += 1
    if len(frame):
        of = frame["township_code"].map(classes)
        mine = frame["handler"] == "township"
        case = mine & (frame["assessment_outcome"] == "case")
        for name, n in frame.groupby(of).size().items():
            counts[str(name)][1] = int(n)
        for name, n in mine.groupby(of).sum().items():
            counts[str(name)][2] = int(n)
        for name, n in case.groupby(of).sum().items():
            counts[str(name)][3] = int(n)
    rows = [(c, t, r, m, k, ratio(k, t)) for c, (t, r, m, k) in counts.items()]
    return pd.DataFrame(rows, columns=list(CLASS_COLUMNS))


class EvaluationService:
    """Publish evaluations and read them back (the command centre publishes; analysts read)."""

    def __init__(self, store: Store, clock: Callable[[], datetime] | None = None) -> None:
        self._store = store
        self.clock = clock or (lambda: datetime.now(UTC))
        self.scheme = load_scheme()

    def _district(self) -> str:
        district = self._store.district()
        if district is None:
            msg = "no district loaded"
            raise Refusal(msg, "refuse.no_district")
        return district.code

    def _frame(self, period: Period) -> pd.DataFrame:
        return self._store.incident_frame(
            IncidentQuery(reported_from=period.start, reported_to=period.end), HASHED_COLUMNS
        )

    def _inspections(self, period: Period) -> list[InspectionRow]:
        """The joint inspections planned for a day of the period (cancelled ones left out)."""
        first, last = period.start.date(), (period.end - timedelta(seconds=1)).date()
        return [
            i
            for i in self._store.inspections(since=first)
            if i.planned_on <= last and i.status != "cancelled"
        ]

    def _joint(self, period: Period) -> pd.DataFrame:
        """Per township, the joint inspections (综合查一次) planned for the period and those done."""
        township = {p.id: p.township_code for p in self._store.premises()}
        counts: dict[str, list[int]] = {t.code: [0, 0] for t in self._store.townships()}
        for i in self._inspections(period):
            n = counts.setdefault(township.get(i.premises_id, ""), [0, 0])
            n[0] += 1
            n[1] += i.status == "done"
        rows = [(code, p, d, ratio(d, p)) for code, (p, d) in counts.items() if code]
        return pd.DataFrame(rows, columns=["group", *JOINT_COLUMNS])

    def table(self, frame: pd.DataFrame, by: GroupBy | None, at: datetime, period: Period) -> pd.DataFrame:
        """The KPI table of one grouping as it stands at ``at``.

        The KPIs and, per township, the share of its empowered items it used and its
        joint-inspection plan completion: one builder for live and published figures.
        """
        table = compute_kpis(frame, by, at)
        if by != "township":
            return table
        catalog = load_catalog()
        empowered = {t.code: catalog.empowered_items(t.empowerment_class) for t in self._store.townships()}
        use = empowered_use(frame, empowered)
        return table.merge(use, on="group", how="left").merge(self._joint(period), on="group", how="left")

    def live(self, code: str, by: GroupBy | None) -> pd.DataFrame:
        """The table of a period as it stands now (not published: changes with every event)."""
        period = Period.parse(code)
        return self.table(self._frame(period), by, self.clock(), period)

    def _composite_tables(
        self, period: Period, frame: pd.DataFrame, township_table: pd.DataFrame, at: datetime
    ) -> tuple[dict[str, pd.DataFrame], list[ScoreEntryRow]]:
        entries = latest_entries(self._store.score_entries(self._district(), period.code), at)
        summary, details = score_townships(
            self.scheme, township_table, {k: e.points for k, e in entries.items()}
        )
        classes = {t.code: t.empowerment_class for t in self._store.townships()}
        tables = {"composite": summary, "composite_items": details, "classes": class_figures(frame, classes)}
        return tables, sorted(entries.values(), key=lambda e: e.id)

    def live_composite(self, code: str) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        """The composite summary, sub-item points and class figures of a period as they stand now."""
        period = Period.parse(code)
        at = self.clock()
        frame = self._frame(period)
        tables, _ = self._composite_tables(period, frame, self.table(frame, "township", at, period), at)
        return tables["composite"], tables["composite_items"], tables["classes"]

    def compute(self, period: Period, at: datetime) -> tuple[dict[str, pd.DataFrame], str, int]:
        """Every table (KPIs of each grouping, the composite) as it stands at ``at``.

        With the inputs' hash and the count received.
        """
        frame = self._frame(period)
        tables = {g: self.table(frame, None if g == "all" else g, at, period) for g in GROUPINGS}  # type: ignore[arg-type]
        composite, entries = self._composite_tables(period, frame, tables["township"], at)
        others = [*self._inspections(period), *entries]
        return tables | composite, fingerprint(frame, at, others), len(frame)

    def enter_score(
        self,
        who: Principal,
        code: str,
        township_code: str,
        item_code: str,
        points: float,
        evidence: str,
        attachment: tuple[str, bytes] | None = None,
    ) -> ScoreEntryRow:
        """Enter an assessor's points for an entered sub-item of a township, with its evidence.

        A second entry of the same sub-item replaces the first for what follows (both are kept).
        A published evaluation keeps the points it was published with; a correction reads the
        newer ones. See :meth:`enter_scores` for what is refused.
        """
        return self.enter_scores(
            who, code, [ScoreInput(township_code, item_code, points, evidence, attachment)]
        )[0]

    def enter_scores(self, who: Principal, code: str, scores: Sequence[ScoreInput]) -> list[ScoreEntryRow]:
        """Enter several scores of one period in one transaction (all or none).

        Raises
        ------
        AccessDeniedError
            Unless ``who`` is the command centre (the assessors sit there).
        Refusal
            A bad period, an unknown township, a sub-item that is computed or unknown, points out
            of the sub-item's range, no evidence, or an attachment over 10 MB.
        """
        if who.role != "command_center":
            msg = f"a {who.role} may not enter evaluation scores (the command centre's assessors do)"
            raise AccessDeniedError(msg)
        period = Period.parse(code)
        townships = {t.code for t in self._store.townships()}
        district = self._district()
        at = self.clock()
        rows, audit, contents = [], [], {}
        for k, score in enumerate(scores):
            row, data = self._score_row(who, district, period, townships, score, at, k)
            rows.append(row)
            if row.sha256:
                contents[row.sha256] = data
            audit.append(
                audit_row(
                    who,
                    at,
                    "evaluation.score",
                    "score_entry",
                    row.id,
                    after={
                        "period": period.code,
                        "township": row.township_code,
                        "item": row.item_code,
                        "points": row.points,
                        "evidence": row.evidence,
                        "file": row.filename,
                        "sha256": row.sha256,
                    },
                )
            )
        self._store.add_score_entries(rows, audit, contents)
        return rows

    def _score_row(
        self,
        who: Principal,
        district: str,
        period: Period,
        townships: set[str],
        score: ScoreInput,
        at: datetime,
        k: int,
    ) -> tuple[ScoreEntryRow, bytes]:
        if score.township_code not in townships:
            msg = f"unknown township {score.township_code!r}"
            raise Refusal(msg, "refuse.unknown_township", code=score.township_code)
        item = next((i for i in self.scheme.items if i.code == score.item_code), None)
        if item is None or item.computed:
            msg = f"{score.item_code!r} is not a sub-item an assessor enters"
            raise Refusal(msg, "refuse.score_item", item=score.item_code)
        points = float(score.points)
        if math.isnan(points) or not 0 <= points <= item.points:
            msg = f"{item.code} scores from 0 to {item.points:g} points, got {points:g}"
            raise Refusal(
                msg, "refuse.score_range", item=item.code, max=f"{item.points:g}", value=f"{points:g}"
            )
        evidence = score.evidence.strip()
        if len(evidence) < 4:
            msg = "say what the points rest on (a document, an inspection, a review sheet)"
            raise Refusal(msg, "refuse.score_evidence", item=item.code)
        name, data, sha = "", b"", ""
        if score.attachment is not None:
            name, data = score.attachment[0][:200], score.attachment[1]
            if len(data) > MAX_ATTACHMENT_BYTES:
                msg = f"the attachment is {len(data) / 1e6:.1f} MB; at most 10 MB"
                raise Refusal(msg, "refuse.score_attachment", size=f"{len(data) / 1e6:.1f}")
            sha = hashlib.sha256(data).hexdigest()
        row = ScoreEntryRow(
            stamped_id("SC", at, f"{k:05d}"), district, period.code, score.township_code,
            item.code, points, evidence, name, sha, who.name, who.role, at,
        )  # fmt: skip
        return row, data

    def score_entries(self, who: Principal, code: str) -> list[ScoreEntryRow]:
        """Every score entered for a period, oldest first (the newest of a sub-item counts)."""
        check_analytics(who)
        return self._store.score_entries(self._district(), Period.parse(code).code)

    def attachment(self, who: Principal, code: str, entry_id: str) -> bytes | None:
        """The file attached to an entered score of the period, or None.

        Looked up by the entry's id among the period's entries: a caller cannot name some other
        stored content (an incident's evidence) by its hash.
        """
        entry = next((e for e in self.score_entries(who, code) if e.id == entry_id), None)
        return self._store.evidence_content(entry.sha256) if entry is not None and entry.sha256 else None

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
        stored = self._store.evaluations(district, period.code)
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
        self._store.insert_evaluation(row, audit)
        return _evaluation(row)

    def versions(self, who: Principal, code: str) -> list[Evaluation]:
        """Every published version of a period, oldest first (empty when not published)."""
        check_analytics(who)
        period = Period.parse(code)
        return [_evaluation(r) for r in self._store.evaluations(self._district(), period.code)]

    def latest(self, who: Principal, code: str) -> Evaluation | None:
        """The newest published version of a period, or None."""
        versions = self.versions(who, code)
        return versions[-1] if versions else None

    def published(self, who: Principal) -> dict[str, int]:
        """Every published period with its newest version number."""
        check_analytics(who)
        return {r.period: r.version for r in self._store.evaluations(self._district())}

    def diff(
        self, who: Principal, code: str, old: int, new: int, by: str | None = "township"
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
    """Per row and figure, the values that differ between two published tables.

    Rows are matched by ``group`` (and ``item`` in the composite's sub-item table, which has one
    row per township and sub-item); a row missing from one side shows as none there.
    """
    keys = [k for k in ("group", "item") if k in old.columns and k in new.columns]
    columns = [c for c in (figures or old.columns) if c not in keys and c in new.columns]
    a, b = old.set_index(keys), new.set_index(keys)
    rows = []
    for key in sorted(set(a.index) | set(b.index), key=str):
        for c in columns:
            x = a[c].get(key) if key in a.index else None
            y = b[c].get(key) if key in b.index else None
            same = ((x is None or pd.isna(x)) and (y is None or pd.isna(y))) or x == y
            if not same:
                named = dict(zip(keys, key if len(keys) > 1 else (key,), strict=True))
                rows.append({**named, "figure": c, "old": x, "new": y})
    return pd.DataFrame(rows, columns=[*keys, "figure", "old", "new"])
