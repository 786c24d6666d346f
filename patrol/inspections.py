"""Joint inspections (综合查一次): one visit per premises for several departments ("进一次门，查多项事").

Planned inspections of the same premises whose days fall within ``window_days`` of the first
of them are merged into one visit on that first day. A warning is raised when a premises gets
visits with different departments less than ``warn_days`` apart: those could have been one.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

from patrol.audit import audit_row
from patrol.catalog import Catalog
from patrol.ids import stamped_id
from patrol.permissions import AccessDeniedError, check_import, check_township
from patrol.refusals import Refusal
from patrol.roles import Principal
from store.protocol import Store
from store.rows import InspectionRow, PremisesRow

MERGE_WINDOW_DAYS = 7
WARN_DAYS = 30


@dataclass(frozen=True)
class Visit:
    """One trip to a premises covering one or more departments' inspections."""

    id: str
    premises_id: str
    day: date
    departments: tuple[str, ...]
    items: tuple[str, ...]
    inspection_ids: tuple[str, ...]
    status: str  # "planned" or "done"


@dataclass(frozen=True)
class RepeatWarning:
    """Two visits to one premises by different departments within ``WARN_DAYS``."""

    premises_id: str
    first: Visit
    second: Visit
    days_apart: int


def _visit(group: list[InspectionRow], status: str) -> Visit:
    first = group[0]
    return Visit(
        id=f"V-{first.premises_id}-{first.planned_on:%Y%m%d}",
        premises_id=first.premises_id,
        day=first.planned_on,
        departments=tuple(sorted({i.department for i in group})),
        items=tuple(sorted({c for i in group for c in i.items})),
        inspection_ids=tuple(i.id for i in group),
        status=status,
    )


def merge_visits(inspections: Sequence[InspectionRow], window_days: int = MERGE_WINDOW_DAYS) -> list[Visit]:
    """Merge planned inspections into visits; done ones stay as they were visited.

    Planned inspections of one premises are taken in day order; each visit collects every
    inspection within ``window_days`` days of its first. Done inspections are grouped by the
    visit they were recorded with (or their own day). Cancelled ones are left out.
    """
    if window_days < 0:
        msg = f"the merge window must be 0 days or more, got {window_days}"
        raise ValueError(msg)
    visits: list[Visit] = []
    by_premises: dict[str, list[InspectionRow]] = {}
    done: dict[tuple[str, str], list[InspectionRow]] = {}
    for i in sorted(inspections, key=lambda i: (i.premises_id, i.planned_on, i.id)):
        if i.status == "planned":
            by_premises.setdefault(i.premises_id, []).append(i)
        elif i.status == "done":
            done.setdefault((i.premises_id, i.visit_id or i.planned_on.isoformat()), []).append(i)
    for rows in by_premises.values():
        group: list[InspectionRow] = []
        for i in rows:
            if group and (i.planned_on - group[0].planned_on).days > window_days:
                visits.append(_visit(group, "planned"))
                group = []
            group.append(i)
        visits.append(_visit(group, "planned"))
    visits.extend(_visit(g, "done") for g in done.values())
    return sorted(visits, key=lambda v: (v.premises_id, v.day, v.id))


def repeat_warnings(visits: Sequence[Visit], warn_days: int = WARN_DAYS) -> list[RepeatWarning]:
    """Consecutive visits of one premises less than ``warn_days`` apart with different departments."""
    out: list[RepeatWarning] = []
    ordered = sorted(visits, key=lambda v: (v.premises_id, v.day, v.id))
    for a, b in itertools.pairwise(ordered):
        if a.premises_id != b.premises_id:
            continue
        apart = (b.day - a.day).days
        if apart < warn_days and set(b.departments) - set(a.departments):
            out.append(RepeatWarning(a.premises_id, a, b, apart))
    return out


