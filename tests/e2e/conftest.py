"""Real-browser fixtures: `streamlit run serve.py` (as `make run`) on a free localhost port, Debian Chromium."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
LOCAL_PREFIXES = (
    "http://127.0.0.1",
    "http://localhost",
    "ws://127.0.0.1",
    "ws://localhost",
    "data:",
    "blob:",
    "about:",
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_app(db_url: str, **env_extra: str) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    env = {**os.environ, "GRIDPATROL_DB": db_url, **env_extra}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            str(ROOT / "serve.py"),
            "--server.port",
            str(port),
            "--server.address",
            "127.0.0.1",
            "--server.headless",
            "true",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = env_extra.get("STREAMLIT_SERVER_BASE_URL_PATH", "").strip("/")
    url = f"http://127.0.0.1:{port}" + (f"/{base}" if base else "")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return proc, url
        except OSError:
            time.sleep(0.3)
    proc.kill()
    pytest.fail("streamlit did not answer within 60 s")


@pytest.fixture(scope="session")
def browser():  # type: ignore[no-untyped-def]
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} missing: apt-get install -y chromium (see .ci/run)")
    if not (ROOT / "static" / "vendor" / "leaflet" / "leaflet.js").exists():
        pytest.fail("map assets missing: run 'make assets'")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def app_url(incidents_sqlite_url: str) -> Iterator[str]:
    proc, url = start_app(incidents_sqlite_url)
    yield url
    proc.terminate()
    proc.wait(timeout=20)


@pytest.fixture
def page(browser, request):  # type: ignore[no-untyped-def]
    if "app_url" in request.fixturenames:
        request.getfixturevalue("app_url")  # the app outlives the page: the screenshot sees it
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="zh-CN")
    pg = context.new_page()
    pg.external_requests = []
    pg.on(
        "request", lambda r: None if r.url.startswith(LOCAL_PREFIXES) else pg.external_requests.append(r.url)
    )
    yield pg
    ARTIFACTS.mkdir(exist_ok=True)
    pg.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    context.close()
