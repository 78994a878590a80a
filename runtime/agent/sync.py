"""The desired set made real: one task per registered model fetches its files, retries, and reports.

``Syncer.apply`` takes each heartbeat answer (every registered model with its manifest): a new model
gets a task, a changed manifest restarts its task, and a model no longer listed is stopped and its
directory deleted. Each attempt first makes its plan: every file of the model, the shards of a sharded
safetensors index included (the index, a small JSON file, is fetched first to name them), each with
its size (the manifest's, the cache's record, else a ``HEAD``). Meanwhile the model is ``pending``; it
stays so until one of its files gets a download slot (``concurrency`` slots over all models), then it
is ``downloading``, then ``ready``; a failure makes it ``failed`` with the reason until the next
attempt, after an exponential backoff with jitter (a file server that stalls or drips fails the attempt
too: ``throughput.SpeedLimits``). ``bytes_total`` is the sum over the plan's files
(a file whose size no one tells counts what is on disk of it), so it is the whole model from the first
``downloading`` report on; ``bytes_done`` counts verified files plus what is on disk of the others, so
it grows within an attempt and goes back only when a partial file has to be discarded
(``report.Reporter`` tells the server about such restarts).
While files are fetched, the log says so: the model's size when it starts, a line with the percentage,
speed and time left at most every ``progress.PROGRESS_INTERVAL`` seconds, and the time taken and mean
speed when it is ready (or how far it got and when it is retried when it fails).
``HF_TOKEN`` is sent only to the Hub's own URLs (those of the manifest's repository and its origin),
never to an artifact's foreign URL.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import replace
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import msgspec

from generated.types import HeartbeatModelReport, NodeModelState
from runtime.agent.backoff import Backoff
from runtime.agent.cache import VerifiedFile, is_model_id
from runtime.agent.download import CHUNK_SIZE, FileSpec, fetch_file
from runtime.agent.errors import AgentError, DownloadError
from runtime.agent.parts import adopt, resumable_size
from runtime.agent.progress import PROGRESS_INTERVAL, ProgressLog, format_size
from runtime.agent.shards import is_index, remote_size, shard_specs
from runtime.agent.throughput import SpeedLimits

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

    import httpx

    from generated.types import ModelManifest
    from runtime.agent.cache import Cache
    from runtime.agent.download import Fetched

logger = logging.getLogger(__name__)

MAX_ERROR = 1000
"""Longest error sentence sent to the server (the wire allows 2,000)."""


def manifest_specs(manifest: ModelManifest) -> list[FileSpec]:
    """The manifest's files in fetch order (``priority`` ascending, the manifest's order otherwise)."""
    files = sorted(manifest.files, key=lambda file: file.priority if isinstance(file.priority, int) else 0)
    return [
        FileSpec(
            name=file.name,
            url=file.url,
            size=file.size_bytes if isinstance(file.size_bytes, int) else None,
            sha256=file.sha256 if isinstance(file.sha256, str) else None,
        )
        for file in files
    ]


def hub_origins(manifest: ModelManifest) -> frozenset[str]:
    """Origins (``scheme://host:port``) of the manifest's Hub URLs: those resolving from its own repository."""
    marker = f"/{manifest.repo.casefold()}/resolve/"
    return frozenset(_origin(file.url) for file in manifest.files if marker in urlsplit(file.url).path.casefold())


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".casefold()


class ModelSync:
    """One registered model: its state, its progress, and the task that brings its files."""

    def __init__(self, manifest: ModelManifest, syncer: Syncer) -> None:
        """Read what the cache already has; ``start`` begins fetching."""
        self.manifest = manifest
        self.model_id = manifest.model_id
        self.syncer = syncer
        self.state = NodeModelState.pending
        self.error: str | None = None
        self.failures = 0
        self.files: dict[str, tuple[int, int | None]] = {}
        self.task: asyncio.Task[None] | None = None
        self.complete: tuple[FileSpec, ...] = ()
        """Every file of the model, shards included, once it is ready."""
        self._origins = hub_origins(manifest)
        self._planning = False
        self._log: ProgressLog | None = None
        """The lines of the attempt that is fetching files; None while nothing needs fetching."""
        with contextlib.suppress(AgentError, OSError):  # what the cache holds, before the task runs
            self._note(self._expand(manifest_specs(manifest)))

    def counts(self) -> tuple[int, int]:
        """Bytes done and bytes in all (a file of unknown size counts what is on disk of it)."""
        total = sum(size if size is not None else done for done, size in self.files.values())
        return min(total, sum(done for done, _ in self.files.values())), total

    def report(self) -> HeartbeatModelReport:
        """The real state, as a report."""
        done, total = self.counts()
        return HeartbeatModelReport(
            model_id=self.model_id,
            state=self.state,
            bytes_done=done,
            bytes_total=total,
            error=self.error if self.error else msgspec.UNSET,
        )

    def start(self) -> None:
        """Begin the task."""
        self.task = asyncio.create_task(self._run(), name=f"modelhub-sync-{self.model_id}")

    def intact(self) -> bool:
        """Whether a ready model still has every file, whole, on disk (a stat each, no hashing)."""
        cache = self.syncer.cache
        with contextlib.suppress(AgentError, OSError):
            return all(cache.complete(self.model_id, spec) is not None for spec in self.complete)
        return False

    async def stop(self) -> None:
        """Cancel the task and wait for it (partial files stay for a resume)."""
        if self.task is not None and not self.task.done():
            self.task.cancel()
            await asyncio.wait([self.task])

    async def _run(self) -> None:
        backoff = self.syncer.backoff
        while True:
            try:
                await self._attempt()
            except Exception as problem:
                if not isinstance(problem, AgentError | OSError):
                    logger.exception("%s: unexpected error", self.model_id)
                self.failures += 1
                self.state = NodeModelState.failed
                self.error = _sentence(problem)[:MAX_ERROR]
                delay = backoff.delay(self.failures)
                if self._log is not None:
                    logger.warning("%s", self._log.failed(self.error, delay))
                else:
                    logger.warning("%s: %s; retrying in %.1f s", self.model_id, self.error, delay)
                self._log = None
                await asyncio.sleep(delay)
            else:
                self.state, self.error, self.failures = NodeModelState.ready, None, 0
                done, _ = self.counts()
                if self._log is not None:
                    logger.info("%s", self._log.finished(self.syncer.clock(), done))
                else:
                    logger.info("%s: ready, %s (already in the cache)", self.model_id, format_size(done))
                self._log = None
                return

    async def _attempt(self) -> None:
        cache = self.syncer.cache
        specs = manifest_specs(self.manifest)
        self._log = None
        self._planning = True  # pending while the plan is made: its sizes are not all known yet
        try:
            await self._fetch_all([spec for spec in specs if is_index(spec)])
            plan = await asyncio.gather(*(self._sized(spec) for spec in self._expand(specs)))
        finally:
            self._planning = False
        self.files = {}
        self._note(plan)
        missing = [spec for spec in plan if cache.complete(self.model_id, spec) is None]
        if missing:
            done, total = self.counts()
            self._log = ProgressLog(
                self.model_id, now=self.syncer.clock(), done=done, total=total, interval=self.syncer.progress_interval
            )
            logger.info("%s", self._log.started(len(missing)))
        await self._fetch_all(plan)
        self.complete = tuple(plan)
        removed = cache.prune_model(self.model_id, [spec.name for spec in self.complete])
        if removed:
            logger.info("%s: removed %d files no longer in its manifest", self.model_id, len(removed))

    def _expand(self, specs: Sequence[FileSpec]) -> list[FileSpec]:
        """``specs`` with each sharded index that is in the cache followed by the shards it names."""
        cache = self.syncer.cache
        files: list[FileSpec] = []
        for spec in specs:
            files.append(spec)
            if is_index(spec) and cache.complete(self.model_id, spec) is not None:
                files.extend(shard_specs(spec, cache.file_path(self.model_id, spec.name).read_bytes()))
        return files

    def _note(self, specs: Iterable[FileSpec]) -> None:
        """Count what the cache holds of ``specs``: verified files in full, partial files as far as they go."""
        cache = self.syncer.cache
        for spec in specs:
            known = cache.complete(self.model_id, spec)
            if known is not None:
                self.files[spec.name] = (known.size, known.size)
            else:
                self.files[spec.name] = (resumable_size(cache.file_path(self.model_id, spec.name), spec), spec.size)

    async def _sized(self, spec: FileSpec) -> FileSpec:
        """``spec`` with its size: the manifest's, the cache's record when complete, else a ``HEAD``'s.

        A ``HEAD`` that fails or tells no size leaves it unknown: the ``GET`` reports what is wrong.
        """
        if spec.size is not None:
            return spec
        known = self.syncer.cache.complete(self.model_id, spec)
        if known is not None:
            return replace(spec, size=known.size)
        try:
            size = await remote_size(self.syncer.client, spec.url, self._headers(spec))
        except DownloadError as error:
            logger.debug("%s: no size for %s (%s)", self.model_id, spec.name, error.reason)
            return spec
        return replace(spec, size=size)

    async def _fetch_all(self, specs: Sequence[FileSpec]) -> None:
        """Fetch the incomplete files of ``specs`` at once (each waits for a slot); the first failure stops all."""
        missing = [spec for spec in specs if self.syncer.cache.complete(self.model_id, spec) is None]
        if not missing:
            return
        if self.state != NodeModelState.downloading:
            self.state = NodeModelState.pending
        tasks = [asyncio.create_task(self._fetch(spec)) for spec in missing]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            for task in tasks:
                if task in done and (error := task.exception()) is not None:
                    raise error
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.wait(tasks)

    async def _fetch(self, spec: FileSpec) -> None:
        syncer = self.syncer
        target = syncer.cache.file_path(self.model_id, spec.name)
        async with syncer.slots:
            if not self._planning:
                self.state = NodeModelState.downloading
            if syncer.cache.present(self.model_id, spec) is not None:
                adopt(target, spec)  # verified before, but not against this sha256: check it on disk
            else:
                with contextlib.suppress(FileNotFoundError):
                    target.unlink()  # an unverified or outdated copy
            logger.debug("%s: fetching %s", self.model_id, spec.name)

            def progress(done: int, size: int | None) -> None:
                self.files[spec.name] = (done, size if size is not None else spec.size)
                if self._log is not None and (line := self._log.update(syncer.clock(), *self.counts())):
                    logger.info("%s", line)

            def verified(result: Fetched) -> None:
                syncer.cache.record(self.model_id, spec.name, VerifiedFile(spec.url, result.size, result.sha256))

            await fetch_file(
                syncer.client,
                spec,
                target,
                headers=self._headers(spec),
                chunk_size=syncer.chunk_size,
                progress=progress,
                on_verified=verified,
                limits=syncer.limits,
            )
            logger.debug("%s: %s verified", self.model_id, spec.name)

    def _headers(self, spec: FileSpec) -> dict[str, str]:
        token = self.syncer.hf_token
        if token and _origin(spec.url) in self._origins:
            return {"authorization": f"Bearer {token}"}
        return {}


def _sentence(problem: BaseException) -> str:
    if isinstance(problem, DownloadError):
        return problem.reason
    if isinstance(problem, OSError):
        where = f"{problem.filename}: " if problem.filename else ""
        return f"{where}{problem.strerror or problem}"
    return str(problem) or type(problem).__name__


class Syncer:
    """Every registered model's sync, over one download client and a shared number of download slots."""

    def __init__(
        self,
        cache: Cache,
        client: httpx.AsyncClient,
        *,
        concurrency: int = 2,
        chunk_size: int = CHUNK_SIZE,
        hf_token: str | None = None,
        backoff: Backoff | None = None,
        limits: SpeedLimits | None = None,
        progress_interval: float = PROGRESS_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Prepare; nothing runs until ``apply``.

        Args:
            cache: The cache directory.
            client: The client for the file URLs (redirects followed).
            concurrency: Files downloaded at the same time, over all models.
            chunk_size: Bytes per write.
            hf_token: Sent as a bearer token to the Hub's URLs.
            backoff: Delays between attempts of a failing model (default: 1 s doubling to 60 s, with jitter).
            limits: The least a file server must send (default: ``SpeedLimits()``, 60 s read timeout and
                10 KiB/s over 60 s); a transfer below them fails the attempt, and the backoff applies.
            progress_interval: Seconds between two progress lines of one model (``progress.PROGRESS_INTERVAL``).
            clock: Seconds of a monotonic clock, for the progress lines' speeds and durations.
        """
        self.cache = cache
        self.client = client
        self.slots = asyncio.Semaphore(concurrency)
        self.chunk_size = chunk_size
        self.hf_token = hf_token
        self.backoff = backoff or Backoff()
        self.limits = limits or SpeedLimits()
        self.progress_interval = progress_interval
        self.clock = clock
        self.models: dict[str, ModelSync] = {}

    async def apply(self, desired: Sequence[ModelManifest], *, retained: Sequence[str] = ()) -> None:
        """Make the desired set the one being synced; delete the files of models in neither it nor ``retained``.

        ``retained``: models the server keeps registered though its catalog no longer has them (a
        catalog release removed them); their files stay until an admin deletes the registration.
        """
        wanted = {manifest.model_id: manifest for manifest in desired if is_model_id(manifest.model_id)}
        for model_id, sync in list(self.models.items()):
            if wanted.get(model_id) != sync.manifest:
                await sync.stop()
                del self.models[model_id]
        for model_id in self.cache.stale([*wanted, *retained]):
            logger.info("%s: no longer registered; deleting its files", model_id)
            await asyncio.to_thread(self.cache.remove_model, model_id)
        for model_id, sync in list(self.models.items()):
            if sync.state == NodeModelState.ready and not sync.intact():
                logger.warning("%s: files went missing from the cache; fetching them again", model_id)
                self.models[model_id] = ModelSync(sync.manifest, self)
                self.models[model_id].error = "files went missing from the cache"
        self.models = {  # new models join; the order is the desired set's
            model_id: self.models.get(model_id) or ModelSync(manifest, self) for model_id, manifest in wanted.items()
        }
        for sync in self.models.values():
            if sync.task is None:
                sync.start()

    def reports(self) -> list[HeartbeatModelReport]:
        """The real state of every model of the desired set, in its order."""
        return [sync.report() for sync in self.models.values()]

    async def close(self) -> None:
        """Stop every task; partial files stay for the next run."""
        for sync in self.models.values():
            await sync.stop()
