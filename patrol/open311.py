"""Open311 GeoReport v2 in GridPatrol's words: services are enforcement items, requests incidents.

The HTTP layer (``api/``) only parses and serialises; what a request means, who may make it,
where it is routed and how it is numbered is decided here and in the incident service, as
for a report made in the app. Field names follow the specification
(http://wiki.open311.org/GeoReport_v2); times are W3C date-times in the district's time zone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from geo.crs import CRS_NAMES, from_wgs84
from patrol.api_clients import ApiClient, ApiClientService
from patrol.incident import FINAL_STATES, OPEN_STATES, Incident, State
from patrol.incidents import IncidentService, NewIncident
from patrol.labels import Labels
from patrol.permissions import AccessDeniedError
from patrol.refusals import Refusal
from patrol.roles import Principal
from patrol.routing import OutsideDistrictError
from patrol.workdays import LOCAL_TZ
from store.protocol import DuplicateError
from store.rows import IncidentQuery

# who reads without a key: requests as the specification publishes them (no personal data)
ANONYMOUS = Principal("api:anonymous", "planner")
MAX_SPAN = timedelta(days=90)  # the specification's longest start_date..end_date range
MAX_RESULTS = 1000
MAX_IDS = 100
EXTERNAL_ID_ATTRIBUTE = "external_id"


class ApiError(Exception):
    """A request answered with an error in GeoReport's shape: its HTTP status, description and key."""

    def __init__(self, status: int, description: str, key: str | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.key = key


def w3(at: datetime | None) -> str | None:
    """A time as the specification writes it (W3C date-time with its offset), local."""
    return None if at is None else at.astimezone(LOCAL_TZ).isoformat(timespec="seconds")


def parse_w3(name: str, text: str) -> datetime:
    """A W3C date-time parameter; refused without its time zone."""
    try:
        at = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ApiError(400, f"{name} is not a W3C date-time such as 2026-11-01T00:00:00+08:00") from None
    if at.tzinfo is None:
        raise ApiError(400, f"{name} needs a time zone (Z or +08:00)")
    return at


def _float(name: str, text: str | None) -> float:
    if text is None or str(text).strip() == "":
        raise ApiError(400, f"{name} is required: this server locates requests by lat and long")
    try:
        value = float(text)
    except ValueError:
        raise ApiError(400, f"{name} is not a number: {str(text)[:40]!r}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise ApiError(400, f"{name} is not a finite number")
    return value


@dataclass(frozen=True)
class Created:
    """A created (or, for a repeated external id, an already existing) service request."""

    incident: Incident
    token: str
    notice: str
    new: bool


class Open311Service:
    """The GeoReport v2 operations, as a client (or anonymously, for reading)."""

    def __init__(self, incidents: IncidentService, clients: ApiClientService) -> None:
        self.incidents = incidents
        self.clients = clients
        self.labels = Labels.of(incidents, "zh")

    @property
    def jurisdiction_id(self) -> str:
        """The district's division code: the jurisdiction a request belongs to."""
        return self.incidents.district.code

    def check_jurisdiction(self, jurisdiction_id: str | None) -> None:
        """Refuse a jurisdiction that is not this district (none given: this district)."""
        if jurisdiction_id not in (None, "", self.jurisdiction_id):
            raise ApiError(
                404, f"jurisdiction_id {jurisdiction_id} is not served here ({self.jurisdiction_id})"
            )

    # -- services ----------------------------------------------------------------------------
    def services(self) -> list[dict[str, Any]]:
        """Every enforcement item as a service (GET services)."""
        cat = self.incidents.catalog
        return [
            {
                "service_code": item.code,
                "service_name": item.name_zh,
                "description": f"{item.name_zh}（{item.name_en}）",
                "metadata": True,
                "type": "realtime",
                "keywords": cat.themes[item.theme].name_zh if item.theme in cat.themes else "",
                "group": self.labels.department(item.department),
            }
            for item in cat.items.values()
        ]

    def service_definition(self, code: str) -> dict[str, Any]:
        """The attributes a request of a service may carry (GET services/{code})."""
        if code not in self.incidents.catalog.items:
            raise ApiError(404, f"service_code {code} not found")
        return {
            "service_code": code,
            "attributes": [
                {
                    "variable": True,
                    "code": EXTERNAL_ID_ATTRIBUTE,
                    "datatype": "string",
                    "required": False,
                    "datatype_description": "来源系统的工单编号；同一编号重复提交不会重复立案",
                    "order": 1,
                    "description": "工单编号 (the source system's order number)",
                    "values": [],
                }
            ],
        }

    # -- requests ----------------------------------------------------------------------------
    def create(self, client: ApiClient, form: Mapping[str, str]) -> Created:
        """POST requests: a report as the client's principal; once per external id."""
        code = (form.get("service_code") or "").strip()
        if not code:
            raise ApiError(400, "service_code is required")
        if code not in self.incidents.catalog.items:
            raise ApiError(404, f"service_code {code} not found")
        lat, lng = _float("lat", form.get("lat")), _float("long", form.get("long"))
        crs = (form.get("crs") or client.row.crs).strip().lower()
        if crs not in CRS_NAMES:
            raise ApiError(400, f"crs {crs!r} is not one of {', '.join(CRS_NAMES)}")
        external_id = (
            form.get(EXTERNAL_ID_ATTRIBUTE) or form.get(f"attribute[{EXTERNAL_ID_ATTRIBUTE}]") or ""
        ).strip()
        if len(external_id) > 64:
            raise ApiError(400, "external_id is at most 64 characters")
        if external_id:
            existing = self._by_external_id(client, external_id)
            if existing is not None:
                return existing
        name = " ".join(p for p in (form.get("last_name", ""), form.get("first_name", "")) if p).strip()
        cmd = NewIncident(
            item_code=code, lat=lat, lng=lng, source=client.row.source,
            description=(form.get("description") or "").strip(), crs=crs,
            reporter_name=name, reporter_phone=(form.get("phone") or "").strip(),
            external_id=external_id or None,
        )  # fmt: skip
        try:
            result = self.incidents.report(client.principal, cmd)
        except OutsideDistrictError as exc:
            raise ApiError(400, f"lat/long lie outside the district {self.jurisdiction_id}: {exc}") from exc
        except AccessDeniedError as exc:
            raise ApiError(403, str(exc)) from exc
        except DuplicateError:  # the same external id, posted at the same moment by a retry
            existing = self._by_external_id(client, external_id) if external_id else None
            if existing is None:
                raise
            return existing
        except (Refusal, ValueError) as exc:
            raise ApiError(400, str(exc)) from exc
        inc = result.incident
        link = self.clients.link_request(client, inc.id)
        return Created(inc, link.token, self.notice(inc), new=True)

    def _by_external_id(self, client: ApiClient, external_id: str) -> Created | None:
        query = IncidentQuery(external_ids=(external_id,), limit=1)
        # counted before it is listed: a request committed by a concurrent POST in between is
        # then seen by both, never taken for one stored out of this key's sight
        if not self.incidents.known_external_ids([external_id]):
            return None
        seen = self.incidents.list_incidents(client.principal, query)
        if not seen:
            raise ApiError(403, f"external_id {external_id} belongs to a request this key may not see")
        inc = seen[0]
        link = self.clients.link_request(client, inc.id)
        return Created(inc, link.token, self.notice(inc), new=False)

    def notice(self, inc: Incident) -> str:
        """What the reporter is told: the number, who handles it and how soon."""
        who = (
            self.labels.department(inc.department)
            if inc.handler == "department"
            else f"{self.labels.township(inc.township_code)} {self.labels.team(inc.team_id)}"
        )
        return f"已受理，编号 {inc.number}，由{who}处置，{inc.response_minutes} 分钟内响应。"

    def token(self, token: str) -> dict[str, Any]:
        """GET tokens/{token}: the request a token stands for."""
        link = self.clients.request_of_token(token)
        if link is None:
            raise ApiError(404, f"token {token} not found")
        return {"service_request_id": link.incident_id, "token": token}

    def requests(
        self,
        who: Principal | None,
        params: Mapping[str, str],
        *,
        crs: str = "wgs84",
        now: datetime | None = None,
    ) -> list[dict[str, Any]]:
        """GET requests: by ids, or by service, time range (at most 90 days) and status."""
        reader = who or ANONYMOUS
        ids = [i.strip() for i in (params.get("service_request_id") or "").split(",") if i.strip()]
        if ids:
            if len(ids) > MAX_IDS:
                raise ApiError(400, f"at most {MAX_IDS} service_request_id at once")
            query = IncidentQuery(ids=tuple(ids), limit=MAX_IDS)
        else:
            query = self._range_query(params, now or self.incidents.clock())
        return self.represent(self.incidents.list_incidents(reader, query), crs)

    def request(self, who: Principal | None, request_id: str, *, crs: str = "wgs84") -> list[dict[str, Any]]:
        """GET requests/{id}: one request, as a list of one (the specification's shape)."""
        reader = who or ANONYMOUS
        try:
            inc = self.incidents.get(reader, request_id)
        except KeyError:
            raise ApiError(404, f"service_request_id {request_id} not found") from None
        except AccessDeniedError:
            raise ApiError(404, f"service_request_id {request_id} not found") from None
        return self.represent([inc], crs)

    def _range_query(self, params: Mapping[str, str], now: datetime) -> IncidentQuery:
        start = parse_w3("start_date", params["start_date"]) if params.get("start_date") else None
        end = parse_w3("end_date", params["end_date"]) if params.get("end_date") else None
        if start is None and end is None:
            end = now
        if start is None:
            assert end is not None
            start = end - MAX_SPAN
        if end is None:
            end = start + MAX_SPAN
        if end < start:
            raise ApiError(400, "end_date is before start_date")
        if end - start > MAX_SPAN:
            raise ApiError(400, "start_date to end_date may not span more than 90 days")
        codes = [c.strip() for c in (params.get("service_code") or "").split(",") if c.strip()]
        unknown = [c for c in codes if c not in self.incidents.catalog.items]
        if unknown:
            raise ApiError(404, f"service_code {', '.join(unknown)} not found")
        statuses = {s.strip().lower() for s in (params.get("status") or "").split(",") if s.strip()}
        if statuses - {"open", "closed"}:
            raise ApiError(400, "status is open, closed or both (comma separated)")
        states: set[State] = set()
        if "open" in statuses:
            states |= OPEN_STATES
        if "closed" in statuses:
            states |= FINAL_STATES
        return IncidentQuery(
            item_codes=tuple(codes) or None,
            states=tuple(sorted(s.value for s in states)) if states and len(statuses) == 1 else None,
            reported_from=start, reported_to=end + timedelta(microseconds=1), limit=MAX_RESULTS,
        )  # fmt: skip

    def represent(self, incidents: Sequence[Incident], crs: str = "wgs84") -> list[dict[str, Any]]:
        """Incidents as GeoReport requests (coordinates in ``crs``)."""
        if not incidents:
            return []
        places = self.incidents.cell_places([i.cell for i in incidents])
        lat, lng = from_wgs84([i.lat for i in incidents], [i.lng for i in incidents], crs)
        return [
            {
                "service_request_id": inc.id,
                "status": "closed" if inc.state in FINAL_STATES else "open",
                "status_notes": self.status_notes(inc),
                "service_name": self.labels.item(inc.item_code),
                "service_code": inc.item_code,
                "description": inc.description,
                "agency_responsible": self.agency(inc),
                "service_notice": self.notice(inc),
                "requested_datetime": w3(inc.reported_at),
                "updated_datetime": w3(inc.updated_at or inc.reported_at),
                "expected_datetime": w3(inc.due_at),
                "address": place or "",
                "address_id": "",
                "zipcode": "",
                "lat": round(float(la), 7),
                "long": round(float(lo), 7),
                "media_url": "",
            }
            for inc, place, la, lo in zip(incidents, places, lat, lng, strict=True)
        ]

    def agency(self, inc: Incident) -> str:
        """Who is responsible now: the department a case is handed or routed to, else the team."""
        if inc.state == State.TRANSFERRED or inc.handler == "department":
            return self.labels.department(inc.department)
        return f"{self.labels.township(inc.township_code)} {self.labels.team(inc.team_id)}"

    def status_notes(self, inc: Incident) -> str:
        """The stage in words (the specification has only open and closed)."""
        words = self.labels.state(inc.state.value)
        if inc.state == State.TRANSFERRED:
            return f"{words}：{self.labels.department(inc.department)}"
        if inc.state == State.MERGED and inc.duplicate_of:
            return f"{words}：{inc.duplicate_of}"
        if inc.satisfaction:
            return f"{words}；回访：{self.labels.value('satisfaction', inc.satisfaction)}"
        return words
