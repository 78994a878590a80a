"""End to end on loopback: the server on a small catalog, the fake Hub, and two real node agents.

Every process is real: the server is ``python -m tests.runtime.e2e.small_server`` (``modelhub serve`` on
``tests/data/catalogs/nodes.json``, files of 1-20 MB), each agent is ``python -m runtime node``, and the fake
Hub runs under uvicorn in a thread of this process behind a ``Tap``: an ASGI wrapper that records every file
request (its ``Range``, ``If-Range``, status and the bytes sent) and can throttle the bodies, so that a
download lasts long enough to be watched (and killed) and bytes fetched twice can be counted.

Waits are bounded polls of the public API (``/v0/models/{id}``, ``/v0/nodes``, ``/v1/models``) and of the
cache directories; nothing sleeps blindly.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
import pytest
import uvicorn

from runtime.agent.download import CHUNK_SIZE
from runtime.fakehub import BLOCK, create_fake_hub, file_sha256
from tests.fakehub import FakeHubHandle
from tests.runtime.conftest import ADMIN, ADMIN_TOKEN, NODE_TOKEN, READ, READ_TOKEN
from tests.runtime.e2e.small_server import NODES_CATALOG, ROOT, running_small_server

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterator
    from pathlib import Path

    ASGI = Callable[[Any, Any, Any], Awaitable[None]]

T = TypeVar("T")

MiB = 1 << 20
OFFLINE_AFTER = 2.0
"""MODELHUB_NODE_OFFLINE_AFTER of the server, in seconds."""
HEARTBEAT = 0.2
"""--heartbeat-interval of the agents, in seconds."""
POLL = 0.05
"""Seconds between two looks at the server or the disk."""
TIMEOUT = 20.0
"""Longest wait for one step."""
IDLE_RSS_BUDGET = 64 * MiB
"""Most an idle agent may hold: fetching a 2 GB file adds about 15 MB (bench/node_agent.py), the goal is 100 MB."""

MODELS: dict[str, dict[str, Any]] = {model["id"]: model for model in json.loads(NODES_CATALOG.read_text())["models"]}
TINY_A, TINY_B, TINY_C = MODELS["tiny-a"], MODELS["tiny-b"], MODELS["tiny-c"]
EXTRA_FILES = {model["repo"]: {model["recommended_filename"]: model["size_bytes"]} for model in MODELS.values()}


# ----------------------------------------------------------------------------------------------- the fake Hub


@dataclass
class Transfer:
    """One ``GET`` of a file from the fake Hub, as the tap saw it."""

    path: str
    range: str | None
    if_range: str | None
    status: int | None = None
    sent: int = 0
    complete: bool = False
    """Whether the body was sent to its end (False: the client went away)."""
    finished: bool = False
    """Whether the fake Hub is done with the request (sent it all, or saw the client go)."""


class Tap:
    """An ASGI wrapper around the fake Hub: records file transfers and throttles their bodies to ``rate``."""

    def __init__(self, app: ASGI) -> None:
        self.app = app
        self.rate: float | None = None
        """Bytes per second per transfer; None: as fast as it goes."""
        self.transfers: list[Transfer] = []

    async def __call__(self, scope: dict[str, Any], receive: ASGI, send: Callable[[Any], Awaitable[None]]) -> None:
        if scope["type"] != "http" or scope["method"] != "GET" or "/resolve/" not in scope["path"]:
            await self.app(scope, receive, send)
            return
        headers = {key.decode("latin-1"): value.decode("latin-1") for key, value in scope["headers"]}
        transfer = Transfer(scope["path"], headers.get("range"), headers.get("if-range"))
        self.transfers.append(transfer)

        async def tapped(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                transfer.status = message["status"]
            elif message["type"] == "http.response.body":
                body = message.get("body", b"")
                rate = self.rate
                if body and rate:
                    await asyncio.sleep(len(body) / rate)
                await send(message)
                transfer.sent += len(body)
                transfer.complete = not message.get("more_body", False)
                return
            await send(message)

        try:
            await self.app(scope, receive, tapped)
        finally:
            transfer.finished = True

    def of(self, model: dict[str, Any]) -> list[Transfer]:
        """The transfers of ``model``'s file, in the order they began."""
        suffix = f"/{model['repo']}/resolve/main/{model['recommended_filename']}"
        return [transfer for transfer in list(self.transfers) if transfer.path.endswith(suffix)]


