"""One file: streamed to ``<name>.part``, resumed with HTTP Range, verified, then renamed into place.

Beside the partial file, ``<name>.part.json`` records the URL, the expected size and the strong ETag
the transfer started with. A later run (this process, or another after a kill) resumes only a part of
the same URL and size, sends ``If-Range`` so that a changed file starts over, and, when there is a
sha256 to check, hashes the part once more so that the digest covers every byte. The body is gathered
into lists of about ``chunk_size`` bytes, never joined: one thread appends each list to the file
(``os.writev``) while another hashes it, and the next list fills meanwhile, so about two chunks are
held however large the file is. The data is fsynced before the rename: a file under its final name
is complete.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeAlias

import httpx
import msgspec

from runtime.agent.errors import ChecksumMismatch, FileUnavailable, Interrupted, SizeMismatch, TooSlow
from runtime.agent.parts import PartInfo, discard, info_path, part_path, read_info, resumable_size
from runtime.agent.throughput import format_seconds

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from concurrent.futures import Future
    from pathlib import Path

    from runtime.agent.throughput import SpeedLimits, ThroughputGuard

logger = logging.getLogger(__name__)

CHUNK_SIZE = 4 * 1024 * 1024
"""Bytes per write (and per hash update) by default."""
WRITEBACK_WINDOW = 64 * 1024 * 1024
"""Bytes written between two hints to the kernel to write back and drop what is on disk."""
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")

Progress: TypeAlias = "Callable[[int, int | None], None]"
"""Told the bytes of the file on disk so far and its size when known."""


@dataclass(frozen=True, slots=True)
class FileSpec:
    """A file to fetch: its name in the model's directory, URL, and the size and sha256 when known."""

    name: str
    url: str
    size: int | None = None
    sha256: str | None = None


@dataclass(frozen=True, slots=True)
class Fetched:
    """A verified file: its size, and its sha256 when one was checked."""

    size: int
    sha256: str | None


def _reason(response: httpx.Response) -> str:
    """``HTTP 401 GatedRepo: Access to model … is restricted …`` from the Hub's error headers."""
    code = response.headers.get("x-error-code")
    message = response.headers.get("x-error-message") or response.reason_phrase
    return f"HTTP {response.status_code}" + (f" {code}" if code else "") + (f": {message}" if message else "")


class _Sink:
    """The part file and the digest; ``write`` runs in one thread and ``hash`` in another, each in order.

    Every ``WRITEBACK_WINDOW`` bytes, ``write`` asks the kernel to start writing the last window to disk
    and to drop the one before (clean by then) from the page cache. Without it, gigabytes of dirty pages
    pile up: the writer gets throttled and the final fsync waits for all of them (2 GB on the development
    machine: 4.9 s instead of 3.0 s, curl 2.7 s). Models are read once at load time, not kept hot.
    """

    def __init__(self, target: Path, offset: int, *, digest: bool) -> None:
        self.path = part_path(target)
        self.digest = hashlib.sha256() if digest else None
        self.cancelled = False
        self.file = self.path.open("r+b" if offset else "wb", buffering=0)
        self.file.truncate(offset)
        self.file.seek(offset)
        self.position = offset
        self.window = offset // WRITEBACK_WINDOW

    def hash_prefix(self, length: int, chunk_size: int) -> None:
        """Hash the first ``length`` bytes already in the file (a resumed part)."""
        if self.digest is None or not length:
            return
        buffer = memoryview(bytearray(chunk_size))
        with self.path.open("rb", buffering=0) as file:
            while length and not self.cancelled:
                count = file.readinto(buffer[: min(length, len(buffer))])
                if not count:
                    raise Interrupted(f"{self.path.name} shrank while it was read")
                self.digest.update(buffer[:count])
                length -= count

    def write(self, pieces: list[bytes]) -> None:
        """Append ``pieces`` with as few system calls as the platform allows (no joining copy on POSIX)."""
        fd = self.file.fileno()
        if not hasattr(os, "writev"):  # pragma: no cover - Windows
            pieces = [b"".join(pieces)]
        left = [memoryview(piece) for piece in pieces]
        while left:
            written = os.writev(fd, left) if hasattr(os, "writev") else os.write(fd, left[0])
            self.position += written
            while left and written >= len(left[0]):
                written -= len(left.pop(0))
            if written:
                left[0] = left[0][written:]
        window = self.position // WRITEBACK_WINDOW
        if window != self.window and hasattr(os, "posix_fadvise"):
            self.window = window
            start = max(0, window - 2) * WRITEBACK_WINDOW
            os.posix_fadvise(fd, start, window * WRITEBACK_WINDOW - start, os.POSIX_FADV_DONTNEED)

    def hash(self, pieces: list[bytes]) -> None:
        if self.digest is not None:
            for piece in pieces:
                self.digest.update(piece)

    def close(self, *, sync: bool) -> None:
        if sync:
            os.fsync(self.file.fileno())
        self.file.close()

    def hexdigest(self) -> str | None:
        return self.digest.hexdigest() if self.digest is not None else None


