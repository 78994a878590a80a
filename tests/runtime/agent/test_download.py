"""fetch_file against the fake Hub over loopback (and MockTransport for what the Hub never does)."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from typing import Any

import httpx
import msgspec
import pytest

from runtime.agent.download import Fetched, FileSpec, fetch_file
from runtime.agent.errors import ChecksumMismatch, FileUnavailable, Interrupted, SizeMismatch, TooSlow
from runtime.agent.parts import PartInfo, info_path, part_path, resumable_size
from runtime.agent.throughput import SpeedLimits
from runtime.catalog.manifests import resolve_url
from runtime.fakehub import file_sha256
from tests.runtime.agent.conftest import (
    BIG_NAME,
    BIG_REPO,
    BIG_SIZE,
    GATED_REPO,
    TINY_A,
    TINY_B,
    TINY_GATED,
    content,
    hostile_file_server,
    sha256_of,
)

CHUNK = 256 * 1024


def spec_of(model, hub_url: str, **changes) -> FileSpec:
    file = model.recommended_filename
    values = {
        "name": file.rpartition("/")[2],
        "url": resolve_url(hub_url, model.repo, "main", file),
        "size": model.size_bytes,
        "sha256": model.sha256 if isinstance(model.sha256, str) else None,
        **changes,
    }
    return FileSpec(**values)


class Recorder:
    """Collects the requests and response statuses of a client (event hooks)."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.statuses: list[int] = []

    async def on_request(self, request: httpx.Request) -> None:
        self.requests.append(request)

    async def on_response(self, response: httpx.Response) -> None:
        self.statuses.append(response.status_code)

    def client(self) -> httpx.AsyncClient:
        hooks: dict[str, list[Any]] = {"request": [self.on_request], "response": [self.on_response]}
        return httpx.AsyncClient(follow_redirects=True, timeout=10, event_hooks=hooks)


def write_part(target, data: bytes, url: str, size: int | None, etag: str | None = None) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    part_path(target).write_bytes(data)
    info_path(target).write_bytes(msgspec.json.encode(PartInfo(url=url, size=size, etag=etag)))


async def test_a_fresh_download_is_verified_and_renamed(hub, tmp_path):
    spec = spec_of(TINY_A, hub.url)
    target = tmp_path / spec.name
    seen: list[tuple[int, int | None]] = []
    async with Recorder().client() as client:
        result = await fetch_file(client, spec, target, chunk_size=CHUNK, progress=lambda d, s: seen.append((d, s)))
    assert result.size == TINY_A.size_bytes
    assert result.sha256 == TINY_A.sha256 == sha256_of(target)
    assert sorted(p.name for p in tmp_path.iterdir()) == [spec.name]  # no .part, no .part.json
    done = [d for d, _ in seen]
    assert done == sorted(done)
    assert seen[-1] == (TINY_A.size_bytes, TINY_A.size_bytes)


async def test_a_file_without_sha256_is_checked_by_size_only(hub, tmp_path):
    spec = spec_of(TINY_B, hub.url)
    async with Recorder().client() as client:
        result = await fetch_file(client, spec, tmp_path / spec.name, chunk_size=CHUNK)
    assert result.sha256 is None
    assert (tmp_path / spec.name).read_bytes() == content(TINY_B)


async def test_a_partial_download_resumes_with_range_and_hashes_the_prefix(hub, tmp_path):
    spec = spec_of(TINY_A, hub.url)
    target = tmp_path / spec.name
    kept = 1_234_567  # not on a block boundary
    write_part(target, content(TINY_A)[:kept], spec.url, spec.size)
    recorder = Recorder()
    seen: list[int] = []
    async with recorder.client() as client:
        result = await fetch_file(client, spec, target, chunk_size=CHUNK, progress=lambda d, s: seen.append(d))
    assert recorder.requests[0].headers["range"] == f"bytes={kept}-"
    assert recorder.statuses == [206]
    assert seen[0] == kept
    assert result.sha256 == TINY_A.sha256 == sha256_of(target)


