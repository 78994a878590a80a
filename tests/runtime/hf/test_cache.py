"""StatsCache with an injected clock and a scripted upstream: TTL, LRU, stale-on-error, single flight, limits."""

from __future__ import annotations

import asyncio
from collections import deque
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest

from generated.types import HfFreshness, HfGating
from runtime.hf.cache import Entry, Key, StatsCache
from runtime.hf.client import Failed, Found, Missing, RateLimited
from runtime.hf.parse import HfStats

if TYPE_CHECKING:
    from runtime.hf.client import Outcome

TTL = 600.0
NEGATIVE_TTL = 300.0
T0 = datetime(2025, 3, 21, 12, 0, tzinfo=UTC)
A: Key = ("org/a", None)
B: Key = ("org/b", "0123456789abcdef0123456789abcdef01234567")
C: Key = ("org/c", None)

FAILURES = [
    pytest.param(Failed("timeout"), id="timeout"),
    pytest.param(Failed("connection error (ConnectError)"), id="connection-error"),
    pytest.param(Failed("HTTP 503"), id="5xx"),
    pytest.param(Failed("malformed body: not JSON: JSON is malformed"), id="malformed"),
    pytest.param(RateLimited(30.0), id="rate-limited"),
]


def stats(downloads: int) -> HfStats:
    return HfStats(downloads, 7, "2025-01-02T03:04:05.000Z", HfGating.open)


class FakeTime:
    """A monotonic clock and a wall clock that move together, only when told."""

    def __init__(self) -> None:
        self.now = 5000.0  # arbitrary: nothing may assume the monotonic clock starts at 0

    def monotonic(self) -> float:
        return self.now

    def wall(self) -> datetime:
        return T0 + timedelta(seconds=self.now - 5000.0)

    def advance(self, seconds: float) -> None:
        self.now += seconds


class FakeHub:
    """The upstream ``fetch``: records calls; answers from a script, else a new value each time."""

    def __init__(self) -> None:
        self.calls: list[Key] = []
        self.script: deque[Outcome] = deque()
        self.default: Outcome | None = None
        self.gate: asyncio.Event | None = None

    def then(self, *outcomes: Outcome) -> FakeHub:
        self.script.extend(outcomes)
        return self

    async def __call__(self, repo: str, revision: str | None) -> Outcome:
        self.calls.append((repo, revision))
        if self.gate is not None:
            await self.gate.wait()
        if self.script:
            return self.script.popleft()
        return self.default or Found(stats(len(self.calls)))


@pytest.fixture
def time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def hub() -> FakeHub:
    return FakeHub()


def make_cache(hub: FakeHub, time: FakeTime, **options: Any) -> StatsCache:
    settings: dict[str, Any] = {"ttl": TTL, "maxsize": 16, "negative_ttl": NEGATIVE_TTL, "budget": (400, 300.0)}
    return StatsCache(hub, clock=time.monotonic, wall=time.wall, **(settings | options))


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


# ---------------------------------------------------------------------------------------- hits, misses, TTL


async def test_cold_get_fetches_and_counts_a_miss(hub: FakeHub, time: FakeTime) -> None:
    cache = make_cache(hub, time)
    entry, freshness = await cache.get(B)
    assert entry == Entry(stats(1), T0)
    assert freshness is HfFreshness.fresh
    assert hub.calls == [B]
    assert (cache.health.hits, cache.health.misses, cache.health.upstream_calls) == (0, 1, 1)


async def test_get_within_ttl_is_a_hit(hub: FakeHub, time: FakeTime) -> None:
    cache = make_cache(hub, time)
    first = await cache.get(A)
    time.advance(TTL - 1)
    assert await cache.get(A) == first
    assert hub.calls == [A]
    assert (cache.health.hits, cache.health.misses) == (1, 1)


