"""HfStatsService over a MemoryStore and a StatsCache with a scripted upstream and an injected clock."""

from __future__ import annotations

import asyncio
from collections import deque
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest

from generated.types import Capability, HfFreshness, HfGating, HfInfo, ModelFormat, SupportedModel
from runtime.db import HfStatsRecord
from runtime.hf.cache import StatsCache
from runtime.hf.client import Failed, Found, Missing, RateLimited
from runtime.hf.parse import HfStats
from runtime.hf.services import HfStatsService, key_of
from runtime.settings import Settings
from tests.runtime.fakes import MemoryStore

if TYPE_CHECKING:
    from runtime.hf.cache import Key
    from runtime.hf.client import Outcome

TTL = 600.0
T0 = datetime(2025, 3, 21, 12, 0, tzinfo=UTC)
REVISION = "0123456789abcdef0123456789abcdef01234567"
SETTINGS = Settings(
    hf_cache_ttl=TTL, hf_cache_size=16, hf_hub_offline=False, hf_token=None, hf_endpoint="https://hub.test"
)


def model(model_id: str, repo: str, **fields: Any) -> SupportedModel:
    return SupportedModel(
        id=model_id,
        name=model_id.title(),
        description="A model for tests.",
        repo=repo,
        recommended_filename=f"{model_id}.gguf",
        size_bytes=1000,
        required_memory_bytes=1500,
        tags=("chat",),
        capabilities=(Capability.TextGeneration,),
        format=ModelFormat.gguf,
        **fields,
    )


CHAT = model("tiny-chat", "example/Tiny-Chat-GGUF")
VISION = model("vision-7b", "example/Vision-7B-GGUF", revision=REVISION)
CATALOG = (CHAT, VISION)
CHAT_KEY: Key = ("example/Tiny-Chat-GGUF", None)
VISION_KEY: Key = ("example/Vision-7B-GGUF", REVISION)
NO_INFO = HfInfo(downloads=None, likes=None, fetched_at=None, freshness=HfFreshness.none)


def stats(downloads: int, gated: HfGating | None = HfGating.manual) -> HfStats:
    return HfStats(downloads, 7, "2025-01-02T03:04:05.000Z", gated)


class FakeTime:
    def __init__(self) -> None:
        self.now = 5000.0

    def monotonic(self) -> float:
        return self.now

    def wall(self) -> datetime:
        return T0 + timedelta(seconds=self.now - 5000.0)

    def advance(self, seconds: float) -> None:
        self.now += seconds


class FakeClient:
    """Stands in for HfClient: per-key scripts, else ``default``, else a new value per call."""

    def __init__(self) -> None:
        self.calls: list[Key] = []
        self.scripts: dict[Key, deque[Outcome]] = {}
        self.default: Outcome | None = None
        self.closed = False

    def then(self, key: Key, *outcomes: Outcome) -> None:
        self.scripts.setdefault(key, deque()).extend(outcomes)

    async def model_info(self, repo: str, revision: str | None = None) -> Outcome:
        key = (repo, revision)
        self.calls.append(key)
        await asyncio.sleep(0)
        script = self.scripts.get(key)
        if script:
            return script.popleft()
        return self.default or Found(stats(len(self.calls)))

    async def aclose(self) -> None:
        self.closed = True


@pytest.fixture
def time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def client() -> FakeClient:
    return FakeClient()


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


def make_service(
    store: MemoryStore, client: FakeClient, time: FakeTime, catalog: tuple[SupportedModel, ...] = CATALOG
) -> HfStatsService:
    cache = StatsCache(client.model_info, ttl=TTL, maxsize=16, clock=time.monotonic, wall=time.wall)
    return HfStatsService(SETTINGS, store, catalog, client=client, cache=cache)  # type: ignore[arg-type]


def record(key: Key, downloads: int, fetched_at: datetime, gated: str | None = "manual") -> HfStatsRecord:
    return HfStatsRecord(key[0], key[1] or "", downloads, 7, "2025-01-02T03:04:05.000Z", gated, fetched_at)


