"""The ASGI application: ``/open311/v2`` (GeoReport v2, JSON and XML) and ``/api/v1`` (workflow).

Run by ``gridpatrol api``. Keys come as ``api_key`` (form field or query parameter, as
GeoReport says) or an ``X-API-Key`` header; each key is rate-limited; reading GeoReport
requests without a key is allowed unless the server is started with ``anonymous_read=False``.
"""

from __future__ import annotations

import logging
import threading
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qsl, quote

from fastapi import FastAPI, Form, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from limits import RateLimitItemPerMinute
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from patrol.api_clients import ApiClient, ApiClientService
from patrol.evidence import MAX_BYTES, EvidenceService
from patrol.incident import Action, ConflictError, Incident, WorkflowError
from patrol.incidents import IncidentService
from patrol.labels import Labels
from patrol.open311 import ApiError, Open311Service, parse_w3, w3
from patrol.outbox import OutboxService
from patrol.permissions import AccessDeniedError
from patrol.refusals import Refusal
from patrol.rulebook import rulebook
from patrol.users import AuthError
from store.protocol import Store
from store.rows import EvidenceRow

log = logging.getLogger(__name__)
VENDOR = Path(__file__).resolve().parents[1] / "static" / "vendor"
ANONYMOUS_RATE_PER_MINUTE = 600
FORMATS = ("json", "xml")
TOO_LARGE = frozenset({"refuse.evidence_size"})  # refusals answered 413 (Payload Too Large), not 422


@dataclass
class Services:
    """What the API calls: the same services the app calls."""

    incidents: IncidentService
    clients: ApiClientService
    open311: Open311Service
    outbox: OutboxService
    evidence: EvidenceService

    @classmethod
    def of(cls, store: Store) -> Services:
        """The services over one store."""
        incidents = IncidentService(store)
        clients = ApiClientService(store, clock=incidents.clock)
        return cls(
            incidents,
            clients,
            Open311Service(incidents, clients),
            OutboxService(store, Labels.of(incidents, "zh"), clock=incidents.clock),
            EvidenceService(store, incidents),
        )


class ActionBody(BaseModel):
    """One workflow action on an incident."""

    action: str = Field(description="the action, as the rulebook names it (dispatch, submit, callback…)")
    expected_version: int = Field(description="the version read; a later change answers 409")
    note: str = Field("", description="a note for the record")
    fields: dict[str, Any] = Field(
        default_factory=dict, description="what the action needs (see the rulebook)"
    )


class AckBody(BaseModel):
    """Changes a client has received."""

    ids: list[int] = Field(description="their outbox_id values")


# -- serialising ---------------------------------------------------------------------------
def _xml_value(parent: ET.Element, tag: str, value: Any) -> None:
    child = ET.SubElement(parent, tag)
    if isinstance(value, bool):
        child.text = "true" if value else "false"
    elif isinstance(value, list):
        singular = {"attributes": "attribute", "values": "value"}.get(tag, "item")
        for v in value:
            _xml_node(child, singular, v)
    elif isinstance(value, dict):
        for k, v in value.items():
            _xml_value(child, k, v)
    elif value is not None:
        child.text = str(value)


def _xml_node(parent: ET.Element, tag: str, mapping: Mapping[str, Any]) -> None:
    node = ET.SubElement(parent, tag)
    for k, v in mapping.items():
        _xml_value(node, k, v)


def render(fmt: str, data: Any, root: str, item: str | None = None, status: int = 200) -> Response:
    """JSON as it is, or XML: ``root`` holding one ``item`` per element (or ``root`` as the object)."""
    if fmt == "xml":
        top = ET.Element(root)
        if item is None:
            for k, v in data.items():
                _xml_value(top, k, v)
        else:
            for entry in data:
                _xml_node(top, item, entry)
        body = b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(
            top, encoding="utf-8", xml_declaration=False
        )
        return Response(body, status_code=status, media_type="text/xml; charset=utf-8")
    return JSONResponse(data, status_code=status)


def _errors(fmt: str, status: int, description: str, key: str | None = None) -> Response:
    entry: dict[str, Any] = {"code": status, "description": description}
    if key:
        entry["key"] = key
    return render(fmt, [entry], "errors", "error", status)


