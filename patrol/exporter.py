"""Export incidents as CSV, GeoJSON, GeoPackage or Open311 GeoReport v2 ``requests.json``."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, TypeAlias

import geopandas as gpd
import pandas as pd

from patrol.catalog import Catalog
from patrol.i18n import DEFAULT_LANG, Lang
from patrol.incident import FINAL_STATES, State
from patrol.incidents import IncidentService, local_minutes
from patrol.labels import Labels
from patrol.permissions import AccessDeniedError, check_export, mask_name, mask_phone, sees_personal_data
from patrol.roles import Principal
from patrol.spreadsheet import write_csv
from store.rows import INCIDENT_COLUMNS, IncidentQuery, IncidentRow

ExportFormat: TypeAlias = Literal["table", "csv", "geojson", "gpkg", "open311"]
#: ``table``: a CSV to read (headers, items, states, places and local times in words, in the
#: chosen language); ``csv``: every stored field as it is (moves into another store).
EXPORT_FORMATS: tuple[ExportFormat, ...] = ("table", "csv", "geojson", "gpkg", "open311")
#: The columns of a ``table`` export: header message key → how the value is read from a row.
TABLE_COLUMNS = (
    "col.number", "col.time", "col.item", "col.source", "col.state", "col.township", "col.team",
    "col.department", "col.due", "col.first_response", "col.closed", "incident.description",
    "field.reporter_name", "field.reporter_phone", "col.lat", "col.lng", "field.external_id",
)  # fmt: skip
STATUS_NOTES = {
    "discovered": "已受理，待研判 / received, awaiting assessment",
    "assessing": "研判中 / being assessed",
    "handling": "处置中 / being handled",
    "consulting": "部门会商中 / in cross-department consultation",
    "deferred": "挂账缓办 / deferred with a new due time",
    "verifying": "处置完成，待核查 / handled, awaiting verification",
    "closed": "已办结 / closed",
    "rejected": "不予受理（非执法事项）/ rejected: not an enforcement matter",
    "merged": "重复件，已合并 / duplicate, merged",
}


def incidents_frame(rows: list[IncidentRow]) -> pd.DataFrame:
    """Incidents as a table (one column per stored field)."""
    return pd.DataFrame(rows, columns=list(INCIDENT_COLUMNS))


def open311_requests(rows: list[IncidentRow], catalog: Catalog) -> list[dict[str, Any]]:
    """GeoReport v2 service requests: our states become open/closed with status notes."""
    out = []
    for r in rows:
        item = catalog.items.get(r.item_code)
        out.append(
            {
                "service_request_id": r.number,
                "status": "closed" if State(r.state) in FINAL_STATES else "open",
                "status_notes": STATUS_NOTES[r.state],
                "service_name": item.name_zh if item else r.item_code,
                "service_code": r.item_code,
                "description": r.description,
                "agency_responsible": catalog.departments[r.department].name_zh
                if r.department in catalog.departments
                else r.department,
                "service_notice": r.routing_reason,
                "requested_datetime": r.reported_at.isoformat(),
                "updated_datetime": r.updated_at.isoformat(),
                "expected_datetime": r.due_at.isoformat(),
                "address": "",
                "address_id": r.village_code,
                "zipcode": "",
                "lat": r.lat,
                "long": r.lng,
                "media_url": "",
            }
        )
    return out


def export_incidents(
    svc: IncidentService,
    who: Principal,
    path: str | Path,
    fmt: ExportFormat,
    query: IncidentQuery | None = None,
    *,
    personal_data: bool = False,
    lang: Lang = DEFAULT_LANG,
) -> int:
    """Write the incidents ``who`` may read to ``path`` in ``fmt``; return how many were written.

    A ``table`` export is written in ``lang`` (headers, names, local times).

    Reporters' names and phone numbers are masked unless ``personal_data`` is set, which
    only the roles that call reporters back and the server's operator (admin) may ask for.
    The export is recorded in the audit log.

    Raises
    ------
    AccessDeniedError
        If ``who`` may not export, or may not have the personal data asked for.
    """
    check_export(who)
    if personal_data and not (sees_personal_data(who) or who.role == "admin"):
        msg = f"a {who.role} may not export reporters' names and phone numbers"
        raise AccessDeniedError(msg)
    if fmt not in EXPORT_FORMATS:
        msg = f"unknown export format {fmt!r}; expected one of {', '.join(EXPORT_FORMATS)}"
        raise ValueError(msg)
    names = Labels.of(svc, lang)
    rows = svc.incidents.rows(svc.scoped(who, query or IncidentQuery()))
    n = _write(rows, names, Path(path), fmt, personal_data)
    svc.audit.record(
        who, "export_incidents", "export", Path(path).name, None,
        {"format": fmt, "incidents": n, "personal_data": personal_data},
    )  # fmt: skip
    return n


def readable_table(rows: list[IncidentRow], names: Labels) -> pd.DataFrame:
    """Incidents as a person reads them: :data:`TABLE_COLUMNS` in ``names``' language."""

    def when(v: datetime | None) -> str:
        return "" if v is None else local_minutes(v)

    values = {
        "col.number": [r.number for r in rows],
        "col.time": [when(r.reported_at) for r in rows],
        "col.item": [names.item(r.item_code) for r in rows],
        "col.source": [names.source(r.source) for r in rows],
        "col.state": [names.state(r.state) for r in rows],
        "col.township": [names.township(r.township_code) for r in rows],
        "col.team": [names.team(r.team_id) if r.team_id is not None else "" for r in rows],
        "col.department": [names.department(r.department) if r.department else "" for r in rows],
        "col.due": [when(r.due_at) for r in rows],
        "col.first_response": [when(r.first_response_at) for r in rows],
        "col.closed": [when(r.closed_at) for r in rows],
        "incident.description": [r.description for r in rows],
        "field.reporter_name": [r.reporter_name or "" for r in rows],
        "field.reporter_phone": [r.reporter_phone or "" for r in rows],
        "col.lat": [round(r.lat, 6) for r in rows],
        "col.lng": [round(r.lng, 6) for r in rows],
        "field.external_id": [r.external_id or "" for r in rows],
    }
    return pd.DataFrame({names.tr(key): values[key] for key in TABLE_COLUMNS})


