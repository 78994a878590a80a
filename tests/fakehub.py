"""Run the fake Hub under uvicorn on loopback for a test: ``with running_fake_hub() as hub: ... hub.url``.

uvicorn runs in a background thread with its own event loop. ``Server.capture_signals`` installs signal
handlers only in the main thread, so nothing is touched there; the server is stopped by setting
``should_exit`` (and ``force_exit`` if it does not stop in time). The listening socket is bound here, on
port 0, and handed to uvicorn, so there is no race for a free port.
"""

from __future__ import annotations

import socket
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx
import uvicorn

from runtime.fakehub import create_fake_hub

if TYPE_CHECKING:
    from collections.abc import Iterator

    from litestar import Litestar

    from runtime.fakehub import FakeHub


@dataclass
class FakeHubHandle:
    """A running fake Hub: its base URL, its app, and its controls driven over HTTP."""

    url: str
    app: Litestar
    control: httpx.Client

    @property
    def hub(self) -> FakeHub:
        """The app's state (repos, faults, stats), for assertions."""
        hub: FakeHub = self.app.state.fakehub
        return hub

    def faults(self, **settings: Any) -> dict[str, Any]:
        """Replace every fault with ``settings`` (``PUT /_fake/faults``); returns the faults now in force."""
        response = self.control.put("/_fake/faults", json=settings)
        response.raise_for_status()
        faults: dict[str, Any] = response.json()
        return faults

    def clear(self) -> None:
        """No faults (``DELETE /_fake/faults``); hanging requests go on."""
        self.control.delete("/_fake/faults").raise_for_status()

    def stats(self) -> dict[str, Any]:
        """``GET /_fake/stats``."""
        response = self.control.get("/_fake/stats")
        response.raise_for_status()
        stats: dict[str, Any] = response.json()
        return stats

    def reset_stats(self) -> None:
        """``DELETE /_fake/stats``."""
        self.control.delete("/_fake/stats").raise_for_status()


@contextmanager
def running_fake_hub(**options: Any) -> Iterator[FakeHubHandle]:
    """A fake Hub (``create_fake_hub(**options)``) served on a free 127.0.0.1 port until the block ends."""
    app = create_fake_hub(**options)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on", timeout_graceful_shutdown=1)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, name="fake-hub", daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    control = httpx.Client(base_url=url, timeout=5)
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the fake Hub did not start")
            time.sleep(0.01)
        control.get("/_fake/faults").raise_for_status()
        yield FakeHubHandle(url, app, control)
    finally:
        try:
            if server.started:
                control.delete("/_fake/faults")  # let hanging requests finish, or shutdown waits for them
        except httpx.HTTPError:
            pass
        control.close()
        server.should_exit = True
        thread.join(timeout=5)
        if thread.is_alive():
            server.force_exit = True
            thread.join(timeout=5)
        listener.close()