def _fmt(fmt: str) -> str:
    if fmt not in FORMATS:
        raise ApiError(400, f"format must be json or xml, got {fmt!r}")
    return fmt


def _text(description: str) -> dict[str, str]:
    return {"type": "string", "description": description}


# GeoReport's POST is form-encoded and read by form_of(); its fields, for the documentation
POST_REQUEST_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "required": ["api_key", "service_code", "lat", "long"],
                    "properties": {
                        "api_key": _text("the client's key (gridpatrol create-api-key)"),
                        "service_code": _text(
                            "an enforcement item code from services.json, e.g. STREET_VENDING"
                        ),
                        "lat": {"type": "number", "description": "latitude, in the key's coordinate system"},
                        "long": {
                            "type": "number",
                            "description": "longitude, in the key's coordinate system",
                        },
                        "crs": _text("wgs84, cgcs2000, gcj02 or bd09: overrides the key's setting"),
                        "description": _text("what was reported (诉求内容)"),
                        "external_id": _text("the source system's order number (工单编号): posted once"),
                        "first_name": _text("reporter's given name"),
                        "last_name": _text("reporter's family name"),
                        "phone": _text("reporter's phone, for the callback (回访)"),
                        "jurisdiction_id": _text("the district's division code (optional)"),
                    },
                }
            }
        },
    }
}


async def form_of(request: Request) -> dict[str, str]:
    """A POST's fields, text read as UTF-8 as GeoReport says (raw bytes in a form body too)."""
    if request.headers.get("content-type", "").startswith("multipart/"):
        return {k: str(v) for k, v in (await request.form()).items()}
    try:
        text = (await request.body()).decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, "the request body is not UTF-8 text") from None
    return dict(parse_qsl(text, keep_blank_values=True))


