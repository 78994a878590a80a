"""The node agent's loop: register, then heartbeat every ``heartbeat_interval`` and sync the desired set.

What each answer makes the agent do:

- 200: the reports were accepted; the answer's models become the desired set (``Syncer.apply``).
- 403 on a heartbeat: the node awaits approval; nothing is fetched; heartbeats go on at the interval.
  The log says so once, with how an administrator approves the node (``POST /v0/nodes/<id>/approve``
  with the admin token, or Approve in the dashboard's Nodes view), then reminds at most every
  ``APPROVAL_REMINDER`` seconds, and says when the node is approved.
- 404 ``not_registered`` / ``model_not_supported``: a model went away; ``GET /v0/models`` refreshes the
  desired set (its files are deleted, its report dropped) and the heartbeat is sent again at once.
- 404 ``node_not_found``: the server forgot the node (deleted, or a new database); register again.
- 409 ``invalid_transition``: the server holds another state than the agent believed; the model whose
  report the error's ``pointer`` names (``/models/<index>...``; every model when it names none) is
  resynchronised through ``failed`` (``report.Reporter``) and the heartbeat is sent again at once.
- No answer, a timeout or a 5xx: logged, then retried with backoff (up to 30 s); downloads go on.
- 401, or 403 on registration: the token is wrong; ``run_node`` raises (``modelhub node`` exits 1).

At most three heartbeats in a row are resent at once; then the interval applies again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
import time
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING
from urllib.parse import quote

import httpx
import msgspec

from generated.types import Heartbeat, NodeRegistration, NodeStatus
from runtime.agent.api import ServerClient
from runtime.agent.backoff import Backoff
from runtime.agent.cache import Cache
from runtime.agent.config import hostname_runtime_id, is_runtime_id
from runtime.agent.errors import (
    Forbidden,
    InvalidTransition,
    ModelRejected,
    NodeNotFound,
    NodePending,
    ServerRejected,
    ServerUnavailable,
    Unauthorized,
)
from runtime.agent.metrics import MetricsSampler
from runtime.agent.progress import format_duration
from runtime.agent.report import Reporter
from runtime.agent.sync import Syncer
from runtime.agent.transport import DownloadTransport

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from runtime.agent.config import NodeConfig

logger = logging.getLogger(__name__)

IMMEDIATE_RETRIES = 3
"""Heartbeats resent at once in a row (after a 404 or 409) before the interval applies again."""
APPROVAL_REMINDER = 60.0
"""Seconds between two log lines saying the node still waits for approval (not one per 2 s heartbeat)."""


class Agent:
    """One node: its server client, its download client, its cache and its loop."""

    def __init__(
        self,
        config: NodeConfig,
        *,
        runtime_id: str,
        server: ServerClient,
        files: httpx.AsyncClient,
        cache: Cache,
        metrics: MetricsSampler | None = None,
        download_backoff: Backoff | None = None,
        server_backoff: Backoff | None = None,
        approval_reminder: float = APPROVAL_REMINDER,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Wire the parts; ``run`` starts the loop."""
        self.config = config
        self.runtime_id = runtime_id
        self.server = server
        self.metrics = metrics or MetricsSampler()
        self.syncer = Syncer(
            cache,
            files,
            concurrency=config.concurrency,
            chunk_size=config.chunk_size,
            hf_token=config.hf_token,
            backoff=download_backoff,
            limits=config.speed_limits,
        )
        self.reporter = Reporter()
        self.server_backoff = server_backoff or Backoff(base=min(1.0, config.heartbeat_interval), cap=30.0)
        self.status: NodeStatus | None = None
        self._failures = 0
        self._immediate = 0
        self.approval_reminder = approval_reminder
        self.clock = clock
        self._waiting_since = self._reminded = 0.0

    async def run(self, stop: asyncio.Event) -> None:
        """Register, then heartbeat until ``stop`` is set; downloads stop with it (partial files stay)."""
        try:
            if not await self._register(stop):
                return
            clock = asyncio.get_running_loop().time
            due = clock()
            while not await _wait(stop, due - clock()):  # every interval from the start of each heartbeat
                started = clock()
                due = started + await self.beat()
        finally:
            await self.syncer.close()
            logger.info("node %s stopped", self.runtime_id)

    async def _register(self, stop: asyncio.Event) -> bool:
        """Register until the server answers; False if stopped first."""
        while True:
            try:
                await self.register()
                return True
            except ServerUnavailable as error:
                delay = self._unavailable(error)
            if await _wait(stop, delay):
                return False

    async def register(self) -> None:
        """``POST /v0/nodes`` once (with the GPU memory when ``nvidia-smi`` tells it)."""
        gpu = await self.metrics.gpu()
        total = gpu.memory_total_bytes if gpu is not None else None
        registration = NodeRegistration(
            runtime_id=self.runtime_id,
            machine_name=self.config.machine_name,
            gpu_memory_bytes=total if total is not None else msgspec.UNSET,
        )
        node = await self.server.register(registration)
        self._failures = 0
        self._status(node.status)

    async def beat(self) -> float:
        """Send one heartbeat and act on the answer; return the seconds until the next."""
        interval = self.config.heartbeat_interval
        try:
            return await self._beat(interval)
        except ServerUnavailable as error:
            return self._unavailable(error)
        except (Unauthorized, Forbidden):
            raise
        except ServerRejected as error:
            logger.error("the server rejected the heartbeat: %s", error)
            return interval

    async def _beat(self, interval: float) -> float:
        reports = self.reporter.reports(self.syncer.reports())
        heartbeat = Heartbeat(metrics=await self.metrics.sample(), models=reports)
        try:
            answer = await self.server.heartbeat(self.runtime_id, heartbeat)
        except NodePending:
            self._failures = 0
            self._status(NodeStatus.pending)
            return interval
        except ModelRejected as error:
            logger.info("%s; refreshing the registered models", error.message)
            await self.syncer.apply(await self.server.models())
            return self._again(interval)
        except InvalidTransition as error:
            index = error.report_index
            models = [reports[index].model_id] if index is not None and index < len(reports) else None
            self.reporter.resync(models or [report.model_id for report in reports], error.message)
            logger.warning("the server holds other model states (%s); resynchronising", error.message)
            return self._again(interval)
        except NodeNotFound:
            logger.warning("the server does not know node %s any more; registering again", self.runtime_id)
            await self.register()
            return self._again(interval)
        self._failures = self._immediate = 0
        self._status(answer.status)
        self.reporter.accepted(reports)
        await self.syncer.apply(answer.models, retained=answer.retained or ())
        return interval

    def _again(self, interval: float) -> float:
        self._immediate += 1
        return 0.0 if self._immediate <= IMMEDIATE_RETRIES else interval

    def _unavailable(self, error: ServerUnavailable) -> float:
        self._failures += 1
        delay = self.server_backoff.delay(self._failures)
        logger.warning("the server is unavailable (%s); trying again in %.1f s", error, delay)
        return delay

    def _status(self, status: NodeStatus) -> None:
        now = self.clock()
        if status == NodeStatus.pending:
            if self.status != NodeStatus.pending:
                self._waiting_since = self._reminded = now
                logger.warning(
                    "node %s is waiting for an administrator's approval; nothing is fetched until then. "
                    "To approve it: %s, or Approve in the dashboard's Nodes view",
                    self.runtime_id,
                    self._how_to_approve(),
                )
            elif now - self._reminded >= self.approval_reminder:
                self._reminded = now
                logger.warning(
                    "node %s is still waiting for approval (for %s): %s, or the dashboard's Nodes view",
                    self.runtime_id,
                    format_duration(now - self._waiting_since),
                    self._how_to_approve(),
                )
        elif self.status == NodeStatus.pending:
            logger.info("node %s was approved; it is %s", self.runtime_id, status.value)
        elif status != self.status:
            logger.info("node %s is %s", self.runtime_id, status.value)
        self.status = status

    def _how_to_approve(self) -> str:
        url = f"{self.config.server.rstrip('/')}/v0/nodes/{quote(self.runtime_id, safe=':')}/approve"
        return f"POST {url} with the admin token (Authorization: Bearer $MODELHUB_ADMIN_TOKEN)"


