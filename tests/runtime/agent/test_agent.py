"""The agent's loop against the server's real rules (LifecycleService behind httpx.MockTransport) and the fake Hub."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import msgspec
import pytest

from generated.types import (
    ErrorBody,
    ErrorDetail,
    Heartbeat,
    HeartbeatModelReport,
    HeartbeatResponse,
    NodeMetrics,
    NodeModelState,
    NodeRegistration,
    NodeStatus,
)
from runtime.agent.agent import Agent
from runtime.agent.api import ServerClient
from runtime.agent.backoff import Backoff
from runtime.agent.cache import Cache
from runtime.agent.command import configure_logging
from runtime.agent.config import NodeConfig
from runtime.agent.errors import Unauthorized
from runtime.agent.report import RESYNC
from runtime.catalog.services import ManifestCache
from runtime.errors import AppError
from runtime.lifecycle.service import LifecycleService
from tests.runtime.agent.conftest import BY_ID, HF_TOKEN, TINY_A, TINY_B, hostile_file_server, sha256_of
from tests.runtime.fakes import MemoryStore

NODE_TOKEN = "node-token-for-agent-tests"
RUNTIME_ID = "test-node"
FAST = Backoff(base=0.02, cap=0.1, random=lambda: 0.0)
HEARTBEAT_PATH = re.compile(r"^/v0/nodes/([^/]+)/heartbeat$")


@dataclass
class Call:
    method: str
    path: str
    status: int
    code: str | None
    body: bytes = b""


@dataclass
class StubServer:
    """What the agent talks to: the real lifecycle rules and manifests, no HTTP server."""

    hub_url: str
    auto_approve: bool = True
    down: bool = False
    calls: list[Call] = field(default_factory=list)

    async def start(self) -> None:
        self.lifecycle = LifecycleService(
            MemoryStore(), offline_after=30, auto_approve=self.auto_approve, catalog=BY_ID
        )
        await self.lifecycle.start()
        self.manifests = ManifestCache(self.lifecycle, self.hub_url)
        self.lifecycle.listeners.append(self.manifests.on_change)  # as runtime/app.py wires it

    async def handle(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            raise httpx.ConnectError("connection refused")
        if request.headers.get("authorization") != f"Bearer {NODE_TOKEN}":
            response = error_response(401, "unauthorized", "A valid bearer token is required.")
        else:
            try:
                response = await self.route(request)
            except AppError as problem:
                response = error_response(problem.status_code, problem.code, problem.message, problem.pointer)
            except msgspec.ValidationError as problem:
                response = error_response(422, "validation_error", str(problem))
        code = response.json()["error"]["code"] if response.status_code >= 400 else None
        self.calls.append(Call(request.method, request.url.path, response.status_code, code, request.content))
        return response

    async def route(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if request.method == "POST" and path == "/v0/nodes":
            node, created = await self.lifecycle.add_node(msgspec.json.decode(request.content, type=NodeRegistration))
            return json_response(201 if created else 200, node)
        if request.method == "GET" and path == "/v0/models":
            return json_response(200, self.manifests.manifests)
        match = HEARTBEAT_PATH.match(path)
        if request.method == "POST" and match:
            heartbeat = msgspec.json.decode(request.content, type=Heartbeat)
            status = await self.lifecycle.heartbeat(match.group(1), heartbeat)
            return json_response(200, HeartbeatResponse(status=status, models=self.manifests.manifests))
        return error_response(404, "not_found", f"No route {path}")

    def accepted_report(self, model_id: str) -> HeartbeatModelReport | None:
        """The node's last report on ``model_id`` that the server accepted (and so holds)."""
        for call in reversed(self.heartbeats()):
            if call.status == 200:
                reports = msgspec.json.decode(call.body, type=Heartbeat).models
                return next((report for report in reports if report.model_id == model_id), None)
        return None

    def node_state(self, model_id: str) -> NodeModelState | None:
        report = self.accepted_report(model_id)
        return report.state if report is not None else None

    def status(self) -> NodeStatus | None:
        return next((node.status for node in self.lifecycle.nodes() if node.runtime_id == RUNTIME_ID), None)

    def synced(self) -> bool:
        """Whether the server sees the node holding every registered model (it is online well before)."""
        return any(node.synced for node in self.lifecycle.nodes() if node.runtime_id == RUNTIME_ID)

    def heartbeats(self) -> list[Call]:
        return [call for call in self.calls if call.path.endswith("/heartbeat")]

    def rejected(self, *codes: str) -> list[Call]:
        return [call for call in self.calls if call.code in codes]