async def test_get_after_ttl_fetches_again(hub: FakeHub, time: FakeTime) -> None:
    cache = make_cache(hub, time)
    await cache.get(A)
    time.advance(TTL)
    entry, freshness = await cache.get(A)
    assert entry == Entry(stats(2), T0 + timedelta(seconds=TTL))
    assert freshness is HfFreshness.fresh
    assert hub.calls == [A, A]
    assert (cache.health.hits, cache.health.misses) == (0, 2)


@pytest.mark.parametrize(
    ("elapsed", "freshness"),
    [(0, HfFreshness.fresh), (TTL - 0.5, HfFreshness.fresh), (TTL, HfFreshness.stale), (10 * TTL, HfFreshness.stale)],
)
async def test_peek_freshness_by_age(hub: FakeHub, time: FakeTime, elapsed: float, freshness: HfFreshness) -> None:
    cache = make_cache(hub, time)
    await cache.get(A)
    time.advance(elapsed)
    assert cache.peek(A) == (Entry(stats(1), T0), freshness)
    assert cache.needs_refresh(A) is (freshness is HfFreshness.stale)
    assert hub.calls == [A]  # peek never fetches


def test_peek_of_unknown_key_is_none(hub: FakeHub, time: FakeTime) -> None:
    cache = make_cache(hub, time)
    assert cache.peek(A) == (None, HfFreshness.none)
    assert cache.needs_refresh(A)
    assert hub.calls == []


@pytest.mark.parametrize(
    ("age", "freshness"), [(10.0, HfFreshness.fresh), (TTL + 1, HfFreshness.stale)], ids=["recent", "old"]
)
async def test_remembered_value_is_last_good(hub: FakeHub, time: FakeTime, age: float, freshness: HfFreshness) -> None:
    cache = make_cache(hub, time)
    remembered = Entry(stats(99), T0 - timedelta(seconds=age))
    cache.remember(A, remembered)
    assert cache.peek(A) == (remembered, freshness)
    assert cache.needs_refresh(A)  # a remembered value is never "fresh in the cache": it is refreshed
    assert hub.calls == []


# ---------------------------------------------------------------------------------------- LRU bound


async def test_lru_evicts_the_oldest_key_from_fresh_and_last_good(hub: FakeHub, time: FakeTime) -> None:
    cache = make_cache(hub, time, maxsize=2)
    for key in (A, B, C):
        await cache.get(key)
    assert cache.peek(A) == (None, HfFreshness.none)
    assert cache.peek(B)[1] is HfFreshness.fresh
    assert cache.peek(C)[1] is HfFreshness.fresh
    # Past the TTL, with the Hub failing, the kept keys still show their last good values.
    time.advance(TTL + 1)
    hub.default = Failed("timeout")
    for key in (A, B, C):
        await cache.get(key)
    assert cache.peek(A) == (None, HfFreshness.none)
    assert cache.peek(B) == (Entry(stats(2), T0), HfFreshness.stale)
    assert cache.peek(C) == (Entry(stats(3), T0), HfFreshness.stale)


async def test_lru_keeps_a_key_read_again(hub: FakeHub, time: FakeTime) -> None:
    cache = make_cache(hub, time, maxsize=2)
    await cache.get(A)
    await cache.get(B)
    await cache.get(A)  # a hit: A is now the most recently used
    await cache.get(C)  # evicts B from the fresh values
    assert cache.peek(A) == (Entry(stats(1), T0), HfFreshness.fresh)
    assert cache.peek(C) == (Entry(stats(3), T0), HfFreshness.fresh)


async def test_lru_key_read_again_keeps_its_last_good_value(hub: FakeHub, time: FakeTime) -> None:
    cache = make_cache(hub, time, maxsize=2)
    await cache.get(A)
    await cache.get(B)
    await cache.get(A)
    await cache.get(C)
    time.advance(TTL + 1)
    hub.default = Failed("timeout")
    assert await cache.get(A) == (Entry(stats(1), T0), HfFreshness.stale)  # actually: (None, none)
    assert await cache.get(B) == (None, HfFreshness.none)  # actually: B's value, stale


# ---------------------------------------------------------------------------------------- stale on error


