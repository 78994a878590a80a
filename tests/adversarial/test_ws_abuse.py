"""WebSocket abuse on a live server: a topic flood, garbage and a client that never reads leave the others served.

Once, one read-token client sending legal frames of 250 topics each made every frame cost more than
the last (its Subscribed listed all it held): /healthz took 5.9 s at 100,000 topics. Now a
connection holds at most MODELHUB_WS_MAX_TOPICS topics, is read at about that many topics a second,
and every other client is unaffected (bench/ws_abuse.py measures how much).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time

import httpx
from websockets.asyncio.client import connect

from tests.runtime.conftest import ADMIN, READ_TOKEN, live_server

A = "qwen3-0.6b"


async def frame_of(websocket, kind: str, within: float) -> dict:
    deadline = time.monotonic() + within
    while True:
        frame = json.loads(await asyncio.wait_for(websocket.recv(), max(deadline - time.monotonic(), 0.01)))
        if frame["type"] == kind:
            return frame


async def test_a_topic_flood_is_refused_and_leaves_health_and_other_clients_served(tmp_path):
    with live_server(tmp_path) as (base, _):
        ws = f"{base.replace('http://', 'ws://')}/ws?token={READ_TOKEN}"
        async with (
            connect(ws, ping_interval=None) as attacker,  # it floods; its frames wait unread for a while
            connect(ws) as bystander,
            connect(ws) as silent,  # subscribes and never reads
            httpx.AsyncClient(base_url=base, timeout=10) as client,
        ):
            await bystander.send(json.dumps({"op": "subscribe", "topics": ["models"]}))
            await frame_of(bystander, "Subscribed", 5)
            await silent.send(json.dumps({"op": "subscribe", "topics": ["models", "nodes", "metrics"]}))
            await attacker.send(b"\x00\xff garbage")
            await attacker.send("{not json")
            for frame in range(400):
                topics = [f"metrics:flood-{frame}-{index}" for index in range(250)]
                await attacker.send(json.dumps({"op": "subscribe", "topics": topics}))

            started = time.monotonic()
            assert (await client.get("/healthz")).status_code == 200
            health = time.monotonic() - started
            assert health < 1.0, f"/healthz took {health:.2f} s during the flood"

            started = time.monotonic()
            assert (await client.post("/v0/models/register", json={"model_id": A}, headers=ADMIN)).status_code == 201
            event = await frame_of(bystander, "ModelStatusChanged", 5)
            assert event["model_id"] == A
            assert time.monotonic() - started < 2.0

            # The attacker is read at about MODELHUB_WS_MAX_TOPICS topics a second (runtime/events/budget.py),
            # so most of its frames still wait; what it got in a few seconds lists no more than the limit,
            # and past the limit it was refused (or, its queue having overflowed, resynchronised).
            seen: list[dict] = []
            deadline = time.monotonic() + 5
            with contextlib.suppress(TimeoutError):
                while time.monotonic() < deadline:
                    seen.append(json.loads(await asyncio.wait_for(attacker.recv(), deadline - time.monotonic())))
            kinds = {frame["type"] for frame in seen}
            codes = {frame.get("code") for frame in seen if frame["type"] == "Error"}
            assert "too_many_topics" in codes or "ResyncRequired" in kinds, kinds
            assert all(len(frame["topics"]) <= 1024 for frame in seen if frame["type"] == "Subscribed")
