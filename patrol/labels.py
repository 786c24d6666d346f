"""Codes as words: departments, teams, townships, states and event details in the reader's language.

A page, an export and a printable report all name things the same way through one
:class:`Labels`: a team by its name, a department by its name, a time as local minutes, an
event's payload as labelled Chinese (or English) text, an audit change as "field: old → new".
Nothing here shows an id where a name is known, "None", or JSON.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from patrol.audit import as_mapping
from patrol.catalog import Catalog
from patrol.composite import load_scheme
from patrol.i18n import Lang, MissingMessageError, t
from patrol.incident import CALLBACK_RESULTS, REQUEST_KINDS, SUPERVISION_LEVELS
from patrol.workdays import local_minutes

if TYPE_CHECKING:
    from patrol.incidents import IncidentService


@dataclass(frozen=True)
class Labels:
    """Names for codes, in ``lang``: ``teams`` id → name; ``townships`` and ``districts`` code → name."""

    lang: Lang
    catalog: Catalog
    teams: Mapping[int, str]
    townships: Mapping[str, str]
    districts: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, svc: IncidentService, lang: Lang) -> Labels:
        """The names a service knows (catalog, teams, townships, its district), in ``lang``."""
        townships = {code: t.name for code, t in svc.areas.townships.items()}
        row = svc.district
        districts = {row.code: row.name if lang == "zh" or not row.name_en else row.name_en}
        return cls(lang, svc.catalog, {t.id: t.name for t in svc.teams.values()}, townships, districts)

    def tr(self, key: str, **values: object) -> str:
        """A message in this language."""
        return t(key, self.lang, **values)

    def _maybe(self, key: str, fallback: str) -> str:
        try:
            return self.tr(key)
        except MissingMessageError:  # a code this version does not know: shown as it is
            return fallback

    def department(self, code: str | None) -> str:
        """A department by its name."""
        if not code:
            return "—"
        d = self.catalog.departments.get(code)
        if d is None:
            return code
        return d.name_zh if self.lang == "zh" else d.name_en

    def item(self, code: str) -> str:
        """An enforcement item by its name."""
        item = self.catalog.items.get(code)
        if item is None:
            return code
        return item.name_zh if self.lang == "zh" else item.name_en

    def source(self, code: str | None) -> str:
        """Where a report came from (12345 热线, 巡查发现…)."""
        return self._maybe(f"source.{code}", str(code)) if code else "—"

    def team(self, team_id: int | str | None) -> str:
        """A village grid team by its name."""
        if team_id in (None, ""):
            return "—"
        name = self.teams.get(int(team_id))  # type: ignore[arg-type]
        return name if name else self.tr("app.team_n", id=team_id)

    def scheme_item(self, code: str) -> str:
        """A sub-item of the composite evaluation scheme by its name."""
        try:
            found = load_scheme().item(code)
        except StopIteration:  # a code the scheme no longer has: shown as it is
            return code
        return found.name_zh if self.lang == "zh" else found.name_en

    def township(self, code: str | None) -> str:
        """A township by its name."""
        if not code:
            return "—"
        return self.townships.get(code, code)

    def state(self, state: str | None) -> str:
        """A workflow state."""
        return "—" if not state else self._maybe(f"state.{state}", state)

    def role(self, role: str | None) -> str:
        """A role."""
        return "—" if not role else self._maybe(f"role.{role}", role)

    def action(self, action: str) -> str:
        """An incident action or an audited operation."""
        return self._maybe(f"action.{action}", self._maybe(f"audit.op_{action}", action))

    def entity(self, entity: str) -> str:
        """What an audit entry is about."""
        return self._maybe(f"audit.entity_{entity}", entity)

    def scope(self, township_code: str | None, team_id: int | None, department: str | None) -> str:
        """A user's scope as a place or a department, not a code."""
        if department:
            return self.department(department)
        if team_id is not None:
            return self.team(team_id)
        if township_code:
            return self.township(township_code)
        return self.tr("users.scope_all")

    def value(self, key: str, value: Any) -> str:
        """One field's value for a reader."""
        if value is None or value == "":
            return "—"
        if key == "team_id":
            return self.team(value)
        if key == "district_code":
            return self.districts.get(value, value)
        if key in ("township_code", "township"):  # "township": a score entry's (patrol.evaluation)
            return self.township(value)
        if key == "item":  # a sub-item of the composite scheme (a score entry's)
            return self.scheme_item(value)
        if key in ("department", "department_code"):
            return self.department(value)
        if key in ("departments", "consult_departments", "copies"):
            return "、".join(self.department(d) for d in value)
        if key in ("state", "from_state", "to_state"):
            return self.state(value)
        if key == "role":
            return self.role(value)
        if key == "item_code":
            return self.item(value)
        if key in ("outcome", "assessment_outcome", "decision"):
            return self._maybe(f"{key.removeprefix('assessment_')}.{value}", str(value))
        if key == "result" and value in ("pass", "fail"):
            return self.tr(f"verify.{value}")
        if key in ("result", "satisfaction") and value in CALLBACK_RESULTS:
            return self.tr(f"callback.{value}")
        if key == "level" and value in SUPERVISION_LEVELS:
            return self.tr(f"supervision.{value}")
        if key == "kind" and value in REQUEST_KINDS:
            return self.tr(f"request_kind.{value}")
        if key == "status":
            return self._maybe(f"ex.status_{value}", str(value))
        if key == "via":
            return self._maybe(f"via.{str(value).replace(' ', '_')}", str(value))
        if isinstance(value, bool):
            return self.tr("app.yes") if value else self.tr("app.no")
        if isinstance(value, datetime):
            return local_minutes(value)
        if (key.endswith("_at") or key in ("at", "shift_start", "shift_end")) and isinstance(value, str):
            try:
                return local_minutes(datetime.fromisoformat(value))
            except ValueError:
                return value
        if isinstance(value, float):
            return f"{value:,.2f}".rstrip("0").rstrip(".")
        if isinstance(value, list | tuple):
            return (
                "、".join(str(v) for v in value) if len(value) <= 12 else self.tr("app.n_items", n=len(value))
            )
        if isinstance(value, dict):
            return self.details(value)
        return str(value)

    def field(self, key: str) -> str:
        """A field's label."""
        return self._maybe(f"detail.{key}", key)

    def details(self, payload: Mapping[str, Any]) -> str:
        """An event's or audit entry's fields, labelled: 派往团队：竹庄社区网格团队；研判结论：立案处置."""
        return "；".join(
            f"{self.field(k)}：{self.value(k, v)}" for k, v in payload.items() if v not in (None, "", [], {})
        )

    def changes(self, before: str | Mapping[str, Any] | None, after: str | Mapping[str, Any] | None) -> str:
        """What an audited change changed: each differing field as "field: old → new"."""
        old, new = as_mapping(before or {}), as_mapping(after or {})
        parts = []
        for k in sorted({*old, *new} - {"updated_at", "created_at"}):
            if old.get(k) == new.get(k):
                continue
            if k not in old or old.get(k) in (None, ""):
                parts.append(f"{self.field(k)}：{self.value(k, new.get(k))}")
            else:
                parts.append(f"{self.field(k)}：{self.value(k, old.get(k))} → {self.value(k, new.get(k))}")
        return "；".join(parts)