async def test_a_resume_sends_if_range_with_the_recorded_etag(hub, tmp_path):
    spec = spec_of(TINY_B, hub.url)
    target = tmp_path / spec.name
    recorder = Recorder()
    async with recorder.client() as client:
        first = await client.head(spec.url)
        write_part(target, content(TINY_B)[:1000], spec.url, spec.size, etag=first.headers["etag"])
        await fetch_file(client, spec, target, chunk_size=CHUNK)
    assert recorder.requests[-1].headers["if-range"] == first.headers["etag"]
    assert target.read_bytes() == content(TINY_B)


async def test_a_part_of_another_url_is_discarded(hub, tmp_path):
    spec = spec_of(TINY_B, hub.url)
    target = tmp_path / spec.name
    write_part(target, b"x" * 1000, spec.url.replace("/main/", "/0123456789abcdef0123456789abcdef01234567/"), spec.size)
    assert resumable_size(target, spec) == 0
    recorder = Recorder()
    async with recorder.client() as client:
        await fetch_file(client, spec, target, chunk_size=CHUNK)
    assert "range" not in recorder.requests[0].headers
    assert target.read_bytes() == content(TINY_B)


async def test_a_part_longer_than_the_file_starts_over(hub, tmp_path):
    spec = spec_of(TINY_B, hub.url)
    target = tmp_path / spec.name
    write_part(target, b"y" * (TINY_B.size_bytes + 10), spec.url, spec.size)
    recorder = Recorder()
    async with recorder.client() as client:
        await fetch_file(client, spec, target, chunk_size=CHUNK)
    assert "range" not in recorder.requests[0].headers
    assert target.read_bytes() == content(TINY_B)


async def test_a_part_longer_than_a_file_of_unknown_size_gets_416_and_starts_over(hub, tmp_path):
    spec = spec_of(TINY_B, hub.url, size=None)
    target = tmp_path / spec.name
    write_part(target, b"y" * (TINY_B.size_bytes + 10), spec.url, None)
    recorder = Recorder()
    async with recorder.client() as client:
        result = await fetch_file(client, spec, target, chunk_size=CHUNK)
    assert recorder.statuses == [416, 200]
    assert result.size == TINY_B.size_bytes
    assert target.read_bytes() == content(TINY_B)


async def test_a_complete_part_is_verified_without_a_request(tmp_path):
    data = bytes(range(250)) * 20
    spec = FileSpec("f.bin", "http://files.invalid/f.bin", len(data), hashlib.sha256(data).hexdigest())
    target = tmp_path / "f.bin"
    write_part(target, data, spec.url, spec.size)
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(500)

    transport = httpx.MockTransport(handler)
    recorded: list[Fetched] = []
    async with httpx.AsyncClient(transport=transport) as client:
        result = await fetch_file(client, spec, target, on_verified=recorded.append)
    assert calls == []
    assert result.sha256 == spec.sha256
    assert recorded == [result]
    assert target.read_bytes() == data


async def test_a_corrupt_byte_fails_the_checksum_deletes_the_file_and_a_clean_retry_succeeds(hub, tmp_path):
    spec = spec_of(TINY_A, hub.url)
    target = tmp_path / spec.name
    hub.faults(corrupt={"offset": 2_000_000}, routes="resolve")
    async with Recorder().client() as client:
        with pytest.raises(ChecksumMismatch, match=r"sha256 \w+ does not match the manifest's"):
            await fetch_file(client, spec, target, chunk_size=CHUNK)
        assert list(tmp_path.iterdir()) == []
        hub.clear()
        result = await fetch_file(client, spec, target, chunk_size=CHUNK)
    assert result.sha256 == TINY_A.sha256 == sha256_of(target)


async def test_a_size_that_differs_from_the_manifest_fails_before_the_body(hub, tmp_path):
    spec = spec_of(TINY_B, hub.url, size=TINY_B.size_bytes + 1)
    target = tmp_path / spec.name
    async with Recorder().client() as client:
        with pytest.raises(SizeMismatch, match=f"the server has {TINY_B.size_bytes} bytes, the manifest says"):
            await fetch_file(client, spec, target, chunk_size=CHUNK)
        assert list(tmp_path.iterdir()) == []
        result = await fetch_file(client, spec_of(TINY_B, hub.url), target, chunk_size=CHUNK)
    assert result.size == TINY_B.size_bytes


class Body(httpx.AsyncByteStream):
    """A body without Content-Length, in pieces; ``then`` is raised after the last piece when given."""

    def __init__(self, *pieces: bytes, then: Exception | None = None) -> None:
        self.pieces, self.then = pieces, then

    async def __aiter__(self):
        for piece in self.pieces:
            yield piece
        if self.then is not None:
            raise self.then


