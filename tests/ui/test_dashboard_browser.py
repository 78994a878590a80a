"""The built dashboard in Chromium against a live server, a fake Hub and one simulated node.

The tests of this module share one stack (``conftest.py``) and run in file order: sign in, approve the
simulated node, register a model and watch it download, register a second one while the first stays ready,
delete the first, stop the node, then the read-only role,
a bad token and a phone-sized window; then the operators' asks: the hub's filter and sort in the URL, the
empty result, Unregister on a hub card, the pending node's waiting line, the offline marker on per-node rows and
the sign-in page's token hint. Each test that needs an earlier one's effect makes sure of it over
HTTP first, so any single test also runs alone.

"Live, without a reload" is checked two ways: ``window.__noReload`` set after sign-in is still there at the
end (a reload would drop it), and the page never loaded a document again (``load`` events; in a test
that does not switch views, no main-frame navigation at all — Playwright reports ``history.pushState``
as one, so a test that clicks the tabs counts ``load`` only).
"""

from __future__ import annotations

import itertools
import re
import time
from typing import TYPE_CHECKING, Any

import pytest
from playwright.sync_api import expect

from generated.catalog import CATALOG_VERSION
from tests.runtime.conftest import ADMIN, ADMIN_TOKEN, NODE_TOKEN, READ_TOKEN
from tests.ui.conftest import CATALOG_SIZE, OFFLINE_AFTER, PENDING_NODE, SIM_NODE, WAIT_MS

if TYPE_CHECKING:
    from collections.abc import Callable

    from playwright.sync_api import Locator, Page

    from tests.ui.conftest import Dashboard, Stack

pytestmark = pytest.mark.browser

MODEL, MODEL_NAME = "qwen3-0.6b", "Qwen3 0.6B"
"""The smallest catalog model: about 5 s at the simulated node's speed."""
OTHER_MODEL = "smollm2-1.7b-instruct-q4_k_s"
"""The second model (about 10 s at the simulated node's speed); also gives the read-only Local view a card."""
TOGGLES = ("Show nodes", "Hide nodes", "Show models", "Hide models", "Show more")
"""Buttons that only show or hide detail: every role has them."""
DOWNLOAD_MS = 30_000
"""Longest wait for the whole register → ready run."""

# Records every change of a card's data-status and of its progress bar's aria-valuenow, in order.
RECORD_CARD = """
(card) => {
  const log = [];
  window.__cardLog = log;
  const look = () => {
    const bar = card.querySelector('[role="progressbar"]');
    const entry = { status: card.dataset.status, value: bar ? Number(bar.getAttribute('aria-valuenow')) : null };
    const last = log[log.length - 1];
    if (!last || last.status !== entry.status || last.value !== entry.value) log.push(entry);
  };
  look();
  new MutationObserver(look).observe(card, {
    subtree: true, childList: true, attributes: true, attributeFilter: ['data-status', 'aria-valuenow'],
  });
}
"""


def wait_ready(stack: Stack, model_id: str, timeout: float = DOWNLOAD_MS / 1000) -> None:
    """Wait over HTTP until ``model_id`` is ready."""
    deadline = time.monotonic() + timeout
    while stack.hub_item(model_id)["status"] != "ready":
        assert time.monotonic() < deadline, f"{model_id} is not ready: {stack.hub_item(model_id)}"
        time.sleep(0.2)


def card(page: Page, model_id: str) -> Locator:
    return page.locator(f'article[data-model-id="{model_id}"]')


def node_row(page: Page, runtime_id: str) -> Locator:
    return page.locator(f'li[data-runtime-id="{runtime_id}"]')


def go(page: Page, view: str) -> None:
    """Switch views with the tab (client-side), and wait for the view's heading."""
    heading = {"Model Hub": "Model Hub", "Local": "Local models", "Nodes": "Nodes"}[view]
    page.get_by_role("navigation", name="Views").get_by_role("link", name=view, exact=True).click()
    expect(page.get_by_role("link", name=view, exact=True)).to_have_attribute("aria-current", "page")
    expect(page.get_by_role("heading", level=1, name=heading, exact=True)).to_be_visible()


