"""One WebSocket client's outgoing side: a bounded queue of frames and the task that sends them.

Why not Litestar's subscriber backlog: its strategies are to make the publisher wait ("backoff") or
to drop the oldest events silently ("dropleft") — the second is how the load balancer this design
comes from lost events without telling anyone. Here a client whose queue fills is *behind*: its
backlog is dropped, nothing more is queued for it, and once its socket takes data again it gets
``ResyncRequired`` and fresh snapshots, built at that moment. A stalled client so costs one blocked
send and an empty queue, and never delays publishers or other clients.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

__all__ = ["Connection"]


class Connection:
    """A subscribed client: its topics and its queue of frames to send."""

    def __init__(self, capacity: int) -> None:
        """Hold at most ``capacity`` unsent frames."""
        self.topics: set[str] = set()
        self.capacity = capacity
        self.behind = False
        """The queue overflowed: nothing is queued until the sender has caught up and resynchronised."""
        self.resyncs = 0
        self._frames: deque[str] = deque()
        self._wake = asyncio.Event()

    def push(self, frame: str) -> None:
        """Queue a frame; past ``capacity``, drop the backlog and fall behind."""
        if self.behind:
            return
        if len(self._frames) >= self.capacity:
            self.fall_behind()
            return
        self._frames.append(frame)
        self._wake.set()

    def push_all(self, frames: list[str]) -> None:
        """Queue several frames in order."""
        for frame in frames:
            self.push(frame)

    def fall_behind(self) -> None:
        """Drop everything queued; the sender will resynchronise this client."""
        self._frames.clear()
        self.behind = True
        self._wake.set()

    def pending(self) -> int:
        """How many frames wait to be sent."""
        return len(self._frames)

    async def send_forever(
        self, send: Callable[[str], Awaitable[None]], resync: Callable[[Connection], list[str]]
    ) -> None:
        """Send queued frames in order; when behind and drained, send what ``resync`` builds then."""
        frames = self._frames
        while True:
            await self._wake.wait()
            while frames or self.behind:
                if not frames:
                    self.behind = False
                    self.resyncs += 1
                    frames.extend(resync(self))
                    continue
                await send(frames.popleft())
            self._wake.clear()
