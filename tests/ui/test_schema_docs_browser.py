"""The API docs at /schema in Chromium with every request off the loopback interface blocked (an air-gapped cluster).

Swagger UI's files come from the built ``ui/dist/docs-assets`` (``just build``); the page must render the
operation list without trying to reach any other host (no CDN, no validator badge, no remote favicon).
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from tests.runtime.conftest import live_server
from tests.ui.conftest import UI_INDEX, WAIT_MS

if TYPE_CHECKING:
    from collections.abc import Iterator

    from playwright.sync_api import Browser, Route

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with live_server(tmp_path_factory.mktemp("docs"), MODELHUB_UI_DIR=str(UI_INDEX.parent)) as (url, _server):
        yield url


def test_the_docs_render_with_no_internet(browser: Browser, base: str) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(WAIT_MS)
    blocked: list[str] = []
    local: list[str] = []

    def only_loopback(route: Route) -> None:
        url = route.request.url
        if url.startswith("data:") or urlsplit(url).hostname == "127.0.0.1":
            local.append(url)
            route.continue_()
        else:
            blocked.append(url)
            route.abort()

    context.route("**/*", only_loopback)
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(f"{base}/schema")
        expect(page.locator(".swagger-ui .info .title")).to_contain_text("Model Hub")
        # the GET of the hub (its HEAD is listed too)
        expect(page.locator('.opblock-get .opblock-summary-path[data-path="/v0/models/hub"]')).to_be_visible()
        expect(page.locator('.opblock-summary-path[data-path="/v0/nodes/{runtime_id}/heartbeat"]')).to_be_visible()
        page.wait_for_load_state("networkidle")
    finally:
        context.close()
    assert blocked == []
    assert errors == []
    assert any(url.endswith("/docs-assets/swagger-ui-bundle.js") for url in local)
