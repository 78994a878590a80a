"""A registration that a catalog release removed, in Chromium: listed on the Local view, deleted by an admin.

This module runs its own server (it overrides the ``stack`` fixture of ``conftest.py``) on a SQLite file
that already holds a registration of ``retired-model``, a model id no catalog has: the server keeps it as
orphaned.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import httpx
import pytest
from playwright.sync_api import expect

from runtime.db import RegistrationRecord
from runtime.db.sql import SqlStore
from tests.runtime.conftest import ADMIN_TOKEN, READ, READ_TOKEN, live_server
from tests.ui.conftest import UI_INDEX, WAIT_MS

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from tests.ui.conftest import Dashboard

pytestmark = pytest.mark.browser

RETIRED = "retired-model"


@dataclass
class OrphanStack:
    """What the ``dashboard`` fixture needs of a stack: the base URL and the logs."""

    base: str
    api: httpx.Client
    tmp: Path

    def logs(self) -> str:
        return "\n".join(
            f"--- {path.name}\n{path.read_text(errors='replace')[-4000:]}" for path in sorted(self.tmp.glob("*.log"))
        )


async def seed(url: str) -> None:
    store = SqlStore(url)
    await store.open()
    try:
        await store.insert_registration(RegistrationRecord(RETIRED, datetime(2026, 1, 1, tzinfo=UTC)))
    finally:
        await store.close()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OrphanStack]:
    tmp = tmp_path_factory.mktemp("ui-orphaned")
    url = f"sqlite+aiosqlite:///{tmp / 'live.db'}"  # the file live_server's server uses
    with ThreadPoolExecutor(1) as thread:  # Playwright's sync API runs an event loop in this one
        thread.submit(lambda: asyncio.run(seed(url))).result()
    with ExitStack() as exits:
        base, _server = exits.enter_context(live_server(tmp, MODELHUB_UI_DIR=str(UI_INDEX.parent)))
        api = exits.enter_context(httpx.Client(base_url=base, timeout=10))
        yield OrphanStack(base, api, tmp)


def test_an_orphaned_registration_is_listed_and_an_admin_deletes_it(dashboard: Dashboard, stack: OrphanStack) -> None:
    reader = dashboard.sign_in(READ_TOKEN, role="read")
    reader.get_by_role("navigation", name="Views").get_by_role("link", name="Local", exact=True).click()
    orphan = reader.locator(f'article[data-model-id="{RETIRED}"]')
    expect(orphan).to_have_attribute("data-status", "orphaned", timeout=WAIT_MS)
    expect(reader.get_by_role("heading", name="Not in this release's catalog")).to_be_visible()
    expect(orphan.get_by_role("button", name="Delete")).to_have_count(0)  # read-only

    admin = dashboard.sign_in(ADMIN_TOKEN, role="admin")
    admin.get_by_role("navigation", name="Views").get_by_role("link", name="Local", exact=True).click()
    card = admin.locator(f'article[data-model-id="{RETIRED}"]')
    card.get_by_role("button", name="Delete").click()
    dialog = admin.get_by_role("dialog")
    expect(dialog).to_have_accessible_name(f"Delete {RETIRED}?")
    dialog.get_by_role("button", name="Delete").click()
    expect(card).to_have_count(0, timeout=WAIT_MS)
    assert stack.api.get("/v0/models/orphaned", headers=READ).json() == []
