"""The node simulator: the node state machine and determinism without a server, the runner against a mock
transport (1,000 nodes, refusals, resyncs), and whole runs against a live server."""

from __future__ import annotations

import asyncio
import dataclasses
import importlib
import itertools
import time
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import httpx
import msgspec
import pytest

from generated.catalog import CATALOG, CATALOG_BY_ID
from generated.types import HeartbeatResponse, ManifestFile, Node, NodeMetrics, NodeModelState, NodeStatus
from runtime.catalog.manifests import manifest
from runtime.simulator import (
    NodePhase,
    SimNode,
    Simulator,
    SimulatorConfig,
    SimulatorError,
    StatsSnapshot,
    manifest_size,
    simulate_main,
)
from runtime.simulator._cli import _speed
from tests.runtime.conftest import ADMIN, NODE_TOKEN, READ, free_port, live_server

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

SMALLEST = min(CATALOG, key=lambda model: model.size_bytes)
MODEL = SMALLEST.id
MANIFEST = manifest(SMALLEST, "http://hub.invalid")
SIZE = SMALLEST.size_bytes
LIVE_ENV = {"MODELHUB_AUTO_APPROVE_NODES": "1", "MODELHUB_NODE_OFFLINE_AFTER": "3"}


def config(**overrides: Any) -> SimulatorConfig:
    values: dict[str, Any] = {"server": "http://sim.test", "token": NODE_TOKEN, "nodes": 5, "seed": 1, **overrides}
    return SimulatorConfig(**values)


def reports(node: SimNode) -> list[tuple[str, int, int]]:
    return [(r.state.value, r.bytes_done, r.bytes_total) for r in node.heartbeat().models]


# ----------------------------------------------------------------- the package


def test_all_is_sorted_and_complete():
    package = importlib.import_module("runtime.simulator")
    public = {
        name
        for name, value in vars(package).items()
        if not name.startswith("_") and getattr(value, "__module__", "").startswith("runtime.simulator.")
    }
    assert package.__all__ == sorted(package.__all__)
    assert public <= set(package.__all__)
    assert all(hasattr(package, name) for name in package.__all__)


def test_an_invalid_config_names_every_problem():
    with pytest.raises(SimulatorError) as raised:
        config(nodes=0, failure_rate=1.5, server="sim.test", runtime_id_prefix="-bad")
    message = str(raised.value)
    for part in ("nodes must be greater than 0", "failure_rate must be between 0 and 1", "http(s) URL", "'-bad'"):
        assert part in message


@pytest.mark.parametrize(("nodes", "interval", "expected"), [(5, 0.2, 2), (1000, 2.0, 8), (10_000, 1.0, 64)])
def test_the_pool_is_sized_by_the_heartbeat_rate(nodes, interval, expected):
    assert config(nodes=nodes, heartbeat_interval=interval).connections == expected


# ----------------------------------------------------------------- one node, no server


def test_a_model_goes_pending_then_downloading_then_ready():
    node = SimNode(0, config(speed_bytes_per_s=SIZE / 2.5), seed=1)
    node.apply([MANIFEST])
    seen = []
    for _ in range(5):
        node.step(1.0)
        seen.append(reports(node)[0])
    assert seen == [
        ("pending", 0, SIZE),
        ("downloading", 0, SIZE),
        ("downloading", int(SIZE / 2.5), SIZE),
        ("downloading", 2 * int(SIZE / 2.5), SIZE),
        ("ready", SIZE, SIZE),
    ]


def test_a_failed_download_is_reported_then_restarts_from_zero():
    node = SimNode(0, config(speed_bytes_per_s=SIZE / 10, failure_rate=1.0), seed=1)
    node.apply([MANIFEST])
    states = []
    for _ in range(5):
        node.step(1.0)
        states.append(reports(node)[0][:2])
    assert states == [("pending", 0), ("downloading", 0), ("failed", 0), ("downloading", 0), ("failed", 0)]
    node.step(1.0)
    (report,) = node.heartbeat().models
    assert report.error is msgspec.UNSET  # restarted: no error any more
    node.step(1.0)
    assert "simulated failure" in node.heartbeat().models[0].error  # type: ignore[operator]


