"""MODELHUB_SHUTDOWN_DRAIN: after SIGTERM a real `modelhub serve` says not-ready and keeps answering, then stops."""

from __future__ import annotations

import signal
import time
from typing import TYPE_CHECKING

import httpx

from tests.runtime.conftest import READ, live_server

if TYPE_CHECKING:
    from pathlib import Path

DRAIN = 2.0


def test_the_first_sigterm_drains_then_the_server_stops(tmp_path: Path) -> None:
    with live_server(tmp_path, MODELHUB_SHUTDOWN_DRAIN=str(DRAIN)) as (base, process):
        assert httpx.get(f"{base}/readyz", timeout=5).status_code == 200
        process.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        while True:  # /readyz turns 503 at once, and the other routes keep answering during the drain
            ready = httpx.get(f"{base}/readyz", timeout=5)
            if ready.status_code == 503:
                break
            assert time.monotonic() - signalled < 1, ready.text
        assert "draining" in ready.json()["checks"]["shutdown"]
        assert httpx.get(f"{base}/v0/models/hub", headers=READ, timeout=5).status_code == 200
        assert time.monotonic() - signalled < DRAIN
        process.wait(timeout=DRAIN + 10)
        assert time.monotonic() - signalled >= DRAIN


def test_without_a_drain_sigterm_stops_at_once(tmp_path: Path) -> None:
    with live_server(tmp_path) as (base, process):
        assert httpx.get(f"{base}/readyz", timeout=5).status_code == 200
        process.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        process.wait(timeout=10)
        assert time.monotonic() - signalled < DRAIN