def watch_reloads(page: Page, *, navigations: bool) -> Callable[[], None]:
    """Mark the page and count document loads (and main-frame navigations); the result checks none happened."""
    page.evaluate("window.__noReload = true")
    loads: list[str] = []
    frames: list[str] = []
    page.on("load", lambda loaded: loads.append(loaded.url))
    page.on("framenavigated", lambda frame: frames.append(frame.url) if frame == page.main_frame else None)

    def check() -> None:
        assert page.evaluate("window.__noReload === true"), "the page was reloaded"
        assert loads == [], f"documents loaded after sign-in: {loads}"
        if navigations:
            assert frames == [], f"main-frame navigations after sign-in: {frames}"

    return check


def test_sign_in_lists_the_catalog_live(dashboard: Dashboard, stack: Stack) -> None:
    page = dashboard.sign_in(ADMIN_TOKEN, role="admin")

    cards = page.locator("article[data-model-id]")
    expect(cards).to_have_count(CATALOG_SIZE, timeout=WAIT_MS)
    assert CATALOG_SIZE == 21
    expect(page.get_by_text(f"{CATALOG_SIZE} models", exact=True)).to_be_visible()
    ids = cards.evaluate_all("(cards) => cards.map((c) => c.dataset.modelId)")
    assert len(set(ids)) == CATALOG_SIZE
    statuses = set(cards.evaluate_all("(cards) => cards.map((c) => c.dataset.status)"))
    assert statuses <= {"available", "registered", "downloading", "ready"}, statuses
    expect(card(page, MODEL)).to_have_attribute("aria-label", MODEL_NAME)

    session = stack.api.get("/v0/session", headers=ADMIN).json()
    assert session["catalog_version"] == CATALOG_VERSION
    expect(page.get_by_test_id("catalog-version")).to_have_text(CATALOG_VERSION)
    expect(page.get_by_test_id("ui-catalog-version")).to_have_text(CATALOG_VERSION)
    expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "live")
    expect(page.get_by_role("link", name="Model Hub", exact=True)).to_have_attribute("aria-current", "page")
    # Hugging Face stats come from the fake Hub.
    expect(card(page, MODEL).get_by_text(re.compile(r"downloads"))).to_be_visible()


def test_an_admin_approves_the_pending_node_live(dashboard: Dashboard, stack: Stack) -> None:
    if stack.node(SIM_NODE)["status"] != "pending":  # type: ignore[index]
        pytest.skip("the simulated node was approved already")
    page = dashboard.sign_in(ADMIN_TOKEN, role="admin")
    check = watch_reloads(page, navigations=False)
    go(page, "Nodes")

    row = node_row(page, SIM_NODE)
    expect(row).to_have_attribute("data-status", "pending")
    expect(row).to_have_attribute("aria-label", f"{SIM_NODE}.sim.invalid")
    row.get_by_role("button", name="Approve").click()
    # No model is registered: the node is online as soon as it heartbeats; the page hears it over the socket.
    expect(row).to_have_attribute("data-status", "online", timeout=WAIT_MS)
    expect(row.get_by_role("button", name="Approve")).to_have_count(0)
    expect(node_row(page, PENDING_NODE)).to_have_attribute("data-status", "pending")
    expect(node_row(page, PENDING_NODE).get_by_role("button", name="Approve")).to_be_visible()
    check()


def test_register_and_watch_the_download_without_a_reload(
    dashboard: Dashboard, stack: Stack, screenshot: Callable[[Page, str], None]
) -> None:
    stack.approve_simulated_node()
    assert stack.hub_item(MODEL)["status"] == "available"
    page = dashboard.sign_in(ADMIN_TOKEN, role="admin")
    check = watch_reloads(page, navigations=True)
    model = card(page, MODEL)
    expect(model).to_have_attribute("data-status", "available")
    model.evaluate(RECORD_CARD)

    model.get_by_role("button", name="Register", exact=True).click()
    bar = model.get_by_role("progressbar")
    expect(bar).to_have_attribute("aria-valuenow", re.compile(r"^[1-9]\d?$"), timeout=DOWNLOAD_MS)
    screenshot(page, "hub-downloading")
    expect(model).to_have_attribute("data-status", "ready", timeout=DOWNLOAD_MS)
    expect(model.get_by_role("button", name="Register", exact=True)).to_have_count(0)
    expect(model.get_by_role("progressbar")).to_have_count(0)
    screenshot(page, "hub")

    log: list[dict[str, Any]] = page.evaluate("window.__cardLog")
    statuses = [entry["status"] for entry in log]
    phases = [status for index, status in enumerate(statuses) if index == 0 or statuses[index - 1] != status]
    assert phases == ["available", "registered", "downloading", "ready"], log
    values = [entry["value"] for entry in log if entry["status"] == "downloading" and entry["value"] is not None]
    assert all(0 <= value <= 100 for value in values), log
    rises = sum(1 for before, after in itertools.pairwise(values) if after > before)
    assert rises >= 2, f"the progress bar rose {rises} times: {log}"
    assert values == sorted(values), f"the progress bar went backwards: {log}"
    assert stack.hub_item(MODEL)["status"] == "ready"
    check()


