"""The enforcement catalog (执法事项): items, departments and "一件事" themes, from CSV files.

The catalog lives in ``data/catalog/`` as three CSV files an administrator can edit in a
spreadsheet. Loading validates every row; a broken file fails with the file, line and
field at fault.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal, TypeAlias

ListType: TypeAlias = Literal["comprehensive", "professional", "township"]
EmpowermentClass: TypeAlias = Literal["agriculture_rural", "industrial_it", "commercial_service"]

LIST_TYPES: tuple[ListType, ...] = ("comprehensive", "professional", "township")
EMPOWERMENT_CLASSES: tuple[EmpowermentClass, ...] = (
    "agriculture_rural",
    "industrial_it",
    "commercial_service",
)
CATALOG_DIR = Path(__file__).resolve().parents[1] / "data" / "catalog"
LIST_TYPE_ZH = {"comprehensive": "综合", "professional": "专业", "township": "乡镇赋权"}
EMPOWERMENT_ZH = {
    "agriculture_rural": "农业农村类",
    "industrial_it": "工业信息产业类",
    "commercial_service": "商业服务业类",
}


class CatalogError(ValueError):
    """The catalog files are broken; the message names file, line and field."""


@dataclass(frozen=True)
class Department:
    """A department of the "1+5" line-up (or a partner such as public security)."""

    code: str
    name_zh: str
    name_en: str
    line: str
    accept_hours: int = 24  # how long it has to accept or return a handover (移交)


@dataclass(frozen=True)
class Theme:
    """A supervision scenario theme ("一件事")."""

    code: str
    name_zh: str
    name_en: str
    demo: bool = False  # a grouping made up for the demo, not one of the reform's own scenarios


@dataclass(frozen=True)
class Item:
    """An enforcement item (执法事项)."""

    code: str
    name_zh: str
    name_en: str
    department: str
    list_type: ListType
    empowered_classes: frozenset[str]
    response_minutes: int
    handling_days: int
    high_frequency: bool
    theme: str | None
    severity: int
    # stage limits in working hours (patrol.workdays.add_working_hours): from the start of the
    # assessment to its decision, and from a submitted result to its verification
    assessment_hours: int = 24
    verification_hours: int = 24
    # the condition under which a first minor violation is not penalised (首违不罚), or "" when
    # the item is not on the list: only then may an assessment decide first_offence_no_penalty
    first_offence: str = ""
    # departments told of the case (抄告) when the township takes it on or hands it over: they
    # read it and its log, and act on nothing
    copy_to: frozenset[str] = frozenset()

    def copies(self, handling_department: str | None = None) -> list[str]:
        """The departments a case of this item is copied to (抄告), not the one that handles it."""
        return sorted(self.copy_to - {handling_department or ""})

    def handled_by_township(self, empowerment_class: str) -> bool:
        """Whether a township of this empowerment class handles the item itself."""
        return self.list_type != "professional" and empowerment_class in self.empowered_classes


@dataclass(frozen=True)
class Catalog:
    """Items, departments and themes, looked up by code."""

    items: dict[str, Item]
    departments: dict[str, Department]
    themes: dict[str, Theme]

    def item(self, code: str) -> Item:
        """Return the item with this code.

        Raises
        ------
        KeyError
            With the unknown code.
        """
        try:
            return self.items[code]
        except KeyError:
            msg = f"unknown enforcement item {code!r}"
            raise KeyError(msg) from None

    def empowered_items(self, empowerment_class: str) -> frozenset[str]:
        """The codes of the items a township of this empowerment class handles itself (赋权事项)."""
        return frozenset(c for c, item in self.items.items() if item.handled_by_township(empowerment_class))

    def copied_items(self, department: str) -> frozenset[str]:
        """The codes of the items whose cases are copied (抄告) to ``department``."""
        return frozenset(c for c, item in self.items.items() if department in item.copy_to)

    def items_of_theme(self, theme: str) -> list[Item]:
        """Items belonging to a theme."""
        return [i for i in self.items.values() if i.theme == theme]


def _rows(path: Path, required: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError as exc:
        msg = f"{path.name}: file not found"
        raise CatalogError(msg) from exc
    except UnicodeDecodeError as exc:
        msg = f"{path.name}: not UTF-8 text ({exc.reason} at byte {exc.start})"
        raise CatalogError(msg) from exc
    reader = csv.DictReader(text.splitlines())
    missing = [c for c in required if c not in (reader.fieldnames or [])]
    if missing:
        msg = f"{path.name}, line 1: missing column(s) {', '.join(missing)}"
        raise CatalogError(msg)
    out = []
    for row in reader:
        line = reader.line_num
        if None in row:
            msg = f"{path.name}, line {line}: more values than columns"
            raise CatalogError(msg)
        out.append((line, {k: (v or "").strip() for k, v in row.items()}))
    return out


def _int(path: Path, line: int, field: str, value: str, lo: int, hi: int) -> int:
    try:
        number = int(value)
    except ValueError:
        msg = f"{path.name}, line {line}, field {field}: expected a whole number, got {value!r}"
        raise CatalogError(msg) from None
    if not lo <= number <= hi:
        msg = f"{path.name}, line {line}, field {field}: {number} is outside {lo}..{hi}"
        raise CatalogError(msg)
    return number


def _unique(path: Path, line: int, code: str, seen: set[str]) -> None:
    if not code:
        msg = f"{path.name}, line {line}, field code: empty"
        raise CatalogError(msg)
    if code in seen:
        msg = f"{path.name}, line {line}, field code: duplicate code {code!r}"
        raise CatalogError(msg)
    seen.add(code)


@lru_cache(maxsize=1)
def default_catalog() -> Catalog:
    """The shipped catalog, loaded once (what the services load by default)."""
    return load_catalog()


def load_catalog(directory: Path = CATALOG_DIR) -> Catalog:
    """Load and validate ``items.csv``, ``departments.csv`` and ``themes.csv``.

    Raises
    ------
    CatalogError
        Naming the file, line and field at fault.
    """
    dep_path, theme_path, item_path = (directory / n for n in ("departments.csv", "themes.csv", "items.csv"))
    departments: dict[str, Department] = {}
    seen: set[str] = set()
    for line, r in _rows(dep_path, ("code", "name_zh", "name_en", "line", "accept_hours")):
        _unique(dep_path, line, r["code"], seen)
        hours = _int(dep_path, line, "accept_hours", r["accept_hours"], 1, 720)
        departments[r["code"]] = Department(r["code"], r["name_zh"], r["name_en"], r["line"], hours)
    themes: dict[str, Theme] = {}
    seen = set()
    for line, r in _rows(theme_path, ("code", "name_zh", "name_en")):
        _unique(theme_path, line, r["code"], seen)
        demo = r.get("demo", "0") or "0"
        if demo not in ("0", "1"):
            msg = f"{theme_path.name}, line {line}, field demo: expected 0 or 1, got {demo!r}"
            raise CatalogError(msg)
        themes[r["code"]] = Theme(r["code"], r["name_zh"], r["name_en"], demo == "1")
    items: dict[str, Item] = {}
    seen = set()
    columns = (
        "code", "name_zh", "name_en", "department", "list_type", "empowered_classes",
        "response_minutes", "handling_days", "high_frequency", "theme", "severity",
    )  # fmt: skip
    for line, r in _rows(item_path, columns):
        _unique(item_path, line, r["code"], seen)
        where = f"{item_path.name}, line {line}"
        if not r["name_zh"]:
            msg = f"{where}, field name_zh: empty"
            raise CatalogError(msg)
        if r["department"] not in departments:
            msg = f"{where}, field department: unknown department {r['department']!r}"
            raise CatalogError(msg)
        if r["list_type"] not in LIST_TYPES:
            msg = f"{where}, field list_type: {r['list_type']!r} is not one of {', '.join(LIST_TYPES)}"
            raise CatalogError(msg)
        classes = frozenset(c for c in r["empowered_classes"].split(";") if c)
        bad = classes - set(EMPOWERMENT_CLASSES)
        if bad:
            msg = f"{where}, field empowered_classes: unknown class(es) {', '.join(sorted(bad))}"
            raise CatalogError(msg)
        if r["list_type"] != "professional" and not classes:
            msg = f"{where}, field empowered_classes: a {r['list_type']} item needs at least one class"
            raise CatalogError(msg)
        if r["high_frequency"] not in ("0", "1"):
            msg = f"{where}, field high_frequency: expected 0 or 1, got {r['high_frequency']!r}"
            raise CatalogError(msg)
        if r["theme"] and r["theme"] not in themes:
            msg = f"{where}, field theme: unknown theme {r['theme']!r}"
            raise CatalogError(msg)
        copy_to = frozenset(c for c in (r.get("copy_to") or "").split(";") if c)
        unknown = sorted(copy_to - set(departments))
        if unknown:
            msg = f"{where}, field copy_to: unknown department(s) {', '.join(unknown)}"
            raise CatalogError(msg)
        items[r["code"]] = Item(
            code=r["code"],
            name_zh=r["name_zh"],
            name_en=r["name_en"],
            department=r["department"],
            list_type=r["list_type"],  # type: ignore[arg-type]
            empowered_classes=classes,
            response_minutes=_int(item_path, line, "response_minutes", r["response_minutes"], 1, 7 * 24 * 60),
            handling_days=_int(item_path, line, "handling_days", r["handling_days"], 1, 365),
            high_frequency=r["high_frequency"] == "1",
            theme=r["theme"] or None,
            severity=_int(item_path, line, "severity", r["severity"], 1, 5),
            first_offence=r.get("first_offence", ""),  # optional columns: an older file has none
            copy_to=copy_to,
            assessment_hours=_int(
                item_path, line, "assessment_hours", r.get("assessment_hours") or "24", 1, 720
            ),
            verification_hours=_int(
                item_path, line, "verification_hours", r.get("verification_hours") or "24", 1, 720
            ),
        )
    if not items:
        msg = f"{item_path.name}: no items"
        raise CatalogError(msg)
    return Catalog(items=items, departments=departments, themes=themes)
