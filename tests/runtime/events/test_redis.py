"""Two server replicas sharing a real Redis deliver each other's events (MODELHUB_REDIS_URL).

Skipped with the reason when no Redis answers on 127.0.0.1:6379, unless MODELHUB_REQUIRE_REDIS=1
(CI sets it, and starts a Redis): then a missing Redis fails the run instead of hiding it.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess

import httpx
import pytest
import redis
from websockets.asyncio.client import connect

from tests.runtime.conftest import ADMIN, NODE, READ_TOKEN, live_server

REDIS_URL = "redis://127.0.0.1:6379/0"
A, B = "qwen3-0.6b", "llama-3.2-1b-instruct"


@pytest.fixture(scope="module")
def redis_server() -> str:
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError as error:
        if os.environ.get("MODELHUB_REQUIRE_REDIS") == "1":
            pytest.fail(f"no Redis at {REDIS_URL} ({error}); start one: redis-server --daemonize yes")
        pytest.skip(f"no Redis at {REDIS_URL} ({error}); start one to run the replica tests")
    return REDIS_URL


@pytest.fixture
def replicas(tmp_path, redis_server):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    env = {"MODELHUB_REDIS_URL": redis_server, "MODELHUB_AUTO_APPROVE_NODES": "true"}
    with live_server(tmp_path / "a", **env) as (first, _), live_server(tmp_path / "b", **env) as (second, _):
        yield first, second


def ws_url(base: str) -> str:
    return f"{base.replace('http://', 'ws://')}/ws?token={READ_TOKEN}"


async def recv(websocket) -> dict:
    return json.loads(await asyncio.wait_for(websocket.recv(), 5))


async def test_each_replica_delivers_the_others_events_in_one_seq_order(replicas):
    first, second = replicas
    async with connect(ws_url(first)) as on_first, connect(ws_url(second)) as on_second:
        for websocket in (on_first, on_second):
            await websocket.send(json.dumps({"op": "subscribe", "topics": ["models", "nodes"]}))
            for _ in range(3):
                await recv(websocket)
        async with httpx.AsyncClient(base_url=first) as via_first, httpx.AsyncClient(base_url=second) as via_second:
            assert (await via_first.post("/v0/models/register", json={"model_id": A}, headers=ADMIN)).status_code == 201
            assert (
                await via_second.post("/v0/models/register", json={"model_id": B}, headers=ADMIN)
            ).status_code == 201
            body = {"runtime_id": "n1", "machine_name": "m"}
            assert (await via_first.post("/v0/nodes", json=body, headers=NODE)).status_code == 201
        seen_first = [await recv(on_first) for _ in range(3)]
        seen_second = [await recv(on_second) for _ in range(3)]
    assert seen_first == seen_second  # the same events, the same seq, the same order on both replicas
    assert [(event["type"], event.get("model_id") or event.get("runtime_id")) for event in seen_first] == [
        ("ModelStatusChanged", A),
        ("ModelStatusChanged", B),
        ("NodeStatusChanged", "n1"),
    ]
    seqs = [event["seq"] for event in seen_first]
    assert seqs == sorted(set(seqs))


async def test_a_client_resumes_on_the_other_replica(replicas):
    first, second = replicas
    async with connect(ws_url(first)) as on_first:
        await on_first.send(json.dumps({"op": "subscribe", "topics": ["models"]}))
        await recv(on_first)
        await recv(on_first)
        async with httpx.AsyncClient(base_url=first, headers=ADMIN) as http:
            await http.post("/v0/models/register", json={"model_id": A})
            last = (await recv(on_first))["seq"]
            await http.post("/v0/models/register", json={"model_id": B})
    async with connect(ws_url(second)) as on_second:
        await on_second.send(json.dumps({"op": "subscribe", "topics": ["models"], "since": last}))
        confirmed, replayed = await recv(on_second), await recv(on_second)
    assert confirmed["type"] == "Subscribed"
    assert (replayed["type"], replayed["model_id"], replayed["status"]) == ("ModelStatusChanged", B, "registered")
    assert replayed["seq"] > last


async def test_losing_the_redis_subscription_resynchronises_clients_and_events_flow_again(replicas):
    first, second = replicas
    async with connect(ws_url(second)) as on_second:
        await on_second.send(json.dumps({"op": "subscribe", "topics": ["models"]}))
        await recv(on_second)
        await recv(on_second)
        subprocess.run(["redis-cli", "client", "kill", "type", "pubsub"], check=True, capture_output=True)
        frames = [await recv(on_second) for _ in range(2)]
        assert [frame["type"] for frame in frames] == ["ResyncRequired", "Snapshot"]
        async with httpx.AsyncClient(base_url=first, headers=ADMIN) as http:
            for _ in range(50):  # the replicas resubscribe within a second or so
                await http.post("/v0/models/register", json={"model_id": A})
                await http.delete(f"/v0/models/{A}")
                try:
                    frame = json.loads(await asyncio.wait_for(on_second.recv(), 0.2))
                except TimeoutError:
                    continue
                if frame["type"] == "ModelStatusChanged":
                    break
            else:
                pytest.fail("no event reached the second replica after Redis dropped its subscription")
    assert frame["model_id"] == A