async def _wait(stop: asyncio.Event, seconds: float) -> bool:
    """Wait ``seconds`` or until ``stop``; whether ``stop`` is set."""
    if stop.is_set() or seconds <= 0:
        return stop.is_set()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
    return stop.is_set()


@contextlib.contextmanager
def _stop_on_signals(stop: asyncio.Event) -> Iterator[None]:
    """Set ``stop`` on SIGTERM and SIGINT while the block runs (main thread only; elsewhere a no-op)."""
    loop = asyncio.get_running_loop()
    installed = []
    if threading.current_thread() is threading.main_thread():
        for number in (signal.SIGTERM, signal.SIGINT):
            try:
                loop.add_signal_handler(number, stop.set)
            except (NotImplementedError, RuntimeError, ValueError):
                continue
            installed.append(number)
    try:
        yield
    finally:
        for number in installed:
            loop.remove_signal_handler(number)


def _user_agent() -> str:
    try:
        return f"modelhub-node/{version('modelhub')}"
    except PackageNotFoundError:
        return "modelhub-node"


async def run_node(config: NodeConfig, *, stop: asyncio.Event | None = None) -> None:
    """Run a node until ``stop`` is set, or SIGTERM / SIGINT arrives.

    Raises:
        CacheError: The cache directory cannot be used.
        Unauthorized: The server does not know the token.
        Forbidden: The token is not a node token.
    """
    stop = stop or asyncio.Event()
    cache = await asyncio.to_thread(Cache.open, config.cache_dir)
    runtime_id = config.runtime_id or cache.runtime_id(hostname_runtime_id, is_runtime_id)
    timeout = httpx.Timeout(
        config.request_timeout, connect=min(15.0, config.request_timeout), read=config.read_timeout, pool=None
    )
    limits = httpx.Limits(max_connections=config.concurrency + 4, max_keepalive_connections=config.concurrency)
    with _stop_on_signals(stop):
        async with (
            ServerClient(config.server, config.token, timeout=config.request_timeout) as server,
            httpx.AsyncClient(
                transport=DownloadTransport(limits=limits),
                follow_redirects=True,
                timeout=timeout,
                headers={"user-agent": _user_agent()},
            ) as files,
        ):
            logger.info("node %s: cache %s, server %s", runtime_id, config.cache_dir, config.server)
            agent = Agent(config, runtime_id=runtime_id, server=server, files=files, cache=cache)
            await agent.run(stop)
