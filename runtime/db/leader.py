"""`Leadership`: which of the ``modelhub serve`` replicas sharing a PostgreSQL database runs the cluster-wide duties.

The offline timer and the Hugging Face refreshes must run on one replica, the leader. The leader is
the replica whose dedicated connection holds a session-level advisory lock
(``pg_try_advisory_lock(KEY)``); every replica tries to take it every ``retry_interval`` seconds, and
only one session can hold it.

Why a session advisory lock on a dedicated connection (one raw ``asyncpg`` connection, never one from
SQLAlchemy's pool, which would hand it to other work and recycle it):

* PostgreSQL itself releases the lock when the session ends, however it ends: a replica killed with
  ``kill -9`` holds no lock a moment later. There is no lease table to expire or clean up, no clock to
  trust, and no home-made consensus: PostgreSQL is already the single point every replica agrees on.
* Leadership therefore lasts exactly as long as that connection. The leader checks it with a
  ``SELECT 1`` (timeout ``retry_interval``) every ``retry_interval`` seconds; when the check fails
  (connection lost, PostgreSQL down, network cut) the replica steps down at once and terminates the
  connection, so that its lock is surely gone on the server, and goes back to trying.

How long a handover takes: at most ``retry_interval`` (the next try of a follower) after PostgreSQL
has noticed that the old leader is gone.

* On ``kill -9`` or any crash, the kernel closes the dead process's socket; the server reads end-of-file
  at once, ends the session and drops the lock. Handover within ``retry_interval``.
* A clean stop (`Leadership.close`, or the task running `Leadership.run` cancelled) unlocks and closes:
  likewise within ``retry_interval``.
* On a network partition between a leader and PostgreSQL, or when the leader's whole machine dies,
  nothing is closed, and the server only learns from TCP that the client is gone: the connection asks
  the server for keepalives (``tcp_keepalives_idle=10``, ``tcp_keepalives_interval=5``,
  ``tcp_keepalives_count=3``: a silent peer is dropped after about 25 s) and ``tcp_user_timeout=25000``
  (data unacknowledged for 25 s drops it, where keepalives do not apply). Handover then takes about
  25 s plus ``retry_interval``. These settings are sent as ``server_settings`` in the start-up packet
  (``tcp_user_timeout`` needs PostgreSQL 12 or later; neither applies on a Unix-domain socket, where
  there is no network to partition). asyncpg itself has no client-side keepalive option.

Caveat: two leaders can overlap briefly. A leader learns that it lost its session only at its next
check, so when PostgreSQL drops the session first (a restart, an administrator's
``pg_terminate_backend``) another replica may take the lock while the old leader still believes it
leads, for at most ``retry_interval`` (``2 * retry_interval`` if the check itself times out). On a
partition the old leader steps down after ``2 * retry_interval`` at most, long before the server drops
its session, so there is no overlap. The duties run by the leader are idempotent (marking silent nodes
offline, refreshing Hugging Face statistics: running one twice writes the same rows), so an overlap
costs duplicate work, never wrong data.

The connection must reach PostgreSQL directly (or through a session-pooling proxy): a
transaction-pooling PgBouncer would move the session's lock between clients.

Any other database (SQLite: one process by design) has no election: the instance is always the leader.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol, cast

from sqlalchemy.engine import make_url

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["DEFAULT_KEY", "Leadership"]

logger = logging.getLogger(__name__)

DEFAULT_KEY = int.from_bytes(b"mhleader", "big") & 0x7FFF_FFFF_FFFF_FFFF
"""The advisory lock's key: ASCII ``mhleader`` as a 63-bit integer, the same on every replica."""

CONNECT_TIMEOUT = 5.0
"""Seconds to wait for the dedicated connection (at least; ``retry_interval`` if that is longer)."""

SERVER_SETTINGS = {
    "application_name": "modelhub-leader",
    "tcp_keepalives_idle": "10",
    "tcp_keepalives_interval": "5",
    "tcp_keepalives_count": "3",
    "tcp_user_timeout": "25000",
}
"""Session settings of the dedicated connection: named in ``pg_stat_activity``, and dropped by the
server about 25 s after its client went silent (see the module's docstring)."""


class _Connection(Protocol):
    """The part of ``asyncpg.Connection`` used here (asyncpg has no type hints)."""

    async def fetchval(self, query: str, *args: object) -> object: ...

    async def close(self, *, timeout: float | None = None) -> None: ...

    def terminate(self) -> None: ...

    def is_closed(self) -> bool: ...


