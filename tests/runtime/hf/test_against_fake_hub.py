"""The Hugging Face stats path end to end: the real HfClient, StatsCache and app against the fake Hub on loopback.

The unit tests (test_client.py, test_cache.py, test_service.py) drive each piece with mocks; here every call is
real HTTP to ``running_fake_hub()``, and what the Hub saw is read back from its ``/_fake/stats``. Waits are
bounded polls; the clock is injected wherever a TTL or a cooldown has to pass.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import msgspec
import pytest
from litestar.testing import TestClient
from pydantic import SecretStr

from generated.catalog import CATALOG
from generated.types import HfFreshness, HfGating
from runtime.app import create_app
from runtime.db.sql import SqlStore
from runtime.fakehub.payloads import model_info
from runtime.hf.cache import StatsCache
from runtime.hf.client import HfClient
from runtime.hf.services import CONCURRENCY, key_of
from tests.fakehub import running_fake_hub
from tests.runtime.conftest import READ, READ_TOKEN, make_settings

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Iterator
    from pathlib import Path

    from runtime.hf.cache import Key
    from runtime.hf.client import Outcome
    from tests.fakehub import FakeHubHandle

TOKEN = "hf_secret_token_123"
REPLICA = "hf-replica"  # MODELHUB_REPLICA_ID of `running_app`: every /metrics sample carries it
TTL = 60.0
REPO = CATALOG[0].repo
KEY: Key = (REPO, None)
OTHER: Key = (CATALOG[1].repo, None)
THIRD: Key = (CATALOG[2].repo, None)
RECORDED: Key = ("meta-llama/Llama-3.1-8B-Instruct", None)
"""A repo the fake Hub answers with a recorded payload (gated: manual)."""
REPOS = {key_of(model) for model in CATALOG}
POLL = 10.0
"""Longest wait for something the app does in the background."""
STALE_WITHIN = 3.5
"""With a TTL of 1 s the app refreshes every second: values are stale at most ~2 s after the last fetch."""
AT_ONCE = 0.5
"""An answer that waited for a hanging Hub would take HANG_TIMEOUT."""
HANG_TIMEOUT = 10.0
NO_STATS = {"downloads": None, "likes": None, "fetched_at": None, "freshness": "none"}
SHOWN = ("downloads", "likes", "fetched_at", "last_modified", "gated")
"""What the hub shows of the last good stats, besides their freshness."""


# ---------------------------------------------------------------- helpers


class Clock:
    """Monotonic and wall time that move only when told to."""

    def __init__(self) -> None:
        self.now = 1_000.0
        self.epoch = datetime(2025, 3, 21, 12, 0, tzinfo=UTC)

    def monotonic(self) -> float:
        return self.now

    def wall(self) -> datetime:
        return self.epoch + timedelta(seconds=self.now)

    def advance(self, seconds: float) -> None:
        self.now += seconds


def payload(hub: FakeHubHandle, repo: str) -> dict[str, Any]:
    """What the hub should show of the fake Hub's model info for ``repo``."""
    source = hub.hub.repos.get(repo)
    assert source is not None
    body = msgspec.json.decode(model_info(source))
    gated = body["gated"]
    return {
        "downloads": body["downloads"],
        "likes": body["likes"],
        "last_modified": body["lastModified"],
        "gated": HfGating.open.value if gated is False else gated,
    }


