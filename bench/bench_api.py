"""The HTTP API under load: 50 concurrent clients × 200 mixed GeoReport requests, on each backend.

The server is ``gridpatrol api`` in its own process over a copy of the 20k demo store; the
clients run in this process (asyncio, one connection each). The mix, per client: 15 % POST
requests (one in ten repeats an external id it sent before), 45 % GET requests/{id}, 25 % GET
requests by five ids, 10 % GET services, 5 % GET requests of one service over the last day.
Afterwards every posted external id must be stored exactly once, with exactly one creation
event, and no request may have failed.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psycopg
from psycopg import sql

from bench.common import Figure, Report
from bench.stores import PG_ADMIN, demo_store
from patrol.api_clients import ApiClientService
from patrol.roles import Principal
from store import open_store
from store.rows import IncidentQuery

CLIENTS = 50
REQUESTS_EACH = 200
SIZE = 20_000
POINTS = [(30.7552, 120.7601), (30.7461, 120.7702), (30.7204, 120.8301), (30.6602, 120.8011)]
CODES = ["STREET_VENDING", "CLUTTER", "PARK_COMPOUND", "NOISE_SOCIAL", "ILLEGAL_AD"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _copy(backend: str) -> tuple[str, str | None]:
    """A private copy of the demo store (the load writes to it); the PostGIS database name."""
    source = demo_store(SIZE, backend=backend)
    if backend == "sqlite":
        dest = Path(tempfile.mkdtemp(prefix="gp_api_bench_")) / "api.sqlite"
        shutil.copy(source.removeprefix("sqlite:///"), dest)
        return f"sqlite:///{dest}", None
    name = f"gp_bench_api_{os.getpid()}"
    template = source.rsplit("/", 1)[1]
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), sql.Identifier(template))
        )
    return f"{PG_ADMIN.rsplit('/', 1)[0]}/{name}", name


async def _client(
    n: int,
    base: str,
    key: str,
    ids: list[str],
    out: dict[str, list[float]],
    errors: list[str],
    posted: set[str],
) -> None:
    rng = random.Random(n)
    auth = {"api_key": key}  # a hotline system reads with its key (anonymous reading has its own limit)
    mine: list[str] = []
    since = (datetime.now(UTC) - timedelta(days=1)).isoformat(timespec="seconds")
    async with httpx.AsyncClient(base_url=base, timeout=60) as http:
        for i in range(REQUESTS_EACH):
            roll = rng.random()
            if roll < 0.15:
                kind = "POST requests"
                ext = rng.choice(mine) if mine and rng.random() < 0.1 else f"LOAD-{n:02d}-{i:03d}"
                lat, lng = rng.choice(POINTS)
                form = {
                    "api_key": key,
                    "service_code": rng.choice(CODES),
                    "lat": str(lat + rng.uniform(-1e-3, 1e-3)),
                    "long": str(lng + rng.uniform(-1e-3, 1e-3)),
                    "description": "压力测试",
                    "external_id": ext,
                }
                call = http.post("/open311/v2/requests.json", data=form)
            elif roll < 0.60:
                kind = "GET requests/{id}"
                call = http.get(f"/open311/v2/requests/{rng.choice(ids)}.json", params=auth)
            elif roll < 0.85:
                kind = "GET requests by 5 ids"
                call = http.get(
                    "/open311/v2/requests.json",
                    params={"service_request_id": ",".join(rng.sample(ids, 5)), **auth},
                )
            elif roll < 0.95:
                kind = "GET services"
                call = http.get("/open311/v2/services.json", params=auth)
            else:
                kind = "GET requests of a service, last day"
                call = http.get(
                    "/open311/v2/requests.json",
                    params={"service_code": rng.choice(CODES), "start_date": since, **auth},
                )
            t = time.perf_counter()
            try:
                response = await call
            except httpx.HTTPError as exc:
                errors.append(f"{kind}: {type(exc).__name__} {exc}")
                continue
            out[kind].append(time.perf_counter() - t)
            if response.status_code >= 300:
                errors.append(f"{kind}: HTTP {response.status_code} {response.text[:200]}")
            elif kind == "POST requests":
                mine.append(ext)
                posted.add(ext)


def _run_backend(backend: str) -> list[Figure]:
    url, pg_name = _copy(backend)
    store = open_store(url)
    store.migrate()
    _, key = ApiClientService(store).create(
        Principal("bench", "admin"), "load", "command_center", rate_per_minute=100_000
    )
    ids = [r.id for r in store.list_incidents(IncidentQuery(limit=5000))]
    store.close()
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "cli", "api", "--db", url, "--port", str(port), "--deliver-every", "0",
         "--log-level", "warning"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError(
                    f"the API did not start: {server.stderr.read().decode() if server.stderr else ''}"
                )
            time.sleep(0.2)
        out: dict[str, list[float]] = defaultdict(list)
        errors: list[str] = []
        posted: set[str] = set()

        async def everyone() -> None:
            await asyncio.gather(*(_client(n, base, key, ids, out, errors, posted) for n in range(CLIENTS)))

        t0 = time.perf_counter()
        asyncio.run(everyone())
        wall = time.perf_counter() - t0
    finally:
        server.terminate()
        server.wait(timeout=30)
    store = open_store(url)
    stored = store.list_incidents(IncidentQuery(external_ids=tuple(sorted(posted)), limit=len(posted) + 1))
    creations = [e for e in store.events_of([r.id for r in stored]) if e.action == "create"]
    store.close()
    once = len(stored) == len(posted) == len({r.external_id for r in stored}) == len(creations)
    if pg_name:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(pg_name)))
    else:
        shutil.rmtree(Path(url.removeprefix("sqlite:///")).parent, ignore_errors=True)
    total = sum(len(v) for v in out.values())
    gets = sum(len(v) for k, v in out.items() if k.startswith("GET"))
    posts = len(out["POST requests"])
    tag = f"{backend}, {CLIENTS} clients × {REQUESTS_EACH}"
    result = f"{len(posted)} posted, {len(stored)} stored, {len(creations)} creations"
    figures = [
        Figure(
            f"errors ({tag})", "requests", float(len(errors)), 0.0, 1, budget=0.0, note="; ".join(errors[:3])
        ),
        Figure(
            f"posted external ids stored once with one creation event ({backend})", "ok", float(once), 0.0, 1,
            budget=1.0, budget_kind="min", note=result,
        ),
        Figure(
            f"GET throughput in the mix ({tag})", "requests/s", gets / wall, 0.0, 1,
            note=f"{gets} GETs in {wall:.1f} s",
        ),
        Figure(
            f"POST throughput in the mix ({tag})", "requests/s", posts / wall, 0.0, 1,
            note=f"{posts} POSTs in {wall:.1f} s",
        ),
        Figure(f"all requests ({tag})", "requests/s", total / wall, 0.0, 1),
    ]  # fmt: skip
    for kind, times in sorted(out.items()):
        p95 = statistics.quantiles(times, n=20)[-1] if len(times) >= 20 else max(times)
        figures.append(Figure(f"{kind} p95 latency ({backend})", "s", p95, 0.0, len(times),
                              note=f"median {statistics.median(times) * 1000:.0f} ms"))  # fmt: skip
    return figures


def run(backends: tuple[str, ...]) -> Report:
    """The load on each backend."""
    report = Report("HTTP API under load (Open311 GeoReport v2)")
    for backend in backends:
        report.figures.extend(_run_backend(backend))
    return report