def test_registering_a_second_model_leaves_the_first_ready(
    dashboard: Dashboard, stack: Stack, screenshot: Callable[[Page, str], None]
) -> None:
    stack.approve_simulated_node()
    stack.register(MODEL)
    wait_ready(stack, MODEL)
    if stack.hub_item(OTHER_MODEL)["status"] != "available":
        pytest.skip(f"{OTHER_MODEL} is registered already")
    page = dashboard.sign_in(ADMIN_TOKEN, role="admin")
    check = watch_reloads(page, navigations=False)
    first, second = card(page, MODEL), card(page, OTHER_MODEL)
    expect(first).to_have_attribute("data-status", "ready")
    first.evaluate(RECORD_CARD)

    second.get_by_role("button", name="Register", exact=True).click()
    expect(second).to_have_attribute("data-status", re.compile(r"^(registered|downloading|ready)$"))
    assert stack.hub_item(MODEL)["status"] == "ready"
    node = stack.node(SIM_NODE)
    assert node is not None
    assert node["status"] == "online", node  # registering a model never changes a node's status
    expect(second).to_have_attribute("data-status", "ready", timeout=DOWNLOAD_MS)
    screenshot(page, "hub-two-models")

    log: list[dict[str, Any]] = page.evaluate("window.__cardLog")
    assert {entry["status"] for entry in log} == {"ready"}, f"the first model left ready: {log}"
    expect(first.get_by_role("progressbar")).to_have_count(0)
    assert stack.hub_item(MODEL)["status"] == "ready"

    # The node holds both: online and synced, 2 of 2 models ready.
    go(page, "Nodes")
    row = node_row(page, SIM_NODE)
    expect(row).to_have_attribute("data-status", "online")
    expect(row).to_have_attribute("data-synced", "true", timeout=WAIT_MS)
    row.get_by_role("button", name="Show models").click()
    expect(row.get_by_test_id("models-ready")).to_have_text("2 of 2 models ready", timeout=WAIT_MS)
    check()


def test_delete_on_local_through_the_dialog(
    dashboard: Dashboard, stack: Stack, screenshot: Callable[[Page, str], None]
) -> None:
    stack.approve_simulated_node()
    stack.register(MODEL)
    page = dashboard.sign_in(ADMIN_TOKEN, role="admin")
    watcher = dashboard.sign_in(READ_TOKEN, role="read")  # another browser, on the Model Hub view
    check, check_watcher = watch_reloads(page, navigations=False), watch_reloads(watcher, navigations=True)
    expect(card(watcher, MODEL)).not_to_have_attribute("data-status", "available")

    go(page, "Local")
    local = card(page, MODEL)
    expect(local).to_have_attribute("data-status", "ready", timeout=DOWNLOAD_MS)
    expect(local.get_by_test_id("node-counts")).to_contain_text("1 ready")
    local.get_by_role("button", name="Show nodes").click()
    expect(local.locator(f'li[data-runtime-id="{SIM_NODE}"]')).to_have_attribute("data-state", "ready")
    expect(local.locator(f'li[data-runtime-id="{SIM_NODE}"]')).to_have_attribute("data-stalled", "false")
    screenshot(page, "local")

    local.get_by_role("button", name="Delete").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_have_accessible_name(f"Delete {MODEL_NAME}?")
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_have_count(0)
    assert stack.hub_item(MODEL)["status"] == "ready", "Cancel deleted the model"

    local.get_by_role("button", name="Delete").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete").click()
    expect(local).to_have_count(0, timeout=WAIT_MS)
    expect(page.get_by_role("dialog")).to_have_count(0)
    assert stack.hub_item(MODEL)["status"] == "available"

    go(page, "Model Hub")
    expect(card(page, MODEL)).to_have_attribute("data-status", "available", timeout=WAIT_MS)
    expect(card(page, MODEL).get_by_role("button", name="Register", exact=True)).to_be_enabled()
    # The other browser only hears it over the socket.
    expect(card(watcher, MODEL)).to_have_attribute("data-status", "available", timeout=WAIT_MS)
    check()
    check_watcher()