class _Threads:
    """The writer and the hasher thread of one fetch."""

    def __init__(self) -> None:
        self.writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="modelhub-write")
        self.hasher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="modelhub-hash")

    def shutdown(self) -> None:
        """Wait for the work in flight (at most one buffer each), even after a cancellation."""
        self.writer.shutdown(wait=True)
        self.hasher.shutdown(wait=True)


async def fetch_file(
    client: httpx.AsyncClient,
    spec: FileSpec,
    target: Path,
    *,
    headers: Mapping[str, str] | None = None,
    chunk_size: int = CHUNK_SIZE,
    progress: Progress | None = None,
    on_verified: Callable[[Fetched], None] | None = None,
    limits: SpeedLimits | None = None,
    clock: Callable[[], float] | None = None,
) -> Fetched:
    """Fetch ``spec`` to ``target``, resuming a partial download, and verify it.

    Args:
        client: The client to use (its transport, redirects and timeouts).
        spec: What to fetch.
        target: The final path; the partial file sits beside it.
        headers: Extra request headers (``Authorization`` for the Hub).
        chunk_size: Bytes per write and hash update.
        progress: Told the bytes on disk as they grow (they go down only when a part is discarded).
        on_verified: Called after verification and before the rename (to record the file first).
        limits: The read timeout (instead of the client's) and the minimum rate; None: the client's
            read timeout only.
        clock: Seconds for the minimum rate (default: the event loop's clock).

    Returns:
        The size (and sha256, when ``spec`` has one) of the file now at ``target``.

    Raises:
        FileUnavailable: An error status; the partial file is kept.
        Interrupted: The transfer broke off; the partial file is kept.
        TooSlow: No byte for the read timeout, or less than the minimum rate over a window; the partial
            file is kept.
        SizeMismatch: The size differs from ``spec.size`` (or the announced size); the partial file is deleted.
        ChecksumMismatch: The sha256 differs from ``spec.sha256``; the partial file is deleted.
        OSError: The disk failed.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    report = progress or (lambda done, size: None)
    offset = resumable_size(target, spec)
    info = read_info(target) if offset else None
    size = spec.size if spec.size is not None else (info.size if info else None)
    threads = _Threads()
    timeout = client.timeout
    if limits is not None:
        timeout = httpx.Timeout(
            connect=timeout.connect, read=limits.read_timeout, write=timeout.write, pool=timeout.pool
        )
    now = clock or asyncio.get_running_loop().time
    try:
        if size is not None and offset == size:  # complete but not renamed: check it on disk
            report(offset, size)
            result = await _check_part(spec, target, offset, chunk_size, threads)
            return _finish(spec, target, result, on_verified)
        for _ in range(2):  # a second round only after the server finds the part too long (416)
            request = {**(headers or {}), "accept-encoding": "identity"}
            if offset:
                request["range"] = f"bytes={offset}-"
                if info is not None and info.etag:
                    request["if-range"] = info.etag
            try:
                async with client.stream("GET", spec.url, headers=request, timeout=timeout) as response:
                    if response.status_code == 416 and offset:
                        logger.info("%s: the partial file is longer than the file; starting over", spec.name)
                        offset, info = 0, None
                        report(0, size)
                        continue
                    offset, size = _begin(spec, target, response, offset, report)
                    guard = limits.guard(now()) if limits is not None else None
                    result = await _stream(
                        spec, response, target, offset, size, chunk_size, threads, report, guard, now
                    )
            except httpx.ReadTimeout as error:
                waited = f"for {format_seconds(timeout.read)}" if timeout.read is not None else "in time"
                raise TooSlow(f"{spec.name}: no data {waited} from the file server") from error
            except httpx.HTTPError as error:
                raise Interrupted(f"{spec.name}: the transfer broke off ({type(error).__name__}: {error})") from error
            break
        else:
            raise Interrupted(f"{spec.name}: the server refused the range twice")
    finally:
        threads.shutdown()
    if size is not None and result.size != size:
        discard(target)
        raise SizeMismatch(f"{spec.name}: got {result.size} bytes, expected {size}")
    return _finish(spec, target, result, on_verified)


def _begin(
    spec: FileSpec, target: Path, response: httpx.Response, offset: int, report: Progress
) -> tuple[int, int | None]:
    """Check the answer's status and size; return where its body starts in the file, and the file's size."""
    if response.status_code not in (200, 206):
        raise FileUnavailable(response.status_code, f"{spec.name}: {_reason(response)}")
    total: int | None = None
    if response.status_code == 206:
        match = _CONTENT_RANGE.fullmatch(response.headers.get("content-range", "").strip())
        if match is None or int(match.group(1)) != offset:
            discard(target)  # the next attempt asks for the whole file
            raise Interrupted(f"{spec.name}: the server answered another range than bytes={offset}-")
        total = int(match.group(3)) if match.group(3) != "*" else None
    else:
        if offset:
            logger.info("%s: the server sent the whole file instead of the rest; starting over", spec.name)
            offset = 0
        length = response.headers.get("content-length", "")
        total = int(length) if length.isdigit() else None
    if spec.size is not None and total is not None and total != spec.size:
        discard(target)
        raise SizeMismatch(f"{spec.name}: the server has {total} bytes, the manifest says {spec.size}")
    size = spec.size if spec.size is not None else total
    if offset:
        logger.info("%s: resuming at byte %d of %s", spec.name, offset, size if size is not None else "?")
    else:
        logger.debug("%s: fetching %s bytes", spec.name, size if size is not None else "?")
        etag = response.headers.get("etag")
        strong = etag if etag and not etag.startswith("W/") else None
        info_path(target).write_bytes(msgspec.json.encode(PartInfo(url=spec.url, size=size, etag=strong)))
    report(offset, size)
    return offset, size


async def _check_part(spec: FileSpec, target: Path, size: int, chunk_size: int, threads: _Threads) -> Fetched:
    """Hash a complete part on disk (when there is a sha256 to check)."""
    sink = _Sink(target, size, digest=spec.sha256 is not None)
    try:
        await asyncio.wrap_future(threads.hasher.submit(sink.hash_prefix, size, chunk_size))
    finally:
        sink.cancelled = True  # stops a read that a cancellation left running
        await asyncio.shield(asyncio.wrap_future(threads.writer.submit(sink.close, sync=False)))
    return Fetched(size, sink.hexdigest())


async def _stream(
    spec: FileSpec,
    response: httpx.Response,
    target: Path,
    offset: int,
    size: int | None,
    chunk_size: int,
    threads: _Threads,
    report: Progress,
    guard: ThroughputGuard | None,
    now: Callable[[], float],
) -> Fetched:
    """Append the body to the part file (and hash it); what arrived stays on disk if the body breaks off.

    ``guard`` is fed every piece; a window below its minimum rate raises ``TooSlow``.
    """
    sink = _Sink(target, offset, digest=spec.sha256 is not None)
    prefix = threads.hasher.submit(sink.hash_prefix, offset, 1 << 20)
    in_flight: list[Future[None]] = []
    on_disk = queued = received = offset

    async def hand_over(pieces: list[bytes]) -> None:
        """Wait for the buffer in flight and report it, then start on ``pieces`` (empty: nothing more)."""
        nonlocal on_disk, queued
        for future in in_flight:
            await asyncio.wrap_future(future)
        if in_flight:
            in_flight.clear()
            on_disk = queued
            report(on_disk, size)
        if pieces:
            in_flight.extend((threads.writer.submit(sink.write, pieces), threads.hasher.submit(sink.hash, pieces)))
            queued += sum(map(len, pieces))

    try:
        pieces: list[bytes] = []
        gathered = 0
        try:
            async for piece in response.aiter_bytes():
                received += len(piece)
                if size is not None and received > size:
                    raise SizeMismatch(f"{spec.name}: the server sent more than {size} bytes")
                pieces.append(piece)
                gathered += len(piece)
                if guard is not None and (rate := guard.add(now(), len(piece))) is not None:
                    raise TooSlow(f"{spec.name}: {guard.reason(rate)}")
                if gathered >= chunk_size:
                    await hand_over(pieces)
                    pieces, gathered = [], 0
        except (httpx.TransportError, TooSlow):
            await hand_over(pieces)  # keep what arrived, for a resume
            await hand_over([])
            raise
        await hand_over(pieces)
        await hand_over([])
        await asyncio.wrap_future(prefix)
        await asyncio.wrap_future(threads.writer.submit(sink.close, sync=True))
    except BaseException as error:
        sink.cancelled = True
        closing = threads.writer.submit(sink.close, sync=False)  # after the write in flight
        if isinstance(error, SizeMismatch):
            await asyncio.wrap_future(closing)
            discard(target)
        raise
    return Fetched(on_disk, sink.hexdigest())


def _finish(spec: FileSpec, target: Path, result: Fetched, on_verified: Callable[[Fetched], None] | None) -> Fetched:
    """Check the sha256, then move the part into place (``on_verified`` records it first)."""
    if spec.sha256 is not None and result.sha256 != spec.sha256:
        discard(target)
        raise ChecksumMismatch(f"{spec.name}: sha256 {result.sha256} does not match the manifest's {spec.sha256}")
    if on_verified is not None:
        on_verified(result)
    os.replace(part_path(target), target)
    with contextlib.suppress(FileNotFoundError):
        info_path(target).unlink()
    with contextlib.suppress(OSError):  # make the rename durable where the platform allows it
        handle = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(handle)
        finally:
            os.close(handle)
    return result