def wait_until(condition: Callable[[], Any], what: str, timeout: float = POLL) -> Any:
    """Poll ``condition`` until it returns something truthy, and return that."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:g} s: {what}")
        time.sleep(0.02)
    return value


@contextmanager
def running_app(tmp_path: Path, endpoint: str, **overrides: Any) -> Iterator[TestClient[Any]]:
    """The app against ``endpoint`` (a fake Hub), online, its database in ``tmp_path``."""
    settings = make_settings(
        tmp_path, **{"hf_hub_offline": False, "hf_endpoint": endpoint, "replica_id": REPLICA, **overrides}
    )
    with TestClient(create_app(settings)) as client:
        yield client


def hf_infos(client: TestClient[Any]) -> dict[str, dict[str, Any]]:
    """``hf_info`` of every hub item, by model id."""
    response = client.get("/v0/models/hub", headers=READ)
    assert response.status_code == 200
    return {item["id"]: item["hf_info"] for item in response.json()}


def all_of(freshness: str, client: TestClient[Any]) -> dict[str, dict[str, Any]] | None:
    """Every ``hf_info`` if each has ``freshness``, else None."""
    infos = hf_infos(client)
    return infos if all(info["freshness"] == freshness for info in infos.values()) else None


def read_at_once(client: TestClient[Any]) -> dict[str, dict[str, Any]]:
    """The hub's ``hf_info`` values, asserting the answer did not wait on Hugging Face."""
    start = time.perf_counter()
    infos = hf_infos(client)
    assert time.perf_counter() - start < AT_ONCE
    return infos


def shown(infos: dict[str, dict[str, Any]]) -> dict[str, tuple[Any, ...]]:
    return {model_id: tuple(info.get(name) for name in SHOWN) for model_id, info in infos.items()}


def fetched(infos: dict[str, dict[str, Any]], model_id: str) -> datetime:
    return datetime.fromisoformat(infos[model_id]["fetched_at"])


def refetched(client: TestClient[Any], before: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]] | None:
    """Every ``hf_info``, once each is fresh and fetched after ``before``; else None."""
    infos = all_of("fresh", client)
    return infos if infos and all(fetched(infos, m) > fetched(before, m) for m in infos) else None


def between_refreshes(client: TestClient[Any]) -> dict[str, dict[str, Any]]:
    """Every model's fresh stats, just after a refresh has fetched them all (TTL 1 s): the next is a second away.

    A fault set now meets the next refresh as a whole, never half of one.
    """
    warm = wait_until(lambda: all_of("fresh", client), "every model's stats fresh")
    infos: dict[str, dict[str, Any]] = wait_until(lambda: refetched(client, warm), "every model's stats fetched again")
    return infos


def saved(tmp_path: Path) -> dict[str, datetime]:
    """When each repository's stats in the app's database (``make_settings``) were fetched."""

    async def load() -> dict[str, datetime]:
        store = SqlStore(make_settings(tmp_path).database_url)
        try:
            return {record.repo: record.fetched_at for record in await store.load_hf_stats()}
        finally:
            await store.close()

    return asyncio.run(load())


def wait_until_saved(tmp_path: Path, infos: dict[str, dict[str, Any]]) -> None:
    """Wait until the database holds what the hub shows (it is written just after it is shown)."""

    def done() -> bool:
        rows = saved(tmp_path)
        return all(model.repo in rows and rows[model.repo] >= fetched(infos, model.id) for model in CATALOG)

    wait_until(done, "the stats the hub shows saved")


def hf_health(client: TestClient[Any]) -> dict[str, Any]:
    response = client.get("/readyz")
    assert response.status_code == 200
    health: dict[str, Any] = response.json()["details"]["huggingface"]
    return health


def unanswered(client: TestClient[Any]) -> int:
    """Calls the app has sent to the Hub and not had an answer to (or given up on) yet."""
    health = client.app.state.services.hf.cache.health
    return int(health.upstream_calls - sum(health.outcomes.values()))


def fail(hub: FakeHubHandle, failure: str, refused_url: str) -> str:
    """Make the Hub fail as ``failure`` says; the endpoint to use from now on."""
    if failure == "hang":
        hub.faults(hang=True)
    elif failure == "503":
        hub.faults(status=503)
    else:
        assert failure == "refused"
        return refused_url
    return hub.url


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def fake_hub() -> Iterator[FakeHubHandle]:
    with running_fake_hub() as hub:
        yield hub


@pytest.fixture
def hub(fake_hub: FakeHubHandle) -> Iterator[FakeHubHandle]:
    """The module's fake Hub, with no faults and fresh counts."""
    fake_hub.clear()
    fake_hub.reset_stats()
    yield fake_hub
    fake_hub.clear()


