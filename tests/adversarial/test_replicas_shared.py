"""Two `modelhub serve` replicas on one private PostgreSQL and one private Redis are one service.

Real processes on loopback: a change on A is seen on B (HTTP and WebSocket); conflicting commands
spread over both have exactly one winner; heartbeats alternating between them drive a model to
ready on both; one replica leads, and when it is killed with SIGKILL the other takes over the
offline timer, which fires exactly once.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from typing import TYPE_CHECKING

import httpx
import pytest
from websockets.asyncio.client import connect

from tests.adversarial.services import PrivatePostgres, PrivateRedis
from tests.fakehub import running_fake_hub
from tests.runtime.conftest import ADMIN, ADMIN_TOKEN, HF_ENDPOINT, NODE, NODE_TOKEN, READ, READ_TOKEN, spawn_server
from tests.runtime.conftest import stop_server as stop_replica
from tests.runtime.e2e.small_server import NODES_CATALOG, running_small_server

if TYPE_CHECKING:
    import subprocess
    from collections.abc import Callable, Iterator
    from pathlib import Path

A, B = "qwen3-0.6b", "llama-3.2-1b-instruct"
OFFLINE_AFTER = 3


class Replicas:
    """Replicas by name on one database and one Redis."""

    def __init__(self, directory: Path, database_url: str, redis_url: str) -> None:
        self.directory = directory
        self.database_url = database_url
        self.redis_url = redis_url
        self.servers: dict[str, tuple[str, subprocess.Popen[str]]] = {}
        self.postgres: PrivatePostgres | None = None

    def start(self, name: str, **env: str) -> str:
        environment = {k: v for k, v in os.environ.items() if not k.startswith("MODELHUB_")}
        environment |= {
            "MODELHUB_DATABASE_URL": self.database_url,
            "MODELHUB_REDIS_URL": self.redis_url,
            "MODELHUB_ADMIN_TOKEN": ADMIN_TOKEN,
            "MODELHUB_NODE_TOKEN": NODE_TOKEN,
            "MODELHUB_READ_TOKEN": READ_TOKEN,
            "MODELHUB_REPLICA_ID": name,
            "MODELHUB_AUTO_APPROVE_NODES": "true",
            "MODELHUB_NODE_OFFLINE_AFTER": str(OFFLINE_AFTER),
            "HF_ENDPOINT": HF_ENDPOINT,
            "HF_HUB_OFFLINE": "1",
            **env,
        }
        directory = self.directory / name
        directory.mkdir(exist_ok=True)
        base, process = spawn_server(directory, environment)
        self.servers[name] = (base, process)
        wait_for(lambda: ready(base), f"replica {name} ready", 30)
        return base

    def url(self, name: str) -> str:
        return self.servers[name][0]

    def kill(self, name: str) -> None:
        _, process = self.servers.pop(name)
        process.send_signal(signal.SIGKILL)
        process.wait()

    def close(self) -> None:
        for _, process in self.servers.values():
            stop_replica(process)


def ready(base: str) -> bool:
    try:
        return httpx.get(f"{base}/readyz", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def wait_for(condition: Callable[[], object], what: str, within: float) -> object:
    deadline = time.monotonic() + within
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {within:g} s")
        time.sleep(0.05)


def hub_status(base: str, model_id: str) -> str:
    items = httpx.get(f"{base}/v0/models/hub", headers=READ, timeout=5).json()
    return next(item["status"] for item in items if item["id"] == model_id)


def leader(base: str) -> bool:
    return bool(httpx.get(f"{base}/readyz", timeout=5).json()["details"]["leader"])


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Replicas]:
    """A private PostgreSQL and Redis; no replica started yet."""
    postgres = PrivatePostgres()
    postgres.start()
    redis = PrivateRedis(tmp_path)
    redis.start()
    cluster = Replicas(tmp_path, postgres.url, redis.url)
    cluster.postgres = postgres
    try:
        yield cluster
    finally:
        cluster.close()
        redis.kill()
        postgres.close()


@pytest.fixture
def replicas(tmp_path: Path) -> Iterator[Replicas]:
    postgres = PrivatePostgres()
    postgres.start()
    redis = PrivateRedis(tmp_path)
    redis.start()
    cluster = Replicas(tmp_path, postgres.url, redis.url)
    cluster.postgres = postgres
    try:
        cluster.start("a")
        cluster.start("b")
        yield cluster
    finally:
        cluster.close()
        redis.kill()
        postgres.close()


def ws_url(base: str) -> str:
    return f"{base.replace('http://', 'ws://')}/ws?token={READ_TOKEN}"


async def frames_until(websocket, match: Callable[[dict], bool], within: float) -> list[dict]:
    """Frames received until one matches (included)."""
    seen = []
    deadline = time.monotonic() + within
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"no matching frame within {within:g} s; saw {[f.get('type') for f in seen]}")
        frame = json.loads(await asyncio.wait_for(websocket.recv(), remaining))
        seen.append(frame)
        if match(frame):
            return seen


def heartbeat(base: str, runtime_id: str, state: str, done: int, total: int = 100) -> httpx.Response:
    body = {"metrics": {}, "models": [{"model_id": A, "state": state, "bytes_done": done, "bytes_total": total}]}
    return httpx.post(f"{base}/v0/nodes/{runtime_id}/heartbeat", json=body, headers=NODE, timeout=5)


def test_a_registration_on_a_is_seen_on_b_over_http_and_websocket(replicas: Replicas) -> None:
    a, b = replicas.url("a"), replicas.url("b")

    async def scenario() -> None:
        async with connect(ws_url(b)) as client:
            await client.send(json.dumps({"op": "subscribe", "topics": ["models"]}))
            await frames_until(client, lambda f: f["type"] == "Snapshot", 5)
            started = time.monotonic()
            response = httpx.post(f"{a}/v0/models/register", json={"model_id": A}, headers=ADMIN, timeout=5)
            assert response.status_code == 201, response.text
            frames = await frames_until(client, lambda f: f["type"] == "ModelStatusChanged" and f["model_id"] == A, 5)
            assert [f["status"] for f in frames if f["type"] == "ModelStatusChanged"] == ["registered"]  # once
            wait_for(lambda: hub_status(b, A) == "registered", "B's hub shows the registration", 2)
            assert time.monotonic() - started < 2

    asyncio.run(scenario())
    # and back: deleting on B empties A
    assert httpx.delete(f"{b}/v0/models/{A}", headers=ADMIN, timeout=5).status_code == 204
    wait_for(lambda: hub_status(a, A) == "available", "A's hub shows the deletion", 2)


def test_concurrent_conflicting_commands_over_three_replicas_have_one_winner(replicas: Replicas) -> None:
    bases = [replicas.url("a"), replicas.url("b"), replicas.start("c")]

    async def register_all() -> list[int]:
        async with httpx.AsyncClient(timeout=10) as client:
            answers = await asyncio.gather(
                *(
                    client.post(f"{bases[i % 3]}/v0/models/register", json={"model_id": B}, headers=ADMIN)
                    for i in range(20)
                )
            )
        return [answer.status_code for answer in answers]

    codes = asyncio.run(register_all())
    assert sorted(codes) == [201] + [409] * 19, codes

    async def delete_all() -> list[int]:
        async with httpx.AsyncClient(timeout=10) as client:
            answers = await asyncio.gather(
                *(client.delete(f"{bases[i % 3]}/v0/models/{B}", headers=ADMIN) for i in range(10))
            )
        return [answer.status_code for answer in answers]

    deleted = asyncio.run(delete_all())
    assert deleted.count(204) == 1, deleted
    assert set(deleted) == {204, 404}, deleted  # as on one replica: the later ones find it not registered


def test_heartbeats_alternating_between_replicas_drive_a_model_to_ready_on_both(replicas: Replicas) -> None:
    a, b = replicas.url("a"), replicas.url("b")
    assert httpx.post(f"{a}/v0/models/register", json={"model_id": A}, headers=ADMIN, timeout=5).status_code == 201
    node = {"runtime_id": "n1", "machine_name": "m1"}
    assert httpx.post(f"{b}/v0/nodes", json=node, headers=NODE, timeout=5).status_code == 201
    wait_for(lambda: httpx.get(f"{a}/v0/nodes/n1", headers=READ, timeout=5).status_code == 200, "n1 on A", 2)
    for index, done in enumerate((10, 40, 70)):
        base = (a, b)[index % 2]
        answer = heartbeat(base, "n1", "downloading", done)
        assert answer.status_code == 200, answer.text
        time.sleep(0.3)  # a node heartbeats every few seconds; the other replica is ~0.1 s behind
    assert heartbeat(b, "n1", "ready", 100).status_code == 200
    for base in (a, b):
        wait_for(lambda base=base: hub_status(base, A) == "ready", f"{base}: ready", 3)
        detail = httpx.get(f"{base}/v0/models/{A}", headers=READ, timeout=5).json()
        assert [(row["runtime_id"], row["state"]) for row in detail["nodes"]] == [("n1", "ready")]
        openai = httpx.get(f"{base}/v1/models", headers=READ, timeout=5).json()
        assert [model["id"] for model in openai["data"]] == [A]


def test_the_leader_killed_hands_the_offline_timer_over_and_it_fires_once(replicas: Replicas) -> None:
    names = ("a", "b")
    leaders = [name for name in names if leader(replicas.url(name))]
    assert len(leaders) == 1, leaders
    dead = leaders[0]
    survivor = next(name for name in names if name != dead)
    base = replicas.url(survivor)
    assert httpx.post(f"{base}/v0/models/register", json={"model_id": A}, headers=ADMIN, timeout=5).status_code == 201
    node = {"runtime_id": "n2", "machine_name": "m2"}
    assert httpx.post(f"{replicas.url(dead)}/v0/nodes", json=node, headers=NODE, timeout=5).status_code == 201
    assert heartbeat(replicas.url(dead), "n2", "downloading", 10).status_code == 200  # acknowledged by the leader
    # Commands are durable before they are acknowledged; a heartbeat's report is told to the other replicas
    # within MODELHUB_REPLICA_SYNC_INTERVAL (and re-sent by the node with its next heartbeat anyway).
    wait_for(lambda: httpx.get(f"{base}/v0/nodes/n2", headers=READ, timeout=5).json()["status"] == "online", "", 2)

    async def scenario() -> None:
        async with connect(ws_url(base)) as client:
            await client.send(json.dumps({"op": "subscribe", "topics": ["nodes"]}))
            await frames_until(client, lambda f: f["type"] == "Snapshot", 5)
            replicas.kill(dead)
            killed = time.monotonic()
            wait_for(lambda: leader(base), f"{survivor} leads", OFFLINE_AFTER + 2)
            frames = await frames_until(
                client,
                lambda f: f["type"] == "NodeStatusChanged" and f.get("status") == "offline",
                OFFLINE_AFTER * 3,
            )
            assert time.monotonic() - killed < OFFLINE_AFTER * 3
            offline = [f for f in frames if f["type"] == "NodeStatusChanged" and f.get("status") == "offline"]
            assert len(offline) == 1
            with pytest.raises((TimeoutError, AssertionError)):  # and only once
                await frames_until(
                    client, lambda f: f["type"] == "NodeStatusChanged" and f.get("status") == "offline", 2
                )

    asyncio.run(scenario())
    nodes = httpx.get(f"{base}/v0/nodes/n2", headers=READ, timeout=5).json()
    assert nodes["status"] == "offline"
    detail = httpx.get(f"{base}/v0/models/{A}", headers=READ, timeout=5).json()
    assert [(row["runtime_id"], row["bytes_done"]) for row in detail["nodes"]] == [("n2", 10)]  # not lost


def test_a_client_of_a_killed_replica_resumes_on_the_other_and_misses_nothing(replicas: Replicas) -> None:
    a, b = replicas.url("a"), replicas.url("b")

    async def scenario() -> None:
        async with connect(ws_url(a)) as client:
            await client.send(json.dumps({"op": "subscribe", "topics": ["models"]}))
            await frames_until(client, lambda f: f["type"] == "Snapshot", 5)
            assert httpx.post(f"{a}/v0/models/register", json={"model_id": A}, headers=ADMIN).status_code == 201
            frames = await frames_until(client, lambda f: f.get("model_id") == A, 5)
            last_seq = frames[-1]["seq"]
        replicas.kill("a")
        # while the client is away, changes happen on the replica that is left
        assert httpx.post(f"{b}/v0/models/register", json={"model_id": B}, headers=ADMIN).status_code == 201
        assert httpx.delete(f"{b}/v0/models/{A}", headers=ADMIN).status_code == 204
        async with connect(ws_url(b)) as client:
            await client.send(json.dumps({"op": "subscribe", "topics": ["models"], "since": last_seq}))
            frames = await frames_until(client, lambda f: f["type"] == "ModelStatusChanged" and f["model_id"] == A, 5)
        kinds = [f["type"] for f in frames]
        assert "ResyncRequired" not in kinds, kinds  # replayed, not resynchronised
        assert "Snapshot" not in kinds, kinds
        missed = [(f["model_id"], f["status"]) for f in frames if f["type"] == "ModelStatusChanged"]
        assert missed == [(B, "registered"), (A, "available")]
        seqs = [f["seq"] for f in frames if f["type"] == "ModelStatusChanged"]  # the replayed events, in order
        assert seqs == sorted(seqs)
        assert seqs[0] > last_seq

    asyncio.run(scenario())


def test_postgres_lost_and_back_reads_go_on_and_the_replicas_catch_up(replicas: Replicas) -> None:
    a, b = replicas.url("a"), replicas.url("b")
    assert replicas.postgres is not None
    assert httpx.post(f"{a}/v0/models/register", json={"model_id": A}, headers=ADMIN, timeout=5).status_code == 201
    wait_for(lambda: hub_status(b, A) == "registered", "B sees the registration", 2)
    replicas.postgres.stop()
    for base in (a, b):
        wait_for(lambda base=base: httpx.get(f"{base}/readyz", timeout=5).status_code == 503, "not ready", 10)
        body = httpx.get(f"{base}/readyz", timeout=5).json()
        assert body["checks"]["database"] != "ok"
        assert hub_status(base, A) == "registered"  # reads are served from memory
    refused = httpx.post(f"{b}/v0/models/register", json={"model_id": B}, headers=ADMIN, timeout=10)
    assert refused.status_code == 503, refused.text
    assert refused.json()["error"]["code"] == "database_unavailable"
    replicas.postgres.start()
    for base in (a, b):
        wait_for(lambda base=base: ready(base), "ready again without a restart", 20)
    assert httpx.post(f"{b}/v0/models/register", json={"model_id": B}, headers=ADMIN, timeout=5).status_code == 201
    wait_for(lambda: hub_status(a, B) == "registered", "A hears of B's change after the outage", 3)


def test_hugging_face_is_asked_once_per_repository_for_the_whole_service(services: Replicas) -> None:
    with running_fake_hub() as hub:
        env = {"HF_ENDPOINT": hub.url, "HF_HUB_OFFLINE": "0"}
        bases = [services.start(name, **env) for name in ("a", "b")]

        def fresh(base: str) -> list[dict]:
            items = httpx.get(f"{base}/v0/models/hub", headers=READ, timeout=5).json()
            return (
                [item["hf_info"] for item in items]
                if all(item["hf_info"] and item["hf_info"]["freshness"] == "fresh" for item in items)
                else []
            )

        shown = [wait_for(lambda base=base: fresh(base), f"{base}: every model's stats fresh", 20) for base in bases]
        assert shown[0] == shown[1]  # the same stats everywhere: the follower shows what the leader saved
        time.sleep(1)
        model_calls = {
            path: count for path, count in hub.stats()["requests"].items() if path.startswith("/api/models/")
        }
        assert model_calls, hub.stats()
        assert set(model_calls.values()) == {1}, model_calls  # one replica asked, once per repository


def test_two_releases_with_different_catalogs_share_the_registrations_without_corrupting_them(
    services: Replicas, tmp_path: Path
) -> None:
    """A rolling upgrade: release 2's catalog dropped tiny-c, which release 1 has registered."""
    old_catalog = json.loads(NODES_CATALOG.read_text())
    new_catalog = {**old_catalog, "models": [m for m in old_catalog["models"] if m["id"] != "tiny-c"]}
    (tmp_path / "release-2.json").write_text(json.dumps(new_catalog))
    env = {
        "MODELHUB_DATABASE_URL": services.database_url,
        "MODELHUB_REDIS_URL": services.redis_url,
        "MODELHUB_ADMIN_TOKEN": ADMIN_TOKEN,
        "MODELHUB_NODE_TOKEN": NODE_TOKEN,
        "MODELHUB_READ_TOKEN": READ_TOKEN,
        "MODELHUB_AUTO_APPROVE_NODES": "true",
        "HF_ENDPOINT": HF_ENDPOINT,
        "HF_HUB_OFFLINE": "1",
    }
    with running_small_server(tmp_path, env | {"MODELHUB_REPLICA_ID": "release-1"}) as (old, _):
        for model_id in ("tiny-a", "tiny-c"):
            assert (
                httpx.post(f"{old}/v0/models/register", json={"model_id": model_id}, headers=ADMIN).status_code == 201
            )
        catalog = tmp_path / "release-2.json"
        with running_small_server(tmp_path, env | {"MODELHUB_REPLICA_ID": "release-2"}, catalog=catalog) as (new, _):
            wait_for(lambda: ready(new), "release 2 ready", 20)
            assert httpx.get(f"{new}/readyz").json()["details"]["orphaned_registrations"] == ["tiny-c"]
            assert [o["model_id"] for o in httpx.get(f"{new}/v0/models/orphaned", headers=READ).json()] == ["tiny-c"]
            assert "tiny-c" not in {item["id"] for item in httpx.get(f"{new}/v0/models/hub", headers=READ).json()}
            assert hub_status(new, "tiny-a") == "registered"

            # a node of release 1 still reports tiny-c; release 2 takes the heartbeat and ignores that report
            node = {"runtime_id": "n1", "machine_name": "m"}
            assert httpx.post(f"{new}/v0/nodes", json=node, headers=NODE).status_code == 201
            reports = [
                {"model_id": "tiny-a", "state": "downloading", "bytes_done": 5, "bytes_total": 10},
                {"model_id": "tiny-c", "state": "ready", "bytes_done": 10, "bytes_total": 10},
            ]
            beat = httpx.post(f"{new}/v0/nodes/n1/heartbeat", json={"metrics": {}, "models": reports}, headers=NODE)
            assert beat.status_code == 200, beat.text
            assert beat.json()["retained"] == ["tiny-c"]  # the node keeps its files
            assert [m["model_id"] for m in beat.json()["models"]] == ["tiny-a"]
            wait_for(lambda: hub_status(old, "tiny-a") == "downloading", "release 1 sees the report on tiny-a", 3)
            assert hub_status(old, "tiny-c") == "registered"  # release 1 still serves its view

            # the admin deletes it on release 2: gone for both
            assert httpx.delete(f"{new}/v0/models/tiny-c", headers=ADMIN).status_code == 204
            wait_for(lambda: hub_status(old, "tiny-c") == "available", "release 1 hears of the deletion", 3)
            assert httpx.get(f"{new}/v0/models/orphaned", headers=READ).json() == []
