"""How fast one WebSocket connection may make the server work: a token bucket of topics per second.

The topic limit bounds what a connection holds, and the frame size what one frame carries; neither
bounds how many frames a client sends. One read-token client sending legal subscribe frames as fast
as the server read them took the event loop from everyone else (bench/ws_abuse.py: /healthz p99 22x
and other clients' events 59x their quiet figures). Each frame costs one unit plus one per topic it
names (a snapshot or a refusal each), or, when it does not parse, one per 256 bytes; a connection
whose bucket runs dry is simply not read until it refills. A dashboard subscribing a whole page at
once stays within the burst; only a flood waits, and it waits alone.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["FrameBudget"]


class FrameBudget:
    """Up to ``burst`` units at once, refilled at ``rate`` units per second."""

    def __init__(self, rate: float, burst: float, clock: Callable[[], float] = time.monotonic) -> None:
        """Start full."""
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self._tokens = burst
        self._at = clock()

    def charge(self, cost: float) -> float:
        """Take ``cost`` units; the seconds to wait before the connection is read again (0: none)."""
        now = self.clock()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate) - cost
        self._at = now
        return 0.0 if self._tokens >= 0 else -self._tokens / self.rate

    async def spend(self, cost: float) -> None:
        """Take ``cost`` units, waiting while the bucket is in debt."""
        wait = self.charge(cost)
        if wait > 0:
            await asyncio.sleep(wait)