def test_models_no_longer_desired_are_dropped_and_new_ones_start_pending():
    other = manifest(CATALOG_BY_ID[sorted(CATALOG_BY_ID)[0]], "http://hub.invalid")
    node = SimNode(0, config(), seed=1)
    node.apply([MANIFEST])
    node.step(1.0)
    node.apply([other])
    assert [(r.model_id, r.state) for r in node.heartbeat().models] == [(other.model_id, NodeModelState.pending)]


def test_a_file_without_a_size_counts_the_configured_default():
    unsized = msgspec.structs.replace(
        MANIFEST, files=[msgspec.structs.replace(MANIFEST.files[0], size_bytes=msgspec.UNSET)]
    )
    node = SimNode(0, config(unknown_size_bytes=1234), seed=1)
    node.apply([unsized])
    assert node.heartbeat().models[0].bytes_total == 1234


SHARDED = CATALOG_BY_ID["gpt-oss-20b"]
"""The catalog's sharded safetensors model: its manifest lists the index alone, without a size."""


def test_a_sharded_model_counts_the_index_and_every_shard():
    sharded = manifest(SHARDED, "http://hub.invalid")
    assert [file.size_bytes for file in sharded.files] == [msgspec.UNSET]  # what the demo counted as 100 MiB
    node = SimNode(0, config(speed_bytes_per_s=SHARDED.size_bytes / 2.5), seed=1)
    node.apply([sharded])
    seen = []
    for _ in range(5):
        node.step(1.0)
        seen.append(reports(node)[0])
    assert {total for _, _, total in seen} == {SHARDED.size_bytes}
    assert seen[-1] == ("ready", SHARDED.size_bytes, SHARDED.size_bytes)


def test_an_artifact_without_a_size_counts_the_default_beside_the_sized_files():
    artifact = ManifestFile(name="mmproj.gguf", url="http://hub.invalid/x/resolve/main/mmproj.gguf")
    with_artifact = msgspec.structs.replace(MANIFEST, files=[*MANIFEST.files, artifact])
    sharded = manifest(SHARDED, "http://hub.invalid")
    sharded = msgspec.structs.replace(sharded, files=[*sharded.files, artifact])
    unknown = msgspec.structs.replace(manifest(SHARDED, "http://hub.invalid"), model_id="not-in-this-catalog")
    assert manifest_size(with_artifact, 1234) == SIZE + 1234
    assert manifest_size(sharded, 1234) == SHARDED.size_bytes + 1234
    assert manifest_size(unknown, 1234) == 1234  # a model of a newer catalog: nothing to size its index by


@pytest.mark.parametrize("gpu", [False, True])
def test_metrics_are_plausible_and_have_gpu_fields_only_with_a_gpu(gpu):
    node = SimNode(0, config(gpu=gpu), seed=1)
    samples = [node.metrics() for _ in range(200)]
    assert all(0 <= m.cpu_usage <= 1 and 0 <= m.memory_usage <= 1 for m in samples)  # type: ignore[operator]
    gpu_fields = [(m.gpu_usage, m.gpu_memory_used_bytes) for m in samples]
    if gpu:
        assert node.registration().gpu_memory_bytes == node.gpu_memory_bytes
        assert all(0 <= usage <= 1 and 0 <= used <= node.gpu_memory_bytes for usage, used in gpu_fields)  # type: ignore[operator]
    else:
        assert node.registration().gpu_memory_bytes is msgspec.UNSET
        assert set(gpu_fields) == {(msgspec.UNSET, msgspec.UNSET)}
    assert len({m.cpu_usage for m in samples}) > 10  # it moves


def run_nodes(seed: int) -> tuple[list[float], list[bytes]]:
    simulator = Simulator(config(nodes=20, seed=seed, failure_rate=0.3, flap_rate=0.2, gpu=True))
    bodies = []
    for node in simulator.nodes:
        node.apply([MANIFEST])
        for _ in range(10):
            node.flaps()
            node.step(0.5)
            bodies.append(msgspec.json.encode(node.heartbeat()))
    return simulator.offsets, bodies


