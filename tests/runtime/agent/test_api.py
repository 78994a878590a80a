"""ServerClient: bodies are the generated types; every failure is a clear exception."""

from __future__ import annotations

import json

import httpx
import msgspec
import pytest

from generated.types import Heartbeat, HeartbeatModelReport, NodeMetrics, NodeModelState, NodeRegistration, NodeStatus
from runtime.agent.api import ServerClient
from runtime.agent.errors import (
    Forbidden,
    InvalidTransition,
    ModelRejected,
    NodeNotFound,
    NodePending,
    ServerRejected,
    ServerUnavailable,
    Unauthorized,
)

TOKEN = "node-token-123"
NODE = {
    "runtime_id": "n1",
    "machine_name": "box",
    "status": "registering",
    "metrics": {},
    "metrics_stale": True,
    "last_heartbeat_at": None,
}
MANIFEST = {
    "model_id": "tiny-a",
    "repo": "org/repo",
    "format": "gguf",
    "files": [{"name": "a.gguf", "url": "http://hub/org/repo/resolve/main/a.gguf", "size_bytes": 10}],
}
HEARTBEAT = Heartbeat(
    metrics=NodeMetrics(cpu_usage=0.5), models=[HeartbeatModelReport("tiny-a", NodeModelState.downloading, 5, 10)]
)


def error(status: int, code: str, message: str) -> httpx.Response:
    return httpx.Response(status, json={"error": {"code": code, "message": message}})


def client_for(handler) -> ServerClient:
    return ServerClient("http://server.invalid/", TOKEN, transport=httpx.MockTransport(handler))


async def test_register_sends_the_registration_with_the_token():
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, json=NODE)

    async with client_for(handler) as client:
        node = await client.register(NodeRegistration("n1", "box", gpu_memory_bytes=1024))
    assert node.status == NodeStatus.registering
    request = seen[0]
    assert (request.method, request.url.path) == ("POST", "/v0/nodes")
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert json.loads(request.content) == {"runtime_id": "n1", "machine_name": "box", "gpu_memory_bytes": 1024}


async def test_heartbeat_answer_is_decoded_into_the_desired_set():
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"status": "registering", "models": [MANIFEST]})

    async with client_for(handler) as client:
        answer = await client.heartbeat("node:1", HEARTBEAT)
    assert answer.status == NodeStatus.registering
    assert answer.models[0].files[0].size_bytes == 10
    assert seen[0].url.raw_path == b"/v0/nodes/node%3A1/heartbeat"
    assert msgspec.json.decode(seen[0].content, type=Heartbeat) == HEARTBEAT


async def test_models_lists_the_manifests():
    async with client_for(lambda request: httpx.Response(200, json=[MANIFEST])) as client:
        models = await client.models()
    assert [model.model_id for model in models] == ["tiny-a"]


@pytest.mark.parametrize(
    ("response", "kind", "index"),
    [
        (error(401, "unauthorized", "A valid bearer token is required."), Unauthorized, None),
        (error(403, "forbidden", "Node n1 is waiting for approval."), NodePending, None),
        (error(404, "node_not_found", "No node has runtime id 'n1'."), NodeNotFound, None),
        (error(404, "not_registered", "models[1]: tiny-b is not registered."), ModelRejected, 1),
        (error(404, "model_not_supported", "models[0]: 'x' is not in the catalog."), ModelRejected, 0),
        (error(409, "invalid_transition", "models[2]: bytes_done of m went back"), InvalidTransition, 2),
        (error(422, "validation_error", "models[0].bytes_done (5) exceeds bytes_total (4)."), ServerRejected, 0),
        (httpx.Response(400, text="<html>bad</html>"), ServerRejected, None),
    ],
)
async def test_heartbeat_errors_become_exceptions(response, kind, index):
    async with client_for(lambda request: response) as client:
        with pytest.raises(kind) as caught:
            await client.heartbeat("n1", HEARTBEAT)
    assert type(caught.value) is kind
    assert caught.value.status == response.status_code
    assert caught.value.report_index == index


async def test_403_on_registration_is_a_wrong_token_kind():
    async with client_for(lambda request: error(403, "forbidden", "Needs a node token.")) as client:
        with pytest.raises(Forbidden, match="Needs a node token"):
            await client.register(NodeRegistration("n1", "box"))


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(503, text="unavailable"),
        httpx.Response(429, text="slow down"),
        httpx.Response(200, text="not json"),
        httpx.Response(200, json={"status": "weird", "models": []}),
        httpx.ConnectError("connection refused"),
        httpx.ReadTimeout("timed out"),
    ],
)
async def test_no_usable_answer_is_unavailable(answer):
    def handler(request: httpx.Request) -> httpx.Response:
        if isinstance(answer, Exception):
            raise answer
        response: httpx.Response = answer
        return response

    async with client_for(handler) as client:
        with pytest.raises(ServerUnavailable) as caught:
            await client.heartbeat("n1", HEARTBEAT)
    assert TOKEN not in str(caught.value)
