"""Shared pieces of the agent tests: a tiny catalog, a fake Hub serving it, a hostile file server, file helpers."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import msgspec
import pytest

from generated.types import Capability, ModelFormat, SupportedModel
from runtime.catalog.manifests import manifest
from runtime.fakehub import BLOCK, file_bytes, file_sha256
from runtime.fakehub.repos import sharded_index
from tests.fakehub import running_fake_hub

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator
    from pathlib import Path

    from generated.types import ModelManifest
    from tests.fakehub import FakeHubHandle

HF_TOKEN = "hf_SECRET_agent_test_token_0123456789"
GATED_REPO = "meta-llama/Llama-3.1-8B-Instruct"  # a recorded fixture the fake Hub serves as gated


def _model(
    model_id: str, repo: str, filename: str, size: int, *, sha256: bool = False, fmt: ModelFormat = ModelFormat.gguf
) -> SupportedModel:
    return SupportedModel(
        id=model_id,
        name=model_id,
        description=f"A small test model ({model_id}).",
        repo=repo,
        recommended_filename=filename,
        size_bytes=size,
        required_memory_bytes=size * 2,
        tags=("test",),
        capabilities=(Capability.TextGeneration,),
        format=fmt,
        sha256=file_sha256(repo, filename, size) if sha256 else msgspec.UNSET,
    )


TINY_A = _model("tiny-a", "fake-org/Tiny-A-GGUF", "tiny-a-q4_k_m.gguf", 3 * BLOCK + 4321, sha256=True)
TINY_B = _model("tiny-b", "fake-org/Tiny-B-GGUF", "sub/tiny-b-q8_0.gguf", BLOCK + 77)
TINY_GATED = _model("tiny-gated", GATED_REPO, "tiny-gated.gguf", BLOCK // 2 + 5)
TINY_SHARDED = _model(
    "tiny-sharded",
    "fake-org/Tiny-Sharded",
    "model.safetensors.index.json",
    2 * BLOCK + 999,
    fmt=ModelFormat.safetensors,
)
TEST_CATALOG = (TINY_A, TINY_B, TINY_GATED, TINY_SHARDED)
BIG_REPO, BIG_NAME, BIG_SIZE = "fake-org/Big-Files", "big.bin", 16 * BLOCK + 3
"""A file large enough to kill a download in the middle of."""
BY_ID = {model.id: model for model in TEST_CATALOG}


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def content(model: SupportedModel, path: str | None = None, size: int | None = None) -> bytes:
    """What the fake Hub serves for a file of ``model`` (its recommended file by default)."""
    path = path or model.recommended_filename
    return b"".join(file_bytes(model.repo, path, size if size is not None else model.size_bytes))


def shards(model: SupportedModel) -> dict[str, int]:
    """The shards (name -> size) the fake Hub serves for a sharded model."""
    index = sharded_index(model.recommended_filename, model.size_bytes)
    assert index is not None
    return index[1]


def manifest_of(model: SupportedModel, hub_url: str) -> ModelManifest:
    return manifest(model, hub_url)


@pytest.fixture(scope="package")
def fake_hub() -> Iterator[FakeHubHandle]:
    with running_fake_hub(catalog=TEST_CATALOG, extra_files={BIG_REPO: {BIG_NAME: BIG_SIZE}}) as handle:
        yield handle


@pytest.fixture
def hub(fake_hub: FakeHubHandle) -> FakeHubHandle:
    fake_hub.clear()
    fake_hub.reset_stats()
    return fake_hub


@dataclass
class HostileFileServer:
    """A file server on loopback that announces ``size`` bytes, then sends ``burst`` bytes and drips or stalls.

    ``drip`` bytes every ``every`` seconds after the burst (0: it stalls, sending nothing more). It
    records when each request came and its headers (lower-cased names).
    """

    size: int
    burst: int = 0
    drip: int = 1
    every: float = 0.1
    url: str = ""
    closed: bool = False
    requests: list[tuple[float, dict[str, str]]] = field(default_factory=list)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")[1:]
            headers = {
                name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)
            }
            self.requests.append((time.monotonic(), headers))
            writer.write(f"HTTP/1.1 200 OK\r\nContent-Length: {self.size}\r\nConnection: close\r\n\r\n".encode())
            writer.write(b"x" * self.burst)
            await writer.drain()
            sent = self.burst
            while not self.closed:
                await asyncio.sleep(self.every)
                if self.drip and sent < self.size - self.drip:  # never the whole file
                    writer.write(b"x" * self.drip)
                    sent += self.drip
                    await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


@contextlib.asynccontextmanager
async def hostile_file_server(size: int, **options: Any) -> AsyncIterator[HostileFileServer]:
    """A ``HostileFileServer`` on a free 127.0.0.1 port until the block ends."""
    hostile = HostileFileServer(size, **options)
    tasks: set[asyncio.Task[Any]] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        tasks.add(task)
        await hostile.handle(reader, writer)

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    hostile.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    try:
        yield hostile
    finally:
        server.close()
        hostile.closed = True  # each handler ends within ``every`` seconds
        if tasks:
            await asyncio.wait(tasks, timeout=10)
        await server.wait_closed()