@contextmanager
def tapped_fake_hub(**options: Any) -> Iterator[tuple[FakeHubHandle, Tap]]:
    """Like ``tests.fakehub.running_fake_hub``, with the app behind a ``Tap``."""
    app = create_fake_hub(**options)
    tap = Tap(app)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    config = uvicorn.Config(
        tap, interface="asgi3", log_level="warning", access_log=False, lifespan="on", timeout_graceful_shutdown=1
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, name="tapped-fake-hub", daemon=True)
    thread.start()
    control = httpx.Client(base_url=url, timeout=5)
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the fake Hub did not start")
            time.sleep(0.01)
        yield FakeHubHandle(url, app, control), tap
    finally:
        tap.rate = None
        with suppress(httpx.HTTPError):
            control.delete("/_fake/faults")
        control.close()
        server.should_exit = True
        thread.join(timeout=5)
        if thread.is_alive():
            server.force_exit = True
            thread.join(timeout=5)
        listener.close()


# ------------------------------------------------------------------------------------------------- the agents


@dataclass
class Agent:
    """One ``python -m runtime node`` subprocess (restartable on the same cache)."""

    stack: Stack
    runtime_id: str
    process: subprocess.Popen[bytes] | None = None
    killed: bool = False

    @property
    def cache(self) -> Path:
        return self.stack.tmp_path / f"cache-{self.runtime_id}"

    @property
    def log_path(self) -> Path:
        return self.stack.tmp_path / f"agent-{self.runtime_id}.log"

    def start(self) -> Agent:
        environment = {
            key: value for key, value in os.environ.items() if key not in ("HF_TOKEN", "MODELHUB_NODE_TOKEN")
        }
        command = [
            *(sys.executable, "-m", "runtime", "node", "--server", self.stack.base, "--token", NODE_TOKEN),
            *("--cache-dir", str(self.cache), "--runtime-id", self.runtime_id),
            *("--heartbeat-interval", str(HEARTBEAT)),
        ]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(command, cwd=ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT)
        return self

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def file(self, model: dict[str, Any]) -> Path:
        return self.cache / str(model["id"]) / str(model["recommended_filename"])

    def kill(self) -> None:
        """SIGKILL: no clean-up at all, the worst a node can do mid-download."""
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=10)
        self.killed = True

    def pause(self) -> None:
        """SIGSTOP: the process stays, but sends nothing (a hung node)."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def stop(self) -> int:
        """SIGTERM (after SIGCONT, in case it is paused); the exit status."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                return -signal.SIGKILL
        return self.process.returncode


# ------------------------------------------------------------------------------------------------- the stack


