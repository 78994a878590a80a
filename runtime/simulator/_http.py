"""The node API as the simulator calls it: one shared ``httpx.AsyncClient``, a concurrency limit, counters.

Requests are built from URL and header objects made once per run, and sent with ``client.send``:
``client.request`` would merge a base URL, default headers and cookies into every request, a quarter
to a third of the simulator's CPU per heartbeat. The pool keeps as many keep-alive connections as
requests may be in flight; httpcore checks every idle connection of its pool on each request, so a
smaller pool costs less CPU per request (see ``SimulatorConfig.connections``).
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

import httpx
import msgspec

from generated.types import ErrorBody
from runtime.agent.wire import LenientDecoder
from runtime.simulator._config import KEEPALIVE_EXPIRY

if TYPE_CHECKING:
    from collections.abc import Iterable

    from runtime.simulator._config import SimulatorConfig
    from runtime.simulator._stats import SimulatorStats

_error = LenientDecoder(ErrorBody)  # a newer server may add fields: ignore them (runtime.agent.wire)


class NodeApi:
    """``POST /v0/nodes``, heartbeats and ``GET /v0/models`` for a run's nodes; ``open`` before use."""

    def __init__(
        self,
        config: SimulatorConfig,
        stats: SimulatorStats,
        runtime_ids: Iterable[str],
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        """Build every URL once; nothing is sent yet."""
        self.config = config
        self.stats = stats
        base = config.server.rstrip("/")
        self.nodes_url = httpx.URL(f"{base}/v0/nodes")
        self.models_url = httpx.URL(f"{base}/v0/models")
        self.heartbeat_urls = {
            runtime_id: httpx.URL(f"{base}/v0/nodes/{runtime_id}/heartbeat") for runtime_id in runtime_ids
        }
        self._headers = httpx.Headers({"Authorization": f"Bearer {config.token}", "Content-Type": "application/json"})
        self._extensions = {"timeout": httpx.Timeout(config.timeout).as_dict()}
        self._transport = transport
        self._client: httpx.AsyncClient | None = None
        self._slots = asyncio.Semaphore(config.connections)

    def open(self) -> None:
        """Create the shared client."""
        limits = httpx.Limits(
            max_connections=self.config.connections,
            max_keepalive_connections=self.config.connections,
            keepalive_expiry=KEEPALIVE_EXPIRY,
        )
        self._client = httpx.AsyncClient(limits=limits, timeout=self.config.timeout, transport=self._transport)

    async def aclose(self) -> None:
        """Close the shared client and its connections."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def send(
        self, method: str, url: httpx.URL, body: bytes | None, *, heartbeat: bool = False
    ) -> httpx.Response | None:
        """One request under the concurrency limit; None (counted) on a transport error.

        A heartbeat counts as sent, and its latency is taken, once it has a connection slot.
        """
        async with self._slots:
            if heartbeat:
                self.stats.heartbeats_sent += 1
            started = time.perf_counter()
            try:
                response = await self.request(method, url, body)
            except httpx.TransportError as error:
                self.stats.error(type(error).__name__, transport_error(error))
                return None
            if heartbeat:
                self.stats.latency(time.perf_counter() - started)
            return response

    async def request(self, method: str, url: httpx.URL, body: bytes | None) -> httpx.Response:
        """Send one request now, outside the limit and the counters; transport errors propagate."""
        client = self._client
        assert client is not None, "NodeApi.open() first"
        request = httpx.Request(method, url, headers=self._headers, content=body, extensions=self._extensions)
        return await client.send(request)

    def count_error(self, response: httpx.Response) -> str:
        """Count a non-2xx answer by status and code; return the code."""
        code, message = error_of(response)
        self.stats.error(f"{response.status_code} {code}", message)
        return code


def error_of(response: httpx.Response) -> tuple[str, str]:
    """The error code and message of an answer (``unknown`` and its text when it has no error body)."""
    try:
        detail = _error.decode(response.content).error
    except msgspec.DecodeError:
        return "unknown", response.text[:200] or response.reason_phrase
    return detail.code, detail.message


def describe(response: httpx.Response) -> str:
    """``<status> <code>: <message>`` for one line of output."""
    code, message = error_of(response)
    return f"{response.status_code} {code}: {message}"


def transport_error(error: httpx.TransportError) -> str:
    """The error's class and message, e.g. ``ConnectError: [Errno 111] Connection refused``."""
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