@pytest.fixture
def refused_url() -> Iterator[str]:
    """A loopback URL whose port is bound but not listening: every connection is refused."""
    with socket.socket() as bound:
        bound.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{bound.getsockname()[1]}"


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def hf_client(hub: FakeHubHandle) -> AsyncIterator[HfClient]:
    client = HfClient(hub.url, token=None, timeout=5.0)
    yield client
    await client.aclose()


def cache_of(fetch: Callable[[str, str | None], Any], clock: Clock, *, maxsize: int = 16, **options: Any) -> StatsCache:
    return StatsCache(fetch, ttl=TTL, maxsize=maxsize, clock=clock.monotonic, wall=clock.wall, **options)


# ---------------------------------------------------------------- StatsCache over the real client


async def test_a_cold_lookup_returns_the_fake_hubs_stats(hub, hf_client, clock):
    entry, freshness = await cache_of(hf_client.model_info, clock).get(RECORDED)

    assert freshness is HfFreshness.fresh
    assert entry is not None
    assert entry.stats.downloads == 5795728
    assert entry.stats.likes == 3763
    assert entry.stats.last_modified == "2024-09-25T17:00:57.000Z"
    assert entry.stats.gated is HfGating.manual
    assert entry.fetched_at == clock.wall()


async def test_a_value_is_served_from_the_cache_for_the_ttl_then_fetched_again(hub, hf_client, clock):
    cache = cache_of(hf_client.model_info, clock)
    first, _ = await cache.get(KEY)
    assert first is not None
    assert first.stats.downloads == payload(hub, REPO)["downloads"]

    clock.advance(TTL - 0.5)
    assert await cache.get(KEY) == (first, HfFreshness.fresh)
    assert hub.stats()["api_calls"] == 1

    clock.advance(1.0)
    assert cache.peek(KEY) == (first, HfFreshness.stale)
    second, freshness = await cache.get(KEY)
    assert freshness is HfFreshness.fresh
    assert second is not None
    assert second.fetched_at == first.fetched_at + timedelta(seconds=TTL + 0.5)
    assert hub.stats()["api_calls"] == 2


async def test_the_least_recently_fetched_repository_is_evicted(hub, hf_client, clock):
    cache = cache_of(hf_client.model_info, clock, maxsize=2)
    for key in (KEY, OTHER, THIRD):
        await cache.get(key)

    assert cache.peek(KEY) == (None, HfFreshness.none)
    assert cache.peek(OTHER)[1] is HfFreshness.fresh
    assert cache.peek(THIRD)[1] is HfFreshness.fresh
    hub.reset_stats()
    assert (await cache.get(KEY))[1] is HfFreshness.fresh
    assert hub.stats()["requests"] == {f"/api/models/{REPO}": 1}


async def test_reading_a_repository_keeps_its_last_good_value_from_eviction(hub, hf_client, clock):
    cache = cache_of(hf_client.model_info, clock, maxsize=2)
    await cache.get(KEY)
    await cache.get(OTHER)
    await cache.get(KEY)  # KEY is now the most recently used, OTHER the least
    await cache.get(THIRD)  # evicts OTHER
    clock.advance(TTL + 1)
    hub.faults(status=503)

    entry, freshness = await cache.get(KEY)

    assert entry is not None
    assert freshness is HfFreshness.stale


class Upstream:
    """A fetch whose client can be swapped, to take the Hub away from a warm cache."""

    def __init__(self, client: HfClient) -> None:
        self.client = client

    async def model_info(self, repo: str, revision: str | None) -> Outcome:
        return await self.client.model_info(repo, revision)


