"""Import incidents from CSV, XLSX and GeoJSON with a column mapping; refuse bad rows by line.

A mapping (TOML) names the columns and maps foreign category and source labels to catalog
codes; ``hotline12345`` is a built-in preset for 12345 hotline exports. Every bad row
(missing or invalid coordinates, outside the district, unknown item, unparseable time,
duplicate external id) goes to a rejects file with its line number and reason; good rows
commit in batches; rows whose external id is already stored are skipped, so importing
the same file twice adds nothing. Rows without an id get one from a hash of their content.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import tomllib
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from geo.crs import check_crs_name, to_wgs84
from patrol.i18n import LANGS, t
from patrol.incident import Source
from patrol.incidents import IncidentService
from patrol.permissions import check_import
from patrol.refusals import Reason, Refusal
from patrol.roles import Principal
from patrol.spreadsheet import rows_csv_bytes
from patrol.workdays import LOCAL_TZ_NAME

PRESETS_DIR = Path(__file__).resolve().parents[1] / "data" / "import_presets"
BATCH_ROWS = 50_000
#: More columns than any export of incidents has: a file past it is refused before it is parsed.
MAX_COLUMNS = 500
#: Non-ASCII bytes a line needs before it counts as UTF-8 text (two Chinese characters).
_UTF8_EVIDENCE_BYTES = 6


#: What a column is called in the files people bring (12345 exports, ledgers, our own export):
#: the first column whose name matches (spaces and case aside) is the guess for its role.
COLUMN_NAMES: dict[str, tuple[str, ...]] = {
    "id": ("id", "external_id", "工单编号", "工单号", "编号", "案件编号", "事件编号", "number"),
    "time": (
        "time",
        "reported_at",
        "上报时间",
        "发生时间",
        "受理时间",
        "登记时间",
        "时间",
        "日期",
        "datetime",
    ),
    "lat": ("lat", "latitude", "纬度", "y"),
    "lng": ("lng", "lon", "long", "longitude", "经度", "x"),
    "item": ("item", "item_code", "执法事项", "事项", "问题类型", "问题类别", "类别", "案由", "category"),
    "source": ("source", "来源", "事件来源", "案件来源", "渠道", "来源渠道", "channel"),
    "description": ("description", "问题描述", "事件描述", "描述", "内容", "诉求内容", "详情", "备注"),
}
#: A role's own name (the first of its names) is the column read when no mapping names one.
DEFAULT_COLUMNS = {role: names[0] for role, names in COLUMN_NAMES.items()}
REQUIRED_ROLES = ("time", "lat", "lng", "item")

#: Why a row is refused (English words for the command line; a key for the page's language).
MISSING_XY = Reason("missing or non-numeric coordinates", "reason.missing_xy")
XY_RANGE = Reason("coordinates out of range", "reason.xy_range")
UNKNOWN_ITEM = Reason("unknown item", "reason.unknown_item")
BAD_TIME = Reason("unparseable time", "reason.bad_time")
UNKNOWN_SOURCE = Reason("unknown source", "reason.unknown_source")
DUPLICATE_ID = Reason("duplicate external id in this file", "reason.duplicate_id")


class IncidentImportError(Refusal):
    """The file or the mapping cannot be used at all (one-line reason; ``key`` for the page)."""

    def __init__(self, message: str, key: str = "import.err.unusable", **values: object) -> None:
        super().__init__(message, key, **{"error": message, **values})


@dataclass(frozen=True)
class Mapping:
    """Which column holds what, and how foreign labels map to catalog codes."""

    columns: dict[str, str]
    crs: str = "wgs84"
    timezone: str = LOCAL_TZ_NAME
    time_format: str | None = None
    default_source: str = Source.CITIZEN.value
    items: dict[str, str] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)


@dataclass
class ImportReport:
    """What an import did."""

    total: int = 0
    accepted: int = 0
    skipped_existing: int = 0
    rejected: list[tuple[int, str, dict[str, Any]]] = field(default_factory=list)
    duplicates_flagged: int = 0

    def rejects_csv(
        self, describe: Callable[[str], str] = str, headers: tuple[str, str] = ("line", "reason")
    ) -> bytes:
        """The refused rows as CSV: line, reason, then the original fields (every cell escaped).

        ``describe`` says a reason in the reader's language; ``headers`` names the first two columns.
        """
        keys: list[str] = []
        for _, _, row in self.rejected:
            keys.extend(k for k in row if k not in keys)
        rows = [
            [line, describe(reason), *(row.get(k, "") for k in keys)] for line, reason, row in self.rejected
        ]
        return rows_csv_bytes([*headers, *keys], rows)

    def write_rejects(self, path: Path) -> None:
        """Write :meth:`rejects_csv` to ``path``."""
        path.write_bytes(self.rejects_csv())


def load_mapping(spec: str | Path | None) -> Mapping:
    """Load a mapping file, a preset name (``hotline12345``), or the default column names.

    Raises
    ------
    IncidentImportError
        If the file is missing or malformed.
    """
    if spec is None:
        return Mapping(columns=dict(DEFAULT_COLUMNS))
    path = Path(spec)
    if not path.exists() and (PRESETS_DIR / f"{spec}.toml").exists():
        path = PRESETS_DIR / f"{spec}.toml"
    if not path.exists():
        presets = ", ".join(sorted(p.stem for p in PRESETS_DIR.glob("*.toml")))
        msg = f"mapping {spec!r} not found (a TOML file, or a preset: {presets})"
        raise IncidentImportError(msg)
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        msg = f"mapping {path.name} is not valid TOML: {exc}"
        raise IncidentImportError(msg) from exc
    cols = {**DEFAULT_COLUMNS, **{str(k): str(v) for k, v in doc.get("columns", {}).items()}}
    unknown = set(cols) - {*DEFAULT_COLUMNS, "reporter_name", "reporter_phone", "x", "y", "id_fallback"}
    if unknown:
        msg = f"mapping {path.name}: unknown column role(s) {', '.join(sorted(unknown))}"
        raise IncidentImportError(msg)
    opts = doc.get("options", {})
    crs = check_crs_name(str(opts.get("crs", "wgs84")))
    default_source = str(opts.get("default_source", Source.CITIZEN.value))
    Source(default_source)
    return Mapping(
        columns=cols,
        crs=crs,
        timezone=str(opts.get("timezone", LOCAL_TZ_NAME)),
        time_format=opts.get("time_format"),
        default_source=default_source,
        items={str(k): str(v) for k, v in doc.get("items", {}).items()},
        sources={str(k): str(v) for k, v in doc.get("sources", {}).items()},
    )


def _decode(raw: bytes) -> str:
    """The text of a file in UTF-8 or GBK/GB18030, refusing one that mixes the two line by line.

    A file saved partly from one program and partly from another decodes as GB18030 without
    an error (nearly any bytes do) and would be stored garbled: it is refused instead.
    """
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    utf8_line = other_line = 0
    for number, line in enumerate(raw.split(b"\n"), start=1):
        if line.isascii():
            continue
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            other_line = other_line or number
        else:
            if sum(b >= 0x80 for b in line) >= _UTF8_EVIDENCE_BYTES:
                utf8_line = utf8_line or number
        if utf8_line and other_line:
            msg = (
                f"the file mixes encodings (line {utf8_line} is UTF-8, line {other_line} is not);"
                " save it again in one encoding, UTF-8 preferred"
            )
            raise IncidentImportError(msg, "import.err.mixed_encoding", utf8=utf8_line, other=other_line)
    try:
        return raw.decode("gb18030")
    except UnicodeDecodeError:
        msg = "file is neither UTF-8 nor GBK/GB18030 text"
        raise IncidentImportError(msg, "import.err.encoding") from None


def _check_columns(n: int, name: str) -> None:
    if n > MAX_COLUMNS:
        msg = f"{name} has {n:,} columns; a file of incidents has at most {MAX_COLUMNS}"
        raise IncidentImportError(msg, "import.err.columns", n=f"{n:,}", most=MAX_COLUMNS)


def _names(columns: Sequence[object], limit: int = 20) -> str:
    """Column names for a message, at most ``limit`` of them (a message stays one short line)."""
    shown = ", ".join(str(c)[:40] for c in list(columns)[:limit]) or "none"
    return shown + (f" … ({len(columns) - limit:,} more)" if len(columns) > limit else "")


def read_table(path: Path) -> tuple[pd.DataFrame, int]:
    """Read CSV, XLSX or GeoJSON into strings; return the frame and the line of its first row.

    Raises
    ------
    IncidentImportError
        If the file cannot be read at all.
    """
    suffix = path.suffix.lower()
    if not path.exists():
        msg = f"file not found: {path}"
        raise IncidentImportError(msg)
    try:
        if suffix in (".csv", ".txt"):
            text = _decode(path.read_bytes())
            header = next(csv.reader([text.split("\n", 1)[0]]), [])
            _check_columns(len(header), path.name)
            return pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False), 2
        if suffix in (".xlsx", ".xlsm"):
            frame = pd.read_excel(path, dtype=str, keep_default_na=False)
            _check_columns(len(frame.columns), path.name)
            return frame, 2
        if suffix in (".geojson", ".json"):
            doc = json.loads(_decode(path.read_bytes()))
            rows = []
            for feat in doc.get("features", []):
                props = {k: ("" if v is None else str(v)) for k, v in (feat.get("properties") or {}).items()}
                geom = feat.get("geometry") or {}
                coords = geom.get("coordinates") if geom.get("type") == "Point" else None
                props["__x"] = str(coords[0]) if coords and len(coords) >= 2 else ""
                props["__y"] = str(coords[1]) if coords and len(coords) >= 2 else ""
                rows.append(props)
                _check_columns(len(props), path.name)
            return pd.DataFrame(rows, dtype=str), 1
    except IncidentImportError:
        raise
    except Exception as exc:  # pandas/openpyxl raise many kinds for unreadable files
        msg = f"cannot read {path.name}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
        raise IncidentImportError(msg, "import.err.unreadable") from exc
    msg = f"unsupported file type {suffix!r}: use CSV, XLSX or GeoJSON"
    raise IncidentImportError(msg, "import.err.type", suffix=suffix)


def label_key(label: str) -> str:
    """A label as it is matched: without spaces, in lower case ("12345 热线" = "12345热线")."""
    return "".join(str(label).split()).lower()


def _item_lookup(svc: IncidentService, mapping: Mapping) -> dict[str, str]:
    """Catalog codes by every label the catalog gives them, then the mapping's own labels."""
    lookup: dict[str, str] = {}
    for i in svc.catalog.items.values():
        for label in (i.code, i.name_zh, i.name_en):
            lookup[label_key(label)] = i.code
    lookup.update({label_key(k): v for k, v in mapping.items.items()})
    return lookup