def test_a_stopped_node_goes_offline_live(
    dashboard: Dashboard, stack: Stack, screenshot: Callable[[Page, str], None]
) -> None:
    stack.approve_simulated_node()
    page = dashboard.sign_in(ADMIN_TOKEN, role="admin")
    check = watch_reloads(page, navigations=False)
    go(page, "Nodes")
    row = node_row(page, SIM_NODE)
    expect(row).to_have_attribute("data-status", "online", timeout=WAIT_MS)
    expect(row.locator("dl[data-stale]")).to_have_attribute("data-stale", "false")

    stack.stop_simulator()
    try:
        expect(row).to_have_attribute("data-status", "offline", timeout=OFFLINE_AFTER * 1000 + WAIT_MS)
        expect(row.locator("dl[data-stale]")).to_have_attribute("data-stale", "true")
        expect(row.get_by_text("stale", exact=True)).to_be_visible()
        screenshot(page, "nodes")
        assert stack.node(SIM_NODE)["status"] == "offline"  # type: ignore[index]
    finally:
        stack.resume_simulator()
    # Heartbeats again: back from offline to online (never registering again), live too.
    expect(row).to_have_attribute("data-status", "online", timeout=WAIT_MS)
    check()


def test_read_only_shows_no_admin_buttons(dashboard: Dashboard, stack: Stack) -> None:
    stack.register(OTHER_MODEL)
    buttons = ("Register", "Unregister", "Delete", "Approve")
    admin = dashboard.sign_in(ADMIN_TOKEN, role="admin")
    reader = dashboard.sign_in(READ_TOKEN, role="read")
    for view, expected in (("Model Hub", "Register"), ("Local", "Delete"), ("Nodes", "Approve")):
        for page in (admin, reader):
            if view != "Model Hub":
                go(page, view)
            if view == "Model Hub":
                expect(page.locator("article[data-model-id]")).to_have_count(CATALOG_SIZE)
            elif view == "Local":
                expect(card(page, OTHER_MODEL)).to_be_visible()
            else:
                expect(node_row(page, PENDING_NODE)).to_have_attribute("data-status", "pending")
                expect(node_row(page, SIM_NODE)).to_be_visible()
        # The admin sees the button on the same data, so its absence for the reader means something.
        expect(admin.get_by_role("button", name=expected, exact=True).first).to_be_visible()
        for name in buttons:
            expect(reader.get_by_role("button", name=name, exact=True)).to_have_count(0)
        texts = [text for text in reader.get_by_role("button").all_inner_texts() if text not in TOGGLES]
        assert texts == ["Sign out"], view


def test_the_socket_cookie_is_the_servers_httponly_one_and_sign_out_clears_it(dashboard: Dashboard) -> None:
    page = dashboard.sign_in(READ_TOKEN, role="read")
    [cookie] = page.context.cookies()
    assert (cookie["name"], cookie["path"], cookie["httpOnly"], cookie["sameSite"]) == (
        "modelhub_token",
        "/ws",
        True,
        "Strict",
    )
    assert page.evaluate("document.cookie") == ""  # no script of the page can read it
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("button", name="Sign in")).to_be_visible(timeout=WAIT_MS)
    deadline = time.monotonic() + 5
    while page.context.cookies() and time.monotonic() < deadline:
        page.wait_for_timeout(50)
    assert page.context.cookies() == []


def test_a_bad_token_is_refused_at_sign_in(dashboard: Dashboard, screenshot: Callable[[Page, str], None]) -> None:
    page = dashboard.new_page()
    page.goto(f"{dashboard.base}/")
    token = page.get_by_label("Token")
    sign_in = page.get_by_role("button", name="Sign in")
    alert = page.get_by_role("alert")

    sign_in.click()
    expect(alert).to_have_text("Enter a token")
    token.fill("not-a-valid-token")
    sign_in.click()
    expect(alert).to_have_text("That token is not valid")
    expect(token).to_have_attribute("aria-invalid", "true")
    screenshot(page, "sign-in")
    token.fill(NODE_TOKEN)
    sign_in.click()
    expect(alert).to_have_text(re.compile(r"node token"))

    expect(page.get_by_test_id("role")).to_have_count(0)
    expect(page.get_by_role("button", name="Sign out")).to_have_count(0)
    assert page.evaluate("localStorage.length") == 0
    assert page.context.cookies() == []