@dataclass
class Stack:
    """The server, the tapped fake Hub, the agents, and the read side of the API."""

    tmp_path: Path
    base: str
    hub: FakeHubHandle
    tap: Tap
    api: httpx.Client
    agents: list[Agent] = field(default_factory=list)

    def agent(self, runtime_id: str) -> Agent:
        """Start an agent, or restart the one with this id on its cache."""
        known = next((agent for agent in self.agents if agent.runtime_id == runtime_id), None)
        if known is None:
            known = Agent(self, runtime_id)
            self.agents.append(known)
        assert not known.running
        return known.start()

    def logs(self) -> str:
        parts = [f"--- {path.name}\n{path.read_text(errors='replace')[-4000:]}" for path in self._log_paths()]
        return "\n".join(parts)

    def _log_paths(self) -> list[Path]:
        return sorted(self.tmp_path.glob("*.log"))

    def wait(self, what: str, check: Callable[[], T | bool | None], timeout: float = TIMEOUT) -> T:
        """Poll ``check`` until it returns something true; fail naming ``what`` (with the logs) after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            value = check()
            if value:
                return value  # type: ignore[return-value]
            if time.monotonic() > deadline:
                pytest.fail(f"waited {timeout} s for {what}; last value {value!r}\n{self.logs()}")
            time.sleep(POLL)

    def get(self, path: str) -> Any:
        response = self.api.get(path, headers=READ)
        assert response.status_code == 200, response.text
        return response.json()

    def hub_item(self, model: dict[str, Any]) -> dict[str, Any]:
        """The model's hub item (aggregates only)."""
        return next(item for item in self.get("/v0/models/hub") if item["id"] == model["id"])

    def item(self, model: dict[str, Any]) -> dict[str, Any]:
        """The model's detail: its hub item plus every node's row (``nodes``)."""
        detail: dict[str, Any] = self.get(f"/v0/models/{model['id']}")
        return detail

    def nodes(self) -> dict[str, dict[str, Any]]:
        return {node["runtime_id"]: node for node in self.get("/v0/nodes")}

    def node_status(self) -> dict[str, str]:
        return {runtime_id: node["status"] for runtime_id, node in self.nodes().items()}

    def served(self) -> list[str]:
        """The ids ``/v1/models`` lists."""
        return [model["id"] for model in self.get("/v1/models")["data"]]

    def register(self, model: dict[str, Any]) -> dict[str, Any]:
        response = self.api.post("/v0/models/register", json={"model_id": model["id"]}, headers=ADMIN)
        assert response.status_code == 201, response.text
        item: dict[str, Any] = response.json()
        return item

    def all_online(self, *runtime_ids: str) -> bool:
        statuses = self.node_status()
        return all(statuses.get(runtime_id) == "online" for runtime_id in runtime_ids)

    def ready_everywhere(
        self, model: dict[str, Any], *runtime_ids: str, item: dict[str, Any] | None = None
    ) -> dict[str, Any] | None:
        """The hub item (``item``, or a new look) once the model is ready on these nodes and they are online."""
        item = item or self.item(model)
        states = {node["runtime_id"]: node["state"] for node in item["nodes"]}
        if item["status"] == "ready" and all(states.get(r) == "ready" for r in runtime_ids):
            return item if self.all_online(*runtime_ids) else None
        return None


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    with tapped_fake_hub(extra_files=EXTRA_FILES) as (hub, tap):
        env = {
            "MODELHUB_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'e2e.db'}",
            "MODELHUB_ADMIN_TOKEN": ADMIN_TOKEN,
            "MODELHUB_NODE_TOKEN": NODE_TOKEN,
            "MODELHUB_READ_TOKEN": READ_TOKEN,
            "MODELHUB_AUTO_APPROVE_NODES": "1",
            "MODELHUB_NODE_OFFLINE_AFTER": str(OFFLINE_AFTER),
            "MODELHUB_HEARTBEAT_FLUSH_INTERVAL": "0.1",
            "HF_HUB_OFFLINE": "1",
            "HF_ENDPOINT": hub.url,
        }
        with (
            running_small_server(tmp_path, env) as (base, _),
            httpx.Client(base_url=base, timeout=5) as api,
        ):
            stack = Stack(tmp_path, base, hub, tap, api)
            try:
                yield stack
            finally:
                problems = []
                for agent in stack.agents:
                    if agent.running and (status := agent.stop()) != 0:
                        problems.append(f"{agent.runtime_id} exited {status} on SIGTERM")
                for path in stack._log_paths():
                    text = path.read_text(errors="replace")
                    if "Traceback" in text:
                        problems.append(f"{path.name} holds a traceback")
                    if NODE_TOKEN in text or ADMIN_TOKEN in text:
                        problems.append(f"{path.name} shows a token")
                if problems:
                    pytest.fail("; ".join(problems) + "\n" + stack.logs())


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(MiB):
            digest.update(chunk)
    return digest.hexdigest()


def assert_fetched(agent: Agent, model: dict[str, Any]) -> None:
    """The model's file is on the agent's disk whole, with the fake Hub's bytes, and nothing partial is left."""
    path = agent.file(model)
    assert path.stat().st_size == model["size_bytes"]
    assert sha256_of(path) == file_sha256(model["repo"], model["recommended_filename"], model["size_bytes"])
    assert not [p.name for p in path.parent.iterdir() if p.name.endswith((".part", ".part.json", ".tmp"))]