def _source_lookup(mapping: Mapping) -> dict[str, str]:
    """Source codes by their code, the app's own names in every language, common short forms."""
    lookup = {s.value: s.value for s in Source}
    for s in Source:
        lookup.update({label_key(t(f"source.{s.value}", lang)): s.value for lang in LANGS})
    short = {"12345": "hotline_12345", "热线": "hotline_12345", "巡查": "patrol", "信访": "petition",
             "群众": "citizen", "群众举报": "citizen", "视频": "camera",
             "部门移交": "department_referral"}  # fmt: skip
    lookup.update(short)
    lookup.update({label_key(k): v for k, v in mapping.sources.items()})
    return lookup


def guess_columns(columns: Sequence[object]) -> dict[str, str | None]:
    """For each role, the file's column that most likely holds it (None where none does)."""
    by_key = {label_key(str(c)): str(c) for c in reversed(list(columns))}  # the first of equals wins
    taken: set[str] = set()
    out: dict[str, str | None] = {}
    for role, names in COLUMN_NAMES.items():
        found = next(
            (by_key[k] for k in map(label_key, names) if k in by_key and by_key[k] not in taken), None
        )
        out[role] = found
        if found is not None:
            taken.add(found)
    return out


@dataclass(frozen=True)
class LabelCheck:
    """The labels of a file's item and source columns that no catalog name or mapping knows."""

    items: dict[str, int]  # label → rows carrying it
    sources: dict[str, int]
    refused: int  # rows that would be refused for one or both