class InspectionService:
    """Plan joint inspections and merge them into visits, as a principal."""

    def __init__(self, store: Store, catalog: Catalog, clock: Callable[[], datetime] | None = None) -> None:
        self._store = store
        self.catalog = catalog
        self.clock = clock or (lambda: datetime.now(UTC))

    def premises(self, who: Principal) -> list[PremisesRow]:
        """The premises ``who`` may plan for (a captain: their township's)."""
        _check_role(who)
        return self._store.premises(township_code=who.township_code if who.role == "captain" else None)

    def plan(
        self, who: Principal, premises_id: str, department: str, day: date, items: Sequence[str] = ()
    ) -> InspectionRow:
        """Plan one department's inspection of a premises on a day.

        Raises
        ------
        ValueError
            For an unknown premises, department or item, or a day in the past.
        AccessDeniedError
            For a premises of another township (captain) or a role that may not plan.
        """
        _check_role(who)
        found = [p for p in self._store.premises() if p.id == premises_id]
        if not found:
            msg = f"no premises {premises_id}"
            raise ValueError(msg)
        check_township(who, found[0].township_code, "plan inspections")
        if department not in self.catalog.departments:
            msg = f"unknown department {department!r}"
            raise ValueError(msg)
        unknown = [c for c in items if c not in self.catalog.items]
        if unknown:
            msg = f"unknown items: {', '.join(unknown)}"
            raise ValueError(msg)
        now = self.clock()
        if day < now.date():
            msg = f"cannot plan an inspection in the past ({day.isoformat()})"
            raise Refusal(msg, "refuse.inspection_past", day=day.isoformat())
        row = InspectionRow(
            id=stamped_id("IN", now), premises_id=premises_id, department=department,
            planned_on=day, status="planned", created_by=who.name, created_at=now, items=tuple(items),
        )  # fmt: skip
        record = audit_row(
            who, now, "plan_inspection", "inspection", row.id, None,
            {"premises_id": premises_id, "department": department, "day": day.isoformat(),
             "items": list(items)},
        )  # fmt: skip
        self._store.insert_inspections([row], [record])
        return row

    def add_history(
        self,
        who: Principal,
        premises: Sequence[PremisesRow],
        inspections: Sequence[InspectionRow],
        source: str,
    ) -> None:
        """Store premises with their past and planned inspections (the demo's year).

        They are stored together with an audit row of the import from ``source``.

        Raises
        ------
        AccessDeniedError
            If the role may not bring records in, or (a captain) for another township's premises.
        ValueError
            For an inspection of no premises given or stored, or of an unknown department.
        """
        check_import(who, "premises", (p.township_code for p in premises))
        district = self._store.district()
        here = district.code if district is not None else None
        known = {p.id for p in premises} | {p.id for p in self._store.premises()}
        wrong = [p.id for p in premises if p.district_code != here] + [
            i.id
            for i in inspections
            if i.premises_id not in known or i.department not in self.catalog.departments
        ]
        if wrong:
            msg = f"premises of another district, or inspections of no premises or department: {wrong[:5]}"
            raise ValueError(msg)
        after = {"premises": len(premises), "inspections": len(inspections)}
        record = audit_row(who, self.clock(), "import_history", "import", source, None, after)
        self._store.insert_premises(premises, inspections, [record])

    def merge(
        self, who: Principal, since: date, window_days: int = MERGE_WINDOW_DAYS
    ) -> tuple[list[Visit], list[RepeatWarning]]:
        """Merge the inspections from ``since`` into visits, store each inspection's visit id.

        Returns the visits and the repeat warnings, for ``who``'s premises only.
        """
        _check_role(who)
        ids = [p.id for p in self.premises(who)]
        rows = self._store.inspections(premises_ids=ids, since=since)
        visits = merge_visits(rows, window_days)
        current = {r.id: r.visit_id for r in rows}
        changed = {
            i: v.id for v in visits if v.status == "planned" for i in v.inspection_ids if current[i] != v.id
        }
        if changed:
            record = audit_row(
                who, self.clock(), "merge_inspections", "inspection", f"since {since.isoformat()}", None,
                {"inspections": len(changed), "window_days": window_days},
            )  # fmt: skip
            self._store.set_inspection_visits(changed, [record])
        return visits, repeat_warnings(visits)


def _check_role(who: Principal) -> None:
    if who.role not in ("captain", "command_center"):
        msg = f"a {who.role} may not plan joint inspections"
        raise AccessDeniedError(msg)