def test_a_phone_sized_window_does_not_scroll_sideways(
    dashboard: Dashboard, screenshot: Callable[[Page, str], None]
) -> None:
    page = dashboard.sign_in(ADMIN_TOKEN, role="admin", width=390, height=844)
    expect(page.locator("article[data-model-id]")).to_have_count(CATALOG_SIZE)
    screenshot(page, "hub-390")
    for view in ("Model Hub", "Local", "Nodes"):
        if view != "Model Hub":
            go(page, view)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"{view}: the page is {width} px wide in a 390 px window"


# ------------------------------------------------------------------------------------------ operators' asks


def card_ids(page: Page) -> list[str]:
    ids: list[str] = page.locator("article[data-model-id]").evaluate_all(
        "(cards) => cards.map((c) => c.dataset.modelId)"
    )
    return ids


def test_the_hub_filter_and_sort_live_in_the_url(dashboard: Dashboard, stack: Stack) -> None:
    stack.approve_simulated_node()
    stack.register(MODEL)
    wait_ready(stack, MODEL)
    items = stack.api.get("/v0/models/hub", headers=ADMIN).json()
    ready = sorted(
        (item for item in items if item["status"] == "ready"),
        key=lambda item: (-((item["hf_info"] or {}).get("downloads", -1)), item["name"]),
    )
    page = dashboard.sign_in(ADMIN_TOKEN, role="admin")
    expect(page.locator("article[data-model-id]")).to_have_count(CATALOG_SIZE)

    page.get_by_label("Status", exact=True).select_option("ready")
    page.get_by_label("Sort by", exact=True).select_option("downloads")
    expect(page).to_have_url(re.compile(r"/\?status=ready&sort=downloads$"))
    expect(page.locator("article[data-model-id]")).to_have_count(len(ready))
    assert card_ids(page) == [item["id"] for item in ready]

    page.reload()
    expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "live")
    expect(page.get_by_label("Status", exact=True)).to_have_value("ready")
    expect(page.get_by_label("Sort by", exact=True)).to_have_value("downloads")
    expect(page.locator("article[data-model-id]")).to_have_count(len(ready))
    expect(page.get_by_text(f"{len(ready)} of {CATALOG_SIZE} models", exact=True)).to_be_visible()

    # Back undoes the sort, then the filter; each step is a history entry of its own.
    page.go_back()
    expect(page).to_have_url(re.compile(r"/\?status=ready$"))
    expect(page.get_by_label("Sort by", exact=True)).to_have_value("name")
    page.go_back()
    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.get_by_label("Status", exact=True)).to_have_value("all")
    expect(page.locator("article[data-model-id]")).to_have_count(CATALOG_SIZE)

    # Sort by size, smallest first: the catalog's order by size_bytes.
    page.get_by_label("Sort by", exact=True).select_option("size")
    by_size = sorted(items, key=lambda item: (item["size_bytes"], item["name"].lower()))
    expect(page.locator("article[data-model-id]").first).to_have_attribute("data-model-id", by_size[0]["id"])
    assert card_ids(page) == [item["id"] for item in by_size]


def test_an_empty_result_names_the_search_and_clears_it(
    dashboard: Dashboard, screenshot: Callable[[Page, str], None]
) -> None:
    page = dashboard.new_page()
    page.goto(f"{dashboard.base}/")
    page.get_by_label("Token").fill(ADMIN_TOKEN)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("article[data-model-id]")).to_have_count(CATALOG_SIZE)

    page.get_by_label("Search models").fill("zzz-no-such-model")
    page.get_by_label("Status", exact=True).select_option("available")
    expect(page.locator("article[data-model-id]")).to_have_count(0)
    empty = page.get_by_test_id("no-match")
    expect(empty).to_have_text(re.compile("No model matches “zzz-no-such-model” and status available"))
    expect(page).to_have_url(re.compile(r"q=zzz-no-such-model"))
    screenshot(page, "hub-no-match")

    # A shared link opens the same empty result.
    shared = dashboard.new_page()
    shared.goto(page.url)
    shared.get_by_label("Token").fill(ADMIN_TOKEN)
    shared.get_by_role("button", name="Sign in").click()
    expect(shared.get_by_test_id("no-match")).to_be_visible()
    expect(shared.get_by_label("Search models")).to_have_value("zzz-no-such-model")

    empty.get_by_role("button", name="Clear search and filter").click()
    expect(page.locator("article[data-model-id]")).to_have_count(CATALOG_SIZE)
    expect(page.get_by_test_id("no-match")).to_have_count(0)
    expect(page.get_by_label("Search models")).to_have_value("")
    expect(page).to_have_url(re.compile(r"/$"))


