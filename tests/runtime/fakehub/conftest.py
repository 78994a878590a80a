"""Fixtures of the fake Hub's tests; each module starts its own ``server`` (its own extra files)."""

from __future__ import annotations

import httpx
import pytest


@pytest.fixture
def hub(server):
    """The module's fake Hub with no faults and its counts reset."""
    server.clear()
    server.reset_stats()
    return server


@pytest.fixture
def client(hub):
    """An HTTP client on it."""
    with httpx.Client(base_url=hub.url, timeout=5) as http:
        yield http
