"""One file: streamed to ``<name>.part``, resumed with HTTP Range, verified, then renamed into place.

Next to the partial file, ``<name>.part.json`` records the URL, the expected size and the strong
ETag the transfer started with. A later run (of this process or another after a kill) resumes only a
part of the same URL and size, sends ``If-Range`` so a changed file starts over, and re-hashes the
part once so the sha256 covers every byte. The body is read into ``chunk_size`` buffers that a
writer thread appends and hashes while the next buffer arrives: at most two buffers are held, however
large the file. Before the rename the data is fsynced, so a file under its final name is complete.
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

from runtime.agent.errors import ChecksumMismatch, FileUnavailable, Interrupted, SizeMismatch

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from concurrent.futures import Future
    from pathlib import Path

logger = logging.getLogger(__name__)

CHUNK_SIZE = 4 * 1024 * 1024
"""Bytes per write (and per hash update) by default."""
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")

Progress: TypeAlias = "Callable[[int, int | None], None]"
"""Called with the bytes of the file on disk so far and its size when known."""


@dataclass(frozen=True, slots=True)
class FileSpec:
    """A file to fetch: its name in the model's directory, URL, and the size and sha256 when known."""

    name: str
    url: str
    size: int | None = None
    sha256: str | None = None


@dataclass(frozen=True, slots=True)
class Fetched:
    """A verified file: its size and sha256."""

    size: int
    sha256: str


