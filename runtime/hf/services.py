"""Hugging Face stats for the hub: read from the cache at once, refreshed in the background.

The hub never waits on Hugging Face: it shows what the cache holds, with its freshness. A
background loop warms every catalog repository at start-up (a few at a time) and refreshes each
when its value is due, as often as the cache's rules allow. New values are written to the
database so that a restart while the Hub is down still shows them (as stale).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from generated.catalog import CATALOG
from generated.types import HfFreshness, HfGating, HfInfo
from runtime.db import HfStatsRecord
from runtime.hf.cache import Entry, Key, StatsCache
from runtime.hf.client import HfClient
from runtime.hf.parse import HfStats

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

    from generated.types import SupportedModel
    from runtime.db import Store
    from runtime.settings import Settings

logger = logging.getLogger(__name__)

_GATINGS = frozenset(gating.value for gating in HfGating)
#: Repositories fetched at the same time while warming or refreshing.
CONCURRENCY = 4


def key_of(model: SupportedModel) -> Key:
    """The cache key of a catalog model: its repository at its pinned revision (None: main)."""
    return model.repo, model.revision if isinstance(model.revision, str) else None


def _rfc3339(entry: Entry) -> str:
    return entry.fetched_at.isoformat().replace("+00:00", "Z")


class HfStatsService:
    """The catalog's Hugging Face stats: cache, background refresh, persistence and health."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        catalog: Sequence[SupportedModel] = CATALOG,
        *,
        client: HfClient | None = None,
        cache: StatsCache | None = None,
        save_note: str | None = None,
    ) -> None:
        """Wire the client and the cache from the settings (tests may pass their own).

        ``save_note``: told to the other replicas with every save (they reload the stats then).
        """
        self.save_note = save_note
        self.client = client or HfClient(settings.hf_endpoint, token=settings.hf_token, timeout=settings.hf_timeout)
        self.cache = cache or StatsCache(
            self.client.model_info,
            ttl=settings.hf_cache_ttl,
            maxsize=settings.hf_cache_size,
            offline=settings.hf_hub_offline,
        )
        self.store = store
        self.keys = list(dict.fromkeys(key_of(model) for model in catalog))
        self.listeners: list[Callable[[set[Key]], None]] = []
        """Told which keys now show something new (a value, or a different freshness)."""
        self._shown: dict[Key, tuple[bool, Entry | None, HfFreshness]] = {}
        self._unsaved: set[Key] = set()
        self.cache.listeners.append(self._unsaved.add)

    def info(self, key: Key) -> HfInfo | None:
        """What the hub shows for a repository now; null when the Hub says it does not exist."""
        state = self._shown[key] = self._state(key)
        missing, entry, freshness = state
        if missing:
            return None
        if entry is None:
            return HfInfo(downloads=None, likes=None, fetched_at=None, freshness=freshness)
        stats = entry.stats
        return HfInfo(
            downloads=stats.downloads,
            likes=stats.likes,
            fetched_at=_rfc3339(entry),
            freshness=freshness,
            last_modified=stats.last_modified,
            gated=stats.gated,
        )

    async def load(self) -> None:
        """Take the last good stats from the database (they show as stale until refreshed)."""
        for record in await self.store.load_hf_stats():
            gated = HfGating(record.gated) if record.gated is not None and record.gated in _GATINGS else None
            stats = HfStats(record.downloads, record.likes, record.last_modified, gated)
            self.cache.remember((record.repo, record.revision or None), Entry(stats, record.fetched_at))
        self._announce(self.keys)

    async def refresh(self) -> None:
        """Fetch every due repository, a few at a time; announce each change as it happens, then save."""
        self._announce(self.keys)  # values that aged past the TTL show as stale now, not after the pass
        due = [key for key in self.keys if self.cache.needs_refresh(key)]
        if due and not self.cache.blocked():
            semaphore = asyncio.Semaphore(CONCURRENCY)

            async def one(key: Key) -> None:
                async with semaphore:
                    await self.cache.get(key)
                self._announce([key])

            await asyncio.gather(*(one(key) for key in due))
        await self._save()

    async def run(self, interval: float) -> None:
        """Warm at once, then refresh every ``interval`` seconds until cancelled.

        A pass can outlast the interval while the Hub hangs (each call waits for ``hf_timeout``); the
        next one starts only when it is done, but freshness is announced every interval regardless.
        """
        refreshing: asyncio.Task[None] | None = None
        try:
            while True:
                if refreshing is None or refreshing.done():
                    refreshing = asyncio.create_task(self._refresh_logged())
                else:
                    self._announce(self.keys)
                await asyncio.sleep(interval)
        finally:
            if refreshing is not None:
                refreshing.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await refreshing

    async def follow(self, interval: float) -> None:
        """On a replica that is not the leader: never ask the Hub; show freshness aging every ``interval``.

        The leader refreshes and saves; its note makes this replica ``load`` what it saved.
        """
        while True:
            self._announce(self.keys)
            await asyncio.sleep(interval)

    async def flush(self) -> None:
        """Write the values not saved yet (at shutdown)."""
        await self._save()

    async def _refresh_logged(self) -> None:
        try:
            await self.refresh()
        except Exception:
            logger.exception("refreshing Hugging Face stats failed")

    async def close(self) -> None:
        """Close the HTTP client."""
        await self.client.aclose()

    def health(self) -> dict[str, object]:
        """The client's health, for /readyz details."""
        health = self.cache.health
        return {
            "offline": self.cache.offline,
            "last_success_at": health.last_success_at.isoformat() if health.last_success_at else None,
            "last_error": health.last_error,
            "last_error_at": health.last_error_at.isoformat() if health.last_error_at else None,
            "cooldown_until": health.cooldown_until.isoformat() if health.cooldown_until else None,
            "hits": health.hits,
            "misses": health.misses,
            "upstream_calls": health.upstream_calls,
        }

    async def _save(self) -> None:
        keys = set(self._unsaved)  # the cache's listener holds this very set: empty it, never replace it
        self._unsaved.clear()
        records = []
        for key in keys:
            entry, _ = self.cache.peek(key)
            if entry is not None:
                stats = entry.stats
                gated = stats.gated.value if stats.gated is not None else None
                records.append(
                    HfStatsRecord(
                        key[0], key[1] or "", stats.downloads, stats.likes, stats.last_modified, gated, entry.fetched_at
                    )
                )
        try:
            await self.store.save_hf_stats(records, note=self.save_note if records else None)
        except BaseException:  # cancelled at shutdown, too: flush() writes them then
            self._unsaved |= keys
            raise

    def _state(self, key: Key) -> tuple[bool, Entry | None, HfFreshness]:
        return (self.cache.is_missing(key), *self.cache.peek(key))

    def _announce(self, keys: Iterable[Key]) -> None:
        changed = {key for key in keys if self._shown.get(key) != self._state(key)}
        if changed:
            for listener in self.listeners:
                listener(changed)