def changes(values: list[T]) -> list[T]:
    """``values`` without consecutive repeats."""
    return [value for i, value in enumerate(values) if i == 0 or value != values[i - 1]]


# ------------------------------------------------------------------------------------------------- the tests


def test_the_catalog_sha256s_are_those_of_the_fake_hubs_bytes() -> None:
    for model in MODELS.values():
        if "sha256" in model:
            assert model["sha256"] == file_sha256(model["repo"], model["recommended_filename"], model["size_bytes"])
        assert 1_000_000 <= model["size_bytes"] <= 25_000_000  # megabytes, not gigabytes


def test_two_nodes_fetch_a_model_with_rising_progress_serve_it_and_remove_it_on_delete(stack: Stack) -> None:
    assert [item["id"] for item in stack.get("/v0/models/hub")] == list(MODELS)  # the small catalog
    stack.agent("node-a"), stack.agent("node-b")
    stack.wait("both nodes online (nothing registered)", lambda: stack.all_online("node-a", "node-b"))
    stack.tap.rate = 8 * MiB  # 20 MB in about 2.5 s per node: every step of the download is seen

    registered = stack.register(TINY_A)
    assert (registered["status"], registered["progress"]) == ("registered", None)
    timeline: list[tuple[str, float | None, dict[str, tuple[str, int, int]]]] = [("registered", None, {})]

    def ready() -> dict[str, Any] | None:
        item = stack.item(TINY_A)
        nodes = {node["runtime_id"]: (node["state"], node["bytes_done"], node["bytes_total"]) for node in item["nodes"]}
        timeline.append((item["status"], item["progress"], nodes))
        return stack.ready_everywhere(TINY_A, "node-a", "node-b", item=item)

    item = stack.wait("tiny-a ready on both nodes", ready)

    assert changes([status for status, _, _ in timeline]) == ["registered", "downloading", "ready"]
    downloading = [value for status, value, _ in timeline if status == "downloading"]
    progress = [value for value in downloading if value is not None]
    assert len(progress) == len(downloading)
    assert all(0.0 <= value <= 1.0 for value in progress), progress
    assert progress == sorted(progress), f"progress went back: {changes(progress)}"
    assert progress[-1] > progress[0], f"progress never rose: {changes(progress)}"
    for runtime_id in ("node-a", "node-b"):
        done = [nodes[runtime_id][1] for _, _, nodes in timeline if runtime_id in nodes]
        assert done == sorted(done), f"{runtime_id}'s bytes went back: {changes(done)}"
    size = TINY_A["size_bytes"]
    assert {(n["runtime_id"], n["state"], n["bytes_done"], n["bytes_total"]) for n in item["nodes"]} == {
        ("node-a", "ready", size, size),
        ("node-b", "ready", size, size),
    }
    assert item["progress"] is None
    hub_item = stack.hub_item(TINY_A)
    assert "nodes" not in hub_item
    assert hub_item["node_counts"] == {
        "pending": 0,
        "downloading": 0,
        "ready": 2,
        "failed": 0,
        "stalled": 0,
        "offline": 0,
    }
    assert {key: value for key, value in item.items() if key != "nodes"} == hub_item
    assert stack.served() == ["tiny-a"]

    node_a, node_b = stack.agents
    for agent in (node_a, node_b):
        assert_fetched(agent, TINY_A)
    transfers = stack.tap.of(TINY_A)  # one whole fetch per node, nothing twice
    assert [(t.range, t.status, t.sent, t.complete) for t in transfers] == [(None, 200, size, True)] * 2

    deleted = stack.api.delete("/v0/models/tiny-a", headers=ADMIN)
    assert deleted.status_code == 204
    assert stack.item(TINY_A)["status"] == "available"
    assert stack.served() == []
    stack.wait(
        "both nodes to delete tiny-a",
        lambda: not (node_a.cache / "tiny-a").exists() and not (node_b.cache / "tiny-a").exists(),
    )
    item = stack.item(TINY_A)
    assert (item["status"], item["progress"], item["nodes"]) == ("available", None, [])
    stack.wait("both nodes online again", lambda: stack.all_online("node-a", "node-b"))
    assert len(stack.tap.of(TINY_A)) == 2  # nothing fetched after the delete


