"""Dashboard fixtures: the real API and gateway as subprocesses on loopback, driven by headless Chromium.

Debian's ``chromium`` runs through Playwright's ``executable_path`` (no browser
download); one browser serves every dashboard test, each test gets its own
context (cookies) and its own stack on fresh ports.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from devstack.localredis import free_port
from shared.config import Settings
from tests.processes import ROOT, ServiceProcess, launch

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: Screenshots of the main views (git-ignored), for a person to look at after a run.
ARTIFACTS = ROOT / "tests" / "artifacts"
ADMIN_TOKEN = "test-admin-token-with-thirty-two-chars"
VIEWER_TOKEN = "test-viewer-token-with-thirty-two-chars"
#: Seconds Playwright's expectations wait by default.
EXPECT_TIMEOUT_S = 10

expect.set_options(timeout=EXPECT_TIMEOUT_S * 1000)


#: Where the test setup installs axe-core from npm (git-ignored: .cache/), never committed.
AXE_DIR = ROOT / ".cache" / "axe"
AXE_JS = AXE_DIR / "node_modules" / "axe-core" / "axe.min.js"


@pytest.fixture(scope="session")
def axe_source() -> str:
    """axe-core's script, installed once with npm on a fresh machine (node and npm: .ci/system-packages)."""
    if not AXE_JS.exists():
        npm = shutil.which("npm")
        if npm is None:
            pytest.fail("npm is missing: install Debian's npm (.ci/system-packages does)")
        AXE_DIR.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [npm, "install", "--prefix", str(AXE_DIR), "--no-audit", "--no-fund", "axe-core@4"],
            check=True,
            capture_output=True,
            timeout=300,
        )
    return AXE_JS.read_text(encoding="utf-8")


def axe_violations(page: Page, source: str) -> list[str]:
    """Serious and critical axe-core violations on the page as it is now (rule: nodes)."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        # Evaluated over the DevTools protocol: the page's CSP (script-src 'self') stays as is.
        page.evaluate(f"() => {{ {source}\n}}")
    found: list[dict[str, Any]] = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
    )
    return [
        f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']][:5]}"
        for v in found
        if v.get("impact") in ("serious", "critical")
    ]


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (.ci/run does)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield launched
        launched.close()


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The suite's settings on free ports, with the page's origin allowed by the gateway."""
    api_port = free_port()
    return dataclasses.replace(
        settings,
        api_port=api_port,
        stream_port=free_port(),
        dashboard_origin=f"http://127.0.0.1:{api_port}",
        stream_drain_s=0.2,
        stream_session_check_s=0.5,
    )


@dataclasses.dataclass
class Stack:
    """The API (serving the page) and the gateway, as a browser reaches them."""

    settings: Settings
    tmp: Path
    api: ServiceProcess
    gateway: ServiceProcess | None = None
    gateways: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.settings.api_port}"

    @property
    def stream_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.stream_port}"

    def start_gateway(self) -> None:
        """A gateway on the stack's stream port (the same port after a restart)."""
        self.gateways += 1
        log = self.tmp / f"stream-{self.gateways}.log"
        self.gateway = launch("stream", self.settings, self.settings.stream_port, log)

    def stop_gateway(self) -> None:
        if self.gateway is not None:
            self.gateway.stop()
            self.gateway = None


@contextlib.contextmanager
def running_stack(settings: Settings, tmp_path: Path) -> Iterator[Stack]:
    """An API and a gateway configured by ``settings``, stopped on exit (the ``stack`` fixture's,
    for tests that need other settings, such as single sign-on's)."""
    api = launch("api", settings, settings.api_port, tmp_path / "api.log")
    running = Stack(settings, tmp_path, api)
    try:
        running.start_gateway()
        yield running
    finally:
        running.stop_gateway()
        api.stop()


@pytest.fixture
def stack(settings: Settings, tmp_path: Path) -> Iterator[Stack]:
    with running_stack(settings, tmp_path) as running:
        yield running


@pytest.fixture
def page(browser: Browser, stack: Stack) -> Iterator[Page]:
    """A fresh browser context (no cookies) on the stack; uncaught page errors fail the test."""
    context = browser.new_context(base_url=stack.url, viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda exc: errors.append(str(exc)))
    yield opened
    context.close()
    assert errors == [], f"uncaught errors in the page: {errors}"


def login(page: Page, token: str = ADMIN_TOKEN) -> None:
    """Log in through the page's own form and wait for the stream to be live."""
    page.goto("/")
    page.fill("#login-token", token)
    page.click("#login-form button[type=submit]")
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")


def count(page: Page, queue: str, state: str) -> Any:
    """The overview's count cell of one queue and state."""
    return page.locator(f'[data-queue="{queue}"] [data-count="{state}"]')


def toast(page: Page, text: str | re.Pattern[str]) -> Any:
    return page.locator(".toast", has_text=text)


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