@pytest.mark.parametrize(
    ("faults", "reason"),
    [
        pytest.param({"status": 500}, "HTTP 500", id="500"),
        pytest.param({"status": 503}, "HTTP 503", id="503"),
        pytest.param({"rate_limit": {"retry_after": 7}}, "rate limited (429); no calls for 7 s", id="429"),
        pytest.param({"malformed": True}, "malformed body: not JSON", id="malformed"),
        pytest.param({"hang": True}, "timeout", id="hang"),
        pytest.param(None, "connection error (ConnectError)", id="refused"),
    ],
)
async def test_each_failure_keeps_the_last_good_value_as_stale(hub, refused_url, clock, faults, reason):
    healthy = HfClient(hub.url, token=None, timeout=0.5)
    down = HfClient(refused_url, token=None, timeout=0.5)
    upstream = Upstream(healthy)
    cache = cache_of(upstream.model_info, clock)
    try:
        good, _ = await cache.get(KEY)
        clock.advance(TTL + 1)
        if faults is None:
            upstream.client = down
        else:
            hub.faults(**faults)

        entry, freshness = await cache.get(KEY)
    finally:
        await healthy.aclose()
        await down.aclose()

    assert good is not None
    assert entry is good
    assert freshness is HfFreshness.stale
    assert cache.health.last_error is not None
    assert cache.health.last_error.startswith(reason)
    assert hub.stats()["api_calls"] == (1 if faults is None else 2)


async def test_1000_concurrent_cold_lookups_of_one_repo_make_exactly_one_upstream_call(hub, hf_client, clock):
    hub.faults(latency=0.2)  # the one request is still out when the other 999 ask
    cache = cache_of(hf_client.model_info, clock)

    results = await asyncio.gather(*(cache.get(KEY) for _ in range(1000)))

    assert hub.stats()["api_calls"] == 1
    assert cache.health.upstream_calls == 1
    first = results[0][0]
    assert first is not None
    assert first.stats.downloads == payload(hub, REPO)["downloads"]
    assert all(entry is first and freshness is HfFreshness.fresh for entry, freshness in results)


async def test_no_call_goes_out_during_a_429_window_and_calls_resume_after_it(hub, hf_client, clock):
    cache = cache_of(hf_client.model_info, clock)
    hub.faults(rate_limit={"retry_after": 30})
    assert await cache.get(KEY) == (None, HfFreshness.none)
    assert hub.stats()["api_calls"] == 1
    hub.clear()  # the Hub would answer now: only the cooldown holds the calls back
    hub.reset_stats()

    for _ in range(5):
        for key in (KEY, OTHER):
            assert await cache.get(key) == (None, HfFreshness.none)
    clock.advance(29.9)
    assert await cache.get(KEY) == (None, HfFreshness.none)
    assert hub.stats()["api_calls"] == 0

    clock.advance(0.2)
    entry, freshness = await cache.get(KEY)
    assert freshness is HfFreshness.fresh
    assert entry is not None
    assert hub.stats()["api_calls"] == 1


async def test_an_offline_cache_never_calls_the_hub(hub, hf_client, clock):
    cache = cache_of(hf_client.model_info, clock, offline=True)

    for key in (KEY, OTHER, KEY):
        assert await cache.get(key) == (None, HfFreshness.none)

    assert hub.stats()["requests"] == {}


async def test_a_renamed_repository_is_followed_and_its_stats_arrive(hub, hf_client, clock):
    hub.faults(rename={"from": REPO, "to": "org/renamed"})

    entry, freshness = await cache_of(hf_client.model_info, clock).get(KEY)

    assert freshness is HfFreshness.fresh
    assert entry is not None
    expected = payload(hub, REPO)
    assert (entry.stats.downloads, entry.stats.likes) == (expected["downloads"], expected["likes"])
    assert hub.stats()["requests"] == {f"/api/models/{REPO}": 1, "/api/models/org/renamed": 1}


async def test_the_token_is_sent_as_a_bearer_token_and_no_token_sends_none(hub):
    anonymous = HfClient(hub.url, token=None, timeout=5.0)
    signed = HfClient(hub.url, token=SecretStr(TOKEN), timeout=5.0)
    try:
        await anonymous.model_info(REPO)
        assert hub.stats()["last_authorization"] is None
        await signed.model_info(REPO)
        assert hub.stats()["last_authorization"] == f"Bearer {TOKEN}"
    finally:
        await anonymous.aclose()
        await signed.aclose()


