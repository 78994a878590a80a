"""The Local view's per-node rows in Chromium: failed and stalled nodes, and 1,000 nodes on one model.

This module runs its own server (it overrides the ``stack`` fixture of ``conftest.py``): nodes auto-approved,
``MODELHUB_DOWNLOAD_STALL_AFTER=1`` so that a download whose bytes stop growing is stalled after a second, and
a long ``MODELHUB_NODE_OFFLINE_AFTER`` so that 1,000 nodes that heartbeat only twice stay online. The nodes
are not simulated: each registers and sends two heartbeats over HTTP (the second one more than a second
after the first, with the same bytes for the downloading nodes: they are stalled).

Of the ``NODES`` nodes, the first ``FAILED`` report the model failed ("disk full"), the next ``STALLED``
report it downloading with bytes that never grow, and the rest report it ready.
"""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.runtime.conftest import ADMIN, ADMIN_TOKEN, NODE, live_server
from tests.ui.conftest import UI_INDEX, WAIT_MS

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    from playwright.sync_api import Locator, Page

    from tests.ui.conftest import Dashboard

pytestmark = pytest.mark.browser

MODEL, MODEL_NAME = "qwen3-0.6b", "Qwen3 0.6B"
NODES = 1000
FAILED = 5
STALLED = 10
READY = NODES - FAILED - STALLED
PAGE_SIZE = 50
"""Rows the Local view shows at first, and adds per "Show more" (ui/src/views/LocalView.tsx)."""
STALL_AFTER = 1.0
"""MODELHUB_DOWNLOAD_STALL_AFTER, seconds."""
TOTAL = 484_220_320
"""Bytes of the model (its size_bytes)."""
STUCK_AT = 1_000_000
"""Where the stalled downloads stopped."""


def runtime_id(index: int) -> str:
    return f"scale-{index:04d}"


def report(index: int) -> dict[str, Any]:
    """Node ``index``'s report on the model (the same in both heartbeats)."""
    if index < FAILED:
        return {"model_id": MODEL, "state": "failed", "bytes_done": 0, "bytes_total": TOTAL, "error": "disk full"}
    if index < FAILED + STALLED:
        return {"model_id": MODEL, "state": "downloading", "bytes_done": STUCK_AT, "bytes_total": TOTAL}
    return {"model_id": MODEL, "state": "ready", "bytes_done": TOTAL, "bytes_total": TOTAL}


@dataclass
class ScaleStack:
    """What the ``dashboard`` fixture needs of a stack: the base URL and the logs."""

    base: str
    api: httpx.Client
    tmp: Path

    def heartbeat(self, index: int, model: dict[str, Any]) -> None:
        body = {"metrics": {"cpu_usage": 0.1}, "models": [model]}
        response = self.api.post(f"/v0/nodes/{runtime_id(index)}/heartbeat", json=body, headers=NODE)
        assert response.status_code == 200, response.text

    def logs(self) -> str:
        return "\n".join(
            f"--- {path.name}\n{path.read_text(errors='replace')[-4000:]}" for path in sorted(self.tmp.glob("*.log"))
        )


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ScaleStack]:
    tmp = tmp_path_factory.mktemp("ui-scale")
    with ExitStack() as exits:
        base, _server = exits.enter_context(
            live_server(
                tmp,
                MODELHUB_AUTO_APPROVE_NODES="true",
                MODELHUB_NODE_OFFLINE_AFTER="600",
                MODELHUB_DOWNLOAD_STALL_AFTER=str(STALL_AFTER),
                MODELHUB_UI_DIR=str(UI_INDEX.parent),
            )
        )
        api = exits.enter_context(httpx.Client(base_url=base, timeout=30))
        scale = ScaleStack(base, api, tmp)
        response = api.post("/v0/models/register", json={"model_id": MODEL}, headers=ADMIN)
        assert response.status_code in (200, 201), response.text

        def register(index: int) -> None:
            body = {"runtime_id": runtime_id(index), "machine_name": f"{runtime_id(index)}.scale.invalid"}
            created = api.post("/v0/nodes", json=body, headers=NODE)
            assert created.status_code == 201, created.text

        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(register, range(NODES)))
            first = time.monotonic()
            list(pool.map(lambda index: scale.heartbeat(index, report(index)), range(NODES)))
            # The same bytes again, more than STALL_AFTER later: the downloading nodes are stalled.
            time.sleep(max(0.0, first + STALL_AFTER * 1.5 - time.monotonic()))
            list(pool.map(lambda index: scale.heartbeat(index, report(index)), range(NODES)))
        _wait_for_counts(api)
        yield scale


def _wait_for_counts(api: httpx.Client, timeout: float = 30) -> None:
    """Wait until the hub item counts every node (reports may be written in batches)."""
    deadline = time.monotonic() + timeout
    counts: dict[str, int] = {}
    while time.monotonic() < deadline:
        items = api.get("/v0/models/hub", headers=ADMIN).json()
        counts = next(item for item in items if item["id"] == MODEL)["node_counts"]
        if counts.get("ready") == READY and counts.get("failed") == FAILED and counts.get("stalled") == STALLED:
            return
        time.sleep(0.2)
    raise AssertionError(f"the hub never counted {READY} ready, {FAILED} failed, {STALLED} stalled: {counts}")