def rfc3339(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


# ---------------------------------------------------------------------------------------- keys


def test_key_of_is_repo_and_pinned_revision() -> None:
    assert key_of(CHAT) == CHAT_KEY
    assert key_of(VISION) == VISION_KEY


async def test_models_sharing_a_key_are_fetched_once(store: MemoryStore, client: FakeClient, time: FakeTime) -> None:
    twin = model("tiny-chat-q8", "example/Tiny-Chat-GGUF")
    service = make_service(store, client, time, (CHAT, VISION, twin))
    assert service.keys == [CHAT_KEY, VISION_KEY]
    await service.refresh()
    assert sorted(client.calls, key=str) == sorted([CHAT_KEY, VISION_KEY], key=str)


# ---------------------------------------------------------------------------------------- info


async def test_info_before_any_fetch_is_none_freshness(store: MemoryStore, client: FakeClient, time: FakeTime) -> None:
    service = make_service(store, client, time)
    assert service.info(CHAT_KEY) == NO_INFO
    assert service.info(VISION_KEY) == NO_INFO
    assert client.calls == []  # info never fetches


async def test_info_after_refresh_is_fresh(store: MemoryStore, client: FakeClient, time: FakeTime) -> None:
    service = make_service(store, client, time)
    client.then(CHAT_KEY, Found(stats(1234)))
    client.then(VISION_KEY, Found(stats(99, gated=HfGating.open)))
    await service.refresh()
    assert service.info(CHAT_KEY) == HfInfo(
        downloads=1234,
        likes=7,
        fetched_at="2025-03-21T12:00:00Z",
        freshness=HfFreshness.fresh,
        last_modified="2025-01-02T03:04:05.000Z",
        gated=HfGating.manual,
    )
    vision = service.info(VISION_KEY)
    assert vision is not None
    assert (vision.downloads, vision.gated, vision.freshness) == (99, HfGating.open, HfFreshness.fresh)


async def test_info_after_ttl_with_failing_upstream_is_stale(
    store: MemoryStore, client: FakeClient, time: FakeTime
) -> None:
    service = make_service(store, client, time)
    client.then(CHAT_KEY, Found(stats(1234)))
    await service.refresh()
    time.advance(TTL + 1)
    client.default = Failed("connection error (ConnectError)")
    await service.refresh()
    info = service.info(CHAT_KEY)
    assert info is not None
    assert (info.downloads, info.fetched_at, info.freshness) == (1234, rfc3339(T0), HfFreshness.stale)
    assert len(client.calls) == 4


async def test_info_of_a_missing_repo_is_null(store: MemoryStore, client: FakeClient, time: FakeTime) -> None:
    service = make_service(store, client, time)
    client.then(CHAT_KEY, Missing())
    await service.refresh()
    assert service.info(CHAT_KEY) is None
    assert service.info(VISION_KEY) is not None


# ---------------------------------------------------------------------------------------- refresh and save


async def test_refresh_fetches_only_due_keys(store: MemoryStore, client: FakeClient, time: FakeTime) -> None:
    service = make_service(store, client, time)  # negative TTL 300 s (the cache's default), TTL 600 s
    client.then(CHAT_KEY, Missing())
    await service.refresh()
    assert len(client.calls) == 2
    await service.refresh()
    time.advance(299)
    await service.refresh()
    assert len(client.calls) == 2  # fresh, or known missing
    time.advance(1)
    await service.refresh()
    assert client.calls[2:] == [CHAT_KEY]  # the negative TTL has passed; VISION is still fresh
    time.advance(TTL - 300)
    await service.refresh()
    assert client.calls[3:] == [VISION_KEY]  # VISION's TTL has passed; CHAT (fetched at 300 s) is still fresh


async def test_refresh_makes_no_call_during_a_cooldown(store: MemoryStore, client: FakeClient, time: FakeTime) -> None:
    service = make_service(store, client, time)
    client.default = RateLimited(30.0)
    await service.refresh()
    calls = len(client.calls)
    assert 1 <= calls <= 2  # the rest stopped as soon as the 429 came back
    time.advance(29)
    await service.refresh()
    assert len(client.calls) == calls


async def test_refresh_saves_new_values(store: MemoryStore, client: FakeClient, time: FakeTime) -> None:
    service = make_service(store, client, time)
    client.then(CHAT_KEY, Found(stats(1234)))
    client.then(VISION_KEY, Found(HfStats(None, None, None, None)))
    await service.refresh()
    assert store.hf_stats == {
        ("example/Tiny-Chat-GGUF", ""): record(CHAT_KEY, 1234, T0),
        ("example/Vision-7B-GGUF", REVISION): HfStatsRecord(
            "example/Vision-7B-GGUF", REVISION, None, None, None, None, T0
        ),
    }


async def test_failed_refresh_saves_nothing(store: MemoryStore, client: FakeClient, time: FakeTime) -> None:
    service = make_service(store, client, time)
    client.default = Failed("timeout")
    await service.refresh()
    assert store.hf_stats == {}


async def test_unsaved_values_are_saved_once_the_store_is_back(
    store: MemoryStore, client: FakeClient, time: FakeTime
) -> None:
    service = make_service(store, client, time)
    store.fail = RuntimeError("database down")
    with pytest.raises(RuntimeError, match="database down"):
        await service.refresh()
    store.fail = None
    await service.refresh()  # nothing due: only the save
    assert set(store.hf_stats) == {("example/Tiny-Chat-GGUF", ""), ("example/Vision-7B-GGUF", REVISION)}
    assert len(client.calls) == 2


async def test_refresh_saves_values_fetched_after_the_first_save(
    store: MemoryStore, client: FakeClient, time: FakeTime
) -> None:
    service = make_service(store, client, time)
    client.then(CHAT_KEY, Found(stats(1)), Found(stats(2)))
    await service.refresh()
    assert store.hf_stats[("example/Tiny-Chat-GGUF", "")].downloads == 1
    time.advance(TTL)
    await service.refresh()
    assert service.info(CHAT_KEY) is not None  # the new value is shown …
    assert store.hf_stats[("example/Tiny-Chat-GGUF", "")] == record(CHAT_KEY, 2, T0 + timedelta(seconds=TTL))


# ---------------------------------------------------------------------------------------- load (restart)


async def test_restart_while_the_hub_is_down_shows_stored_values_as_stale(
    store: MemoryStore, client: FakeClient, time: FakeTime
) -> None:
    stored_at = T0 - timedelta(days=2)
    store.hf_stats[("example/Tiny-Chat-GGUF", "")] = record(CHAT_KEY, 1234, stored_at)
    store.hf_stats[("example/Vision-7B-GGUF", REVISION)] = record(VISION_KEY, 99, stored_at, gated=None)
    service = make_service(store, client, time)
    client.default = Failed("connection error (ConnectError)")
    await service.load()
    await service.refresh()
    assert service.info(CHAT_KEY) == HfInfo(
        downloads=1234,
        likes=7,
        fetched_at=rfc3339(stored_at),
        freshness=HfFreshness.stale,
        last_modified="2025-01-02T03:04:05.000Z",
        gated=HfGating.manual,
    )
    vision = service.info(VISION_KEY)
    assert vision is not None
    assert (vision.downloads, vision.gated, vision.freshness) == (99, None, HfFreshness.stale)
    assert len(client.calls) == 2  # it did try


async def test_loaded_recent_value_is_fresh_and_still_refreshed(
    store: MemoryStore, client: FakeClient, time: FakeTime
) -> None:
    store.hf_stats[("example/Tiny-Chat-GGUF", "")] = record(CHAT_KEY, 1234, T0 - timedelta(seconds=10))
    service = make_service(store, client, time)
    await service.load()
    info = service.info(CHAT_KEY)
    assert info is not None
    assert (info.downloads, info.freshness) == (1234, HfFreshness.fresh)
    await service.refresh()
    assert CHAT_KEY in client.calls


@pytest.mark.parametrize(
    ("stored", "gated"), [("open", HfGating.open), ("auto", HfGating.auto), ("manual", HfGating.manual), (None, None)]
)
async def test_load_restores_gating(
    store: MemoryStore, client: FakeClient, time: FakeTime, stored: str | None, gated: HfGating | None
) -> None:
    store.hf_stats[("example/Tiny-Chat-GGUF", "")] = record(CHAT_KEY, 1, T0, gated=stored)
    service = make_service(store, client, time)
    await service.load()
    info = service.info(CHAT_KEY)
    assert info is not None
    assert info.gated == gated


async def test_load_tolerates_an_unknown_stored_gating(store: MemoryStore, client: FakeClient, time: FakeTime) -> None:
    store.hf_stats[("example/Tiny-Chat-GGUF", "")] = record(CHAT_KEY, 1, T0, gated="weird")
    service = make_service(store, client, time)
    await service.load()
    info = service.info(CHAT_KEY)
    assert info is not None
    assert (info.downloads, info.gated) == (1, None)


async def test_saved_values_survive_a_restart(store: MemoryStore, client: FakeClient, time: FakeTime) -> None:
    service = make_service(store, client, time)
    client.then(CHAT_KEY, Found(stats(1234)))
    await service.refresh()
    shown = service.info(CHAT_KEY)
    time.advance(TTL + 1)
    restarted = make_service(store, FakeClient(), time)
    await restarted.load()
    info = restarted.info(CHAT_KEY)
    assert shown is not None
    assert info == HfInfo(
        downloads=shown.downloads,
        likes=shown.likes,
        fetched_at=shown.fetched_at,
        freshness=HfFreshness.stale,
        last_modified=shown.last_modified,
        gated=shown.gated,
    )


# ---------------------------------------------------------------------------------------- listeners


async def test_listeners_told_keys_whose_shown_state_changed(
    store: MemoryStore, client: FakeClient, time: FakeTime
) -> None:
    service = make_service(store, client, time)
    told: list[set[Key]] = []
    service.listeners.append(told.append)

    def show_all() -> None:
        for key in service.keys:
            service.info(key)

    def told_since(count: int) -> set[Key]:
        return set().union(*told[count:])  # each change is announced as soon as its fetch ends

    show_all()
    await service.refresh()  # none → fresh values
    assert told_since(0) == {CHAT_KEY, VISION_KEY}

    show_all()
    before = len(told)
    await service.refresh()  # nothing due, nothing changed
    assert told_since(before) == set()

    show_all()
    before = len(told)
    time.advance(TTL + 1)
    client.then(CHAT_KEY, Failed("timeout"))
    await service.refresh()  # CHAT fresh → stale; VISION has a new fresh value
    assert told_since(before) == {CHAT_KEY, VISION_KEY}

    show_all()
    before = len(told)
    time.advance(300)
    client.then(CHAT_KEY, Missing())
    await service.refresh()  # CHAT stale → missing; VISION still fresh
    assert told_since(before) == {CHAT_KEY}


async def test_listeners_told_when_a_value_goes_stale_without_a_call(
    store: MemoryStore, client: FakeClient, time: FakeTime
) -> None:
    service = make_service(store, client, time)
    told: list[set[Key]] = []
    service.listeners.append(told.append)
    await service.refresh()
    time.advance(TTL - 10)
    client.default = RateLimited(3600.0)
    await service.cache.get(("org/elsewhere", None))  # a 429: no call for an hour
    for key in service.keys:
        service.info(key)
    calls = len(client.calls)
    time.advance(10)
    await service.refresh()  # both due, but cooling down: no call; the values are now stale
    assert len(client.calls) == calls
    assert told[-1] == {CHAT_KEY, VISION_KEY}
    assert all(info is not None and info.freshness is HfFreshness.stale for info in map(service.info, service.keys))


# ---------------------------------------------------------------------------------------- health, wiring


async def test_health_keys_and_values(store: MemoryStore, client: FakeClient, time: FakeTime) -> None:
    service = make_service(store, client, time)
    health = service.health()
    assert set(health) == {
        "offline",
        "last_success_at",
        "last_error",
        "last_error_at",
        "cooldown_until",
        "hits",
        "misses",
        "upstream_calls",
    }
    assert health["offline"] is False
    assert health["last_success_at"] is None
    client.then(VISION_KEY, RateLimited(30.0))
    await service.refresh()
    health = service.health()
    assert health["upstream_calls"] == 2
    assert health["misses"] == 2
    assert health["last_success_at"] == T0.isoformat()
    assert health["cooldown_until"] == (T0 + timedelta(seconds=30)).isoformat()
    assert isinstance(health["last_error"], str)
    assert "429" in health["last_error"]


async def test_settings_build_the_cache_around_the_client(store: MemoryStore, client: FakeClient) -> None:
    service = HfStatsService(SETTINGS, store, CATALOG, client=client)  # type: ignore[arg-type]
    assert service.info(CHAT_KEY) == NO_INFO
    await service.refresh()
    info = service.info(CHAT_KEY)
    assert info is not None
    assert info.freshness is HfFreshness.fresh
    assert service.cache.ttl == TTL
    await service.close()
    assert client.closed


async def test_offline_setting_makes_no_call(store: MemoryStore, client: FakeClient) -> None:
    settings = Settings(hf_cache_ttl=TTL, hf_hub_offline=True, hf_token=None)
    service = HfStatsService(settings, store, CATALOG, client=client)  # type: ignore[arg-type]
    await service.refresh()
    assert client.calls == []
    assert service.health()["offline"] is True
    assert service.info(CHAT_KEY) == NO_INFO