def check_labels(svc: IncidentService, frame: pd.DataFrame, mapping: Mapping) -> LabelCheck:
    """Which item and source labels of ``frame`` would be refused as unknown, and how often."""
    refused = np.zeros(len(frame), dtype=bool)

    def unknown(column: str | None, lookup: dict[str, str], blank_ok: bool) -> dict[str, int]:
        if column is None or column not in frame.columns:
            return {}
        values = frame[column].astype(str).str.strip()
        counts = values.value_counts()
        out = {
            str(v): int(n) for v, n in counts.items()
            if label_key(str(v)) not in lookup and not (blank_ok and str(v) == "")
        }  # fmt: skip
        refused[values.isin(list(out)).to_numpy()] = True
        return out

    items = unknown(mapping.columns.get("item"), _item_lookup(svc, mapping), False)
    sources = unknown(mapping.columns.get("source"), _source_lookup(mapping), True)
    return LabelCheck(items=items, sources=sources, refused=int(refused.sum()))


def _row_hash(row: pd.Series) -> str:
    return "h:" + hashlib.sha1("\x1f".join(map(str, row.tolist())).encode()).hexdigest()[:20]


def _map_distinct(values: pd.Series, fn: Callable[[str], Any]) -> pd.Series:
    """``values.map(fn)``, calling ``fn`` once per distinct value (files repeat a few labels)."""
    codes, uniques = pd.factorize(values)
    mapped = np.array([fn(str(u)) for u in uniques] + [None], dtype=object)
    return pd.Series(mapped[codes], index=values.index, dtype=object)