def local_card(page: Page) -> Locator:
    page.get_by_role("navigation", name="Views").get_by_role("link", name="Local", exact=True).click()
    expect(page.get_by_role("heading", level=1, name="Local models", exact=True)).to_be_visible()
    return page.locator(f'article[data-model-id="{MODEL}"]')


def rows(card: Locator) -> Locator:
    return card.locator("li[data-runtime-id]")


def test_failed_and_stalled_nodes_come_first_on_local(
    dashboard: Dashboard, stack: ScaleStack, screenshot: Callable[[Page, str], None]
) -> None:
    page = dashboard.sign_in(ADMIN_TOKEN, role="admin")
    hub_card = page.locator(f'article[data-model-id="{MODEL}"]')
    expect(hub_card.get_by_test_id("stalled-count")).to_have_text(f"{STALLED} stalled")

    card = local_card(page)
    expect(card).to_have_attribute("aria-label", MODEL_NAME)
    expect(card.get_by_test_id("node-counts")).to_have_text(
        f"{READY} ready · {STALLED} downloading · {STALLED} stalled · {FAILED} failed"
    )
    expect(card.get_by_test_id("stalled-count")).to_have_text(f"{STALLED} stalled")
    card.get_by_role("button", name="Show nodes").click()
    expect(rows(card)).to_have_count(PAGE_SIZE, timeout=WAIT_MS)

    ids = rows(card).evaluate_all("(rows) => rows.map((r) => r.dataset.runtimeId)")
    assert ids[: FAILED + STALLED] == [runtime_id(i) for i in range(FAILED + STALLED)], ids
    for index in range(FAILED):
        row = card.locator(f'li[data-runtime-id="{runtime_id(index)}"]')
        expect(row).to_have_attribute("data-state", "failed")
        expect(row.get_by_text("disk full", exact=True)).to_be_visible()
    for index in range(FAILED, FAILED + STALLED):
        row = card.locator(f'li[data-runtime-id="{runtime_id(index)}"]')
        expect(row).to_have_attribute("data-state", "downloading")
        expect(row).to_have_attribute("data-stalled", "true")
        expect(row.locator('[data-badge="stalled"]')).to_have_text("stalled")
    ready_row = card.locator(f'li[data-runtime-id="{runtime_id(FAILED + STALLED)}"]')
    expect(ready_row).to_have_attribute("data-state", "ready")
    expect(ready_row).to_have_attribute("data-stalled", "false")
    screenshot(page, "local-stalled")

    # A stalled node that finishes: its row changes live (NodeModelChanged on model:<id>), no reload.
    page.evaluate("window.__noReload = true")
    index = FAILED
    stack.heartbeat(index, {"model_id": MODEL, "state": "ready", "bytes_done": TOTAL, "bytes_total": TOTAL})
    finished = card.locator(f'li[data-runtime-id="{runtime_id(index)}"]')
    expect(finished).to_have_attribute("data-state", "ready", timeout=WAIT_MS)
    expect(finished).to_have_attribute("data-stalled", "false")
    expect(card.get_by_test_id("stalled-count")).to_have_text(f"{STALLED - 1} stalled", timeout=WAIT_MS)
    assert page.evaluate("window.__noReload === true"), "the page was reloaded"
    # Put it back as it was, for the next test.
    stack.heartbeat(index, report(index))


def test_a_local_view_with_1000_nodes_renders_a_page_at_a_time(
    dashboard: Dashboard, stack: ScaleStack, screenshot: Callable[[Page, str], None]
) -> None:
    page = dashboard.sign_in(ADMIN_TOKEN, role="admin")
    card = local_card(page)
    expect(card).to_be_visible()
    started = time.monotonic()
    card.get_by_role("button", name="Show nodes").click()
    expect(rows(card)).to_have_count(PAGE_SIZE, timeout=WAIT_MS)
    expect(card.get_by_text(f"Showing {PAGE_SIZE} of {NODES} nodes", exact=True)).to_be_visible()
    shown_after = time.monotonic() - started
    assert shown_after < 10, f"the first {PAGE_SIZE} of {NODES} rows took {shown_after:.1f} s"
    screenshot(page, "local-1000")

    card.get_by_role("button", name="Show more").click()
    expect(rows(card)).to_have_count(2 * PAGE_SIZE)
    expect(card.get_by_text(f"Showing {2 * PAGE_SIZE} of {NODES} nodes", exact=True)).to_be_visible()
    # Page by page to the end: the button goes away and every node has its row.
    show_more = card.get_by_role("button", name="Show more")
    for _ in range(NODES // PAGE_SIZE):
        if show_more.count() == 0:
            break
        show_more.click()
    expect(rows(card)).to_have_count(NODES)
    expect(card.get_by_text(f"{NODES} nodes", exact=True)).to_be_visible()
    ids = rows(card).evaluate_all("(rows) => rows.map((r) => r.dataset.runtimeId)")
    assert len(set(ids)) == NODES
    assert re.fullmatch(r"scale-\d{4}", ids[-1]), ids[-1]

    card.get_by_role("button", name="Hide nodes").click()
    expect(rows(card)).to_have_count(0)