def test_a_delete_mid_download_stops_both_nodes_and_removes_their_partial_files(stack: Stack) -> None:
    stack.agent("node-a"), stack.agent("node-b")
    stack.wait("both nodes online", lambda: stack.all_online("node-a", "node-b"))
    node_a, node_b = stack.agents
    stack.tap.rate = 4 * MiB
    stack.register(TINY_A)
    parts = [agent.file(TINY_A).with_name(TINY_A["recommended_filename"] + ".part") for agent in (node_a, node_b)]
    stack.wait(
        "a chunk of tiny-a on both disks", lambda: all(p.exists() and p.stat().st_size >= CHUNK_SIZE for p in parts)
    )

    assert stack.api.delete("/v0/models/tiny-a", headers=ADMIN).status_code == 204
    assert stack.item(TINY_A)["status"] == "available"
    stack.wait(
        "both nodes to delete tiny-a's partial files",
        lambda: not (node_a.cache / "tiny-a").exists() and not (node_b.cache / "tiny-a").exists(),
    )
    stack.wait("both transfers to stop", lambda: all(t.finished for t in stack.tap.of(TINY_A)))
    stopped = stack.tap.of(TINY_A)
    assert len(stopped) == 2
    assert all(not t.complete and t.sent < TINY_A["size_bytes"] for t in stopped), stopped
    item = stack.item(TINY_A)
    assert (item["status"], item["nodes"]) == ("available", [])
    stack.wait("both nodes online again", lambda: stack.all_online("node-a", "node-b"))

    stack.tap.rate = None
    assert stack.register(TINY_A)["status"] == "registered"  # available again: it can be registered again
    stack.wait("tiny-a ready on both nodes", lambda: stack.ready_everywhere(TINY_A, "node-a", "node-b"))
    for agent in (node_a, node_b):
        assert_fetched(agent, TINY_A)
    again = stack.tap.of(TINY_A)[2:]
    assert [(t.range, t.complete) for t in again] == [(None, True)] * 2  # from byte 0: nothing partial was kept


def test_a_node_killed_mid_download_resumes_where_it_stopped(stack: Stack) -> None:
    stack.agent("node-a"), stack.agent("node-b")
    stack.wait("both nodes online", lambda: stack.all_online("node-a", "node-b"))
    node_a, node_b = stack.agents
    stack.tap.rate = 4 * MiB  # 20 MB in about 5 s; the agent writes in chunks of CHUNK_SIZE (4 MiB)
    size = TINY_A["size_bytes"]
    assert size > CHUNK_SIZE + BLOCK  # a chunk on disk leaves more to fetch
    stack.register(TINY_A)
    part = node_b.file(TINY_A).with_name(TINY_A["recommended_filename"] + ".part")

    def reported_mid_download() -> int | None:
        nodes = {node["runtime_id"]: node for node in stack.item(TINY_A)["nodes"]}
        report = nodes.get("node-b")
        if report is not None and report["state"] == "downloading" and report["bytes_done"] >= CHUNK_SIZE:
            return int(report["bytes_done"])
        return None

    reported = stack.wait("node-b to report a chunk of tiny-a", reported_mid_download)
    node_b.kill()
    kept = part.stat().st_size
    assert reported <= kept < size, (reported, kept, size)
    killed_at = time.monotonic()
    stack.tap.rate = None

    node_b_done: list[int] = []

    def ready() -> dict[str, Any] | None:
        item = stack.item(TINY_A)
        node_b_done.extend(node["bytes_done"] for node in item["nodes"] if node["runtime_id"] == "node-b")
        return stack.ready_everywhere(TINY_A, "node-a", "node-b", item=item)

    stack.agent("node-b")
    stack.wait("tiny-a ready on both nodes after the restart", ready)
    restart_seconds = time.monotonic() - killed_at

    for agent in (node_a, node_b):
        assert_fetched(agent, TINY_A)  # the sha256 covers the kept part and the rest: resumed at the right byte
    # The server shows node-b's last report until the restarted agent reports again: from there on, the
    # kept part counts (progress lags the disk by up to a chunk, so the last report may be below `kept`).
    assert node_b_done == sorted(node_b_done), f"node-b's progress went back: {changes(node_b_done)}"
    assert min(node_b_done) >= reported
    assert min(done for done in node_b_done if done != reported) >= kept, changes(node_b_done)

    transfers = stack.tap.of(TINY_A)
    whole = [t for t in transfers if t.range is None]
    ranged = [t for t in transfers if t.range is not None]
    assert len(whole) == 2, transfers  # node-a's and node-b's first
    assert [(t.range, t.status, t.sent, t.complete) for t in ranged] == [(f"bytes={kept}-", 206, size - kept, True)]
    assert ranged[0].if_range, "the resume does not say which version of the file it continues (If-Range)"
    aborted = [t for t in whole if not t.complete]
    assert len(aborted) == 1, transfers
    refetched = sum(t.sent for t in transfers) - 2 * size  # bytes the Hub sent twice
    assert refetched == aborted[0].sent - kept
    assert 0 <= refetched <= CHUNK_SIZE + BLOCK, f"{refetched} bytes fetched twice"
    print(
        f"\nresume: killed at {kept:,} of {size:,} bytes on disk; fetched twice {refetched:,} bytes "
        f"(bound {CHUNK_SIZE + BLOCK:,}); ready {restart_seconds:.1f} s after the kill"
    )


