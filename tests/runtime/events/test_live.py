"""The event stream under uvicorn on loopback, with the ``websockets`` client: real sockets, real backpressure."""

from __future__ import annotations

import asyncio
import json
import socket
import time

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosedError

from tests.runtime.conftest import ADMIN, NODE_TOKEN, READ_TOKEN, live_server

A, B = "qwen3-0.6b", "llama-3.2-1b-instruct"


def ws_url(base: str, path: str = "/ws", token: str = READ_TOKEN) -> str:
    return f"{base.replace('http://', 'ws://')}{path}?token={token}"


async def frames(websocket, count: int) -> list[dict]:
    return [json.loads(await asyncio.wait_for(websocket.recv(), 5)) for _ in range(count)]


@pytest.fixture
def server(tmp_path):
    with live_server(tmp_path, MODELHUB_WS_QUEUE_SIZE="16") as (base, _):
        yield base


async def test_a_websockets_client_gets_snapshot_then_live_events(server):
    async with connect(ws_url(server), compression=None) as websocket:
        await websocket.send(json.dumps({"op": "subscribe", "topics": ["models"]}))
        confirmed, snapshot = await frames(websocket, 2)
        async with httpx.AsyncClient(base_url=server, headers=ADMIN) as http:
            assert (await http.post("/v0/models/register", json={"model_id": A})).status_code == 201
        (event,) = await frames(websocket, 1)
    assert confirmed["type"] == "Subscribed"
    assert {item["id"]: item["status"] for item in snapshot["items"]}[A] == "available"
    assert (event["type"], event["model_id"], event["status"]) == ("ModelStatusChanged", A, "registered")
    assert event["seq"] > confirmed["seq"]


@pytest.mark.parametrize(("token", "code"), [("wrong", 4401), (NODE_TOKEN, 4403)])
async def test_a_refused_websockets_client_sees_the_close_code(server, token, code):
    async with connect(ws_url(server, token=token)) as websocket:
        with pytest.raises(ConnectionClosedError) as closed:
            await asyncio.wait_for(websocket.recv(), 5)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == code


async def test_a_frame_over_64_kib_is_closed_with_1009_by_the_server(server):
    async with connect(ws_url(server), max_size=None) as websocket:
        await websocket.send("x" * (64 * 1024 + 1))
        with pytest.raises(ConnectionClosedError) as closed:
            await asyncio.wait_for(websocket.recv(), 5)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1009


def stalled_socket(base: str) -> socket.socket:
    """A TCP connection to the server whose receive buffer is as small as the kernel allows."""
    host, port = base.removeprefix("http://").split(":")
    raw = socket.socket()
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
    raw.connect((host, int(port)))
    return raw


async def test_a_stalled_client_delays_nobody_and_ends_with_resync_required(server):
    stalled = await connect(ws_url(server), sock=stalled_socket(server), max_queue=1, compression=None, max_size=None)
    healthy = await connect(ws_url(server), compression=None)
    try:
        await healthy.send(json.dumps({"op": "subscribe", "topics": ["models"]}))
        await frames(healthy, 2)
        # The stalled client asks for the ~20 KB hub snapshot again and again and reads nothing: its
        # socket buffers fill, the server's send to it blocks, and its queue of 16 frames overflows.
        for _ in range(60):
            await stalled.send(json.dumps({"op": "subscribe", "topics": ["models"]}))
        await asyncio.sleep(0.5)

        async with httpx.AsyncClient(base_url=server, headers=ADMIN) as http:
            started = time.monotonic()
            assert (await http.post("/v0/models/register", json={"model_id": A})).status_code == 201
            (event,) = await frames(healthy, 1)
            assert (event["model_id"], event["status"]) == (A, "registered")
            assert time.monotonic() - started < 2  # generous: it is milliseconds when nobody waits on the stalled one
            assert (await http.post("/v0/models/register", json={"model_id": B})).status_code == 201
            assert (await frames(healthy, 1))[0]["model_id"] == B

        # Now the stalled client reads: the backlog it missed is gone, replaced by ResyncRequired and
        # a snapshot; from there (snapshot, then the events after it) it ends on the true state.
        seen: list[dict] = []
        status: dict[str, str] = {}
        while {"type": "ResyncRequired"} not in seen or (status.get(A), status.get(B)) != ("registered",) * 2:
            frame = json.loads(await asyncio.wait_for(stalled.recv(), 5))
            seen.append(frame)
            if frame["type"] == "Snapshot":
                status = {item["id"]: item["status"] for item in frame["items"]}
            elif frame["type"] == "ModelStatusChanged":
                status[frame["model_id"]] = frame["status"]
        assert len(seen) < 60 * 2  # not everything it asked for: the backlog was dropped
        await stalled.send(json.dumps({"op": "ping"}))
        assert (await frames(stalled, 1))[0] == {"type": "Pong"}
    finally:
        await stalled.close()
        await healthy.close()