def _write(
    found: Iterable[IncidentRow], names: Labels, path: Path, fmt: ExportFormat, personal_data: bool
) -> int:
    catalog = names.catalog
    rows = list(found)
    if not personal_data:
        rows = [
            r._replace(reporter_name=mask_name(r.reporter_name), reporter_phone=mask_phone(r.reporter_phone))
            for r in rows
        ]
    if fmt == "open311":
        path.write_text(
            json.dumps(open311_requests(rows, catalog), ensure_ascii=False, indent=1), encoding="utf-8"
        )
        return len(rows)
    if fmt == "table":
        write_csv(readable_table(rows, names), path)
        return len(rows)
    frame = incidents_frame(rows)
    if fmt == "csv":
        write_csv(frame, path)
        return len(rows)
    for c in ("reported_at", "due_at", "first_response_at", "closed_at", "updated_at"):
        frame[c] = frame[c].map(lambda v: v.isoformat() if v is not None and v == v else None)
    gdf = gpd.GeoDataFrame(frame, geometry=gpd.points_from_xy(frame["lng"], frame["lat"]), crs="EPSG:4326")
    gdf["cell"] = gdf["cell"].astype("int64")
    if fmt == "geojson":
        gdf.to_file(path, driver="GeoJSON")
    elif fmt == "gpkg":
        gdf.to_file(path, driver="GPKG", layer="incidents")
    else:
        msg = f"unknown export format {fmt!r}; expected one of {', '.join(EXPORT_FORMATS)}"
        raise ValueError(msg)
    return len(rows)
