"""A uvicorn server that drains before it stops: ``/readyz`` says 503 first, so the load balancer moves away.

uvicorn's own graceful shutdown closes the listening socket at once and lets requests in flight
finish; a load balancer that still counts the replica as up sends it new requests for up to one
health-check interval, and a POST on a keep-alive connection it is closing meets an empty answer.
With ``MODELHUB_SHUTDOWN_DRAIN`` seconds set, the first SIGTERM/SIGINT only marks the app as
draining (``/readyz`` answers 503, ``checks.shutdown``); uvicorn's shutdown starts when the drain is
over. A second signal stops at once.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import uvicorn

if TYPE_CHECKING:
    from types import FrameType

    from litestar import Litestar

__all__ = ["DrainingServer"]


class DrainingServer(uvicorn.Server):
    """``uvicorn.Server`` that answers not-ready for ``drain`` seconds after the first stop signal."""

    def __init__(self, config: uvicorn.Config, app: Litestar, drain: float) -> None:
        """Serve ``app`` as ``config`` says; drain ``drain`` seconds (0: stop at once, as uvicorn does)."""
        super().__init__(config)
        self._app = app
        self._drain = drain
        self._timer: threading.Timer | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        """The first signal starts the drain; the second, or the drain's end, uvicorn's shutdown."""
        if self._drain <= 0 or self._timer is not None:
            super().handle_exit(sig, frame)
            return
        self._app.state.draining = True
        # uvicorn's loop looks at should_exit every 0.1 s: setting it from the timer's thread is safe.
        self._timer = threading.Timer(self._drain, super().handle_exit, (sig, None))
        self._timer.daemon = True
        self._timer.start()