@pytest.mark.parametrize("failure", FAILURES)
async def test_failure_after_ttl_keeps_last_good_as_stale(hub: FakeHub, time: FakeTime, failure: Outcome) -> None:
    cache = make_cache(hub, time)
    hub.then(Found(stats(1)), failure)
    await cache.get(A)
    time.advance(TTL + 1)
    assert await cache.get(A) == (Entry(stats(1), T0), HfFreshness.stale)
    assert cache.peek(A) == (Entry(stats(1), T0), HfFreshness.stale)
    assert hub.calls == [A, A]
    assert cache.health.last_error is not None
    assert cache.needs_refresh(A)


@pytest.mark.parametrize("failure", FAILURES)
async def test_failure_with_nothing_fetched_is_none(hub: FakeHub, time: FakeTime, failure: Outcome) -> None:
    cache = make_cache(hub, time)
    hub.then(failure)
    assert await cache.get(A) == (None, HfFreshness.none)
    assert hub.calls == [A]
    assert not cache.is_missing(A)


async def test_failure_is_not_cached(hub: FakeHub, time: FakeTime) -> None:
    cache = make_cache(hub, time)
    hub.then(Failed("timeout"))
    await cache.get(A)
    assert await cache.get(A) == (Entry(stats(2), T0), HfFreshness.fresh)
    assert hub.calls == [A, A]


# ---------------------------------------------------------------------------------------- missing (negative cache)


async def test_missing_is_remembered_for_the_negative_ttl(hub: FakeHub, time: FakeTime) -> None:
    cache = make_cache(hub, time)
    hub.then(Missing())
    assert await cache.get(A) == (None, HfFreshness.none)
    assert cache.is_missing(A)
    assert not cache.needs_refresh(A)
    time.advance(NEGATIVE_TTL - 1)
    assert await cache.get(A) == (None, HfFreshness.none)
    assert hub.calls == [A]
    time.advance(1)
    assert not cache.is_missing(A)
    assert await cache.get(A) == (Entry(stats(2), T0 + timedelta(seconds=NEGATIVE_TTL)), HfFreshness.fresh)
    assert hub.calls == [A, A]


async def test_missing_drops_last_good_and_tells_listeners(hub: FakeHub, time: FakeTime) -> None:
    cache = make_cache(hub, time)
    told: list[Key] = []
    cache.listeners.append(told.append)
    hub.then(Found(stats(1)), Missing())
    await cache.get(A)
    time.advance(TTL)
    assert await cache.get(A) == (None, HfFreshness.none)
    assert cache.is_missing(A)
    assert told == [A, A]


async def test_missing_without_a_value_tells_no_one(hub: FakeHub, time: FakeTime) -> None:
    cache = make_cache(hub, time)
    told: list[Key] = []
    cache.listeners.append(told.append)
    hub.then(Missing())
    await cache.get(A)
    assert told == []


async def test_found_after_missing_clears_it(hub: FakeHub, time: FakeTime) -> None:
    cache = make_cache(hub, time)
    hub.then(Missing())
    await cache.get(A)
    time.advance(NEGATIVE_TTL)
    await cache.get(A)
    assert not cache.is_missing(A)
    assert cache.peek(A)[1] is HfFreshness.fresh


# ---------------------------------------------------------------------------------------- single flight


async def test_concurrent_gets_of_a_cold_key_make_one_call(hub: FakeHub, time: FakeTime) -> None:
    cache = make_cache(hub, time)
    hub.gate = asyncio.Event()
    tasks = [asyncio.create_task(cache.get(A)) for _ in range(1000)]
    await settle()
    assert hub.calls == [A]
    assert not cache.needs_refresh(A)  # in flight
    hub.gate.set()
    results = await asyncio.gather(*tasks)
    assert hub.calls == [A]
    assert cache.health.upstream_calls == 1
    assert cache.health.misses == 1000
    first = results[0]
    assert first == (Entry(stats(1), T0), HfFreshness.fresh)
    assert all(result[0] is first[0] and result[1] is first[1] for result in results)