async def test_a_body_longer_than_the_manifest_size_fails_and_deletes_the_part(tmp_path):
    transport = httpx.MockTransport(lambda request: httpx.Response(200, stream=Body(b"z" * 1500, b"z" * 1500)))
    target = tmp_path / "f.bin"
    async with httpx.AsyncClient(transport=transport) as client:
        with pytest.raises(SizeMismatch, match="the server sent more than 2000 bytes"):
            await fetch_file(client, FileSpec("f.bin", "http://files.invalid/f.bin", size=2000), target)
    assert list(tmp_path.iterdir()) == []


async def test_a_file_of_unknown_size_is_taken_as_sent(tmp_path):
    transport = httpx.MockTransport(lambda request: httpx.Response(200, stream=Body(b"a" * 100, b"b" * 50)))
    async with httpx.AsyncClient(transport=transport) as client:
        result = await fetch_file(client, FileSpec("f.bin", "http://files.invalid/f.bin"), tmp_path / "f.bin")
    assert result.size == 150


async def test_an_error_status_names_the_hub_error_and_keeps_nothing(hub, tmp_path):
    model = TINY_GATED
    spec = FileSpec(model.recommended_filename, resolve_url(hub.url, GATED_REPO, "main", model.recommended_filename))
    async with Recorder().client() as client:
        with pytest.raises(FileUnavailable, match="HTTP 401 GatedRepo: Access to model") as caught:
            await fetch_file(client, spec, tmp_path / spec.name)
    assert caught.value.status == 401


async def test_a_server_that_ignores_range_makes_it_start_over(tmp_path):
    data = bytes(range(256)) * 40

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=data)  # no Range support at all

    spec = FileSpec("f.bin", "http://files.invalid/f.bin", len(data))
    target = tmp_path / "f.bin"
    write_part(target, b"garbage", spec.url, spec.size)
    seen: list[int] = []
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        await fetch_file(client, spec, target, progress=lambda d, s: seen.append(d))
    assert seen[0] == 0
    assert target.read_bytes() == data


async def test_a_broken_transfer_keeps_what_arrived_and_the_next_fetch_resumes(tmp_path):
    data = bytes(range(256)) * 4096  # 1 MiB
    spec = FileSpec("f.bin", "http://files.invalid/f.bin", len(data), hashlib.sha256(data).hexdigest())
    ranges = []

    def handler(request: httpx.Request) -> httpx.Response:
        ranges.append(request.headers.get("range"))
        if "range" not in request.headers:
            broken = Body(data[:300_000], then=httpx.ReadError("connection reset by peer"))
            return httpx.Response(200, headers={"content-length": str(len(data))}, stream=broken)
        start = int(request.headers["range"].removeprefix("bytes=").rstrip("-"))
        headers = {"content-range": f"bytes {start}-{len(data) - 1}/{len(data)}"}
        return httpx.Response(206, content=data[start:], headers=headers)

    target = tmp_path / "f.bin"
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        with pytest.raises(Interrupted, match="the transfer broke off"):
            await fetch_file(client, spec, target, chunk_size=64 * 1024)
        assert part_path(target).read_bytes() == data[:300_000]
        assert resumable_size(target, spec) == 300_000
        result = await fetch_file(client, spec, target, chunk_size=64 * 1024)
    assert ranges == [None, "bytes=300000-"]
    assert result.sha256 == spec.sha256
    assert target.read_bytes() == data


SLOW_FETCH = """
import asyncio, sys, time
from pathlib import Path
import httpx
from runtime.agent.download import Fetched, FileSpec, fetch_file
url, target, size, sha = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
async def main():
    async with httpx.AsyncClient(timeout=30) as client:
        spec = FileSpec(target.name, url, size, sha)
        # 20 ms per 256 KiB: slow enough to be killed in the middle
        await fetch_file(client, spec, target, chunk_size=256 * 1024, progress=lambda done, size: time.sleep(0.02))
asyncio.run(main())
"""


