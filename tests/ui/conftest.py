"""Fixtures of the browser tests: one server, one fake Hub, one simulated node and one Chromium per module.

The tests drive the built dashboard (``ui/dist``, written by ``just build``) in Debian's Chromium
(``/usr/bin/chromium``) through Playwright's sync API; Playwright's own browser download is never used.
Without Chromium the tests are skipped, unless ``MODELHUB_REQUIRE_BROWSER=1`` (CI) makes that a failure.
Without ``ui/dist/index.html`` they fail and say to run ``just build``: nothing is built here.

The stack (module scope): ``modelhub serve`` in a subprocess with nodes *not* auto-approved and
``MODELHUB_NODE_OFFLINE_AFTER=2``, Hugging Face stats from the fake Hub, one simulated node
(``modelhub simulate --nodes 1``, pending until approved) that downloads every registered model at
``SPEED``, and one more node registered over HTTP that stays pending (so there is an Approve button to
look for). Each test opens its own browser context (fresh ``localStorage`` and cookies) with ``dashboard``.

On a failed test every page it opened is saved to ``artifacts/screenshots/failure-<test>-<n>.png``.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from tests.fakehub import running_fake_hub
from tests.runtime.conftest import ADMIN, NODE, NODE_TOKEN, live_server

if TYPE_CHECKING:
    from collections.abc import Callable, Generator, Iterator

    from playwright.sync_api import Browser, Page

ROOT = Path(__file__).resolve().parents[2]
UI_INDEX = ROOT / "ui" / "dist" / "index.html"
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    # Without these Chromium keeps calling home, which on a closed network only burns CPU.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
CATALOG_SIZE = len(json.loads((ROOT / "supported_models.json").read_text(encoding="utf-8"))["models"])
"""Entries of supported_models.json: one card each on the Model Hub view."""

OFFLINE_AFTER = 2
"""MODELHUB_NODE_OFFLINE_AFTER, seconds."""
HEARTBEAT = 0.5
"""--heartbeat-interval of the simulated node, seconds."""
SPEED = "100MB"
"""--speed of the simulated node: the 484 MB qwen3-0.6b takes about 5 s, about ten progress reports."""
SIM_PREFIX = "ui"
SIM_NODE = f"{SIM_PREFIX}-0000"
"""The simulated node's runtime id (``--runtime-id-prefix ui``, first node)."""
PENDING_NODE = "ui-pending"
"""A node registered over HTTP that never heartbeats: pending for the whole module."""
WAIT_MS = 15_000
"""Longest wait for one thing to show in the page."""


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Keep each phase's report on the item, so that fixtures can tell whether the test failed."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture(scope="session", autouse=True)
def _browser_prerequisites() -> None:
    """Skip without Chromium (fail under MODELHUB_REQUIRE_BROWSER=1); fail without a built dashboard."""
    if not CHROMIUM.exists():
        if os.environ.get("MODELHUB_REQUIRE_BROWSER") == "1":
            pytest.fail(
                f"{CHROMIUM} is missing and MODELHUB_REQUIRE_BROWSER=1 requires the browser tests: "
                "install chromium: apt-get install chromium"
            )
        pytest.skip(f"{CHROMIUM} is missing (install chromium: apt-get install chromium); browser tests skipped")
    if not UI_INDEX.exists():
        pytest.fail(f"the dashboard is not built ({UI_INDEX.relative_to(ROOT)} is missing): run `just build`")


# --------------------------------------------------------------------------------------------------- the stack


@dataclass
class Stack:
    """The running server, its simulated node and an admin HTTP client."""

    base: str
    server: subprocess.Popen[str]
    simulator: subprocess.Popen[bytes]
    api: httpx.Client
    tmp: Path
    stopped: bool = False
    """Whether the simulator is SIGSTOPped."""

    def hub_item(self, model_id: str) -> dict[str, Any]:
        response = self.api.get("/v0/models/hub", headers=ADMIN)
        response.raise_for_status()
        items: list[dict[str, Any]] = response.json()
        return next(item for item in items if item["id"] == model_id)

    def node(self, runtime_id: str) -> dict[str, Any] | None:
        response = self.api.get("/v0/nodes", headers=ADMIN)
        response.raise_for_status()
        nodes: list[dict[str, Any]] = response.json()
        return next((node for node in nodes if node["runtime_id"] == runtime_id), None)

    def register(self, model_id: str) -> None:
        """Register ``model_id`` over HTTP unless it is registered already."""
        if self.hub_item(model_id)["status"] == "available":
            response = self.api.post("/v0/models/register", json={"model_id": model_id}, headers=ADMIN)
            assert response.status_code in (200, 201), response.text

    def approve_simulated_node(self) -> None:
        """Approve the simulated node over HTTP if it is still pending (a test may do it in the page)."""
        node = self.node(SIM_NODE)
        if node is not None and node["status"] == "pending":
            response = self.api.post(f"/v0/nodes/{SIM_NODE}/approve", headers=ADMIN)
            assert response.status_code in (200, 409), response.text

    def stop_simulator(self) -> None:
        self.simulator.send_signal(signal.SIGSTOP)
        self.stopped = True

    def resume_simulator(self) -> None:
        if self.stopped:
            self.simulator.send_signal(signal.SIGCONT)
            self.stopped = False

    def logs(self) -> str:
        """The server's and the simulator's logs, for a failure message."""
        return "\n".join(
            f"--- {path.name}\n{path.read_text(errors='replace')[-4000:]}" for path in sorted(self.tmp.glob("*.log"))
        )


