"""The runner: N simulated nodes in one asyncio loop, sharing one HTTP client.

Each node is a task that registers (``POST /v0/nodes``), then heartbeats every ``heartbeat_interval``
at its own phase: node ``i`` of ``N`` at ``interval * (i + u) / N`` past the start (``u`` random in
0..1), so 1,000 nodes arrive as an even stream rather than a burst. A late heartbeat skips the slots it
missed instead of catching up (counted as ``late``). Requests share one ``httpx.AsyncClient`` (HTTP/1.1
keep-alive, a pool of ``config.connections`` connections, and as many requests in flight at most;
``_http.NodeApi``).

How a node reacts to the server:

* 200: the answer's model list is the desired set (``SimNode.apply``), its status the node's phase
  (``online`` from the first accepted heartbeat on, whatever its models' states).
* 403 on a heartbeat: the node waits for approval; it tries again at its next slot.
* 404 ``not_registered`` (a model was deleted): the node reads ``GET /v0/models``, takes it as the
  truth and sends the heartbeat again at once.
* 404 ``node_not_found`` (an admin deleted the node): it registers again and sends the heartbeat again.
* 409 ``invalid_transition``: the server remembers other reports (e.g. from an earlier run with the
  same runtime ids); the node reports every model ``failed`` at once, then starts them again.
* anything else, or a transport error: counted; the node goes on at its next slot.

401 or 403 on registration means the token is wrong: the run stops with ``SimulatorError``. So does
a server that cannot be reached within ``connect_timeout`` at start-up.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import random
import time
from typing import TYPE_CHECKING, Any

import httpx
import msgspec

from generated.types import HeartbeatResponse, ModelManifest, Node
from runtime.agent.wire import LenientDecoder
from runtime.simulator._config import SimulatorError
from runtime.simulator._http import NodeApi, describe, transport_error
from runtime.simulator._node import NodePhase, SimNode
from runtime.simulator._stats import SimulatorStats, StatsSnapshot

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine

    from runtime.simulator._config import SimulatorConfig

#: Heartbeats a node sends at once after fixing what the server refused (a deleted model, a forgotten node).
_RETRIES = 2
#: Distinct heartbeat answers kept decoded: they are the same bytes for most nodes most of the time.
_ANSWER_CACHE = 64

_encoder = msgspec.json.Encoder()
#: The server's answers, decoded as a node agent does: fields this release does not know are ignored
#: (the server may be a release newer; ``runtime.agent.wire``).
_answers = LenientDecoder(HeartbeatResponse)
_manifests = LenientDecoder(list[ModelManifest])
_node = LenientDecoder(Node)
#: The server's node statuses that are phases of a simulated node (not ``offline``: a node that sends is not).
_PHASES = {phase.value: phase for phase in NodePhase if phase not in (NodePhase.starting, NodePhase.silent)}


class Simulator:
    """A simulator run: its nodes, its counters, and the settings that may change while it runs."""

    def __init__(self, config: SimulatorConfig, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        """Prepare the nodes (nothing is sent before ``run``); ``transport`` replaces the network in tests."""
        self.config = config
        self.seed = config.seed if config.seed is not None else random.SystemRandom().randrange(2**32)
        """The seed in use: ``config.seed``, or the one picked for this run (rerun with it to reproduce)."""
        self.nodes = [SimNode(index, config, self.seed) for index in range(config.nodes)]
        self.stats = SimulatorStats()
        phases = random.Random(f"{self.seed}:phases")
        self.offsets = [
            config.heartbeat_interval * (index + phases.random()) / config.nodes for index in range(config.nodes)
        ]
        """Seconds after the start at which each node's heartbeat slots begin."""
        self._api = NodeApi(config, self.stats, [node.runtime_id for node in self.nodes], transport)
        self._halt = asyncio.Event()
        self._failure: BaseException | None = None
        self._answer_cache: dict[bytes, HeartbeatResponse] = {}

    def reconfigure(
        self,
        *,
        failure_rate: float | None = None,
        flap_rate: float | None = None,
        flap_seconds: float | None = None,
        speed_bytes_per_s: float | None = None,
    ) -> None:
        """Change how the nodes behave from their next heartbeat on (e.g. stop failures during a demo)."""
        current = self.config
        self.config = dataclasses.replace(  # validated again
            current,
            failure_rate=current.failure_rate if failure_rate is None else failure_rate,
            flap_rate=current.flap_rate if flap_rate is None else flap_rate,
            flap_seconds=current.flap_seconds if flap_seconds is None else flap_seconds,
            speed_bytes_per_s=current.speed_bytes_per_s if speed_bytes_per_s is None else speed_bytes_per_s,
        )
        for node in self.nodes:
            node.config = self.config

    async def run(
        self, stop: asyncio.Event | None = None, on_stats: Callable[[StatsSnapshot], object] | None = None
    ) -> StatsSnapshot:
        """Run every node until ``stop`` is set (or this task is cancelled); return the whole run's figures.

        ``on_stats`` gets a snapshot every ``config.stats_interval`` seconds.

        Raises:
            SimulatorError: the server cannot be reached at start-up, or refuses the token.
        """
        tasks: list[asyncio.Task[None]] = []
        try:
            self._api.open()
            await self._preflight(self.nodes[0])
            start = asyncio.get_running_loop().time()
            tasks = [
                asyncio.create_task(self._guard(self._node_loop(node, start + offset)), name=node.runtime_id)
                for node, offset in zip(self.nodes, self.offsets, strict=True)
            ]
            if on_stats is not None:
                tasks.append(asyncio.create_task(self._guard(self._report(on_stats)), name="stats"))
            waiters = [asyncio.create_task(self._halt.wait())]
            if stop is not None:
                waiters.append(asyncio.create_task(stop.wait()))
            try:
                await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiter in waiters:
                    waiter.cancel()
                await asyncio.gather(*waiters, return_exceptions=True)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self._api.aclose()
        if self._failure is not None:
            raise self._failure
        return self.stats.snapshot(self.nodes, recent=False)

    # ----------------------------------------------------------------- per node

    async def _node_loop(self, node: SimNode, first: float) -> None:
        loop = asyncio.get_running_loop()
        interval = self.config.heartbeat_interval
        if node.phase is NodePhase.starting:
            while not await self._register(node):
                await asyncio.sleep(interval)
        due, _ = _next_slot(first, loop.time(), interval)
        last_step: float | None = None
        while True:
            await asyncio.sleep(max(0.0, due - loop.time()))
            if node.flaps():
                phase, node.phase = node.phase, NodePhase.silent
                await asyncio.sleep(node.flap_seconds())
                node.phase = phase
                due = last_step = loop.time()  # back now, on a new phase; nothing advanced while silent
            now = loop.time()
            node.step(now - last_step if last_step is not None else 0.0)
            last_step = now
            await self._beat(node)
            due, skipped = _next_slot(due + interval, loop.time(), interval)
            self.stats.late += skipped

    async def _beat(self, node: SimNode) -> None:
        """Send one heartbeat; fix what the server refused and send it again at once, at most ``_RETRIES`` times."""
        for _ in range(_RETRIES + 1):
            body = _encoder.encode(node.heartbeat())
            response = await self._api.send("POST", self._api.heartbeat_urls[node.runtime_id], body, heartbeat=True)
            if response is None:
                return
            if response.status_code == 200:
                answer = self._decode_answer(response.content)
                if answer is None:
                    self.stats.error("200 undecodable", "the heartbeat answer does not match HeartbeatResponse")
                    return
                self.stats.heartbeats_ok += 1
                node.apply(answer.models)
                node.phase = _PHASES.get(answer.status.value, node.phase)
                return
            status, code = response.status_code, self._api.count_error(response)
            if status == 403:
                node.phase = NodePhase.pending
                return
            if status == 404 and code == "node_not_found":
                node.phase = NodePhase.starting
                if not await self._register(node):
                    return
            elif status == 404 and code in ("not_registered", "model_not_supported"):
                if not await self._refresh(node):
                    return
            elif status == 409:
                self.stats.resyncs += 1
                node.resync("simulator resync: the server had other reports for this node")
            else:
                return

    async def _register(self, node: SimNode) -> bool:
        """``POST /v0/nodes``; True when registered. A refused token stops the run."""
        response = await self._api.send("POST", self._api.nodes_url, _encoder.encode(node.registration()))
        if response is None:
            return False
        if response.status_code in (200, 201):
            self._registered(node, response)
            return True
        self._api.count_error(response)
        if 400 <= response.status_code < 500:
            self._fail(SimulatorError(f"the server refused to register {node.runtime_id}: {describe(response)}"))
        return False

    async def _refresh(self, node: SimNode) -> bool:
        """Take ``GET /v0/models`` as the desired set; True when that worked."""
        response = await self._api.send("GET", self._api.models_url, None)
        if response is None:
            return False
        if response.status_code != 200:
            self._api.count_error(response)
            return False
        try:
            node.apply(_manifests.decode(response.content))
        except msgspec.DecodeError:
            self.stats.error("200 undecodable", "GET /v0/models does not answer a list of ModelManifest")
            return False
        return True

    # ----------------------------------------------------------------- plumbing

    async def _preflight(self, node: SimNode) -> None:
        """Register the first node, waiting up to ``connect_timeout`` for the server to answer at all."""
        config = self.config
        deadline = time.monotonic() + config.connect_timeout
        while True:
            try:
                response = await self._api.request("POST", self._api.nodes_url, _encoder.encode(node.registration()))
            except httpx.TransportError as error:
                if time.monotonic() >= deadline:
                    raise SimulatorError(f"cannot reach {config.server}: {transport_error(error)}") from None
                await asyncio.sleep(0.2)
                continue
            if response.status_code in (200, 201):
                self._registered(node, response)
                return
            if response.status_code >= 500 and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
                continue
            raise SimulatorError(f"{config.server} refused to register {node.runtime_id}: {describe(response)}")

    def _registered(self, node: SimNode, response: httpx.Response) -> None:
        self.stats.registrations += 1
        try:
            status = _node.decode(response.content).status.value
        except msgspec.DecodeError:
            status = NodePhase.registering.value
        node.phase = _PHASES.get(status, NodePhase.registering)  # offline: known from before, no heartbeat yet

    def _decode_answer(self, content: bytes) -> HeartbeatResponse | None:
        answer = self._answer_cache.get(content)
        if answer is None:
            try:
                answer = _answers.decode(content)
            except msgspec.DecodeError:
                return None
            if len(self._answer_cache) >= _ANSWER_CACHE:
                self._answer_cache.clear()
            self._answer_cache[content] = answer
        return answer

    async def _report(self, on_stats: Callable[[StatsSnapshot], object]) -> None:
        while True:
            await asyncio.sleep(self.config.stats_interval)
            on_stats(self.stats.snapshot(self.nodes))

    async def _guard(self, work: Coroutine[Any, Any, None]) -> None:
        """Await a node's or the reporter's coroutine; an unexpected exception stops the run and is re-raised."""
        try:
            await work
        except asyncio.CancelledError:
            raise
        except BaseException as error:  # a bug: surface it instead of losing one node silently
            self._fail(error)

    def _fail(self, error: BaseException) -> None:
        if self._failure is None:
            self._failure = error
        self._halt.set()


async def simulate(
    config: SimulatorConfig,
    *,
    stop: asyncio.Event | None = None,
    on_stats: Callable[[StatsSnapshot], object] | None = None,
) -> StatsSnapshot:
    """Run ``config.nodes`` simulated nodes until ``stop`` is set; return the whole run's figures.

    Raises:
        SimulatorError: the server cannot be reached at start-up, or refuses the token.
    """
    return await Simulator(config).run(stop, on_stats)


def _next_slot(due: float, now: float, interval: float) -> tuple[float, int]:
    """``due``, or the first slot ``due + k * interval`` not in the past; and ``k``, the slots skipped."""
    skipped = 0 if due >= now else math.ceil((now - due) / interval)
    return due + skipped * interval, skipped
