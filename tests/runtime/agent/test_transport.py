"""DownloadTransport: its connections really read wide (fails loudly if an httpx upgrade bypasses it)."""

from __future__ import annotations

import httpcore
import httpx

from runtime.agent.transport import DownloadTransport
from runtime.catalog.manifests import resolve_url
from tests.runtime.agent.conftest import TINY_A, content


class Recording(httpcore.AsyncNetworkBackend):
    def __init__(self) -> None:
        self.inner = httpcore.AnyIOBackend()
        self.reads: list[int] = []

    async def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        stream = await self.inner.connect_tcp(host, port, timeout, local_address, socket_options)
        backend = self

        class Stream(httpcore.AsyncNetworkStream):
            async def read(self, max_bytes, timeout=None):
                backend.reads.append(max_bytes)
                return await stream.read(max_bytes, timeout)

            async def write(self, buffer, timeout=None):
                await stream.write(buffer, timeout)

            async def aclose(self):
                await stream.aclose()

            def get_extra_info(self, info):
                return stream.get_extra_info(info)

        return Stream()

    async def sleep(self, seconds):
        await self.inner.sleep(seconds)


async def test_reads_ask_for_the_wide_size(hub):
    transport = DownloadTransport(limits=httpx.Limits(), read_size=512 * 1024)
    recording = Recording()
    transport.backend.backend = recording
    url = resolve_url(hub.url, TINY_A.repo, "main", TINY_A.recommended_filename)
    async with httpx.AsyncClient(transport=transport) as client:
        response = await client.get(url)
    assert response.content == content(TINY_A)
    assert recording.reads
    assert min(recording.reads) == 512 * 1024
