"""The app's background tasks: an async action every so many seconds, and the tasks of a replica's role."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Coroutine

__all__ = ["RoleTasks", "run_periodically"]

logger = logging.getLogger(__name__)


async def run_periodically(interval: float, action: Callable[[], Awaitable[object]]) -> None:
    """Await ``action()`` every ``interval`` seconds until cancelled; log a failure and go on."""
    while True:
        await asyncio.sleep(interval)
        try:
            await action()
        except Exception:
            logger.exception("periodic task failed")


class RoleTasks:
    """The tasks of a replica's role: the leader's duties or a follower's, switched as leadership changes.

    ``switch`` cancels the other role's tasks and starts this role's; ``stop`` cancels and awaits
    every task ever started, so none outlives the app (a cancelled task still runs its clean-up).
    """

    def __init__(
        self,
        leader: Callable[[], list[Coroutine[Any, Any, None]]],
        follower: Callable[[], list[Coroutine[Any, Any, None]]],
    ) -> None:
        """``leader`` and ``follower`` make the coroutines of each role."""
        self._roles = {True: leader, False: follower}
        self._running: list[asyncio.Task[None]] = []
        self._retired: list[asyncio.Task[None]] = []
        self._stopped = False
        self.leading: bool | None = None

    def switch(self, leading: bool) -> None:
        """Take the role (a leadership listener)."""
        if self._stopped or leading == self.leading:
            return
        self.leading = leading
        for task in self._running:
            task.cancel()
        self._retired += self._running
        self._running = [asyncio.create_task(coroutine) for coroutine in self._roles[leading]()]

    async def stop(self) -> None:
        """Cancel every task and wait for each to finish."""
        self._stopped = True
        tasks, self._running, self._retired = [*self._retired, *self._running], [], []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