def test_a_corrupted_byte_fails_the_sha256_then_a_clean_retry_succeeds(stack: Stack) -> None:
    stack.agent("node-a"), stack.agent("node-b")
    stack.wait("both nodes online", lambda: stack.all_online("node-a", "node-b"))
    node_a, node_b = stack.agents
    stack.hub.faults(corrupt={"offset": BLOCK + 17}, repos=[TINY_C["repo"]])
    stack.register(TINY_C)

    failed: dict[str, str] = {}
    statuses: list[str] = []

    def both_failed() -> bool:
        item = stack.item(TINY_C)
        statuses.append(item["status"])
        for node in item["nodes"]:
            if node["state"] == "failed":
                failed[node["runtime_id"]] = node["error"]
        assert not node_a.file(TINY_C).exists()  # a file is never under its name before it is verified
        assert not node_b.file(TINY_C).exists()
        return failed.keys() == {"node-a", "node-b"}

    stack.wait("both nodes to report tiny-c failed", both_failed)
    assert all("sha256" in error for error in failed.values()), failed
    assert "ready" not in statuses
    assert stack.served() == []

    stack.hub.clear()
    stack.wait(
        "tiny-c ready on both nodes after the fault is gone", lambda: stack.ready_everywhere(TINY_C, "node-a", "node-b")
    )
    for agent in (node_a, node_b):
        assert_fetched(agent, TINY_C)
    assert stack.served() == ["tiny-c"]
    transfers = stack.tap.of(TINY_C)
    assert len(transfers) >= 4, transfers  # at least one failed and one clean fetch per node
    assert all(t.range is None for t in transfers), "a part that failed its sha256 was resumed instead of discarded"
    assert all((t.status, t.sent, t.complete) == (200, TINY_C["size_bytes"], True) for t in transfers)


