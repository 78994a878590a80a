"""`ChangeFeed`: the other replicas' updates, heard on PostgreSQL's LISTEN/NOTIFY channel.

One dedicated asyncpg connection LISTENs on `FEED_CHANNEL` (a pooled connection could not: the
subscription lives as long as its connection). Payloads are handed to ``receive`` one at a time, in
the order PostgreSQL delivers them, which is commit order. A notification sent while this replica
was not listening is lost for it, so after every (re)connection ``resync`` runs first (the
lifecycle reloads the database) and the updates heard meanwhile are applied after it; they are
idempotent and never replace newer state, so applying one the reload already saw is harmless.

While the connection is down the replica keeps serving from memory; ``healthy`` says so in
``/readyz``, and the feed reconnects every ``retry_interval`` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

import asyncpg  # type: ignore[import-untyped]  # no type information published
from sqlalchemy.engine import make_url

from runtime.db.sql import FEED_CHANNEL

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

__all__ = ["ChangeFeed", "connect_args"]

logger = logging.getLogger(__name__)

_RESYNC = object()
"""Queued first after each connection: reload before applying what was heard since."""


def connect_args(url: str) -> dict[str, Any]:
    """asyncpg.connect keyword arguments for a ``postgresql+asyncpg://`` SQLAlchemy URL."""
    parsed = make_url(url)
    return {
        "host": parsed.host,
        "port": parsed.port,
        "user": parsed.username,
        "password": parsed.password,
        "database": parsed.database,
    }


class ChangeFeed:
    """Listen for the other replicas' updates; ``run`` until cancelled."""

    def __init__(
        self,
        url: str,
        *,
        receive: Callable[[str], Awaitable[None]],
        resync: Callable[[], Awaitable[None]],
        retry_interval: float = 1.0,
    ) -> None:
        """``receive`` each payload; ``resync`` after each connection, before what was heard since."""
        self._args = connect_args(url)
        self._receive = receive
        self._resync = resync
        self.retry_interval = retry_interval
        self.healthy = False
        """Listening, and caught up since the last connection."""
        self.received = 0
        self._queue: asyncio.Queue[object] = asyncio.Queue()
        self._lost = asyncio.Event()

    async def run(self) -> None:
        """Listen, reconnecting after a loss; apply what is heard."""
        consumer = asyncio.create_task(self._consume())
        outage_logged = False
        try:
            while True:
                try:
                    connection = await asyncpg.connect(**self._args, timeout=max(1.0, self.retry_interval * 5))
                except (OSError, asyncpg.PostgresError, TimeoutError) as error:
                    if not outage_logged:
                        logger.warning("replication feed: cannot connect (%s); retrying", type(error).__name__)
                        outage_logged = True
                    await asyncio.sleep(self.retry_interval)
                    continue
                outage_logged = False
                try:
                    await self._listen(connection)
                finally:
                    self.healthy = False
                    with contextlib.suppress(Exception):
                        connection.terminate()
                logger.warning("replication feed: the connection was lost; reconnecting")
                await asyncio.sleep(self.retry_interval)
        finally:
            consumer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await consumer

    async def _listen(self, connection: asyncpg.Connection) -> None:
        self._lost.clear()
        connection.add_termination_listener(lambda _: self._lost.set())
        await connection.add_listener(FEED_CHANNEL, self._heard)
        self._queue.put_nowait(_RESYNC)
        while not self._lost.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._lost.wait(), self.retry_interval)
            if self._lost.is_set():
                return
            try:  # a silent peer (cut network, stopped server) shows up here, not as a closed socket
                await asyncio.wait_for(connection.fetchval("SELECT 1"), self.retry_interval * 2)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError):
                return

    def _heard(self, connection: object, pid: int, channel: str, payload: str) -> None:
        self._queue.put_nowait(payload)

    async def _consume(self) -> None:
        while True:
            item = await self._queue.get()
            try:
                if item is _RESYNC:
                    await self._resync()
                    self.healthy = True
                else:
                    self.received += 1
                    await self._receive(str(item))
            except Exception:
                if item is _RESYNC:  # the database went away again: the next connection resyncs
                    logger.warning("replication feed: could not reload the state; waiting for the next connection")
                    self._lost.set()
                else:
                    logger.exception("replication feed: an update could not be applied")