def test_unregister_on_a_hub_card_through_the_dialog(dashboard: Dashboard, stack: Stack) -> None:
    stack.register(OTHER_MODEL)
    name = stack.hub_item(OTHER_MODEL)["name"]
    page = dashboard.sign_in(ADMIN_TOKEN, role="admin")
    check = watch_reloads(page, navigations=True)
    model = card(page, OTHER_MODEL)
    expect(model).not_to_have_attribute("data-status", "available")
    expect(model.get_by_role("button", name="Register", exact=True)).to_have_count(0)

    model.get_by_role("button", name="Unregister", exact=True).click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_have_accessible_name(f"Unregister {name}?")
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_have_count(0)
    assert stack.hub_item(OTHER_MODEL)["status"] != "available", "Cancel unregistered the model"

    model.get_by_role("button", name="Unregister", exact=True).click()
    page.get_by_role("dialog").get_by_role("button", name="Unregister", exact=True).click()
    expect(page.get_by_role("dialog")).to_have_count(0)
    expect(model).to_have_attribute("data-status", "available", timeout=WAIT_MS)
    expect(model.get_by_role("button", name="Register", exact=True)).to_be_enabled()
    expect(model.get_by_role("button", name="Unregister", exact=True)).to_have_count(0)
    assert stack.hub_item(OTHER_MODEL)["status"] == "available"
    check()


def test_a_pending_node_says_it_waits_for_approval(
    dashboard: Dashboard, stack: Stack, screenshot: Callable[[Page, str], None]
) -> None:
    page = dashboard.sign_in(READ_TOKEN, role="read")
    go(page, "Nodes")
    row = node_row(page, PENDING_NODE)
    expect(row).to_have_attribute("data-status", "pending")
    expect(row.get_by_test_id("waiting-approval")).to_have_text("Waiting for approval — retrying")
    expect(row.get_by_text("Last heartbeat", exact=False)).to_have_count(0)
    expect(row.get_by_text("stale", exact=True)).to_have_count(0)
    screenshot(page, "nodes-pending")
    # An approved node still shows its heartbeat.
    stack.approve_simulated_node()
    expect(node_row(page, SIM_NODE).get_by_text(re.compile(r"^Last heartbeat: "))).to_be_visible()
    expect(node_row(page, SIM_NODE).get_by_test_id("waiting-approval")).to_have_count(0)


def test_an_offline_nodes_row_is_marked(
    dashboard: Dashboard, stack: Stack, screenshot: Callable[[Page, str], None]
) -> None:
    stack.approve_simulated_node()
    stack.register(MODEL)
    wait_ready(stack, MODEL)
    page = dashboard.sign_in(ADMIN_TOKEN, role="admin")
    go(page, "Local")
    local = card(page, MODEL)
    local.get_by_role("button", name="Show nodes").click()
    row = local.locator(f'li[data-runtime-id="{SIM_NODE}"]')
    expect(row).to_have_attribute("data-offline", "false", timeout=WAIT_MS)
    expect(row.get_by_test_id("node-offline")).to_have_count(0)

    stack.stop_simulator()
    try:
        expect(row).to_have_attribute("data-offline", "true", timeout=OFFLINE_AFTER * 1000 + WAIT_MS)
        expect(row.get_by_test_id("node-offline")).to_have_text("node offline")
        screenshot(page, "local-offline")
    finally:
        stack.resume_simulator()
    expect(row).to_have_attribute("data-offline", "false", timeout=WAIT_MS)


def test_the_sign_in_page_says_where_tokens_come_from(dashboard: Dashboard) -> None:
    page = dashboard.new_page()
    page.goto(f"{dashboard.base}/")
    hint = page.get_by_test_id("token-hint")
    expect(hint).to_be_visible()
    for text in (
        "MODELHUB_ADMIN_TOKEN",
        "MODELHUB_READ_TOKEN",
        "modelhub serve --dev",
        "just serve",
        "dev-tokens.json",
    ):
        expect(hint).to_contain_text(text)