# ---------------------------------------------------------------- the app


def test_after_warm_up_the_hub_shows_the_fake_hubs_stats(hub, tmp_path):
    started = datetime.now(UTC)
    with running_app(tmp_path, hub.url, hf_token=TOKEN) as client:
        infos = wait_until(lambda: all_of("fresh", client), "every model's stats fresh")
    finished = datetime.now(UTC)

    for model in CATALOG:
        info = infos[model.id]
        assert info == {**payload(hub, model.repo), "fetched_at": info["fetched_at"], "freshness": "fresh"}
        assert started <= datetime.fromisoformat(info["fetched_at"]) <= finished
    assert hub.stats()["api_calls"] == len(REPOS)  # one call per repository


def test_the_token_is_sent_to_the_hub_and_shown_nowhere(hub, tmp_path, caplog, monkeypatch):
    caplog.set_level(logging.DEBUG)  # every record, at DEBUG, from every logger (some do not propagate)
    for name, logger in logging.root.manager.loggerDict.items():
        if isinstance(logger, logging.Logger) and not logger.propagate:
            monkeypatch.setattr(logger, "propagate", True)
            caplog.set_level(logging.DEBUG, logger=name)
    with running_app(tmp_path, hub.url, hf_token=TOKEN) as client:
        wait_until(lambda: all_of("fresh", client), "every model's stats fresh")
        bodies = [client.get(path, headers=READ).text for path in ("/v0/models/hub", "/readyz", "/metrics")]

    assert hub.stats()["last_authorization"] == f"Bearer {TOKEN}"
    for body in bodies:
        assert TOKEN not in body
    assert any("/api/models/" in record.getMessage() for record in caplog.records)  # the capture works
    for record in caplog.records:
        assert TOKEN not in record.getMessage()
        assert TOKEN not in repr(record.__dict__)
    assert TOKEN not in caplog.text


def test_create_app_leaves_the_root_logger_alone(tmp_path):
    # Litestar's default LoggingConfig replaced the root handlers and set INFO: caplog saw nothing at DEBUG.
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        create_app(make_settings(tmp_path))
        assert (root.handlers, root.level) == (handlers, level)
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


@pytest.mark.parametrize("failure", ["hang", "503", "refused"])
def test_from_a_cold_start_with_the_hub_failing_the_hub_answers_at_once_without_stats(
    hub, refused_url, tmp_path, failure
):
    endpoint = fail(hub, failure, refused_url)
    with running_app(tmp_path, endpoint, hf_timeout=HANG_TIMEOUT) as client:
        if failure == "hang":
            wait_until(lambda: hub.stats()["api_calls"] >= 1, "a request at the fake Hub")
        else:
            wait_until(lambda: hf_health(client)["last_error"], "a failed call")
        infos = read_at_once(client)
        if failure == "hang":
            assert hub.hub.control.faults.hang  # still hanging: no request has been answered
            assert unanswered(client) >= 1
            assert client.app.state.services.hf.cache.health.outcomes == {}

    assert all(info == NO_STATS for info in infos.values())


def test_with_the_hub_hanging_after_warm_up_the_hub_answers_at_once_with_the_last_good_values(hub, tmp_path):
    with running_app(tmp_path, hub.url, hf_cache_ttl=1, hf_timeout=HANG_TIMEOUT) as client:
        good = between_refreshes(client)
        hub.faults(hang=True)
        hub.reset_stats()
        wait_until(
            lambda: hub.stats()["api_calls"] >= 1 and unanswered(client) >= 1, "a refresh waiting on the hanging Hub"
        )
        infos = read_at_once(client)
        assert hub.hub.control.faults.hang  # still hanging: the request has not been answered

    assert shown(infos) == shown(good)
    assert {info["freshness"] for info in infos.values()} <= {"fresh", "stale"}