def test_a_silent_node_goes_offline_and_the_model_stays_ready_only_while_an_online_node_has_it(stack: Stack) -> None:
    stack.agent("node-a"), stack.agent("node-b")
    stack.wait("both nodes online", lambda: stack.all_online("node-a", "node-b"))
    node_a, node_b = stack.agents
    stack.register(TINY_B)
    stack.wait("tiny-b ready on both nodes", lambda: stack.ready_everywhere(TINY_B, "node-a", "node-b"))
    for agent in (node_a, node_b):
        assert_fetched(agent, TINY_B)  # no sha256 in the catalog: the size is checked, the bytes are still right

    def silence(agent: Agent, *, model_stays_ready: bool) -> float:
        """Pause ``agent``; return the seconds from its last heartbeat to the server calling it offline."""
        statuses: list[str] = []
        agent.pause()

        def offline() -> dict[str, Any] | None:
            statuses.append(stack.item(TINY_B)["status"])
            node = stack.nodes()[agent.runtime_id]
            return node if node["status"] == "offline" else None

        node = stack.wait(f"{agent.runtime_id} offline", offline, timeout=OFFLINE_AFTER + 10)
        silent = time.time() - datetime.fromisoformat(node["last_heartbeat_at"]).timestamp()
        if model_stays_ready:
            assert set(statuses) == {"ready"}, statuses
        assert node["metrics_stale"] is True
        return silent

    silent = silence(node_b, model_stays_ready=True)
    assert OFFLINE_AFTER <= silent <= OFFLINE_AFTER + 1.5, f"offline after {silent:.2f} s of silence"
    item = stack.item(TINY_B)
    assert item["status"] == "ready"  # node-a is online and has it
    assert {node["runtime_id"]: node["state"] for node in item["nodes"]} == {"node-a": "ready", "node-b": "ready"}
    assert stack.served() == ["tiny-b"]

    silence(node_a, model_stays_ready=False)
    assert stack.node_status() == {"node-a": "offline", "node-b": "offline"}
    assert stack.item(TINY_B)["status"] == "registered"  # ready only on offline nodes: it counts for nothing
    assert stack.served() == []

    node_a.resume()
    stack.wait("node-a online again", lambda: stack.all_online("node-a"))
    assert stack.item(TINY_B)["status"] == "ready"
    assert stack.served() == ["tiny-b"]
    node_b.resume()
    stack.wait("node-b online again", lambda: stack.all_online("node-a", "node-b"))
    assert len(stack.tap.of(TINY_B)) == 2  # nothing fetched again: the files were kept


def vm_rss(pid: int) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmRSS:"))


def test_an_idle_modelhub_node_leaves_the_memory_budget_to_its_downloads(stack: Stack) -> None:
    # `modelhub node` used to import the whole server through runtime/cli.py: 93 MB idle, 113 MB fetching 2 GB.
    agent = stack.agent("node-a")
    stack.wait("node-a online", lambda: stack.all_online("node-a"))
    assert agent.process is not None
    rss = vm_rss(agent.process.pid)
    assert rss <= IDLE_RSS_BUDGET, f"idle agent RSS {rss / MiB:.1f} MiB"


def test_a_file_deleted_from_a_ready_nodes_cache_is_fetched_again_while_the_other_node_serves(stack: Stack) -> None:
    stack.agent("node-a"), stack.agent("node-b")
    stack.wait("both nodes online", lambda: stack.all_online("node-a", "node-b"))
    node_b = stack.agents[1]
    stack.register(TINY_B)
    stack.wait("tiny-b ready on both nodes", lambda: stack.ready_everywhere(TINY_B, "node-a", "node-b"))

    node_b.file(TINY_B).unlink()  # someone cleans the disk behind the agent's back
    seen: list[tuple[str, str, str]] = []

    def fetched_again() -> bool:
        item = stack.item(TINY_B)
        states = {node["runtime_id"]: node["state"] for node in item["nodes"]}
        seen.append((item["status"], states["node-b"], stack.node_status()["node-b"]))
        transfers = stack.tap.of(TINY_B)
        return len(transfers) == 3 and transfers[-1].complete and node_b.file(TINY_B).exists()

    # The agent notices at its next heartbeat's answer; the fetch may be over before the one after it, so
    # the server need not see node-b leave `ready`: the file back under its name (verified) is the sign.
    stack.wait("node-b to fetch tiny-b again", fetched_again)
    assert_fetched(node_b, TINY_B)
    stack.wait("tiny-b ready on both nodes again", lambda: stack.ready_everywhere(TINY_B, "node-a", "node-b"))
    assert {status for status, _, _ in seen} == {"ready"}, changes(seen)  # node-a kept serving it
    assert stack.served() == ["tiny-b"]
    assert [(t.range, t.complete) for t in stack.tap.of(TINY_B)] == [(None, True)] * 3