class Leadership:
    """This replica's part in the leader election; `run` it as a task (or `start` it) and read `is_leader`.

    Args:
        url: the runtime's SQLAlchemy database URL (``postgresql+asyncpg://user:pw@host:port/db`` or
            ``sqlite+aiosqlite:///...``). For PostgreSQL, one dedicated connection is opened to the same
            host, port, user, password and database; for anything else the instance is always the leader.
        retry_interval: seconds between two tries for the lock, and between two checks of a leader's
            connection (also the timeout of each check).
        key: the advisory lock's key; every replica of one cluster must use the same.
    """

    def __init__(self, url: str, *, retry_interval: float = 1.0, key: int = DEFAULT_KEY) -> None:
        self.url = make_url(url)
        self.retry_interval = retry_interval
        self.key = key
        self.listeners: list[Callable[[bool], None]] = []
        """Called with the new value whenever leadership changes (True: gained, False: lost)."""
        self.became_leader_at: datetime | None = None
        """When this replica last became the leader (UTC), None while it is not the leader."""
        self._postgres = self.url.get_backend_name() == "postgresql"
        self._leader = False
        self._connection: _Connection | None = None
        self._lock = asyncio.Lock()  # one operation at a time on the connection: `run` or `close`
        self._outage = False  # a failed connection was logged and no connection succeeded since
        self._closed = False
        self._task: asyncio.Task[None] | None = None

    @property
    def is_leader(self) -> bool:
        """Whether this replica is the leader now."""
        return self._leader

    def details(self) -> dict[str, object]:
        """For /readyz: ``{"leader": bool, "since": RFC 3339 time or None}``."""
        since = self.became_leader_at
        return {"leader": self._leader, "since": None if since is None else since.isoformat()}

    def start(self) -> asyncio.Task[None]:
        """`run` as a task of the running event loop (`close` ends it); a non-PostgreSQL instance leads on return."""
        if not self._postgres:
            self._set_leader(True)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self.run(), name="modelhub-leadership")
        return self._task

    async def run(self) -> None:
        """Take part in the election until cancelled (or `close`); never raises but `asyncio.CancelledError`."""
        try:
            if self._closed:
                return
            if not self._postgres:
                self._set_leader(True)
                await asyncio.Future()  # until cancelled
            while not self._closed:
                await self._step()
                await asyncio.sleep(self.retry_interval)
        finally:
            async with self._lock:
                await self._release()

    async def close(self) -> None:
        """Give up the leadership for good: unlock, close the connection, end `start`'s task. Idempotent."""
        self._closed = True
        task, self._task = self._task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        async with self._lock:
            await self._release()

    async def _step(self) -> None:
        """Connect if need be, then try for the lock (a follower) or check the connection (the leader)."""
        async with self._lock:
            if self._closed:
                return
            connection = self._connection
            if connection is not None and connection.is_closed():
                self._drop("the connection to PostgreSQL was closed")
                connection = None
            if connection is None:
                connection = self._connection = await self._connect()
                if connection is None:
                    return
            if self._leader:
                try:
                    await asyncio.wait_for(connection.fetchval("SELECT 1"), self.retry_interval)
                except Exception as error:
                    self._drop(_reason(error))
                return
            try:
                locked = await asyncio.wait_for(
                    connection.fetchval("SELECT pg_try_advisory_lock($1)", self.key), self.retry_interval
                )
            except Exception as error:
                # The lock may have been granted all the same: terminating the session surely releases it.
                self._drop(_reason(error))
                return
            if locked is True:
                self._set_leader(True)

    async def _connect(self) -> _Connection | None:
        """The dedicated connection, or None (logged once per outage) when PostgreSQL cannot be reached."""
        try:
            import asyncpg  # type: ignore[import-untyped]  # only with PostgreSQL (the ``postgres`` extra)

            options: dict[str, object] = {}
            ssl = self.url.query.get("ssl")
            if isinstance(ssl, str):
                options["ssl"] = ssl
            connection = await asyncpg.connect(
                host=self.url.host,
                port=self.url.port,
                user=self.url.username,
                password=self.url.password,
                database=self.url.database,
                timeout=max(CONNECT_TIMEOUT, self.retry_interval),
                server_settings=SERVER_SETTINGS,
                **options,
            )
        except Exception as error:
            if not self._outage:
                self._outage = True
                logger.warning(
                    "leader election: cannot connect to PostgreSQL at %s (%s); retrying every %g s",
                    self.url.render_as_string(hide_password=True),
                    _reason(error),
                    self.retry_interval,
                )
            return None
        if self._outage:
            self._outage = False
            logger.info("leader election: connected to PostgreSQL again")
        return cast("_Connection", connection)

    def _drop(self, reason: str) -> None:
        """Forget the connection after a failure (terminated: no lock can survive on it) and step down."""
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):
                connection.terminate()
        if self._leader:
            logger.warning("this replica lost the leadership (%s)", reason)
            self._set_leader(False)

    async def _release(self) -> None:
        """Unlock and close the connection, whatever fails on the way (closing alone releases the lock)."""
        connection, self._connection = self._connection, None
        if connection is not None:
            timeout = max(self.retry_interval, 1.0)
            if self._leader:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(connection.fetchval("SELECT pg_advisory_unlock($1)", self.key), timeout)
            try:
                await asyncio.wait_for(connection.close(), timeout)
            except Exception:
                with contextlib.suppress(Exception):
                    connection.terminate()
        if self._leader:
            logger.info("this replica gave up the leadership")
            self._set_leader(False)

    def _set_leader(self, leader: bool) -> None:
        """Record a change of leadership, log it and tell the listeners."""
        if leader == self._leader:
            return
        self._leader = leader
        self.became_leader_at = datetime.now(UTC) if leader else None
        if leader:
            logger.info("this replica is now the leader")
        for listener in list(self.listeners):
            try:
                listener(leader)
            except Exception:
                logger.exception("a leadership listener failed")


def _reason(error: BaseException) -> str:
    """``Type: first line of the message`` (``TimeoutError`` alone when there is no message)."""
    detail = str(error).splitlines()[0] if str(error) else ""
    return f"{type(error).__name__}: {detail}" if detail else type(error).__name__
