"""ServerClient: bodies are the generated types; every failure is a clear exception."""

from __future__ import annotations

import json
from typing import Any

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
    "synced": False,
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


def error(status: int, code: str, message: str, pointer: str | None = None) -> httpx.Response:
    detail = {"code": code, "message": message} | ({"pointer": pointer} if pointer is not None else {})
    return httpx.Response(status, json={"error": detail})


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
        return httpx.Response(200, json={"status": "online", "models": [MANIFEST]})

    async with client_for(handler) as client:
        answer = await client.heartbeat("node:1", HEARTBEAT)
    assert answer.status == NodeStatus.online
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
        (error(404, "not_registered", "tiny-b is not registered.", "/models/1/model_id"), ModelRejected, 1),
        (error(404, "model_not_supported", "'x' is not in the catalog.", "/models/0"), ModelRejected, 0),
        (error(409, "invalid_transition", "bytes_done of m went back", "/models/12/bytes_done"), InvalidTransition, 12),
        (
            error(422, "validation_error", "bytes_done (5) exceeds bytes_total (4).", "/models/0/bytes_done"),
            ServerRejected,
            0,
        ),
        (error(422, "validation_error", "models[3] looks like an index", "/metrics/cpu_usage"), ServerRejected, None),
        (error(422, "validation_error", "not a report", "/models"), ServerRejected, None),
        # a server of the previous release names the report in its message only
        (error(409, "invalid_transition", "models[2]: bytes_done of m went back"), InvalidTransition, 2),
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


def extra(value: dict[str, Any]) -> dict[str, Any]:
    """``value`` with a field no release knows, in every object."""
    return {
        key: [extra(item) if isinstance(item, dict) else item for item in field]
        if isinstance(field, list)
        else extra(field)
        if isinstance(field, dict)
        else field
        for key, field in value.items()
    } | {"added_by_a_newer_server": {"x": 1}}


async def test_answers_with_fields_of_a_newer_server_are_accepted():
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v0/nodes":
            return httpx.Response(201, json=extra(NODE | {"status": "online"}))
        if request.url.path == "/v0/models":
            return httpx.Response(200, json=[extra(MANIFEST)])
        return httpx.Response(200, json=extra({"status": "online", "models": [MANIFEST]}))

    async with client_for(handler) as client:
        node = await client.register(NodeRegistration("n1", "box"))
        answer = await client.heartbeat("n1", HEARTBEAT)
        models = await client.models()
    assert (node.runtime_id, node.status, node.synced) == ("n1", NodeStatus.online, False)
    assert answer.status == NodeStatus.online
    assert answer.models == models
    assert models[0].files[0].size_bytes == 10


async def test_an_error_body_with_fields_of_a_newer_server_keeps_its_code_and_pointer():
    body = extra({"error": {"code": "invalid_transition", "message": "no", "pointer": "/models/1/state"}})
    async with client_for(lambda request: httpx.Response(409, json=body)) as client:
        with pytest.raises(InvalidTransition) as caught:
            await client.heartbeat("n1", HEARTBEAT)
    assert (caught.value.code, caught.value.pointer, caught.value.report_index) == (
        "invalid_transition",
        "/models/1/state",
        1,
    )


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