@pytest.mark.parametrize("failure", ["503", "down", "hang"])
def test_after_warm_up_with_the_hub_failing_the_hub_shows_the_last_good_values_as_stale(tmp_path, failure):
    with ExitStack() as hub_running:
        hub = hub_running.enter_context(running_fake_hub())  # its own: "down" stops it
        with running_app(tmp_path, hub.url, hf_cache_ttl=1, hf_timeout=HANG_TIMEOUT) as client:
            good = between_refreshes(client)
            if failure == "down":
                hub_running.close()
            else:
                fail(hub, failure, "")
            stale = wait_until(lambda: all_of("stale", client), "every model's stats stale", STALE_WITHIN)
            read_at_once(client)

    assert shown(stale) == shown(good)


@pytest.mark.parametrize("failure", ["503", "refused", "hang"])
def test_a_restart_while_the_hub_fails_shows_the_persisted_stats_as_stale(hub, refused_url, tmp_path, failure):
    with running_app(tmp_path, hub.url) as first:
        good = wait_until(lambda: all_of("fresh", first), "every model's stats fresh")
        wait_until_saved(tmp_path, good)

    endpoint = fail(hub, failure, refused_url)
    with running_app(tmp_path, endpoint, hf_cache_ttl=1, hf_timeout=HANG_TIMEOUT) as second:
        stale = wait_until(lambda: all_of("stale", second), "every model's stats stale", STALE_WITHIN)
        read_at_once(second)

    assert shown(stale) == shown(good)


def test_a_restart_shows_the_newest_stats_saved_not_the_first(hub, refused_url, tmp_path):
    with running_app(tmp_path, hub.url, hf_cache_ttl=1) as first:
        newer = between_refreshes(first)
        wait_until_saved(tmp_path, newer)

    with running_app(tmp_path, refused_url, hf_cache_ttl=1) as second:
        stale = wait_until(lambda: all_of("stale", second), "every model's stats stale", STALE_WITHIN)

    assert all(fetched(stale, model_id) >= fetched(newer, model_id) for model_id in stale)


def test_stats_the_hub_has_shown_survive_an_immediate_restart(hub, refused_url, tmp_path, monkeypatch):
    app = create_app(make_settings(tmp_path, hf_hub_offline=False, hf_endpoint=hub.url))
    store = app.state.services.hf.store
    save = store.save_hf_stats

    async def slow_save(records: list[Any], *, note: str | None = None) -> None:
        await asyncio.sleep(0.5)  # a slow database widens the moment between showing a value and writing it
        await save(records, note=note)

    monkeypatch.setattr(store, "save_hf_stats", slow_save)
    with TestClient(app) as first:
        good = wait_until(lambda: all_of("fresh", first), "every model's stats fresh")

    with running_app(tmp_path, refused_url) as second:
        wait_until(lambda: hf_health(second)["last_error"], "a failed call")
        infos = hf_infos(second)

    assert shown(infos) == shown(good)


def test_an_offline_app_never_calls_the_hub(hub, tmp_path):
    with running_app(tmp_path, hub.url, hf_hub_offline=True) as client:
        infos = [hf_infos(client) for _ in range(3)]
        health = hf_health(client)

    assert hub.stats()["requests"] == {}
    assert all(info == NO_STATS for read in infos for info in read.values())
    assert health["offline"] is True
    assert health["upstream_calls"] == 0


def test_metrics_and_readyz_report_a_healthy_hub(hub, tmp_path):
    with running_app(tmp_path, hub.url) as client:
        wait_until(lambda: all_of("fresh", client), "every model's stats fresh")
        metrics = client.get("/metrics").text
        health = hf_health(client)

    calls = float(len(REPOS))
    assert f'modelhub_hf_upstream_calls_total{{replica="{REPLICA}"}} {calls}' in metrics
    assert f'modelhub_hf_outcomes_total{{outcome="found",replica="{REPLICA}"}} {calls}' in metrics
    assert datetime.fromisoformat(health["last_success_at"]) <= datetime.now(UTC)
    assert health["last_error"] is None
    assert health["cooldown_until"] is None
    assert health["upstream_calls"] == len(REPOS)


