"""The transport for file downloads: httpx's own, on connections that read up to 1 MiB per socket read.

httpcore reads 64 KiB at a time, and every read passes through h11 and httpx's stream layers: on
loopback that caps a download near 300 MB/s of one core, while curl writes 650 MB/s to disk. Reading
up to ``READ_SIZE`` per call lets each read take whatever the socket holds (uvloop hands over up to
256 KiB), which is about 1.5x faster. The pool is httpcore's public ``AsyncConnectionPool`` with a
public ``AsyncNetworkBackend``; only putting it in place uses httpx's ``_pool`` attribute (httpx is
pinned, and ``tests/runtime/agent/test_transport.py`` fails if that stops working).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpcore
import httpx

if TYPE_CHECKING:
    import ssl
    from collections.abc import Iterable

    from httpcore import AsyncNetworkStream

READ_SIZE = 1 << 20
"""Largest socket read, in bytes."""


class WideStream(httpcore.AsyncNetworkStream):
    """A network stream whose reads ask for at least ``read_size`` bytes."""

    def __init__(self, stream: AsyncNetworkStream, read_size: int) -> None:
        self.stream, self.read_size = stream, read_size

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        """Read up to ``max(max_bytes, read_size)`` bytes."""
        return await self.stream.read(max(max_bytes, self.read_size), timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        """Write ``buffer``."""
        await self.stream.write(buffer, timeout)

    async def aclose(self) -> None:
        """Close the stream."""
        await self.stream.aclose()

    async def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> AsyncNetworkStream:
        """Upgrade to TLS; the TLS stream reads wide as well."""
        return WideStream(await self.stream.start_tls(ssl_context, server_hostname, timeout), self.read_size)

    def get_extra_info(self, info: str) -> Any:
        """What the underlying stream says (``ssl_object``, ``is_readable``, ...)."""
        return self.stream.get_extra_info(info)


class WideBackend(httpcore.AsyncNetworkBackend):
    """httpcore's anyio backend, with ``WideStream`` connections."""

    def __init__(self, read_size: int = READ_SIZE, backend: httpcore.AsyncNetworkBackend | None = None) -> None:
        self.backend = backend or httpcore.AnyIOBackend()
        self.read_size = read_size

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> AsyncNetworkStream:
        """Connect over TCP."""
        stream = await self.backend.connect_tcp(host, port, timeout, local_address, socket_options)
        return WideStream(stream, self.read_size)

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> AsyncNetworkStream:
        """Connect to a Unix socket."""
        return WideStream(await self.backend.connect_unix_socket(path, timeout, socket_options), self.read_size)

    async def sleep(self, seconds: float) -> None:
        """Sleep (httpcore uses it between retries)."""
        await self.backend.sleep(seconds)


class DownloadTransport(httpx.AsyncHTTPTransport):
    """``httpx.AsyncHTTPTransport`` (TLS verified as by default) whose connections read wide."""

    def __init__(self, *, limits: httpx.Limits, read_size: int = READ_SIZE) -> None:
        """Build the pool with ``WideBackend``.

        Args:
            limits: Connection limits, as for ``httpx.AsyncClient``.
            read_size: Largest socket read, in bytes.
        """
        super().__init__(limits=limits)
        self.backend = WideBackend(read_size)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=self.backend,
        )