def test_the_same_seed_gives_the_same_run():
    assert run_nodes(7) == run_nodes(7)
    assert run_nodes(7) != run_nodes(8)


def test_phases_spread_evenly_over_the_interval():
    offsets = Simulator(config(nodes=1000, heartbeat_interval=2.0)).offsets
    assert all(0 <= offset < 2.0 for offset in offsets)
    per_tenth = [sum(0.2 * k <= offset < 0.2 * (k + 1) for offset in offsets) for k in range(10)]
    assert per_tenth == [100] * 10


# ----------------------------------------------------------------- the runner, against a mock transport


def with_unknown_fields(value: Any) -> Any:
    """``value`` with a field no release knows in every object, as a newer server might answer."""
    if isinstance(value, dict):
        return {key: with_unknown_fields(item) for key, item in value.items()} | {"from_a_newer_server": [1]}
    if isinstance(value, list):
        return [with_unknown_fields(item) for item in value]
    return value


class FakeServer:
    """Just enough of the node API: registration, heartbeats, manifests; scripted refusals."""

    def __init__(self, *, unknown_fields: bool = False) -> None:
        self.registered: set[str] = set()
        self.heartbeats: list[tuple[float, str, dict[str, Any]]] = []
        self.models = [MANIFEST]
        self.refusals: list[tuple[int, str]] = []  # answered, in order, to the next heartbeats
        self.unknown_fields = unknown_fields  # every answer carries fields this release does not know

    def answer(self, status: int, value: Any) -> httpx.Response:
        body = msgspec.to_builtins(value)
        return httpx.Response(status, json=with_unknown_fields(body) if self.unknown_fields else body)

    def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/v0/nodes":
            body = msgspec.json.decode(request.content)
            self.registered.add(body["runtime_id"])
            node = Node(
                runtime_id=body["runtime_id"],
                machine_name=body["machine_name"],
                status=NodeStatus.registering,
                synced=False,
                metrics=NodeMetrics(),
                metrics_stale=True,
                last_heartbeat_at=None,
            )
            return self.answer(201, node)
        if path == "/v0/models":
            return self.answer(200, self.models)
        runtime_id = path.split("/")[3]
        self.heartbeats.append((time.monotonic(), runtime_id, msgspec.json.decode(request.content)))
        if self.refusals:
            status, code = self.refusals.pop(0)
            return self.answer(status, {"error": {"code": code, "message": f"scripted {code}", "pointer": "/models/0"}})
        return self.answer(200, HeartbeatResponse(NodeStatus.online, self.models))


@asynccontextmanager
async def running(simulator: Simulator) -> AsyncIterator[asyncio.Task[StatsSnapshot]]:
    stop = asyncio.Event()
    task = asyncio.create_task(simulator.run(stop))
    try:
        yield task
    finally:
        stop.set()
        await asyncio.wait({task}, timeout=10)