# -- the application -------------------------------------------------------------------------
def create_app(
    store: Store,
    *,
    anonymous_read: bool = True,
    deliver_every: float | None = 5.0,
    anonymous_rate_per_minute: int = ANONYMOUS_RATE_PER_MINUTE,
) -> FastAPI:
    """The API over ``store``; ``deliver_every`` seconds between webhook rounds (None: none)."""
    svc = Services.of(store)
    limiter = MovingWindowRateLimiter(MemoryStorage())
    anonymous_limit = RateLimitItemPerMinute(anonymous_rate_per_minute)
    stop = threading.Event()

    def deliver_loop() -> None:
        assert deliver_every is not None
        while not stop.wait(deliver_every):
            try:
                svc.outbox.deliver_all(svc.clients)
            except Exception:  # a store hiccup must not end delivery; the rows wait
                log.exception("webhook delivery round failed")

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        worker = None
        if deliver_every:
            worker = threading.Thread(target=deliver_loop, name="gridpatrol-webhooks", daemon=True)
            worker.start()
        yield
        stop.set()
        if worker is not None:
            worker.join(timeout=5)

    app = FastAPI(
        title="GridPatrol 网格巡查 API",
        summary="Open311 GeoReport v2 for 12345 hotline systems; the workflow for apps and departments",
        version="1",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.services = svc
    if (VENDOR / "swagger-ui").is_dir():
        app.mount("/static", StaticFiles(directory=VENDOR), name="static")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="GridPatrol API",
            swagger_js_url="/static/swagger-ui/swagger-ui-bundle.js",
            swagger_css_url="/static/swagger-ui/swagger-ui.css",
            swagger_favicon_url="data:,",
        )

    def key_of(request: Request, form: Mapping[str, str] | None = None) -> str:
        return (
            (form or {}).get("api_key")
            or request.query_params.get("api_key")
            or request.headers.get("x-api-key")
            or ""
        ).strip()

    def client_of(key: str) -> ApiClient:
        try:
            client = svc.clients.authenticate(key)
        except AuthError as exc:
            raise ApiError(403, str(exc)) from exc
        limit = RateLimitItemPerMinute(client.row.rate_per_minute)
        if not limiter.hit(limit, "key", client.name):
            raise ApiError(
                429, f"rate limit of {client.row.rate_per_minute} requests a minute reached; slow down"
            )
        return client

    def reader_of(request: Request) -> ApiClient | None:
        key = key_of(request)
        if key:
            return client_of(key)
        if not anonymous_read:
            raise ApiError(403, "api_key is required to read requests on this server")
        host = request.client.host if request.client else "unknown"
        if not limiter.hit(anonymous_limit, "anonymous", host):
            raise ApiError(
                429, f"rate limit of {anonymous_rate_per_minute} requests a minute reached; slow down"
            )
        return None

    def fmt_of(request: Request) -> str:
        fmt = str(request.path_params.get("fmt", "json"))
        return fmt if fmt in FORMATS else "json"

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> Response:
        return _errors(fmt_of(request), exc.status, exc.description, exc.key)

    # the services' refusals, answered the same way by every endpoint (the most specific class wins)
    @app.exception_handler(ConflictError)
    async def conflict(request: Request, exc: ConflictError) -> Response:
        return _errors(fmt_of(request), 409, str(exc))

    @app.exception_handler(AccessDeniedError)
    async def denied(request: Request, exc: AccessDeniedError) -> Response:
        return _errors(fmt_of(request), 403, str(exc))

    @app.exception_handler(Refusal)
    async def refused(request: Request, exc: Refusal) -> Response:
        status = 413 if exc.key in TOO_LARGE else 422
        return _errors(fmt_of(request), status, str(exc), exc.key)

    @app.exception_handler(WorkflowError)
    async def not_allowed(request: Request, exc: WorkflowError) -> Response:
        return _errors(fmt_of(request), 422, str(exc))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        return _errors(fmt_of(request), 400, f"{where}: {first.get('msg', 'invalid input')}")

    # -- GeoReport v2 --------------------------------------------------------------------------
    @app.get("/open311/v2/discovery.{fmt}", tags=["Open311"])
    def discovery(request: Request, fmt: str) -> Response:
        """Where the GeoReport v2 endpoint is and what it speaks (service discovery)."""
        base = str(request.base_url).rstrip("/") + "/open311/v2/"
        data = {
            "contact": "区社会治理中心（综合行政执法指挥中心）",
            "key_service": "gridpatrol create-api-key",
            "endpoints": [
                {
                    "specification": "http://wiki.open311.org/GeoReport_v2",
                    "url": base,
                    "type": "production",
                    "formats": ["application/json", "text/xml"],
                }
            ],
        }
        return render(_fmt(fmt), data, "discovery")

    @app.get("/open311/v2/services.{fmt}", tags=["Open311"])
    def services(request: Request, fmt: str, jurisdiction_id: str | None = None) -> Response:
        """The service list: every enforcement item (执法事项) a request may be about."""
        _fmt(fmt)
        svc.open311.check_jurisdiction(jurisdiction_id)
        reader_of(request)
        return render(fmt, svc.open311.services(), "services", "service")

    @app.get("/open311/v2/services/{code}.{fmt}", tags=["Open311"])
    def service_definition(
        request: Request, code: str, fmt: str, jurisdiction_id: str | None = None
    ) -> Response:
        """A service's definition: the attributes a request may carry."""
        _fmt(fmt)
        svc.open311.check_jurisdiction(jurisdiction_id)
        reader_of(request)
        return render(fmt, svc.open311.service_definition(code), "service_definition")

    @app.post("/open311/v2/requests.{fmt}", tags=["Open311"], openapi_extra=POST_REQUEST_BODY)
    async def create_request(request: Request, fmt: str) -> Response:
        """Create a service request (form-encoded, with ``api_key``); once per ``external_id``."""
        _fmt(fmt)
        form = await form_of(request)
        svc.open311.check_jurisdiction(form.get("jurisdiction_id"))
        key = key_of(request, form)
        if not key:
            raise ApiError(403, "api_key is required to create a request")
        client = await run_in_threadpool(client_of, key)
        created = await run_in_threadpool(svc.open311.create, client, form)
        data = [
            {
                "service_request_id": created.incident.id,
                "token": created.token,
                "service_notice": created.notice,
                "account_id": None,
            }
        ]
        return render(fmt, data, "service_requests", "request", 201 if created.new else 200)

    @app.get("/open311/v2/requests.{fmt}", tags=["Open311"])
    def list_requests(request: Request, fmt: str) -> Response:
        """Requests by id, or by service, time range (≤ 90 days, default the last 90) and status."""
        _fmt(fmt)
        params = dict(request.query_params)
        svc.open311.check_jurisdiction(params.get("jurisdiction_id"))
        client = reader_of(request)
        crs = client.row.crs if client else "wgs84"
        found = svc.open311.requests(client.principal if client else None, params, crs=crs)
        return render(fmt, found, "service_requests", "request")

    @app.get("/open311/v2/requests/{request_id}.{fmt}", tags=["Open311"])
    def get_request(
        request: Request, request_id: str, fmt: str, jurisdiction_id: str | None = None
    ) -> Response:
        """One request, as a list of one."""
        _fmt(fmt)
        svc.open311.check_jurisdiction(jurisdiction_id)
        client = reader_of(request)
        crs = client.row.crs if client else "wgs84"
        found = svc.open311.request(client.principal if client else None, request_id, crs=crs)
        return render(fmt, found, "service_requests", "request")

    @app.get("/open311/v2/tokens/{token}.{fmt}", tags=["Open311"])
    def get_token(request: Request, token: str, fmt: str, jurisdiction_id: str | None = None) -> Response:
        """The request a token stands for."""
        _fmt(fmt)
        svc.open311.check_jurisdiction(jurisdiction_id)
        reader_of(request)
        return render(fmt, [svc.open311.token(token)], "service_requests", "request")

    # -- the workflow -------------------------------------------------------------------------
    def need_client(request: Request) -> ApiClient:
        key = key_of(request)
        if not key:
            raise ApiError(403, "an X-API-Key header (or api_key parameter) is required")
        return client_of(key)

    def incident_view(client: ApiClient, inc: Incident) -> dict[str, Any]:
        labels = svc.open311.labels
        return {
            "id": inc.id,
            "number": inc.number,
            "version": inc.version,
            "state": inc.state.value,
            "state_name": labels.state(inc.state.value),
            "item_code": inc.item_code,
            "item_name": labels.item(inc.item_code),
            "source": inc.source.value,
            "external_id": inc.external_id,
            "township_code": inc.township_code,
            "township_name": labels.township(inc.township_code),
            "team_id": inc.team_id,
            "team_name": labels.team(inc.team_id),
            "department": inc.department,
            "department_name": labels.department(inc.department),
            "lat": inc.lat,
            "long": inc.lng,
            "description": inc.description,
            "reported_at": w3(inc.reported_at),
            "due_at": w3(inc.due_at),
            "closed_at": w3(inc.closed_at),
            "supervision_level": inc.supervision_level,
            "satisfaction": inc.satisfaction,
            "request": inc.request,
            "actions": [a.value for a in svc.incidents.actions_for(client.principal, inc)],
        }

    def load(client: ApiClient, incident_id: str) -> Incident:
        try:
            return svc.incidents.get(client.principal, incident_id)
        except (KeyError, AccessDeniedError):  # another scope's case is not there, as for a person
            raise ApiError(404, f"no incident {incident_id} in this key's scope") from None

    @app.get("/api/v1/incidents/{incident_id}", tags=["Workflow"])
    def get_incident(request: Request, incident_id: str) -> JSONResponse:
        """An incident with its version and the actions this key may take on it now."""
        client = need_client(request)
        return JSONResponse(incident_view(client, load(client, incident_id)))

    @app.get("/api/v1/incidents/{incident_id}/events", tags=["Workflow"])
    def get_events(request: Request, incident_id: str) -> JSONResponse:
        """The incident's event log (who did what, when, from which state to which)."""
        client = need_client(request)
        load(client, incident_id)
        events = svc.incidents.timeline(client.principal, incident_id)
        return JSONResponse(
            [
                {
                    "seq": e.seq, "action": e.action.value,
                    "from_state": e.from_state.value if e.from_state else None, "to_state": e.to_state.value,
                    "actor": e.actor, "role": e.role, "at": w3(e.at), "note": e.note, "payload": e.payload,
                }
                for e in events
            ]
        )  # fmt: skip

    @app.post("/api/v1/incidents/{incident_id}/actions", tags=["Workflow"])
    def take_action(request: Request, incident_id: str, body: ActionBody) -> JSONResponse:
        """Take one workflow action as this key, refused on a stale version (409)."""
        client = need_client(request)
        load(client, incident_id)
        values = {
            k: parse_w3(k, v) if k.endswith("_at") and isinstance(v, str) else v
            for k, v in body.fields.items()
        }
        try:
            action = Action(body.action)
        except ValueError:
            raise ApiError(422, f"no action {body.action!r}: see /api/v1/rulebook") from None
        try:
            inc = svc.incidents.act(
                client.principal, incident_id, action, expected_version=body.expected_version,
                note=body.note, **values,
            )  # fmt: skip
        except (Refusal, WorkflowError):
            raise  # answered by their handlers
        except ValueError as exc:  # a field of the wrong kind (a team id that is no number, …)
            raise ApiError(422, str(exc)) from exc
        return JSONResponse(incident_view(client, inc))

    def evidence_view(row: EvidenceRow) -> dict[str, Any]:
        return {
            "id": row.id, "incident_id": row.incident_id, "stage": row.stage, "filename": row.filename,
            "content_type": row.content_type, "size": row.size, "sha256": row.sha256,
            "uploaded_by": row.uploaded_by, "role": row.role, "at": w3(row.at), "note": row.note,
            "url": f"/api/v1/evidence/{row.id}",
        }  # fmt: skip

    @app.post("/api/v1/incidents/{incident_id}/evidence", tags=["Evidence"], status_code=201)
    async def add_evidence(
        request: Request,
        incident_id: str,
        file: UploadFile,
        stage: Annotated[
            str, Form(description="report, handling, verification, callback or other")
        ] = "other",
        note: Annotated[str, Form(description="what it shows")] = "",
    ) -> JSONResponse:
        """Attach a photo (JPEG, PNG, WebP) or a PDF, at most 10 MB, to an incident (multipart)."""
        client = await run_in_threadpool(need_client, request)
        data = await file.read(MAX_BYTES + 1)
        try:
            row = await run_in_threadpool(
                svc.evidence.add,
                client.principal,
                incident_id,
                file.filename or "",
                data,
                stage=stage,
                note=note,
            )
        except KeyError:
            raise ApiError(404, f"no incident {incident_id} in this key's scope") from None
        return JSONResponse(evidence_view(row), status_code=201)

    @app.get("/api/v1/incidents/{incident_id}/evidence", tags=["Evidence"])
    def list_evidence(request: Request, incident_id: str) -> JSONResponse:
        """The evidence of an incident, oldest first."""
        client = need_client(request)
        load(client, incident_id)
        return JSONResponse([evidence_view(r) for r in svc.evidence.of(client.principal, incident_id)])

    @app.get("/api/v1/evidence/{evidence_id}", tags=["Evidence"])
    def get_evidence(request: Request, evidence_id: str) -> Response:
        """One evidence file, as it was given."""
        client = need_client(request)
        try:
            row, data = svc.evidence.read(client.principal, evidence_id)
        except (KeyError, AccessDeniedError):
            raise ApiError(404, f"no evidence {evidence_id} in this key's scope") from None
        disposition = f"attachment; filename*=UTF-8''{quote(row.filename)}"
        headers = {"Content-Disposition": disposition, "X-Content-Type-Options": "nosniff"}
        return Response(data, media_type=row.content_type, headers=headers)

    @app.get("/api/v1/rulebook", tags=["Workflow"])
    def get_rulebook() -> JSONResponse:
        """States, transitions and who may take them, rules of duty, limits: what the services apply."""
        return JSONResponse(rulebook(svc.incidents.catalog))

    @app.get("/api/v1/changes", tags=["Status back"])
    def changes(request: Request, after: int = 0, limit: int = 100) -> JSONResponse:
        """The key's status changes not yet acknowledged, oldest first (for systems without a webhook)."""
        client = need_client(request)
        return JSONResponse(svc.outbox.poll(client, after, limit))

    @app.post("/api/v1/changes/ack", tags=["Status back"])
    def acknowledge(request: Request, body: AckBody) -> JSONResponse:
        """Acknowledge changes received (by ``outbox_id``); they are not offered again."""
        client = need_client(request)
        return JSONResponse({"acknowledged": svc.outbox.acknowledge(client, body.ids)})

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> JSONResponse:
        return JSONResponse(
            {"ok": True, "district": svc.incidents.district.code, "at": w3(datetime.now().astimezone())}
        )

    return app
