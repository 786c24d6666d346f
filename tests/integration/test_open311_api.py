"""The HTTP API against a live server on both backends: GeoReport v2 fields, formats and errors, an
existing Open311 client from PyPI, keys and limits, the workflow, and status changes sent back."""

from __future__ import annotations

import json
import socket
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
import uvicorn
from georeport import GeoReport

from api.app import create_app
from geo.crs import wgs84_to_gcj02
from patrol.api_clients import ApiClientService
from patrol.incidents import IncidentService
from patrol.roles import Principal
from store.protocol import Store
from store.rows import IncidentQuery
from tests.conftest import picture

P = (30.7552, 120.7601)  # in a street of the demo district
OTHER_TOWNSHIP_P = (30.6602, 120.8011)
ADMIN = Principal("admin", "admin")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(store: Store, **options: Any) -> Iterator[str]:
    """The API app under uvicorn on a free localhost port, in a thread."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(store, **options), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the API server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def api(district_store: Store) -> Iterator[tuple[str, Store]]:
    with serving(district_store, deliver_every=None) as base:
        yield base, district_store


def key(store: Store, name: str = "hotline", role: str = "command_center", **options: Any) -> str:
    return ApiClientService(store).create(ADMIN, name, role, **options)[1]


def post(base: str, api_key: str, fmt: str = "json", **form: Any) -> httpx.Response:
    data = {"api_key": api_key, "service_code": "STREET_VENDING", "lat": P[0], "long": P[1], **form}
    return httpx.post(f"{base}/open311/v2/requests.{fmt}", data=data, timeout=20)


def errors_of(response: httpx.Response) -> list[dict[str, Any]]:
    if response.headers["content-type"].startswith("text/xml"):
        root = ET.fromstring(response.content)
        assert root.tag == "errors"
        return [
            {"code": int(e.findtext("code") or 0), "description": e.findtext("description")} for e in root
        ]
    return list(response.json())


def test_a_post_creates_a_routed_incident_with_its_creation_event_a_token_and_a_notice(api):
    base, store = api
    k = key(store)
    r = post(base, k, description="路口占道卖水果", first_name="三", last_name="张", phone="13812345678")
    assert r.status_code == 201, r.text
    [created] = r.json()
    assert set(created) == {"service_request_id", "token", "service_notice", "account_id"}
    inc = store.get_incident(created["service_request_id"])
    assert inc is not None and inc.source == "hotline_12345" and inc.item_code == "STREET_VENDING"
    assert (inc.reporter_name, inc.reporter_phone) == ("张 三", "13812345678")
    [event] = store.events(inc.id)
    assert (event.action, event.actor, event.role) == ("create", "api:hotline", "command_center")
    assert inc.number in created["service_notice"] and "分钟内响应" in created["service_notice"]
    token = httpx.get(f"{base}/open311/v2/tokens/{created['token']}.json").json()
    assert token == [{"service_request_id": inc.id, "token": created["token"]}]


def test_chinese_text_sent_as_raw_utf8_in_a_form_body_is_read_as_utf8(api):
    base, store = api
    body = (
        f"api_key={key(store)}&service_code=STREET_VENDING&lat={P[0]}&long={P[1]}&description=路口占道卖水果"
    )
    r = httpx.post(
        f"{base}/open311/v2/requests.json",
        content=body.encode("utf-8"),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 201, r.text
    assert store.get_incident(r.json()[0]["service_request_id"]).description == "路口占道卖水果"
    latin = httpx.post(
        f"{base}/open311/v2/requests.json",
        content=b"service_code=STREET_VENDING&description=\xff\xfe",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert latin.status_code == 400 and "UTF-8" in errors_of(latin)[0]["description"]


def test_a_post_repeated_with_the_same_external_id_creates_nothing_new(api):
    base, store = api
    k = key(store)
    first = post(base, k, external_id="RX20261201-0042")
    again = post(base, k, **{"attribute[external_id]": "RX20261201-0042"})
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()[0]["service_request_id"] == again.json()[0]["service_request_id"]
    assert store.count_incidents(IncidentQuery(external_ids=("RX20261201-0042",))) == 1
    assert store.count_incidents(IncidentQuery()) == 1


def test_an_open311_client_from_pypi_reads_services_definitions_and_requests_in_json_and_xml(api):
    base, store = api
    created = post(base, key(store), description="占道").json()[0]["service_request_id"]
    for fmt in ("json", "xml"):
        client = GeoReport(f"{base}/open311/v2", output_format=fmt)
        services = client.get_service_list()
        codes = {s["service_code"] for s in services}
        assert {"STREET_VENDING", "ILLEGAL_BUILD"} <= codes
        vending = next(s for s in services if s["service_code"] == "STREET_VENDING")
        assert vending["service_name"] == "占道经营" and vending["group"]
        definition = client.get_service_definition("STREET_VENDING")
        assert definition["service_code"] == "STREET_VENDING"
        one = client.get_service_request(created)
        assert one["service_request_id"] == created and one["status"] == "open"
        assert one["service_code"] == "STREET_VENDING" and one["address"]
        assert float(one["lat"]) == pytest.approx(P[0], abs=1e-6)
        listed = client.get_service_requests(service_request_id=created)
        listed = [listed] if isinstance(listed, dict) else listed  # xmltodict: one element is not a list
        assert [r["service_request_id"] for r in listed] == [created]
        recent = client.get_service_requests(service_code="STREET_VENDING", status="open")
        recent = [recent] if isinstance(recent, dict) else recent
        assert created in {r["service_request_id"] for r in recent}
        if fmt == "json":  # (the library cannot read an empty XML list: xmltodict gives None for it)
            assert client.get_service_requests(status="closed") == []
    empty = ET.fromstring(httpx.get(f"{base}/open311/v2/requests.xml?status=closed").content)
    assert (empty.tag, list(empty)) == ("service_requests", [])


def test_every_request_field_of_the_specification_is_there_with_w3c_times(api):
    base, store = api
    created = post(base, key(store)).json()[0]["service_request_id"]
    [req] = httpx.get(f"{base}/open311/v2/requests/{created}.json").json()
    spec_fields = {
        "service_request_id", "status", "status_notes", "service_name", "service_code", "description",
        "agency_responsible", "service_notice", "requested_datetime", "updated_datetime",
        "expected_datetime", "address", "address_id", "zipcode", "lat", "long", "media_url",
    }  # fmt: skip
    assert spec_fields <= set(req)
    for name in ("requested_datetime", "updated_datetime", "expected_datetime"):
        assert datetime.fromisoformat(req[name]).utcoffset() == timedelta(hours=8)
    assert req["status_notes"] == "待研判" or req["status_notes"]  # the stage in Chinese words
    assert "reporter" not in json.dumps(req) and "138" not in json.dumps(req)


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_bad_input_is_answered_in_the_specifications_error_format_with_the_right_status(api, fmt):
    base, store = api
    k = key(store)
    cases = [
        (post(base, "", fmt), 403, "api_key"),
        (post(base, "gpk_not-a-key", fmt), 403, "invalid"),
        (post(base, k, fmt, service_code=""), 400, "service_code"),
        (post(base, k, fmt, service_code="NO_SUCH"), 404, "NO_SUCH"),
        (post(base, k, fmt, lat="north"), 400, "lat"),
        (post(base, k, fmt, long=""), 400, "long"),
        (post(base, k, fmt, lat="nan"), 400, "finite"),
        (post(base, k, fmt, lat=39.9, long=116.4), 400, "outside"),
        (post(base, k, fmt, crs="mercator"), 400, "crs"),
        (post(base, k, fmt, description="x" * 5000), 400, "description"),
        (post(base, k, fmt, jurisdiction_id="110101"), 404, "jurisdiction"),
        (httpx.get(f"{base}/open311/v2/requests.{fmt}?start_date=yesterday"), 400, "start_date"),
        (httpx.get(f"{base}/open311/v2/requests.{fmt}?start_date=2026-01-01T00:00:00"), 400, "time zone"),
        (
            httpx.get(
                f"{base}/open311/v2/requests.{fmt}?start_date=2026-01-01T00:00:00Z&end_date=2026-06-01T00:00:00Z"
            ),
            400,
            "90 days",
        ),
        (httpx.get(f"{base}/open311/v2/requests.{fmt}?status=pending"), 400, "status"),
        (httpx.get(f"{base}/open311/v2/requests.{fmt}?service_code=NO_SUCH"), 404, "NO_SUCH"),
        (httpx.get(f"{base}/open311/v2/requests/NH-19990101-0001.{fmt}"), 404, "not found"),
        (httpx.get(f"{base}/open311/v2/services/NO_SUCH.{fmt}"), 404, "NO_SUCH"),
        (httpx.get(f"{base}/open311/v2/tokens/nope.{fmt}"), 404, "token"),
    ]
    for response, status, words in cases:
        assert response.status_code == status, (words, response.text)
        [error] = errors_of(response)
        assert error["code"] == status and words.lower() in error["description"].lower(), error
    assert store.count_incidents(IncidentQuery()) == 0  # nothing refused was stored
    wrong_format = httpx.get(f"{base}/open311/v2/services.yaml")
    assert wrong_format.status_code == 400 and errors_of(wrong_format)[0]["code"] == 400


def test_a_hotline_in_gcj02_is_read_and_answered_in_gcj02(api):
    base, store = api
    k = key(store, crs="gcj02")
    glat, glng = (float(v) for v in wgs84_to_gcj02(P[0], P[1]))
    created = post(base, k, lat=glat, long=glng).json()[0]["service_request_id"]
    stored = store.get_incident(created)
    assert stored is not None
    assert (stored.lat, stored.lng) == (pytest.approx(P[0], abs=1e-6), pytest.approx(P[1], abs=1e-6))
    [back] = httpx.get(f"{base}/open311/v2/requests/{created}.json", params={"api_key": k}).json()
    assert (back["lat"], back["long"]) == (pytest.approx(glat, abs=1e-6), pytest.approx(glng, abs=1e-6))
    [anonymous] = httpx.get(f"{base}/open311/v2/requests/{created}.json").json()
    assert anonymous["lat"] == pytest.approx(P[0], abs=1e-6)


def test_a_revoked_key_is_refused_at_once_and_the_revocation_is_audited(api):
    base, store = api
    k = key(store)
    assert post(base, k).status_code == 201
    ApiClientService(store).revoke(ADMIN, "hotline")
    refused = post(base, k)
    assert refused.status_code == 403 and "revoked" in errors_of(refused)[0]["description"]
    assert [a.action for a in store.audit_log(entity="api_client")] == [
        "revoke_api_client",
        "create_api_client",
    ]  # newest first
    assert all("key_hash" not in a.after for a in store.audit_log())


def test_a_key_over_its_rate_limit_is_answered_429(api):
    base, store = api
    k = key(store, rate_per_minute=3)
    statuses = [
        httpx.get(f"{base}/open311/v2/services.json", params={"api_key": k}).status_code for _ in range(5)
    ]
    assert statuses == [200, 200, 200, 429, 429]
    r = httpx.get(f"{base}/open311/v2/services.json", params={"api_key": k})
    assert "rate limit" in errors_of(r)[0]["description"]


def test_a_server_started_keys_only_refuses_anonymous_reading(district_store):
    with serving(district_store, deliver_every=None, anonymous_read=False) as base:
        r = httpx.get(f"{base}/open311/v2/requests.json")
        assert r.status_code == 403
        k = key(district_store)
        assert httpx.get(f"{base}/open311/v2/requests.json", params={"api_key": k}).status_code == 200


def test_workflow_actions_follow_the_same_rules_versions_and_scopes_as_the_app(api):
    base, store = api
    command = key(store)
    created = post(base, command).json()[0]["service_request_id"]
    captain_code = store.get_incident(created).township_code
    captain = key(store, "captain-app", "captain", township_code=captain_code)
    h = {"X-API-Key": captain}
    inc = httpx.get(f"{base}/api/v1/incidents/{created}", headers=h).json()
    assert inc["state"] == "discovered" and "assess" in inc["actions"] and inc["state_name"]
    url = f"{base}/api/v1/incidents/{created}/actions"
    ok = httpx.post(url, headers=h, json={"action": "assess", "expected_version": inc["version"]})
    assert ok.status_code == 200 and ok.json()["state"] == "assessing"
    stale = httpx.post(url, headers=h, json={"action": "dispatch", "expected_version": inc["version"]})
    assert stale.status_code == 409 and "version" in stale.json()[0]["description"]
    illegal = httpx.post(url, headers=h, json={"action": "verify", "expected_version": ok.json()["version"]})
    assert illegal.status_code in (403, 422)
    missing = httpx.post(url, headers=h, json={"action": "nonsense", "expected_version": 1})
    assert missing.status_code == 422
    no_key = httpx.get(f"{base}/api/v1/incidents/{created}")
    assert no_key.status_code == 403
    other = post(base, command, lat=OTHER_TOWNSHIP_P[0], long=OTHER_TOWNSHIP_P[1]).json()[0]
    other_township = store.get_incident(other["service_request_id"])
    assert other_township is not None and other_township.township_code != captain_code
    hidden = httpx.get(f"{base}/api/v1/incidents/{other['service_request_id']}", headers=h)
    assert hidden.status_code == 404
    events = httpx.get(f"{base}/api/v1/incidents/{created}/events", headers=h).json()
    assert [(e["action"], e["actor"]) for e in events] == [
        ("create", "api:hotline"),
        ("assess", "api:captain-app"),
    ]
    book = httpx.get(f"{base}/api/v1/rulebook").json()
    assert {"states", "transitions", "duties", "limits"} <= set(book)


def test_a_closed_hotline_case_takes_its_callback_through_the_api(api):
    base, store = api
    command = key(store)
    created = post(base, command).json()[0]["service_request_id"]
    svc = IncidentService(store)
    inc = svc.get(ADMIN, created)
    captain = Principal("cap", "captain", township_code=inc.township_code)
    checker = Principal("duty", "command_center")
    from tests.conftest import close_incident

    close_incident(svc, inc, captain, checker)
    closed = httpx.get(f"{base}/api/v1/incidents/{created}", headers={"X-API-Key": command}).json()
    assert closed["state"] == "closed" and "callback" in closed["actions"]
    r = httpx.post(
        f"{base}/api/v1/incidents/{created}/actions",
        headers={"X-API-Key": command},
        json={"action": "callback", "expected_version": closed["version"], "fields": {"result": "satisfied"}},
    )
    assert r.status_code == 200 and r.json()["satisfaction"] == "satisfied"
    [req] = httpx.get(f"{base}/open311/v2/requests/{created}.json").json()
    assert req["status"] == "closed" and "满意" in req["status_notes"]


class Receiver:
    """A local webhook receiver that can be stopped and started again on the same port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.received: list[tuple[str, dict[str, Any]]] = []
        self.server: ThreadingHTTPServer | None = None

    def start(self) -> None:
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.append((self.headers["Idempotency-Key"], json.loads(body)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        assert self.server is not None
        self.server.shutdown()
        self.server.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/gridpatrol"


def test_status_changes_reach_the_webhook_in_order_and_none_is_lost_while_the_receiver_is_down(
    district_store,
):
    store = district_store
    receiver = Receiver()
    receiver.start()
    k = key(store, webhook_url=receiver.url)
    with serving(store, deliver_every=0.2) as base:
        created = post(base, k).json()[0]["service_request_id"]
        svc = IncidentService(store)
        inc = svc.get(ADMIN, created)
        captain = Principal("cap", "captain", township_code=inc.township_code)
        inc = svc.act(captain, created, "assess", expected_version=inc.version)
        deadline = time.monotonic() + 15
        while len(receiver.received) < 1 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert [m["state"] for _, m in receiver.received] == ["assessing"]
        receiver.stop()  # the hotline system goes down; the case moves on meanwhile
        inc = svc.act(
            captain, created, "dispatch", expected_version=inc.version, team_id=inc.team_id, outcome="simple"
        )
        inc = svc.act(captain, created, "submit", expected_version=inc.version, result="已整改")
        time.sleep(1.0)  # a delivery round fails and waits before it tries again
        [pending] = store.outbox("hotline", limit=1)
        assert pending.attempts >= 1 and pending.last_error and pending.delivered_at is None
        receiver.start()
        deadline = time.monotonic() + 30
        while len(receiver.received) < 3 and time.monotonic() < deadline:
            time.sleep(0.2)
    states = [m["state"] for _, m in receiver.received]
    assert states == ["assessing", "handling", "verifying"]
    keys = [k for k, _ in receiver.received]
    assert len(set(keys)) == 3 and all(key.startswith(f"hotline:{created}:") for key in keys)
    assert all(m["service_request_id"] == created and m["status"] == "open" for _, m in receiver.received)
    assert store.outbox("hotline") == []
    receiver.stop()


def test_a_system_without_a_webhook_polls_and_acknowledges_its_changes(api):
    base, store = api
    k = key(store)
    created = post(base, k).json()[0]["service_request_id"]
    svc = IncidentService(store)
    inc = svc.get(ADMIN, created)
    captain = Principal("cap", "captain", township_code=inc.township_code)
    inc = svc.act(captain, created, "assess", expected_version=inc.version)
    svc.act(captain, created, "reject", expected_version=inc.version, reason="非执法事项")
    h = {"X-API-Key": k}
    changes = httpx.get(f"{base}/api/v1/changes", headers=h).json()
    assert [(c["state"], c["status"]) for c in changes] == [("assessing", "open"), ("rejected", "closed")]
    ack = httpx.post(f"{base}/api/v1/changes/ack", headers=h, json={"ids": [c["outbox_id"] for c in changes]})
    assert ack.json() == {"acknowledged": 2}
    [receipt] = store.audit_log(entity="api_client", actor="api:hotline")
    assert receipt.action == "acknowledge_changes" and str(changes[0]["outbox_id"]) in receipt.after
    assert httpx.get(f"{base}/api/v1/changes", headers=h).json() == []
    other = key(store, "other-system")
    assert httpx.post(
        f"{base}/api/v1/changes/ack", headers={"X-API-Key": other}, json={"ids": [1, 2]}
    ).json() == {"acknowledged": 0}


def test_the_documentation_is_served_without_the_internet(api):
    base, _ = api
    page = httpx.get(f"{base}/docs").text
    assert "/static/swagger-ui/swagger-ui-bundle.js" in page
    assert "cdn." not in page and "https://" not in page
    assert httpx.get(f"{base}/static/swagger-ui/swagger-ui-bundle.js").status_code == 200
    schema = httpx.get(f"{base}/openapi.json").json()
    assert (
        "/open311/v2/requests.{fmt}" in schema["paths"]
        and "/api/v1/incidents/{incident_id}/actions" in schema["paths"]
    )


def test_concurrent_posts_of_one_external_id_store_one_incident(api):
    base, store = api
    k = key(store)
    results: list[int] = []

    def send() -> None:
        results.append(post(base, k, external_id="RX-SAME").status_code)

    threads = [threading.Thread(target=send) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results).count(201) == 1 and set(results) <= {200, 201}
    assert store.count_incidents(IncidentQuery(external_ids=("RX-SAME",))) == 1


JPEG = picture("JPEG")


def test_evidence_is_uploaded_listed_and_downloaded_through_the_api_as_it_was_given(api):
    base, store = api
    k = key(store)
    created = post(base, k).json()[0]["service_request_id"]
    h = {"X-API-Key": k}
    url = f"{base}/api/v1/incidents/{created}/evidence"
    r = httpx.post(
        url,
        headers=h,
        files={"file": ("现场照片.jpg", JPEG, "image/jpeg")},
        data={"stage": "report", "note": "占道"},
    )
    assert r.status_code == 201, r.text
    row = r.json()
    assert (row["filename"], row["stage"], row["size"], row["uploaded_by"]) == (
        "现场照片.jpg",
        "report",
        len(JPEG),
        "api:hotline",
    )
    assert [e["id"] for e in httpx.get(url, headers=h).json()] == [row["id"]]
    got = httpx.get(f"{base}{row['url']}", headers=h)
    assert got.content == JPEG and got.headers["content-type"] == "image/jpeg"
    assert (
        "UTF-8''" in got.headers["content-disposition"] and got.headers["x-content-type-options"] == "nosniff"
    )
    fake = httpx.post(url, headers=h, files={"file": ("photo.jpg", b"<svg onload=alert(1)>", "image/jpeg")})
    assert fake.status_code == 422 and fake.json()[0]["key"] == "refuse.evidence_type"
    huge = httpx.post(
        url, headers=h, files={"file": ("big.jpg", JPEG[:4] + b"\0" * (10 * 1024 * 1024), "image/jpeg")}
    )
    assert huge.status_code == 413
    assert httpx.post(url, files={"file": ("a.jpg", JPEG, "image/jpeg")}).status_code == 403
    other = key(
        store,
        "other-captain",
        "captain",
        township_code=next(
            t.code for t in store.townships() if t.code != store.get_incident(created).township_code
        ),
    )
    assert httpx.get(f"{base}{row['url']}", headers={"X-API-Key": other}).status_code == 404
    assert len(store.all_evidence()) == 1
