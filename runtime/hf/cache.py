"""The stats cache: fresh for a TTL, last good values kept when Hugging Face fails, one call per miss.

* ``fresh``: a cachetools ``TTLCache`` (TTL and LRU bound in one) of values younger than the TTL.
* ``last_good``: an ``LRUCache`` of the newest value per repository, served as stale after the TTL or
  while the Hub fails; cachetools drops expired items, so stale-on-error needs this second store.
* ``missing``: repositories the Hub says do not exist, remembered for a short negative TTL.
* single flight: concurrent misses for one repository await one upstream request.
* cooldown: after a 429 no call at all until ``Retry-After`` has passed; a sliding window also keeps
  calls under the Hub's anonymous budget (500 per 5 minutes) so the cache never earns a 429 itself.
* offline (``HF_HUB_OFFLINE``): no call, ever.

Why not a library: cashews and async-lru cover single flight but not stale-on-error with an
injectable clock (reference/library-notes.md §7); this is the small piece they leave out.
Time comes from ``clock`` (monotonic seconds) and ``wall`` (for ``fetched_at``), both injectable.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from cachetools import LRUCache, TTLCache

from generated.types import HfFreshness
from runtime.hf.client import Failed, Found, Missing, Outcome, RateLimited

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from runtime.hf.parse import HfStats

Key = tuple[str, str | None]  # (repo, revision)


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Entry:
    """A value and when it was fetched."""

    stats: HfStats
    fetched_at: datetime


@dataclass
class Health:
    """How the Hub has been answering, for /metrics and /readyz."""

    hits: int = 0
    misses: int = 0
    upstream_calls: int = 0
    last_success_at: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None
    cooldown_until: datetime | None = None
    outcomes: dict[str, int] = field(default_factory=dict)


class StatsCache:
    """Stats per (repo, revision), fetched through ``fetch`` with every rule in the module docstring."""

    def __init__(
        self,
        fetch: Callable[[str, str | None], Awaitable[Outcome]],
        *,
        ttl: float,
        maxsize: int,
        negative_ttl: float = 300.0,
        offline: bool = False,
        budget: tuple[int, float] = (400, 300.0),
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime] = _utc_now,
    ) -> None:
        """Empty caches; ``budget`` is (calls, seconds) of the sliding window."""
        self._fetch = fetch
        self.ttl = ttl
        self.offline = offline
        self._clock = clock
        self._wall = wall
        self._fresh: TTLCache[Key, Entry] = TTLCache(maxsize, ttl, timer=clock)
        self._last_good: LRUCache[Key, Entry] = LRUCache(maxsize)
        self._missing: TTLCache[Key, bool] = TTLCache(maxsize, negative_ttl, timer=clock)
        self._inflight: dict[Key, asyncio.Future[None]] = {}
        self._cooldown_until = float("-inf")
        self._budget_calls, self._budget_window = budget
        self._calls: deque[float] = deque()
        self.health = Health()
        self.listeners: list[Callable[[Key], None]] = []
        """Called with the key whenever a new value arrives (the hub re-encodes those models)."""

    # ------------------------------------------------------------------ reads (no I/O)

    def peek(self, key: Key) -> tuple[Entry | None, HfFreshness]:
        """What the cache holds now, and how fresh it is."""
        entry = self._fresh.get(key)
        if entry is not None:
            self._last_good.get(key)  # keep both LRU orders together: a key read now is the last to go
            return entry, HfFreshness.fresh
        entry = self._last_good.get(key)
        if entry is not None:
            age = (self._wall() - entry.fetched_at).total_seconds()
            return entry, HfFreshness.fresh if age < self.ttl else HfFreshness.stale
        return None, HfFreshness.none

    def is_missing(self, key: Key) -> bool:
        """Whether the Hub recently said this repository does not exist."""
        return key in self._missing

    def needs_refresh(self, key: Key) -> bool:
        """Whether a refresh would fetch: not fresh, not known missing, not in flight."""
        return key not in self._fresh and key not in self._missing and key not in self._inflight

    def blocked(self) -> bool:
        """Whether no call may go out now (offline, cooling down after a 429, or over budget)."""
        if self.offline:
            return True
        now = self._clock()
        if now < self._cooldown_until:
            return True
        while self._calls and self._calls[0] <= now - self._budget_window:
            self._calls.popleft()
        return len(self._calls) >= self._budget_calls

    # ------------------------------------------------------------------ loading

    def remember(self, key: Key, entry: Entry) -> None:
        """Take a value from elsewhere (the database at start-up): it counts as last good."""
        self._last_good[key] = entry

    async def get(self, key: Key) -> tuple[Entry | None, HfFreshness]:
        """The value for ``key``, fetched first if it is not fresh and a call may go out."""
        if key in self._fresh:
            self.health.hits += 1
            return self.peek(key)
        self.health.misses += 1
        if key not in self._missing and not (key not in self._inflight and self.blocked()):
            await self._single_flight(key)
        return self.peek(key)

    async def _single_flight(self, key: Key) -> None:
        flight = self._inflight.get(key)
        if flight is None:
            flight = asyncio.get_running_loop().create_future()
            self._inflight[key] = flight
            try:
                await self._call(key)
            finally:
                del self._inflight[key]
                flight.set_result(None)
            return
        await asyncio.shield(flight)

    async def _call(self, key: Key) -> None:
        self._calls.append(self._clock())
        self.health.upstream_calls += 1
        outcome = await self._fetch(*key)
        kind = type(outcome).__name__.lower()
        self.health.outcomes[kind] = self.health.outcomes.get(kind, 0) + 1
        now = self._wall()
        if isinstance(outcome, Found):
            entry = Entry(outcome.stats, now)
            self._fresh[key] = entry
            self._last_good[key] = entry
            self._missing.pop(key, None)
            self.health.last_success_at = now
            for listener in self.listeners:
                listener(key)
        elif isinstance(outcome, Missing):
            self._missing[key] = True
            self._fresh.pop(key, None)
            if self._last_good.pop(key, None) is not None:
                for listener in self.listeners:
                    listener(key)
        elif isinstance(outcome, RateLimited):
            self._cooldown_until = self._clock() + outcome.retry_after
            self.health.cooldown_until = datetime.fromtimestamp(now.timestamp() + outcome.retry_after, UTC)
            self._error(f"rate limited (429); no calls for {outcome.retry_after:g} s", now)
        elif isinstance(outcome, Failed):
            self._error(outcome.reason, now)

    def _error(self, reason: str, now: datetime) -> None:
        self.health.last_error = reason
        self.health.last_error_at = now