async def test_concurrent_gets_share_a_failure(hub: FakeHub, time: FakeTime) -> None:
    cache = make_cache(hub, time)
    hub.gate = asyncio.Event()
    hub.then(Failed("timeout"))
    tasks = [asyncio.create_task(cache.get(A)) for _ in range(50)]
    await settle()
    hub.gate.set()
    assert set(await asyncio.gather(*tasks)) == {(None, HfFreshness.none)}
    assert hub.calls == [A]


async def test_concurrent_gets_of_different_keys_do_not_share(hub: FakeHub, time: FakeTime) -> None:
    cache = make_cache(hub, time)
    hub.gate = asyncio.Event()
    tasks = [asyncio.create_task(cache.get(key)) for key in (A, B, A, B, C)]
    await settle()
    hub.gate.set()
    await asyncio.gather(*tasks)
    assert sorted(hub.calls, key=str) == sorted([A, B, C], key=str)


async def test_waiters_join_a_flight_even_when_the_budget_is_spent(hub: FakeHub, time: FakeTime) -> None:
    cache = make_cache(hub, time, budget=(1, 60.0))
    hub.gate = asyncio.Event()
    first = asyncio.create_task(cache.get(A))
    await settle()
    assert cache.blocked()
    second = asyncio.create_task(cache.get(A))
    await settle()
    hub.gate.set()
    assert await first == await second == (Entry(stats(1), T0), HfFreshness.fresh)
    assert hub.calls == [A]


# ---------------------------------------------------------------------------------------- 429 cooldown

MANY = [(f"org/model-{index}", None) for index in range(20)]


async def test_no_call_at_all_during_a_429_cooldown(hub: FakeHub, time: FakeTime) -> None:
    cache = make_cache(hub, time)
    hub.then(RateLimited(30.0))
    assert await cache.get(A) == (None, HfFreshness.none)
    assert cache.health.cooldown_until == T0 + timedelta(seconds=30)
    for step in (0.0, 1.0, 14.0, 14.0, 0.75):  # t = 0, 1, 15, 29, 29.75 s after the 429
        time.advance(step)
        assert cache.blocked()
        for key in [A, B, *MANY]:
            assert await cache.get(key) == (None, HfFreshness.none)
    assert hub.calls == [A]  # nothing during the 30 s
    time.advance(0.25)  # t = 30 s
    assert not cache.blocked()
    assert (await cache.get(B))[1] is HfFreshness.fresh
    assert hub.calls == [A, B]


async def test_cooldown_keeps_last_good_values(hub: FakeHub, time: FakeTime) -> None:
    cache = make_cache(hub, time)
    await cache.get(A)
    await cache.get(B)
    time.advance(TTL)
    hub.then(RateLimited(30.0))
    await cache.get(A)
    assert await cache.get(B) == (Entry(stats(2), T0), HfFreshness.stale)
    assert hub.calls == [A, B, A]


# ---------------------------------------------------------------------------------------- offline


async def test_offline_never_calls(hub: FakeHub, time: FakeTime) -> None:
    cache = make_cache(hub, time, offline=True)
    assert cache.blocked()
    for key in [A, B, *MANY]:
        assert await cache.get(key) == (None, HfFreshness.none)
    time.advance(10 * TTL)
    assert await cache.get(A) == (None, HfFreshness.none)
    assert hub.calls == []
    assert cache.health.upstream_calls == 0


@pytest.mark.parametrize(
    ("age", "freshness"), [(10.0, HfFreshness.fresh), (TTL + 1, HfFreshness.stale)], ids=["recent", "old"]
)
async def test_offline_serves_remembered_values(
    hub: FakeHub, time: FakeTime, age: float, freshness: HfFreshness
) -> None:
    cache = make_cache(hub, time, offline=True)
    remembered = Entry(stats(99), T0 - timedelta(seconds=age))
    cache.remember(A, remembered)
    assert await cache.get(A) == (remembered, freshness)
    assert hub.calls == []