class PartInfo(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The ``<name>.part.json`` beside a partial download."""

    url: str
    size: int | None = None
    etag: str | None = None


def part_path(target: Path) -> Path:
    """Where the partial download of ``target`` is kept."""
    return target.with_name(target.name + ".part")


def info_path(target: Path) -> Path:
    """Where the description of ``target``'s partial download is kept."""
    return target.with_name(target.name + ".part.json")


def resumable_size(target: Path, spec: FileSpec) -> int:
    """The bytes of a partial download of ``spec`` that a fetch would keep (0 if none would be)."""
    info = _read_info(info_path(target))
    try:
        size = part_path(target).stat().st_size
    except OSError:
        return 0
    if info is None or not _matches(info, spec) or (spec.size is not None and size > spec.size):
        return 0
    return size


def discard(target: Path) -> None:
    """Delete the partial download of ``target`` and its description."""
    for path in (part_path(target), info_path(target)):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _read_info(path: Path) -> PartInfo | None:
    try:
        return msgspec.json.decode(path.read_bytes(), type=PartInfo)
    except (OSError, msgspec.DecodeError):
        return None


def _matches(info: PartInfo, spec: FileSpec) -> bool:
    return info.url == spec.url and (spec.size is None or info.size in (None, spec.size))


def _strong_etag(response: httpx.Response) -> str | None:
    etag = response.headers.get("etag")
    return etag if etag and not etag.startswith("W/") else None


def _reason(response: httpx.Response) -> str:
    """``HTTP 401 GatedRepo: Access to model … is restricted …`` from the Hub's error headers."""
    code = response.headers.get("x-error-code")
    message = response.headers.get("x-error-message") or response.reason_phrase
    return f"HTTP {response.status_code}" + (f" {code}" if code else "") + (f": {message}" if message else "")


class _Sink:
    """Appends to the part file and hashes; its methods run in one writer thread, in order."""

    def __init__(self, path: Path, offset: int, chunk_size: int) -> None:
        self.path, self.offset, self.chunk_size = path, offset, chunk_size
        self.digest = hashlib.sha256()
        self.file = path.open("r+b" if offset else "wb", buffering=0)

    def rehash(self) -> None:
        """Hash the ``offset`` bytes already in the file (the resumed prefix) and drop any tail."""
        buffer = bytearray(self.chunk_size)
        view = memoryview(buffer)
        left = self.offset
        self.file.seek(0)
        while left:
            count = self.file.readinto(view[: min(left, len(buffer))])
            if not count:
                raise Interrupted(f"{self.path.name} shrank while it was re-read")
            self.digest.update(view[:count])
            left -= count
        self.file.truncate(self.offset)
        self.file.seek(self.offset)

    def write(self, data: bytearray) -> None:
        view = memoryview(data)
        while view:
            written = self.file.write(view)
            view = view[written or 0 :]
        self.digest.update(data)

    def close(self, *, sync: bool) -> None:
        if sync:
            os.fsync(self.file.fileno())
        self.file.close()


async def fetch_file(
    client: httpx.AsyncClient,
    spec: FileSpec,
    target: Path,
    *,
    headers: Mapping[str, str] | None = None,
    chunk_size: int = CHUNK_SIZE,
    progress: Progress | None = None,
    on_verified: Callable[[Fetched], None] | None = None,
) -> Fetched:
    """Fetch ``spec`` to ``target``, resuming a partial download, and verify it.

    Args:
        client: The client to use (its redirects, timeouts and pool).
        spec: What to fetch.
        target: The final path; the partial file sits beside it.
        headers: Extra request headers (``Authorization`` for the Hub).
        chunk_size: Bytes per write and hash update.
        progress: Told the bytes on disk after each write (they go down only when a part is discarded).
        on_verified: Called after verification, before the rename (to record the file first).

    Returns:
        The size and sha256 of the file now at ``target``.

    Raises:
        FileUnavailable: An error status; the partial file is kept.
        Interrupted: The transfer broke off; the partial file is kept.
        SizeMismatch: The server's size differs from ``spec.size``; the partial file is deleted.
        ChecksumMismatch: The sha256 differs from ``spec.sha256``; the partial file is deleted.
        OSError: The disk failed.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    report = progress or (lambda done, size: None)
    offset = resumable_size(target, spec)
    if not offset:
        discard(target)
    info = _read_info(info_path(target)) if offset else None
    size = spec.size if spec.size is not None else (info.size if info else None)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="modelhub-write") as writer:
        if size is not None and offset == size:  # complete but not renamed: verify on disk
            report(offset, size)
            sink = _Sink(part_path(target), offset, chunk_size)
            try:
                await asyncio.wrap_future(writer.submit(sink.rehash))
            finally:
                writer.submit(sink.close, sync=False)  # after the re-read, even when cancelled
            return _finish(spec, target, Fetched(offset, sink.digest.hexdigest()), on_verified)
        for _ in range(2):  # a second round only after a part is found too long for the file (416)
            request = {**(headers or {}), "accept-encoding": "identity"}
            if offset:
                request["range"] = f"bytes={offset}-"
                if info is not None and info.etag:
                    request["if-range"] = info.etag
            try:
                async with client.stream("GET", spec.url, headers=request) as response:
                    if response.status_code == 416 and offset:
                        logger.info("%s: the partial file is longer than the file; starting over", spec.name)
                        discard(target)
                        offset, info = 0, None
                        report(0, size)
                        continue
                    offset, size = _start(spec, target, response, offset, report)
                    result = await _stream(response, target, offset, size, chunk_size, writer, report)
            except httpx.HTTPError as error:
                raise Interrupted(f"{spec.name}: the transfer broke off ({type(error).__name__}: {error})") from error
            break
        else:  # pragma: no cover - the loop always breaks or raises
            raise Interrupted(f"{spec.name}: the server refused every range")
    if size is not None and result.size != size:
        discard(target)
        raise SizeMismatch(f"{spec.name}: got {result.size} bytes, expected {size}")
    return _finish(spec, target, result, on_verified)


def _start(
    spec: FileSpec, target: Path, response: httpx.Response, offset: int, report: Progress
) -> tuple[int, int | None]:
    """Check the answer's status and size; return where the body starts and the file's size."""
    if response.status_code not in (200, 206):
        raise FileUnavailable(response.status_code, f"{spec.name}: {_reason(response)}")
    total: int | None = None
    if response.status_code == 206:
        match = _CONTENT_RANGE.fullmatch(response.headers.get("content-range", "").strip())
        if match is None or int(match.group(1)) != offset:
            raise Interrupted(f"{spec.name}: the server answered another range than bytes={offset}-")
        total = int(match.group(3)) if match.group(3) != "*" else None
    else:
        if offset:
            logger.info("%s: the server sent the whole file instead of a range; starting over", spec.name)
            offset = 0
        length = response.headers.get("content-length", "")
        total = int(length) if length.isdigit() else None
    if spec.size is not None and total is not None and total != spec.size:
        discard(target)
        raise SizeMismatch(f"{spec.name}: the server has {total} bytes, the manifest says {spec.size}")
    size = spec.size if spec.size is not None else total
    if not offset:
        discard(target)
        info = PartInfo(url=spec.url, size=size, etag=_strong_etag(response))
        info_path(target).write_bytes(msgspec.json.encode(info))
    report(offset, size)
    return offset, size


async def _stream(
    response: httpx.Response,
    target: Path,
    offset: int,
    size: int | None,
    chunk_size: int,
    writer: ThreadPoolExecutor,
    report: Progress,
) -> Fetched:
    """Append the body to the part file, hashing it; what arrived stays on disk if the body breaks off.

    Buffers go to the writer thread in order; one write runs while the next buffer fills.
    """
    sink = _Sink(part_path(target), offset, chunk_size)
    pending: Future[None] | None = None
    on_disk = queued = received = offset

    async def hand_over(data: bytearray | None) -> None:
        """Wait for the write in flight, report it, then queue ``data`` (None: queue nothing)."""
        nonlocal pending, on_disk, queued
        if pending is not None:
            await asyncio.wrap_future(pending)
            pending, on_disk = None, queued
            report(on_disk, size)
        if data:
            pending, queued = writer.submit(sink.write, data), queued + len(data)

    try:
        if offset:
            await asyncio.wrap_future(writer.submit(sink.rehash))
        buffer = bytearray()
        try:
            async for piece in response.aiter_raw():
                received += len(piece)
                if size is not None and received > size:
                    raise SizeMismatch(f"{target.name}: the server sent more than {size} bytes")
                buffer += piece
                if len(buffer) >= chunk_size:
                    await hand_over(buffer)
                    buffer = bytearray()
        except httpx.TransportError:
            await hand_over(buffer)  # keep what arrived for a resume
            await hand_over(None)
            raise
        await hand_over(buffer)
        await hand_over(None)
        await asyncio.wrap_future(writer.submit(sink.close, sync=True))
    except BaseException as error:
        # Runs after any write in flight (one writer thread); fetch_file's executor waits for it.
        closing = writer.submit(sink.close, sync=False)
        if isinstance(error, SizeMismatch):
            await asyncio.wrap_future(closing)
            discard(target)
        raise
    return Fetched(on_disk, sink.digest.hexdigest())


def _finish(spec: FileSpec, target: Path, result: Fetched, on_verified: Callable[[Fetched], None] | None) -> Fetched:
    """Check the sha256, then move the part into place (the caller records it first)."""
    if spec.sha256 is not None and result.sha256 != spec.sha256:
        discard(target)
        raise ChecksumMismatch(f"{spec.name}: sha256 {result.sha256} does not match the manifest's {spec.sha256}")
    if on_verified is not None:
        on_verified(result)
    os.replace(part_path(target), target)
    with contextlib.suppress(FileNotFoundError):
        info_path(target).unlink()
    _sync_directory(target.parent)
    return result


def _sync_directory(directory: Path) -> None:
    """Make a rename in ``directory`` durable (where the platform allows it)."""
    try:
        handle = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:
        pass
    finally:
        os.close(handle)
