"""Run an async action every so many seconds, for the app's timers."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

__all__ = ["run_periodically"]

logger = logging.getLogger(__name__)


async def run_periodically(interval: float, action: Callable[[], Awaitable[object]]) -> None:
    """Await ``action()`` every ``interval`` seconds until cancelled; log a failure and go on."""
    while True:
        await asyncio.sleep(interval)
        try:
            await action()
        except Exception:
            logger.exception("periodic task failed")