async def eventually(check: Callable[[], Awaitable[bool]] | Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        outcome = check()
        if outcome if isinstance(outcome, bool) else await outcome:
            return
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_a_thousand_nodes_register_and_heartbeat_spread_over_the_interval():
    fake = FakeServer()
    simulator = Simulator(config(nodes=1000, heartbeat_interval=0.5), transport=httpx.MockTransport(fake.handle))
    beats: dict[str, int] = {}
    async with running(simulator) as task:

        def twice_each() -> bool:
            beats.clear()
            for _, runtime_id, _ in fake.heartbeats:
                beats[runtime_id] = beats.get(runtime_id, 0) + 1
            return len(beats) == 1000 and min(beats.values()) >= 2

        await eventually(twice_each)
    assert len(fake.registered) == 1000
    assert task.result().errors == {}
    # the schedule spreads the nodes evenly over the interval: about 100 per tenth, never a thundering herd
    # (checked on the schedule itself, not on arrival times, which a loaded machine bunches)
    per_tenth = [sum(k * 0.05 <= offset < (k + 1) * 0.05 for offset in simulator.offsets) for k in range(10)]
    assert per_tenth == [100] * 10, per_tenth


async def test_a_refused_token_stops_the_run_with_one_message():
    transport = httpx.MockTransport(
        lambda _: httpx.Response(401, json={"error": {"code": "unauthorized", "message": "No."}})
    )
    with pytest.raises(SimulatorError, match=r"refused to register sim-0000: 401 unauthorized: No\."):
        await Simulator(config(), transport=transport).run()


async def test_an_unreachable_server_is_one_error():
    simulator = Simulator(config(server=f"http://127.0.0.1:{free_port()}", connect_timeout=0.3))
    with pytest.raises(SimulatorError, match=r"^cannot reach http://127\.0\.0\.1:\d+: ConnectError"):
        await simulator.run()


async def test_not_registered_reads_the_models_and_sends_again_at_once():
    fake = FakeServer()
    simulator = Simulator(config(nodes=1, heartbeat_interval=0.1), transport=httpx.MockTransport(fake.handle))
    async with running(simulator):
        await eventually(lambda: any(body["models"] for _, _, body in fake.heartbeats))
        fake.models = []
        fake.refusals = [(404, "not_registered")]
        count = len(fake.heartbeats)
        await eventually(lambda: len(fake.heartbeats) >= count + 2)
    refused, retried = fake.heartbeats[count], fake.heartbeats[count + 1]
    assert refused[2]["models"]
    assert retried[2]["models"] == []
    assert retried[0] - refused[0] < 0.05  # at once, not at the next slot
    assert simulator.stats.errors == {"404 not_registered": 1}


async def test_a_refused_step_back_reports_every_model_failed_then_restarts():
    fake = FakeServer()
    simulator = Simulator(config(nodes=1, heartbeat_interval=0.1), transport=httpx.MockTransport(fake.handle))
    async with running(simulator):
        await eventually(lambda: any(body["models"] for _, _, body in fake.heartbeats))
        fake.refusals = [(409, "invalid_transition")]
        count = len(fake.heartbeats)
        await eventually(lambda: len(fake.heartbeats) >= count + 3)
    states = [[r["state"] for r in body["models"]] for _, _, body in fake.heartbeats[count:]]
    assert states[1] == ["failed"]  # sent again at once, everything failed
    assert states[2] == ["downloading"]
    assert simulator.stats.resyncs == 1


async def test_a_pending_node_keeps_trying_at_its_slots():
    fake = FakeServer()
    fake.refusals = [(403, "forbidden")] * 3
    simulator = Simulator(config(nodes=1, heartbeat_interval=0.1), transport=httpx.MockTransport(fake.handle))
    async with running(simulator):
        await eventually(lambda: len(fake.heartbeats) >= 2)
        assert simulator.nodes[0].phase is NodePhase.pending
        await eventually(lambda: simulator.stats.heartbeats_ok >= 1)
    times = [at for at, _, _ in fake.heartbeats[:4]]
    assert all(later - earlier > 0.08 for earlier, later in itertools.pairwise(times))  # one per slot
    assert simulator.stats.errors == {"403 forbidden": 3}
    assert simulator.nodes[0].phase is NodePhase.online  # heartbeating, whatever its models' states


async def test_answers_with_fields_of_a_newer_server_are_accepted():
    fake = FakeServer(unknown_fields=True)
    simulator = Simulator(config(nodes=1, heartbeat_interval=0.1), transport=httpx.MockTransport(fake.handle))
    async with running(simulator):
        await eventually(lambda: simulator.stats.heartbeats_ok >= 2)
        assert simulator.nodes[0].phase is NodePhase.online
        assert list(simulator.nodes[0].models) == [MODEL]  # the heartbeat answer's desired set
        fake.models = []
        fake.refusals = [(404, "not_registered")]
        await eventually(lambda: not simulator.nodes[0].models)  # GET /v0/models, decoded as well
    assert simulator.stats.errors == {"404 not_registered": 1}  # the error body's code was read
    assert simulator.stats.registrations == 1


async def test_a_forgotten_node_registers_again():
    fake = FakeServer()
    simulator = Simulator(config(nodes=1, heartbeat_interval=0.1), transport=httpx.MockTransport(fake.handle))
    async with running(simulator):
        await eventually(lambda: len(fake.heartbeats) >= 1)
        fake.refusals = [(404, "node_not_found")]
        await eventually(lambda: simulator.stats.registrations >= 2 and simulator.stats.heartbeats_ok >= 3)
    assert simulator.stats.errors == {"404 node_not_found": 1}


# ----------------------------------------------------------------- against a live server


def fast(**overrides: Any) -> SimulatorConfig:
    """5 nodes heartbeating every 0.2 s, fetching the smallest model in about 0.3 s."""
    return config(**{"heartbeat_interval": 0.2, "speed_bytes_per_s": 3 * SIZE, **overrides})


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[str]:
    """One live server for this module's live tests (nodes offline after 3 s without a heartbeat)."""
    with live_server(tmp_path_factory.mktemp("simulator"), **LIVE_ENV) as (base, _):
        yield base


@pytest.fixture
def hub(server) -> Iterator[str]:
    """The shared server with MODEL registered and no node; put back that way afterwards."""
    with httpx.Client(base_url=server, headers=ADMIN, timeout=10) as admin:
        assert admin.post("/v0/models/register", json={"model_id": MODEL}).status_code == 201
        yield server
        assert admin.delete(f"/v0/models/{MODEL}").status_code in (204, 404)  # 404: the test deleted it
        for node in admin.get("/v0/nodes").json():
            assert admin.delete(f"/v0/nodes/{node['runtime_id']}").status_code == 204


@asynccontextmanager
async def live(base: str, simulator_config: SimulatorConfig) -> AsyncIterator[tuple[httpx.AsyncClient, Simulator]]:
    """The simulator running against the live server, and a client with the read token."""
    async with httpx.AsyncClient(base_url=base, headers=READ, timeout=10) as client:
        simulator = Simulator(dataclasses.replace(simulator_config, server=base))
        async with running(simulator) as task:
            yield client, simulator
        task.result()  # stopped cleanly


async def hub_item(client: httpx.AsyncClient) -> dict[str, Any]:
    return next(item for item in (await client.get("/v0/models/hub")).json() if item["id"] == MODEL)


async def node_statuses(client: httpx.AsyncClient) -> dict[str, str]:
    return {node["runtime_id"]: node["status"] for node in (await client.get("/v0/nodes")).json()}


async def model_nodes(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    """Every node's report on MODEL (``GET /v0/models/{id}``)."""
    nodes: list[dict[str, Any]] = (await client.get(f"/v0/models/{MODEL}")).json()["nodes"]
    return nodes


async def all_ready_and_online(client: httpx.AsyncClient, nodes: int = 5) -> bool:
    item = await hub_item(client)
    listed = (await client.get("/v0/nodes")).json()
    return (
        item["status"] == "ready"
        and item["node_counts"]["ready"] == nodes
        and [node["status"] for node in listed] == ["online"] * nodes
        and [node["synced"] for node in listed] == [True] * nodes
    )


async def test_live_nodes_fetch_the_model_and_go_online(hub):
    async with live(hub, fast()) as (client, simulator):
        await eventually(lambda: all_ready_and_online(client))
        nodes = (await client.get("/v0/nodes")).json()
    assert simulator.stats.errors == {}
    assert simulator.stats.heartbeats_ok == simulator.stats.heartbeats_sent > 0
    assert {node.phase for node in simulator.nodes} == {NodePhase.online}
    for node in nodes:
        assert not node["metrics_stale"]
        assert set(node["metrics"]) == {"cpu_usage", "memory_usage", "active_requests"}  # no GPU, no GPU fields
        assert 0 <= node["metrics"]["cpu_usage"] <= 1


async def test_live_failures_are_reported_then_recover(hub):
    async with live(hub, fast(failure_rate=1.0)) as (client, simulator):

        async def some_node_failed() -> bool:
            reports = await model_nodes(client)
            return any(n["state"] == "failed" and "simulated failure" in (n["error"] or "") for n in reports)

        await eventually(some_node_failed)
        simulator.reconfigure(failure_rate=0.0)
        await eventually(lambda: all_ready_and_online(client))
    assert simulator.stats.errors == {}


async def test_live_a_flapping_node_goes_offline_and_comes_back(hub):
    # offline after 3 s without a heartbeat, checked every 0.75 s: a silence of 4 s or more is always seen
    async with live(hub, fast(flap_seconds=4.0)) as (client, simulator):
        await eventually(lambda: all_ready_and_online(client))
        simulator.reconfigure(flap_rate=0.5)
        await eventually(lambda: any(node.phase is NodePhase.silent for node in simulator.nodes))
        simulator.reconfigure(flap_rate=0.0)

        async def someone_offline() -> bool:
            return "offline" in (await node_statuses(client)).values()

        await eventually(someone_offline)
        await eventually(lambda: all_ready_and_online(client))
    assert simulator.stats.errors == {}


async def test_live_a_deleted_model_is_dropped(hub):
    async with live(hub, fast(speed_bytes_per_s=SIZE / 20)) as (client, simulator):

        async def downloading() -> bool:
            return (await hub_item(client))["status"] == "downloading"

        await eventually(downloading)
        assert (await client.delete(f"/v0/models/{MODEL}", headers=ADMIN)).status_code == 204

        async def dropped() -> bool:
            item = await hub_item(client)
            statuses = await node_statuses(client)
            return (
                item["status"] == "available"
                and not any(item["node_counts"].values())
                and all(not node.models for node in simulator.nodes)
                and list(statuses.values()) == ["online"] * 5
            )

        await eventually(dropped)
    # a heartbeat already on its way when the model went is refused once; nothing else is
    assert set(simulator.stats.errors) <= {"404 not_registered"}
    assert simulator.stats.errors.get("404 not_registered", 0) <= 5


def test_live_the_command_line_prints_summaries_and_stops_after_its_duration(hub, capsys):
    base = hub
    argv = ["--server", base, "--token", NODE_TOKEN, "--nodes", "3", "--heartbeat-interval", "0.2", "--speed", "2GB"]
    status = simulate_main([*argv, "--duration", "1.5", "--stats-interval", "0.5", "--seed", "3"])
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert (status, err) == (0, "")
    assert lines[0].startswith(f"simulating 3 nodes against {base} (seed 3,")
    assert any("heartbeats/s" in line and "nodes online=3" in line for line in lines[1:-1])
    assert lines[-1].startswith("stopped; whole run:")
    assert "errors none" in lines[-1]


# ----------------------------------------------------------------- the command line's errors


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--server", "http://x.test", "--nodes", "2"], "modelhub simulate: give --token or set MODELHUB_NODE_TOKEN"),
        (
            ["--server", "http://x.test", "--token", "t", "--nodes", "0"],
            "modelhub simulate: nodes must be greater than 0 (got 0).",
        ),
        (
            ["--server", "http://x.test", "--token", "t"],
            "modelhub simulate: the following arguments are required: --nodes",
        ),
        (
            ["--server", "http://x.test", "--token", "t", "--nodes", "2", "--speed", "fast"],
            "modelhub simulate: argument --speed: not a speed: 'fast' (e.g. 200000000, 200MB, 1GiB)",
        ),
        (
            ["--server", f"http://127.0.0.1:{free_port()}", "--token", "t", "--nodes", "1", "--connect-timeout", "0.3"],
            "modelhub simulate: cannot reach http://127.0.0.1:",
        ),
    ],
)
def test_command_line_errors_are_one_line_and_exit_2(argv, message, capsys, monkeypatch):
    monkeypatch.delenv("MODELHUB_NODE_TOKEN", raising=False)
    assert simulate_main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(message)


@pytest.mark.parametrize(("text", "expected"), [("200MB", 200e6), ("1.5GiB/s", 1.5 * 2**30), ("1000", 1000.0)])
def test_the_speed_takes_units(text, expected):
    assert _speed(text) == expected