def json_response(status: int, body: object) -> httpx.Response:
    return httpx.Response(status, content=msgspec.json.encode(body), headers={"content-type": "application/json"})


def error_response(status: int, code: str, message: str, pointer: str | None = None) -> httpx.Response:
    detail = ErrorDetail(code=code, message=message, pointer=pointer if pointer is not None else msgspec.UNSET)
    return json_response(status, ErrorBody(detail))


async def wait_for(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        await asyncio.sleep(0.02)


@pytest.fixture
async def server(hub):
    stub = StubServer(hub.url)
    await stub.start()
    return stub


@contextlib.asynccontextmanager
async def agent_for(
    server: StubServer,
    cache_dir,
    *,
    token: str = NODE_TOKEN,
    hf_token: str | None = None,
    download_backoff: Backoff = FAST,
    **settings: Any,
):
    """An Agent wired to the stub server and the fake Hub (not running); ``settings`` go to its NodeConfig."""
    config = NodeConfig(
        server="http://server.invalid",
        token=token,
        cache_dir=cache_dir,
        runtime_id=RUNTIME_ID,
        machine_name="test-box",
        heartbeat_interval=0.05,
        hf_token=hf_token,
        chunk_size=256 * 1024,
        **settings,
    )
    async with (
        ServerClient(config.server, config.token, transport=httpx.MockTransport(server.handle)) as client,
        httpx.AsyncClient(follow_redirects=True, timeout=10) as files,
    ):
        yield Agent(
            config,
            runtime_id=RUNTIME_ID,
            server=client,
            files=files,
            cache=Cache.open(cache_dir),
            download_backoff=download_backoff,
            server_backoff=FAST,
        )


@contextlib.asynccontextmanager
async def running_agent(server: StubServer, cache_dir, **options):
    """The agent running in the background until the block ends."""
    async with agent_for(server, cache_dir, **options) as agent:
        stop = asyncio.Event()
        task = asyncio.create_task(agent.run(stop))
        try:
            yield agent
        finally:
            stop.set()
            await asyncio.wait_for(task, 10)


async def test_registered_models_are_fetched_and_the_node_comes_online(server, tmp_path):
    await server.lifecycle.register("tiny-a")
    await server.lifecycle.register("tiny-b")
    async with running_agent(server, tmp_path / "cache"):
        await wait_for(lambda: server.status() == NodeStatus.online)  # from its first heartbeat on
        await wait_for(server.synced)
    assert server.node_state("tiny-a") == server.node_state("tiny-b") == NodeModelState.ready
    assert sha256_of(tmp_path / "cache" / "tiny-a" / TINY_A.recommended_filename) == TINY_A.sha256
    assert (tmp_path / "cache" / "tiny-b" / TINY_B.recommended_filename).stat().st_size == TINY_B.size_bytes
    assert server.rejected("invalid_transition", "validation_error", "not_registered") == []
    node = server.lifecycle.node(RUNTIME_ID)
    assert node.machine_name == "test-box"
    assert node.metrics.memory_usage is not msgspec.UNSET  # measured from /proc


async def test_a_pending_node_fetches_nothing_until_approved(hub, tmp_path):
    server = StubServer(hub.url, auto_approve=False)
    await server.start()
    await server.lifecycle.register("tiny-b")
    async with running_agent(server, tmp_path / "cache"):
        await wait_for(lambda: len(server.rejected("forbidden")) >= 3)
        assert Cache(tmp_path / "cache").models() == []
        await server.lifecycle.approve(RUNTIME_ID)
        await wait_for(lambda: server.status() == NodeStatus.online)
        await wait_for(server.synced)


async def test_an_unregistered_model_is_deleted_and_no_longer_reported(server, tmp_path):
    await server.lifecycle.register("tiny-a")
    await server.lifecycle.register("tiny-b")
    cache = Cache(tmp_path / "cache")
    async with running_agent(server, tmp_path / "cache"):
        await wait_for(server.synced)
        await server.lifecycle.unregister("tiny-b")
        await wait_for(lambda: cache.models() == ["tiny-a"])
        calls_before = len(server.calls)
        await wait_for(lambda: len(server.heartbeats()) > calls_before + 2)
    last = msgspec.json.decode(server.heartbeats()[-1].body, type=Heartbeat)
    assert [report.model_id for report in last.models] == ["tiny-a"]
    assert server.status() == NodeStatus.online
    assert server.rejected("invalid_transition", "validation_error") == []


async def test_a_corrupt_download_is_reported_failed_and_recovers(server, hub, tmp_path):
    hub.faults(corrupt={"offset": 10}, routes="resolve", repos=[TINY_A.repo])
    await server.lifecycle.register("tiny-a")
    async with running_agent(server, tmp_path / "cache"):
        await wait_for(lambda: server.node_state("tiny-a") == NodeModelState.failed)
        report = server.accepted_report("tiny-a")
        assert report is not None
        assert "does not match the manifest's" in str(report.error)
        hub.clear()
        await wait_for(lambda: server.node_state("tiny-a") == NodeModelState.ready)
    assert server.rejected("invalid_transition", "validation_error") == []


async def test_the_agent_resynchronises_when_the_server_holds_other_progress(server, hub, tmp_path):
    await server.lifecycle.register("tiny-a")
    # A previous run of this node got further than the cache it restarts with.
    await server.lifecycle.add_node(NodeRegistration(RUNTIME_ID, "test-box"))
    report = HeartbeatModelReport("tiny-a", NodeModelState.downloading, 3_000_000, TINY_A.size_bytes)
    await server.lifecycle.heartbeat(RUNTIME_ID, Heartbeat(NodeMetrics(), [report]))
    hub.faults(latency=0.3, routes="resolve")  # still downloading at the first reports
    async with running_agent(server, tmp_path / "cache"):
        await wait_for(lambda: server.rejected("invalid_transition") != [])
        hub.clear()
        await wait_for(server.synced)
    sent = [msgspec.json.decode(call.body, type=Heartbeat) for call in server.heartbeats() if call.status == 200]
    errors = [report.error for heartbeat in sent for report in heartbeat.models if report.state == "failed"]
    assert errors
    assert str(errors[0]).startswith(RESYNC)


async def test_only_the_report_the_server_points_at_is_resynchronised(server, hub, tmp_path):
    await server.lifecycle.register("tiny-a")
    await server.lifecycle.register("tiny-b")
    # A previous run of this node got further with tiny-b than the cache it restarts with.
    await server.lifecycle.add_node(NodeRegistration(RUNTIME_ID, "test-box"))
    report = HeartbeatModelReport("tiny-b", NodeModelState.downloading, 50_000, TINY_B.size_bytes)
    await server.lifecycle.heartbeat(RUNTIME_ID, Heartbeat(NodeMetrics(), [report]))
    hub.faults(latency=0.3, routes="resolve")  # still downloading at the first reports
    async with running_agent(server, tmp_path / "cache"):
        await wait_for(lambda: server.rejected("invalid_transition") != [])
        await wait_for(lambda: server.node_state("tiny-b") == NodeModelState.failed)
        hub.clear()
        await wait_for(server.synced)
    sent = [msgspec.json.decode(call.body, type=Heartbeat) for call in server.heartbeats() if call.status == 200]
    resynced = {report.model_id for heartbeat in sent for report in heartbeat.models if RESYNC in str(report.error)}
    assert resynced == {"tiny-b"}


async def test_a_forgotten_node_registers_again(server, tmp_path):
    await server.lifecycle.register("tiny-b")
    async with running_agent(server, tmp_path / "cache"):
        await wait_for(lambda: server.status() == NodeStatus.online)
        await server.lifecycle.delete_node(RUNTIME_ID)
        await wait_for(lambda: server.rejected("node_not_found") != [])
        await wait_for(lambda: server.status() == NodeStatus.online)
    registrations = [call for call in server.calls if call.path == "/v0/nodes"]
    assert len(registrations) == 2


async def test_an_unreachable_server_is_retried(server, tmp_path, caplog):
    await server.lifecycle.register("tiny-b")
    server.down = True
    async with running_agent(server, tmp_path / "cache"):
        await asyncio.sleep(0.3)
        assert server.status() is None
        server.down = False
        await wait_for(lambda: server.status() == NodeStatus.online)
        server.down = True
        await asyncio.sleep(0.2)
        server.down = False
        count = len(server.heartbeats())
        await wait_for(lambda: len(server.heartbeats()) > count)
    assert "the server is unavailable" in caplog.text


async def test_a_wrong_token_stops_the_agent(server, tmp_path):
    async with agent_for(server, tmp_path / "cache", token="wrong") as agent:
        with pytest.raises(Unauthorized):
            await asyncio.wait_for(agent.run(asyncio.Event()), 5)
    assert [call.status for call in server.calls] == [401]


async def test_no_token_ever_reaches_the_logs(server, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    await server.lifecycle.register("tiny-gated")
    async with running_agent(server, tmp_path / "cache", hf_token=HF_TOKEN):
        await wait_for(server.synced)
    assert "HTTP Request" in caplog.text
    assert HF_TOKEN not in caplog.text
    assert NODE_TOKEN not in caplog.text


async def test_a_dripping_file_server_makes_the_model_failed_with_the_reason_then_it_is_retried(tmp_path):
    limits = {"read_timeout": 0.5, "min_download_rate": 1024.0, "rate_window": 1.0}
    backoff = Backoff(base=0.5, cap=0.5, random=lambda: 0.0)
    async with hostile_file_server(TINY_B.size_bytes, burst=10, drip=1, every=0.1) as hostile:
        server = StubServer(hostile.url)
        await server.start()
        await server.lifecycle.register("tiny-b")
        async with running_agent(server, tmp_path / "cache", download_backoff=backoff, **limits):
            await wait_for(lambda: server.node_state("tiny-b") == NodeModelState.failed)
            report = server.accepted_report("tiny-b")
            assert report is not None
            assert re.fullmatch(
                r"sub/tiny-b-q8_0\.gguf: download too slow: \d+ B/s over the last 1 s, below the minimum of 1 KiB/s",
                str(report.error),
            )
            await wait_for(lambda: len(hostile.requests) >= 2)  # tried again after the backoff
    (first, _), (second, headers) = hostile.requests[:2]
    assert second - first >= 1.0 + 0.5  # the window, then the backoff
    assert headers["range"].startswith("bytes=")  # the bytes that arrived were kept, and resumed from
    assert server.rejected("invalid_transition", "validation_error") == []


@pytest.fixture
def agent_logging():
    """The logging ``modelhub node`` sets up (httpx's request lines silenced), undone after the test."""
    httpx_logger = logging.getLogger("httpx")
    level = httpx_logger.level
    configure_logging("INFO")
    yield
    httpx_logger.setLevel(level)


async def test_waiting_for_approval_says_how_once_then_reminds_rarely(hub, tmp_path, caplog, agent_logging):
    caplog.set_level(logging.INFO)
    server = StubServer(hub.url, auto_approve=False)
    await server.start()
    now = [1000.0]
    async with agent_for(server, tmp_path / "cache") as agent:
        agent.clock = lambda: now[0]
        stop = asyncio.Event()
        task = asyncio.create_task(agent.run(stop))
        try:
            await wait_for(lambda: len(server.rejected("forbidden")) >= 5)
            waiting = [record.getMessage() for record in caplog.records if RUNTIME_ID in record.getMessage()]
            assert len(waiting) == 1, waiting  # not one per heartbeat
            assert "waiting for an administrator's approval" in waiting[0]
            assert f"POST http://server.invalid/v0/nodes/{RUNTIME_ID}/approve with the admin token" in waiting[0]
            assert "dashboard's Nodes view" in waiting[0]

            now[0] += 59.0
            count = len(server.heartbeats())
            await wait_for(lambda: len(server.heartbeats()) >= count + 3)
            assert "still waiting" not in caplog.text
            now[0] += 1.0
            await wait_for(lambda: "still waiting" in caplog.text)
            count = len(server.heartbeats())
            await wait_for(lambda: len(server.heartbeats()) >= count + 3)
            assert caplog.text.count("still waiting") == 1
            assert "still waiting for approval (for 1 min 00 s)" in caplog.text

            await server.lifecycle.approve(RUNTIME_ID)
            await wait_for(lambda: "was approved" in caplog.text)
        finally:
            stop.set()
            await asyncio.wait_for(task, 10)
    assert f"node {RUNTIME_ID} was approved; it is online" in caplog.text
    assert caplog.text.count("waiting for an administrator's approval") == 1
    assert not [record for record in caplog.records if record.name.startswith("httpx")]
    assert "HTTP Request" not in caplog.text


def test_debug_keeps_httpx_request_lines(agent_logging):
    configure_logging("DEBUG")
    assert logging.getLogger("httpx").level == logging.WARNING  # set by the fixture's INFO, left alone by DEBUG
    logging.getLogger("httpx").setLevel(logging.NOTSET)
    configure_logging("DEBUG")
    assert logging.getLogger("httpx").level == logging.NOTSET