def _wait_for_node(api: httpx.Client, runtime_id: str, simulator: subprocess.Popen[bytes], timeout: float) -> None:
    """Wait until the simulated node has registered (it is pending: nodes are not auto-approved)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        nodes = api.get("/v0/nodes", headers=ADMIN).json()
        if any(node["runtime_id"] == runtime_id for node in nodes):
            return
        if simulator.poll() is not None:
            break
        time.sleep(0.1)
    raise RuntimeError(f"the simulated node {runtime_id} did not register")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("ui")
    with ExitStack() as exits:
        hub = exits.enter_context(running_fake_hub())
        base, server = exits.enter_context(
            live_server(
                tmp,
                MODELHUB_AUTO_APPROVE_NODES="false",
                MODELHUB_NODE_OFFLINE_AFTER=str(OFFLINE_AFTER),
                HF_ENDPOINT=hub.url,
                HF_HUB_OFFLINE="0",
                MODELHUB_UI_DIR=str(UI_INDEX.parent),
            )
        )
        api = exits.enter_context(httpx.Client(base_url=base, timeout=10))
        pending = api.post("/v0/nodes", json={"runtime_id": PENDING_NODE, "machine_name": "idle-box"}, headers=NODE)
        assert pending.status_code == 201, pending.text
        log = exits.enter_context((tmp / "simulator.log").open("wb"))
        simulator = subprocess.Popen(
            [
                *(sys.executable, "-m", "runtime", "simulate", "--server", base, "--token", NODE_TOKEN),
                *("--nodes", "1", "--heartbeat-interval", str(HEARTBEAT), "--speed", SPEED),
                *("--runtime-id-prefix", SIM_PREFIX, "--seed", "1", "--stats-interval", "60"),
            ],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        running = Stack(base, server, simulator, api, tmp)
        try:
            _wait_for_node(api, SIM_NODE, simulator, timeout=30)
            yield running
        finally:
            if simulator.poll() is None:
                running.resume_simulator()
                simulator.send_signal(signal.SIGTERM)
                try:
                    simulator.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    simulator.kill()
                    simulator.wait()


# ------------------------------------------------------------------------------------------------- the browser


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@dataclass
class Dashboard:
    """Opens signed-in pages of the dashboard, each in a fresh browser context."""

    browser: Browser
    base: str
    pages: list[Page] = field(default_factory=list)

    def new_page(self, *, width: int = 1280, height: int = 900) -> Page:
        context = self.browser.new_context(viewport={"width": width, "height": height})
        context.set_default_timeout(WAIT_MS)
        page = context.new_page()
        self.pages.append(page)
        return page

    def sign_in(self, token: str, *, role: str, width: int = 1280, height: int = 900) -> Page:
        """A page signed in with ``token`` on the Model Hub view, its connection live."""
        from playwright.sync_api import expect

        page = self.new_page(width=width, height=height)
        page.goto(f"{self.base}/")
        page.get_by_label("Token").fill(token)
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_test_id("role")).to_have_text(role, timeout=WAIT_MS)
        expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "live", timeout=WAIT_MS)
        return page


@pytest.fixture
def dashboard(browser: Browser, stack: Stack, request: pytest.FixtureRequest) -> Iterator[Dashboard]:
    opened = Dashboard(browser, stack.base)
    try:
        yield opened
    finally:
        report = getattr(request.node, "report_call", None)
        failed = report is not None and report.failed
        for index, page in enumerate(opened.pages):
            if failed and not page.is_closed():
                SCREENSHOTS.mkdir(parents=True, exist_ok=True)
                name = re.sub(r"[^\w.-]+", "-", request.node.name)
                page.screenshot(path=str(SCREENSHOTS / f"failure-{name}-{index}.png"), full_page=True)
            page.context.close()
        if failed:
            print(stack.logs())  # shown with the failure


@pytest.fixture
def screenshot() -> Callable[[Page, str], None]:
    """Save ``page`` to artifacts/screenshots/<name>.png."""

    def save(page: Page, name: str) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=False)

    return save