async def test_a_download_killed_with_sigkill_resumes_in_the_next_process(hub, tmp_path):
    sha = file_sha256(BIG_REPO, BIG_NAME, BIG_SIZE)
    spec = FileSpec(BIG_NAME, resolve_url(hub.url, BIG_REPO, "main", BIG_NAME), BIG_SIZE, sha)
    target = tmp_path / BIG_NAME
    argv = [sys.executable, "-c", SLOW_FETCH, spec.url, str(target), str(BIG_SIZE), sha]
    process = subprocess.Popen(argv, cwd=os.getcwd())
    try:
        deadline = time.monotonic() + 20
        while not (part_path(target).exists() and part_path(target).stat().st_size >= 2 << 20):
            assert process.poll() is None, "the download ended before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.01)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
    kept = resumable_size(target, spec)
    assert 2 << 20 <= kept < BIG_SIZE
    recorder = Recorder()
    async with recorder.client() as client:
        result = await fetch_file(client, spec, target)
    assert recorder.requests[0].headers["range"] == f"bytes={kept}-"
    assert recorder.statuses == [206]
    assert result.sha256 == sha == sha256_of(target)


async def test_a_wrong_range_in_the_answer_discards_the_part(tmp_path):
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(206, content=b"abc", headers={"content-range": "bytes 0-2/3"})

    spec = FileSpec("f.bin", "http://files.invalid/f.bin", 3)
    target = tmp_path / "f.bin"
    write_part(target, b"a", spec.url, spec.size)
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        with pytest.raises(Interrupted, match="another range than bytes=1-"):
            await fetch_file(client, spec, target)
    assert not part_path(target).exists()


SLOW_SIZE = 1_000_000
QUICK = SpeedLimits(read_timeout=0.5, min_rate=1024, window=1.0)


async def test_a_dripping_server_is_given_up_below_the_minimum_rate_and_the_part_is_kept(tmp_path):
    async with hostile_file_server(SLOW_SIZE, burst=100, drip=1, every=0.05) as server:
        spec = FileSpec("slow.bin", f"{server.url}/slow.bin", size=SLOW_SIZE)
        target = tmp_path / spec.name
        started = time.monotonic()
        async with httpx.AsyncClient(timeout=10) as client:
            with pytest.raises(TooSlow) as caught:
                await fetch_file(client, spec, target, chunk_size=CHUNK, limits=QUICK)
    assert 1.0 <= time.monotonic() - started < 5
    assert caught.value.reason.startswith("slow.bin: download too slow: ")
    assert caught.value.reason.endswith(" B/s over the last 1 s, below the minimum of 1 KiB/s")
    assert isinstance(caught.value, Interrupted)
    assert resumable_size(target, spec) >= 100  # what arrived is kept for a resume


async def test_a_stalled_server_is_given_up_after_the_read_timeout(tmp_path):
    async with hostile_file_server(SLOW_SIZE, burst=5000, drip=0) as server:
        spec = FileSpec("stalled.bin", f"{server.url}/stalled.bin", size=SLOW_SIZE)
        started = time.monotonic()
        async with httpx.AsyncClient(timeout=10) as client:  # the limits' read timeout wins over the client's
            with pytest.raises(TooSlow, match=r"^stalled\.bin: no data for 0\.5 s from the file server$"):
                await fetch_file(client, spec, tmp_path / spec.name, chunk_size=CHUNK, limits=QUICK)
    assert 0.5 <= time.monotonic() - started < 3
    assert resumable_size(tmp_path / spec.name, spec) == 5000


async def test_without_limits_the_clients_read_timeout_applies(tmp_path):
    async with hostile_file_server(SLOW_SIZE, drip=0) as server:
        spec = FileSpec("stalled.bin", f"{server.url}/stalled.bin", size=SLOW_SIZE)
        async with httpx.AsyncClient(timeout=httpx.Timeout(10, read=0.3)) as client:
            with pytest.raises(TooSlow, match=r"no data for 0\.3 s"):
                await fetch_file(client, spec, tmp_path / spec.name, chunk_size=CHUNK)


async def test_a_fast_download_passes_strict_limits(hub, tmp_path):
    spec = spec_of(TINY_A, hub.url)
    strict = SpeedLimits(read_timeout=5, min_rate=1024**2, window=0.01)
    async with Recorder().client() as client:
        result = await fetch_file(client, spec, tmp_path / spec.name, chunk_size=CHUNK, limits=strict)
    assert result.sha256 == TINY_A.sha256