def _to_utc(value: Any, fmt: str | None, tz: str) -> Any:
    """One time string as a UTC timestamp (NaT if unusable); naive times are in ``tz``."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t = pd.to_datetime(value, format=fmt or "mixed", errors="coerce")
        if pd.isna(t):
            return pd.NaT
        t = pd.Timestamp(t)
        if t.tzinfo is None:
            t = t.tz_localize(tz, ambiguous="NaT", nonexistent="NaT")
        return pd.NaT if pd.isna(t) else t.tz_convert("UTC")
    except (ValueError, TypeError, OverflowError, OSError):
        return pd.NaT


def parse_times(values: pd.Series, fmt: str | None, tz: str) -> pd.Series:
    """Time strings as UTC timestamps, NaT where unusable.

    ISO 8601 (or the mapping's format) is parsed in one vectorised pass; the rest, one by
    one, in any format pandas recognises. Naive times are local to ``tz``.
    """
    text = values.astype(str).str.strip()
    out = pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns, UTC]")
    try:
        fast = pd.to_datetime(text, format=fmt or "ISO8601", errors="coerce", utc=False)
        if isinstance(fast.dtype, pd.DatetimeTZDtype):
            fast = fast.dt.tz_convert("UTC")
        elif fast.dtype.kind == "M":
            fast = fast.dt.tz_localize(tz, ambiguous="NaT", nonexistent="NaT").dt.tz_convert("UTC")
        else:  # mixed offsets: leave all to the slow path
            fast = pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns, UTC]")
        out = fast.astype("datetime64[ns, UTC]")
    except (ValueError, TypeError, OverflowError):
        pass
    todo = out.isna() & (text != "")
    if todo.any():
        slow = pd.Series([_to_utc(v, fmt, tz) for v in text[todo]], index=text[todo].index, dtype=object)
        out = out.astype(object)
        out[todo] = slow
        # in microseconds: a year no nanosecond timestamp holds (9999, or the year 1 that pandas
        # reads "2T" as) stays readable, for the plausibility window to refuse in words
        out = pd.to_datetime(out.map(lambda v: v if pd.isna(v) else pd.Timestamp(v).as_unit("us")), utc=True)
    return out


def import_incidents(
    svc: IncidentService,
    who: Principal,
    path: str | Path,
    *,
    mapping: Mapping | None = None,
    crs: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ImportReport:
    """Import a file of incidents as ``who``; see the module docstring for what is refused and why.

    The creation events name ``who``; the import is recorded in the audit log with its counts.

    Raises
    ------
    AccessDeniedError
        If ``who`` may not import incidents (checked before the file is read).
    IncidentImportError
        If the file or the mapping cannot be used at all.
    """
    check_import(who)
    frame, first_line = read_table(Path(path))
    if mapping is None:
        # the project's own export imports as it is
        own = {"number", "item_code", "reported_at", "lat", "lng"} <= set(frame.columns)
        mapping = load_mapping("gridpatrol" if own else None)
    report = ImportReport(total=len(frame))
    if frame.empty:
        return report
    cols = mapping.columns
    use_xy = "__x" in frame.columns and cols["lng"] not in frame.columns
    lng_col = (
        "__x" if use_xy else cols.get("x", cols["lng"]) if cols.get("x") in frame.columns else cols["lng"]
    )
    lat_col = (
        "__y" if use_xy else cols.get("y", cols["lat"]) if cols.get("y") in frame.columns else cols["lat"]
    )
    required = {"coordinates": [lng_col, lat_col], "item": [cols["item"]], "time": [cols["time"]]}
    missing = [c for need in required.values() for c in need if c not in frame.columns]
    if missing:
        have = _names(list(frame.columns))
        msg = f"column(s) {_names(missing)} not in the file (it has: {have}); give a --mapping"
        raise IncidentImportError(msg, "import.err.missing_columns", missing=_names(missing), have=have)

    lines = np.arange(len(frame)) + first_line
    reasons = np.full(len(frame), "", dtype=object)

    def refuse(mask: np.ndarray, why: Reason) -> None:
        fresh = mask & (reasons == "")
        reasons[fresh] = why

    lng = pd.to_numeric(frame[lng_col].str.strip(), errors="coerce").to_numpy(float)
    lat = pd.to_numeric(frame[lat_col].str.strip(), errors="coerce").to_numpy(float)
    refuse(~np.isfinite(lng) | ~np.isfinite(lat), MISSING_XY)
    refuse((np.abs(lat) > 90) | (np.abs(lng) > 180), XY_RANGE)
    good_xy = reasons == ""
    wlat, wlng = np.full(len(frame), np.nan), np.full(len(frame), np.nan)
    if good_xy.any():
        la, ln = to_wgs84(lat[good_xy], lng[good_xy], crs or mapping.crs)
        wlat[good_xy], wlng[good_xy] = la, ln

    item_lookup = _item_lookup(svc, mapping)
    raw_items = frame[cols["item"]].astype(str).str.strip()
    items = _map_distinct(raw_items, lambda v: item_lookup.get(label_key(v)))
    refuse(items.isna().to_numpy(), UNKNOWN_ITEM)

    times = parse_times(frame[cols["time"]], mapping.time_format, mapping.timezone)
    refuse(times.isna().to_numpy(), BAD_TIME)

    src_lookup = _source_lookup(mapping)
    if cols["source"] in frame.columns:
        raw_src = frame[cols["source"]].astype(str).str.strip()
        sources = _map_distinct(
            raw_src, lambda v: src_lookup.get(label_key(v), mapping.default_source if v == "" else None)
        )
        refuse(sources.isna().to_numpy(), UNKNOWN_SOURCE)
    else:
        sources = pd.Series([mapping.default_source] * len(frame))

    ext = (
        frame[cols["id"]].astype(str).str.strip().astype(object)
        if cols["id"] in frame.columns
        else pd.Series("", index=frame.index, dtype=object)
    )
    fallback = cols.get("id_fallback")
    if fallback and fallback in frame.columns:
        ext = ext.where(ext != "", frame[fallback].astype(str).str.strip())
    no_id = (ext == "").to_numpy()
    if no_id.any():  # the row's content stands in for a missing id
        ext[no_id] = frame.loc[no_id].apply(_row_hash, axis=1).to_numpy()
    dup_in_file = ext.duplicated(keep="first").to_numpy()
    refuse(dup_in_file, DUPLICATE_ID)

    def text(col: str) -> pd.Series:
        name = cols.get(col)
        if name and name in frame.columns:
            return frame[name].astype(str)
        return pd.Series([""] * len(frame))

    candidates = pd.DataFrame(
        {
            "item_code": items,
            "lat": wlat,
            "lng": wlng,
            "source": sources,
            "reported_at": times,
            "description": text("description"),
            "reporter_name": text("reporter_name"),
            "reporter_phone": text("reporter_phone"),
            "external_id": ext,
        }
    )
    already = svc.known_external_ids(ext[reasons == ""].tolist())
    is_old = ext.isin(already).to_numpy() & (reasons == "")
    report.skipped_existing = int(is_old.sum())
    todo = np.flatnonzero((reasons == "") & ~is_old)
    # oldest first: each batch then spans a short time, so its duplicate check reads few
    # stored incidents, and a report is only ever flagged against an earlier one
    todo = todo[np.argsort(times.dt.tz_localize(None).to_numpy()[todo], kind="stable")]
    done = 0
    for start in range(0, todo.size, BATCH_ROWS):
        idx = todo[start : start + BATCH_ROWS]
        batch = candidates.iloc[idx]
        result = svc.create_many(batch, who, source=Path(path).name)
        for pos, why in result.rejected:
            reasons[pos] = why
        report.accepted += result.created
        report.duplicates_flagged += result.duplicates_flagged
        done += idx.size
        if progress:
            progress(done, int(todo.size))
    bad = np.flatnonzero(reasons != "")
    records = frame.iloc[bad].to_dict("records")
    for i, record in zip(bad.tolist(), records, strict=True):
        report.rejected.append((int(lines[i]), reasons[i], {str(k): v for k, v in record.items()}))
    svc.audit.record(
        who, "import_incidents", "import", Path(path).name, None,
        {
            "rows": report.total, "accepted": report.accepted, "rejected": len(report.rejected),
            "skipped_existing": report.skipped_existing,
        },
    )  # fmt: skip
    return report