# ---------------------------------------------------------------------------------------- call budget


async def test_budget_stops_the_fourth_call_in_the_window(hub: FakeHub, time: FakeTime) -> None:
    cache = make_cache(hub, time, budget=(3, 60.0))
    for key in (A, B, C):
        assert (await cache.get(key))[1] is HfFreshness.fresh
    assert cache.blocked()
    assert await cache.get(MANY[0]) == (None, HfFreshness.none)
    time.advance(59.5)
    assert await cache.get(MANY[0]) == (None, HfFreshness.none)
    assert hub.calls == [A, B, C]
    time.advance(0.5)  # the first three calls leave the window together
    for key in MANY[:3]:
        assert (await cache.get(key))[1] is HfFreshness.fresh
    assert await cache.get(MANY[3]) == (None, HfFreshness.none)
    assert hub.calls == [A, B, C, *MANY[:3]]


async def test_budget_window_slides(hub: FakeHub, time: FakeTime) -> None:
    cache = make_cache(hub, time, budget=(3, 60.0))
    for key in (A, B, C):  # calls at t = 0, 20, 40
        await cache.get(key)
        time.advance(20)
    time.advance(-10)  # t = 50
    assert cache.blocked()
    time.advance(10)  # t = 60: the call at t = 0 has left the window
    assert not cache.blocked()
    await cache.get(MANY[0])
    assert cache.blocked()
    time.advance(20)  # t = 80: the call at t = 20 has left
    await cache.get(MANY[1])
    assert hub.calls == [A, B, C, MANY[0], MANY[1]]


async def test_budget_holds_under_concurrency(hub: FakeHub, time: FakeTime) -> None:
    cache = make_cache(hub, time, budget=(3, 60.0))
    hub.gate = asyncio.Event()
    tasks = [asyncio.create_task(cache.get(key)) for key in MANY]
    await settle()
    hub.gate.set()
    results = await asyncio.gather(*tasks)
    assert len(hub.calls) == 3
    assert sum(entry is not None for entry, _ in results) == 3


# ---------------------------------------------------------------------------------------- listeners


async def test_listeners_are_told_each_new_value(hub: FakeHub, time: FakeTime) -> None:
    cache = make_cache(hub, time)
    told: list[Key] = []
    cache.listeners.append(told.append)
    await cache.get(A)
    await cache.get(A)  # a hit: nothing new
    await cache.get(B)
    time.advance(TTL)
    hub.then(Found(stats(1)), Failed("timeout"), RateLimited(1.0))
    await cache.get(A)  # the same value again is still a new fetch
    await cache.get(B)  # failure: nothing new
    time.advance(1)
    await cache.get(B)  # 429: nothing new
    assert told == [A, B, A]


# ---------------------------------------------------------------------------------------- health


async def test_health_fields(hub: FakeHub, time: FakeTime) -> None:
    cache = make_cache(hub, time)
    assert cache.health.last_success_at is None
    assert cache.health.outcomes == {}
    await cache.get(A)
    success_at = time.wall()
    assert cache.health.last_success_at == success_at
    assert cache.health.last_error is None
    time.advance(10)
    hub.then(Failed("timeout"))
    await cache.get(B)
    assert cache.health.last_error == "timeout"
    assert cache.health.last_error_at == time.wall()
    assert cache.health.last_success_at == success_at  # a failure is not a success
    time.advance(10)
    hub.then(Missing())
    await cache.get(C)
    time.advance(10)
    hub.then(RateLimited(30.0))
    await cache.get(B)
    assert cache.health.cooldown_until == time.wall() + timedelta(seconds=30)
    assert cache.health.last_error is not None
    assert "429" in cache.health.last_error
    assert "30" in cache.health.last_error
    assert cache.health.upstream_calls == 4
    assert cache.health.outcomes == {"found": 1, "failed": 1, "missing": 1, "ratelimited": 1}
    assert cache.health.last_success_at == success_at