def test_a_429_shows_in_readyz_and_metrics_and_stops_the_calls(hub, tmp_path):
    hub.faults(rate_limit={"retry_after": 60})
    with running_app(tmp_path, hub.url) as client:
        health = wait_until(lambda: (found := hf_health(client))["cooldown_until"] and found, "a cooldown")
        readyz = client.get("/readyz").json()
        metrics = client.get("/metrics").text
        infos = hf_infos(client)
    now = datetime.now(UTC)

    assert readyz["status"] == "ready"  # the Hub's health is informative
    assert health["last_error"] == "rate limited (429); no calls for 60 s"
    assert now + timedelta(seconds=50) < datetime.fromisoformat(health["cooldown_until"]) <= now + timedelta(seconds=60)
    assert f'modelhub_hf_outcomes_total{{outcome="ratelimited",replica="{REPLICA}"}}' in metrics
    assert f'modelhub_hf_cooldown_until_timestamp_seconds{{replica="{REPLICA}"}} 0.0' not in metrics
    assert "modelhub_hf_cooldown_until_timestamp_seconds{" in metrics
    assert hub.stats()["api_calls"] <= CONCURRENCY  # only those already out when the first 429 came back
    assert all(info == NO_STATS for info in infos.values())


# ---------------------------------------------------------------- HfStatsUpdated on the socket


def test_a_refresh_that_changes_the_stats_publishes_hf_stats_updated(hub, tmp_path):
    model_id = CATALOG[0].id
    with running_app(tmp_path, hub.url, hf_cache_ttl=1) as client:
        with (
            client.websocket_connect(f"/ws?token={READ_TOKEN}") as models,
            client.websocket_connect(f"/ws?token={READ_TOKEN}") as one,
            client.websocket_connect(f"/ws?token={READ_TOKEN}") as nodes,
        ):
            for socket_, topic in ((models, "models"), (one, f"model:{model_id}"), (nodes, "nodes")):
                socket_.send_json({"op": "subscribe", "topics": [topic]})
                assert [json.loads(socket_.receive_text(timeout=5))["type"] for _ in range(2)] == [
                    "Subscribed",
                    "Snapshot",
                ]
            # Every refresh (TTL 1 s) fetches the stats again: a new fetched_at is a change the hub shows.
            # (A value past its TTL shows as stale before the refresh brings it back: that is a change too.)
            on_model = _next_frame(one, "HfStatsUpdated", lambda frame: frame["hf_info"]["freshness"] == "fresh")
            on_models = _next_frame(models, "HfStatsUpdated", lambda frame: frame["seq"] == on_model["seq"])
            nodes.send_json({"op": "ping"})
            assert json.loads(nodes.receive_text(timeout=5)) == {"type": "Pong"}  # not on the nodes topic
        shown_now = hf_infos(client)
    assert on_model["model_id"] == model_id
    assert on_models["seq"] == on_model["seq"]  # one event on both topics
    assert set(on_model) == {"type", "seq", "ts", "model_id", "hf_info"}
    info = on_model["hf_info"]
    assert info["freshness"] == "fresh"
    assert {name: info.get(name) for name in ("downloads", "likes", "last_modified", "gated")} == payload(
        hub, CATALOG[0].repo
    )
    assert datetime.fromisoformat(info["fetched_at"]) <= datetime.fromisoformat(shown_now[model_id]["fetched_at"])


def _next_frame(
    socket_: Any, frame_type: str, wanted: Callable[[dict[str, Any]], bool], limit: int = 200
) -> dict[str, Any]:
    """The next frame of ``frame_type`` that is ``wanted``, skipping others."""
    for _ in range(limit):
        frame: dict[str, Any] = json.loads(socket_.receive_text(timeout=POLL))
        if frame["type"] == frame_type and wanted(frame):
            return frame
    raise AssertionError(f"no wanted {frame_type} frame in {limit}")
