"""Benchmark ``modelhub serve`` replicas sharing one PostgreSQL and one Redis: visibility, heartbeats, failover.

The script starts a private PostgreSQL (``initdb`` on its own port) and private Redis servers
(``tests/adversarial/services.py``), and ``modelhub serve`` replicas on them (free loopback ports,
auto-approved nodes). Three measurements:

1. Visibility. Two replicas A and B on one database and one Redis; a WebSocket client on B subscribed
   to ``models``. ``--changes`` times (default 30), alternately ``POST /v0/models/register`` and
   ``DELETE /v0/models/{id}`` of one model on A. A thread started as the POST is sent polls B's
   ``GET /v0/models/hub`` (read token) every 5 ms until the model's item shows the new status; the
   WebSocket reader stamps the arrival of B's ``ModelStatusChanged`` frame with that status. Both are
   timed from the moment the request to A is sent; p50 and p99 (nearest rank) over the changes.
2. Heartbeats. wrk with the heartbeat Lua script of ``bench/runtime_http.py`` (100 nodes, each
   reporting 10 registered models as downloading, ``bytes_done`` strictly increasing; each wrk
   thread has one connection and owns its nodes), ``--duration`` seconds per round, for:
   (a) 1 replica on SQLite (the baseline), (b) 1 replica on PostgreSQL, (c) 2 replicas on PostgreSQL,
   two wrk processes (one per replica, half the connections and half of the nodes each; their rates
   summed). The three run one after the other in every round (after an untimed ``--warmup`` round
   each), each on its own database and Redis, so an idle configuration does not work for the others.
   CPU per heartbeat is the replicas' user + system time (all threads, from /proc) over the
   heartbeats answered; PostgreSQL's (postmaster and its children) is shown apart for (b) and (c).
3. Leader failover. On the pair of 1. (started with ``MODELHUB_NODE_OFFLINE_AFTER=5``), a node
   registers and heartbeats through the follower; right after its last heartbeat the leader gets
   SIGKILL. Measured from the kill: the survivor's ``/readyz`` saying ``details.leader`` true (polled
   every 10 ms), and the first ``NodeStatusChanged`` frame with status ``offline`` for that node on a
   WebSocket client of the survivor subscribed to ``nodes``.

Figures are medians over the rounds. Nothing is pinned: this machine's CPUs (2 on the reference
machine) are shared by the replicas, PostgreSQL, Redis, wrk and this script, which the report says
with the load average measured before the run. Any non-2xx answer or socket error (wrk ``--timeout 10s``)
fails the run.

Goals: (1) p99 <= 100 ms for B's hub and for B's WebSocket frame; (2) 2 replicas on PostgreSQL
>= 0.8x the heartbeats/s of 1 replica on SQLite; (3) offline frame - last heartbeat <=
OFFLINE_AFTER + 2 s, and kill -> survivor leads <= OFFLINE_AFTER.

Run from the repository root::

    .venv/bin/python bench/replicas.py [--rounds 3] [--duration 6] [--warmup 2] [--changes 30]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

#: The repository root: generated/, runtime/ and tests/ are imported from here.
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from _measure import WrkResult, cpu_seconds, median, parse_wrk, table, verdict  # noqa: E402

from generated.catalog import CATALOG  # noqa: E402
from tests.runtime.conftest import (  # noqa: E402
    ADMIN,
    ADMIN_TOKEN,
    HF_ENDPOINT,
    NODE,
    NODE_TOKEN,
    READ,
    READ_TOKEN,
    spawn_server,
    stop_server,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

MODEL = "qwen3-0.6b"
CONNECTIONS = 64
HEARTBEAT_NODES = 100
HEARTBEAT_MODELS = 10
HEARTBEAT_TOTAL = 10**12
ROUND_STRIDE = 10**8
OFFLINE_AFTER = 5.0
#: The heartbeat benchmark's nodes must not go offline between rounds.
BENCH_OFFLINE_AFTER = 3600.0
#: wrk's per-request timeout: its default (2 s) cut requests off on the loaded 2-CPU reference machine; a
#: slower answer still counts as a socket error and fails the run.
WRK_TIMEOUT = "10s"
POLL_S = 0.005
VISIBILITY_GOAL_MS = 100.0
PAIR_RATIO_GOAL = 0.8
OFFLINE_SLACK_S = 2.0

#: As ``bench/runtime_http.py``'s HEARTBEAT_LUA, for a slice of the nodes: this wrk process owns nodes
#: ``first .. first + nodes - 1`` (BENCH_WRK_FIRST, BENCH_WRK_NODES), its thread k the k-th, k + N-th, ...
#: of them (N threads, one connection each), so a node's heartbeats never overtake each other.
HEARTBEAT_LUA = """
local prefix = '{"metrics":{"cpu_usage":0.5,"memory_usage":0.25,"gpu_usage":0.75,"active_requests":1},"models":['
local created = 0
local headers = {}
local base = 0
local models = {}
local owned = {}
local count = {}
local turn = 0

function setup(thread)
  thread:set("id", created)
  thread:set("threads", tonumber(os.getenv("BENCH_WRK_THREADS")))
  thread:set("first", tonumber(os.getenv("BENCH_WRK_FIRST")))
  thread:set("nodes", tonumber(os.getenv("BENCH_WRK_NODES")))
  created = created + 1
end

function init(args)
  headers["Authorization"] = "Bearer " .. args[1]
  headers["Content-Type"] = "application/json"
  base = tonumber(args[2])
  for i = 3, #args do
    models[#models + 1] = args[i]
  end
  for node = first + id, first + nodes - 1, threads do
    owned[#owned + 1] = node
  end
end

function request()
  turn = turn %% #owned + 1
  local node = owned[turn]
  local sent = (count[node] or 0) + 1
  count[node] = sent
  local done = string.format("%%d", base + sent)
  local reports = {}
  for i, model in ipairs(models) do
    reports[i] = '{"model_id":"' .. model .. '","state":"downloading","bytes_done":' .. done
      .. ',"bytes_total":%(total)d}'
  end
  local body = prefix .. table.concat(reports, ",") .. "]}"
  return wrk.format("POST", string.format("/v0/nodes/node-%%d/heartbeat", node), headers, body)
end
"""


# --------------------------------------------------------------------------- processes


def progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@dataclass
class Replica:
    """One ``modelhub serve`` process."""

    name: str
    base: str
    process: subprocess.Popen[str]

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        path = Path(self.process.log_path)  # type: ignore[attr-defined]
        return "\n".join(path.read_text(errors="replace").splitlines()[-40:]) if path.exists() else ""


@dataclass
class Cleanup:
    """Everything started, stopped in reverse order on exit (also on Ctrl-C and SIGTERM)."""

    steps: list[Callable[[], None]] = field(default_factory=list)

    def add(self, step: Callable[[], None]) -> None:
        self.steps.append(step)

    def run(self) -> None:
        while self.steps:
            step = self.steps.pop()
            with contextlib.suppress(Exception):
                step()


def start_replica(
    directory: Path, name: str, database_url: str, redis_url: str | None, offline_after: float, cleanup: Cleanup
) -> Replica:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("MODELHUB_")}
    environment |= {
        "MODELHUB_DATABASE_URL": database_url,
        "MODELHUB_ADMIN_TOKEN": ADMIN_TOKEN,
        "MODELHUB_NODE_TOKEN": NODE_TOKEN,
        "MODELHUB_READ_TOKEN": READ_TOKEN,
        "MODELHUB_REPLICA_ID": name,
        "MODELHUB_AUTO_APPROVE_NODES": "true",
        "MODELHUB_NODE_OFFLINE_AFTER": f"{offline_after:g}",
        "HF_ENDPOINT": HF_ENDPOINT,
        "HF_HUB_OFFLINE": "1",
    }
    if redis_url is not None:
        environment["MODELHUB_REDIS_URL"] = redis_url
    scratch = directory / name
    scratch.mkdir(parents=True, exist_ok=True)
    base, process = spawn_server(scratch, environment)
    replica = Replica(name, base, process)
    cleanup.add(lambda: stop_server(process))
    deadline = time.monotonic() + 60
    while not ready(base):
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"replica {name} did not become ready; its log ends:\n{replica.log()}")
        time.sleep(0.1)
    return replica


def ready(base: str) -> bool:
    try:
        return httpx.get(f"{base}/readyz", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def leads(base: str) -> bool:
    try:
        return bool(httpx.get(f"{base}/readyz", timeout=2).json()["details"]["leader"])
    except (httpx.TransportError, ValueError, KeyError, TypeError):
        return False


def wait_for(condition: Callable[[], object], what: str, within: float, step: float = 0.05) -> None:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"{what}: not within {within:g} s")
        time.sleep(step)


def check(response: httpx.Response, status: int) -> Any:
    if response.status_code != status:
        raise SystemExit(
            f"{response.request.method} {response.request.url.path}: {response.status_code} {response.text}"
        )
    return response.json() if response.content else None


def database_url(server_url: str, name: str) -> str:
    return f"{server_url.rpartition('/')[0]}/{name}"


def postgres_setup(postgres: Any, names: Sequence[str]) -> str:
    """Create the databases; return PostgreSQL's version."""
    import asyncpg

    async def run() -> str:
        connection = await asyncpg.connect(host="127.0.0.1", port=postgres.port, user="postgres", database="postgres")
        try:
            for name in names:
                await connection.execute(f'CREATE DATABASE "{name}"')
            return str(await connection.fetchval("SHOW server_version"))
        finally:
            await connection.close()

    return asyncio.run(run())


def redis_version(redis_server: Any) -> str:
    import redis

    client = redis.Redis(port=redis_server.port)
    try:
        return str(client.info("server")["redis_version"])
    finally:
        client.close()


def postgres_cpu(postgres: Any) -> float | None:
    """CPU seconds of the postmaster, its reaped children and its live ones (backends, ...); None if unreadable.

    Monotonic: a backend that exits moves its time from the live children to the postmaster's cutime/cstime.
    """
    try:
        postmaster = int((postgres.data / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    try:  # its own time plus that of children it has reaped (a backend whose connection closed)
        fields = Path(f"/proc/{postmaster}/stat").read_text(encoding="ascii").rpartition(")")[2].split()
    except OSError:
        return None
    total = sum(int(value) for value in fields[11:15]) / os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text(encoding="ascii").rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[1]) == postmaster:
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


# --------------------------------------------------------------------------- 1. visibility


def percentile(values: Sequence[float], share: float) -> float:
    """Nearest rank: the smallest value with at least ``share`` of the values at or below it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def hub_status(client: httpx.Client, model_id: str) -> str | None:
    items = check(client.get("/v0/models/hub", headers=READ), 200)
    return next((item["status"] for item in items if item["id"] == model_id), None)


class Frames:
    """A WebSocket client of ``base`` in a thread: each frame matching ``wanted`` goes to ``arrived`` with its time."""

    def __init__(self, base: str, topics: list[str], wanted: Callable[[dict[str, Any]], bool]) -> None:
        from websockets.sync.client import connect

        self.arrived: queue.Queue[tuple[float, dict[str, Any]]] = queue.Queue()
        self.wanted = wanted
        self.stack = contextlib.ExitStack()
        self.socket = self.stack.enter_context(
            connect(f"{base.replace('http://', 'ws://')}/ws?token={READ_TOKEN}", open_timeout=10)
        )
        self.socket.send(json.dumps({"op": "subscribe", "topics": topics}))
        deadline = time.monotonic() + 10
        while json.loads(self.socket.recv(timeout=max(0.01, deadline - time.monotonic())))["type"] != "Snapshot":
            pass
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        with contextlib.suppress(Exception):  # closed at the end
            for message in self.socket:
                now = time.monotonic()
                frame = json.loads(message)
                if self.wanted(frame):
                    self.arrived.put((now, frame))

    def drain(self) -> None:
        with contextlib.suppress(queue.Empty):
            while True:
                self.arrived.get_nowait()

    def wait(self, match: Callable[[dict[str, Any]], bool], within: float) -> float:
        """Arrival time of the first queued frame that matches."""
        deadline = time.monotonic() + within
        while True:
            try:
                when, frame = self.arrived.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise SystemExit(f"no matching WebSocket frame within {within:g} s") from None
            if match(frame):
                return when

    def close(self) -> None:
        self.stack.close()
        self.thread.join(timeout=5)


@dataclass
class Visibility:
    hub_ms: list[float]
    frame_ms: list[float]
    ack_ms: list[float]


def measure_visibility(a: Replica, b: Replica, changes: int) -> Visibility:
    """Alternate register/delete of MODEL on A; time B's hub and B's WebSocket frame from the request."""
    result = Visibility([], [], [])
    frames = Frames(b.base, ["models"], lambda f: f.get("type") == "ModelStatusChanged" and f.get("model_id") == MODEL)
    try:
        # Clients made up front: making one (its TLS context) takes tens of ms, which would count as lag.
        with (
            httpx.Client(base_url=a.base, timeout=10) as writer,
            httpx.Client(base_url=b.base, timeout=10) as reader,
            httpx.Client(base_url=b.base, timeout=10) as poller_client,
        ):
            if hub_status(reader, MODEL) != "available":
                raise SystemExit(f"{MODEL} is not available on B before the run")
            for index in range(changes):
                expected = "registered" if index % 2 == 0 else "available"
                frames.drain()
                seen: list[float] = []

                def poll(expected: str = expected, seen: list[float] = seen) -> None:
                    deadline = time.monotonic() + 5
                    while time.monotonic() < deadline:
                        if hub_status(poller_client, MODEL) == expected:
                            seen.append(time.monotonic())
                            return
                        time.sleep(POLL_S)

                poller = threading.Thread(target=poll)
                sent = time.monotonic()
                poller.start()
                if expected == "registered":
                    check(writer.post("/v0/models/register", json={"model_id": MODEL}, headers=ADMIN), 201)
                else:
                    check(writer.delete(f"/v0/models/{MODEL}", headers=ADMIN), 204)
                result.ack_ms.append((time.monotonic() - sent) * 1e3)
                arrived = frames.wait(lambda f, expected=expected: f.get("status") == expected, 5)
                poller.join(timeout=10)
                if not seen:
                    raise SystemExit(f"B's hub did not show {MODEL} {expected} within 5 s")
                result.hub_ms.append((seen[0] - sent) * 1e3)
                result.frame_ms.append((arrived - sent) * 1e3)
                time.sleep(0.05)
    finally:
        frames.close()
    return result


# --------------------------------------------------------------------------- 2. heartbeats


@dataclass
class Config:
    """A heartbeat configuration: its replicas (wrk's connections and nodes split over them)."""

    key: str
    title: str
    replicas: list[Replica]
    postgres: Any | None = None


@dataclass(frozen=True)
class Beats:
    rate: float
    p99_ms: float
    requests: int
    cpu_us: float | None
    postgres_cpu_us: float | None


def setup_heartbeats(config: Config) -> list[str]:
    """Register the models and the nodes on the first replica; wait until every replica knows them all."""
    models = [model.id for model in CATALOG[:HEARTBEAT_MODELS]]
    if len(models) < HEARTBEAT_MODELS:
        raise SystemExit(f"the catalog has {len(models)} models; the heartbeat bench needs {HEARTBEAT_MODELS}")
    with httpx.Client(base_url=config.replicas[0].base, timeout=10) as client:
        for model_id in models:
            check(client.post("/v0/models/register", json={"model_id": model_id}, headers=ADMIN), 201)
        for node in range(HEARTBEAT_NODES):
            registration = {"runtime_id": f"node-{node}", "machine_name": f"gpu-{node}.lan"}
            if check(client.post("/v0/nodes", json=registration, headers=NODE), 201)["status"] != "registering":
                raise SystemExit(f"node-{node} was not auto-approved")
    for replica in config.replicas:
        with httpx.Client(base_url=replica.base, timeout=10) as client:

            def known(client: httpx.Client = client) -> bool:
                nodes = check(client.get("/v0/nodes", headers=READ), 200)
                items = nodes if isinstance(nodes, list) else nodes.get("items", nodes.get("nodes", []))
                registered = [i for i in check(client.get("/v0/models/hub", headers=READ), 200) if i["id"] in models]
                return len(
                    [n for n in items if str(n.get("runtime_id", "")).startswith("node-")]
                ) == HEARTBEAT_NODES and all(item["status"] != "available" for item in registered)

            wait_for(known, f"{replica.name} knows the {HEARTBEAT_NODES} nodes and {HEARTBEAT_MODELS} models", 10)
    return models


def heartbeat_round(config: Config, script: Path, models: list[str], round_index: int, duration: float) -> Beats:
    """One wrk process per replica, the connections and nodes split evenly; rates and CPU summed."""
    count = len(config.replicas)
    progress(f"heartbeats ({config.key}) round {round_index}, {duration:g} s")
    connections = CONNECTIONS // count
    nodes = HEARTBEAT_NODES // count
    args = ["--", NODE_TOKEN, str(round_index * ROUND_STRIDE), *models]
    before = [cpu_seconds(replica.pid) for replica in config.replicas]
    pg_before = postgres_cpu(config.postgres) if config.postgres is not None else None
    processes = []
    for position, replica in enumerate(config.replicas):
        command = [
            "wrk",
            f"-t{connections}",
            f"-c{connections}",
            f"-d{duration:g}s",
            f"--timeout={WRK_TIMEOUT}",
            "--latency",
        ]
        command += ["-s", str(script), replica.base, *args]
        environment = {
            **os.environ,
            "BENCH_WRK_THREADS": str(connections),
            "BENCH_WRK_FIRST": str(position * nodes),
            "BENCH_WRK_NODES": str(nodes),
        }
        processes.append(
            subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=environment)
        )
    results: list[WrkResult] = []
    try:
        for process in processes:
            output, _ = process.communicate(timeout=duration + 60)
            if process.returncode != 0:
                raise SystemExit(f"wrk failed ({process.returncode}):\n{output}")
            results.append(parse_wrk(output))
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    after = [cpu_seconds(replica.pid) for replica in config.replicas]
    pg_after = postgres_cpu(config.postgres) if config.postgres is not None else None
    requests = sum(result.requests for result in results)
    cpu = None
    if requests and all(value is not None for value in (*before, *after)):
        cpu = sum(a - b for a, b in zip(after, before, strict=True)) / requests * 1e6  # type: ignore[operator]
    pg = (
        (pg_after - pg_before) / requests * 1e6 if requests and pg_before is not None and pg_after is not None else None
    )
    for replica in config.replicas:
        if replica.process.poll() is not None:
            raise SystemExit(f"replica {replica.name} died:\n{replica.log()}")
    return Beats(
        rate=sum(result.rate for result in results),
        p99_ms=max(result.p99_ms for result in results),
        requests=requests,
        cpu_us=cpu,
        postgres_cpu_us=pg,
    )


def check_heartbeats(config: Config, models: list[str], last_round: int) -> None:
    """Every replica shows every node downloading with bytes from the last round (byte counts sync every 1 s)."""
    for replica in config.replicas:
        with httpx.Client(base_url=replica.base, timeout=10) as client:

            def current(client: httpx.Client = client) -> bool:
                detail = check(client.get(f"/v0/models/{models[-1]}", headers=READ), 200)
                rows = [row for row in detail["nodes"] if row["runtime_id"].startswith("node-")]
                return len(rows) == HEARTBEAT_NODES and all(
                    row["state"] == "downloading" and row["bytes_done"] > last_round * ROUND_STRIDE for row in rows
                )

            wait_for(current, f"{replica.name} shows the heartbeats of the last round", 5)


def measure_heartbeats(
    configs: list[Config], script: Path, rounds: int, duration: float, warmup: float
) -> dict[str, list[Beats]]:
    results: dict[str, list[Beats]] = {config.key: [] for config in configs}
    models = {config.key: setup_heartbeats(config) for config in configs}
    if warmup > 0:
        for config in configs:
            heartbeat_round(config, script, models[config.key], 0, warmup)
    for index in range(1, rounds + 1):
        for config in configs:
            results[config.key].append(heartbeat_round(config, script, models[config.key], index, duration))
    for config in configs:
        check_heartbeats(config, models[config.key], rounds)
    return results


# --------------------------------------------------------------------------- 3. failover


@dataclass(frozen=True)
class Failover:
    beat_to_kill_s: float
    kill_to_leader_s: float
    kill_to_offline_s: float
    beat_to_offline_s: float
    offline_frames: int


def measure_failover(pair: list[Replica]) -> Failover:
    leaders = [replica for replica in pair if leads(replica.base)]
    if len(leaders) != 1:
        raise SystemExit(f"expected one leader, found {[r.name for r in leaders]}")
    dead = leaders[0]
    survivor = next(replica for replica in pair if replica is not dead)
    node = "failover-node"
    with httpx.Client(base_url=survivor.base, timeout=10) as client:
        check(client.post("/v0/nodes", json={"runtime_id": node, "machine_name": "failover.lan"}, headers=NODE), 201)
        frames = Frames(
            survivor.base,
            ["nodes"],
            lambda f: (
                f.get("type") == "NodeStatusChanged" and f.get("status") == "offline" and f.get("runtime_id") == node
            ),
        )
        try:
            body = {"metrics": {"cpu_usage": 0.5}, "models": []}
            for _ in range(3):  # a node heartbeating through the follower, then silent
                last_beat = time.monotonic()
                check(client.post(f"/v0/nodes/{node}/heartbeat", json=body, headers=NODE), 200)
                time.sleep(0.5)
            last_beat = time.monotonic()
            check(client.post(f"/v0/nodes/{node}/heartbeat", json=body, headers=NODE), 200)
            dead.process.send_signal(signal.SIGKILL)
            killed = time.monotonic()
            dead.process.wait()
            while not leads(survivor.base):
                if time.monotonic() - killed > OFFLINE_AFTER * 3:
                    raise SystemExit(f"{survivor.name} did not take the lead within {OFFLINE_AFTER * 3:g} s")
                time.sleep(0.01)
            leader_at = time.monotonic()
            offline_at = frames.wait(lambda f: True, OFFLINE_AFTER * 3)
            time.sleep(2)  # and only once
            extra = frames.arrived.qsize()
        finally:
            frames.close()
    return Failover(
        beat_to_kill_s=killed - last_beat,
        kill_to_leader_s=leader_at - killed,
        kill_to_offline_s=offline_at - killed,
        beat_to_offline_s=offline_at - last_beat,
        offline_frames=1 + extra,
    )


# --------------------------------------------------------------------------- report


def report(
    visibility: Visibility,
    beats: dict[str, list[Beats]],
    configs: list[Config],
    failover: Failover,
    arguments: argparse.Namespace,
    versions: tuple[str, str],
    load: tuple[float, float, float],
) -> str:
    cpus = len(os.sched_getaffinity(0))
    lines = [
        f"replicas on one PostgreSQL + Redis (PostgreSQL {versions[0]}, Redis {versions[1]}, both private; "
        f"python {platform.python_version()}; MODELHUB_REPLICA_SYNC_INTERVAL default 0.05 s)",
        f"{cpus} cpus shared by everything (replicas, PostgreSQL, Redis, wrk, this script); nothing pinned",
        f"load average before the run (1/5/15 min): {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}",
        f"load average after the run (1/5/15 min): {' '.join(f'{v:.2f}' for v in os.getloadavg())}",
        "",
        f"1. visibility: {arguments.changes} changes on A (register/delete {MODEL}), seen on B; "
        f"B's hub polled every {POLL_S * 1e3:g} ms; ms from the request sent to A",
    ]
    rows = [["seen as", "p50", "p99", "max"]]
    for name, values in (
        ("A's answer (201/204)", visibility.ack_ms),
        ("B's GET /v0/models/hub", visibility.hub_ms),
        ("B's WebSocket frame", visibility.frame_ms),
    ):
        rows.append(
            [name, f"{percentile(values, 0.5):.1f} ms", f"{percentile(values, 0.99):.1f} ms", f"{max(values):.1f} ms"]
        )
    lines += [f"  {line}" for line in table(rows)]
    lines += [
        "",
        f"2. heartbeats ({HEARTBEAT_NODES} nodes x {HEARTBEAT_MODELS} models, wrk {CONNECTIONS} connections in all, "
        f"{arguments.rounds} rounds x {arguments.duration:g} s, median)",
    ]
    rows = [["configuration", "heartbeats/s", "vs (a)*", "p99", "replica CPU/hb", "PostgreSQL CPU/hb"]]

    def us(values: list[float | None]) -> str:
        known = [v for v in values if v is not None]
        return f"{median(known):.0f} us" if known and len(known) == len(values) else "n/a"

    for config in configs:
        runs = beats[config.key]
        rate = median([b.rate for b in runs])
        ratio = median([b.rate / a.rate for a, b in zip(beats["a"], runs, strict=True)])
        rows.append(
            [
                f"({config.key}) {config.title}",
                f"{rate:,.0f}",
                f"{ratio:.2f}x",
                f"{median([b.p99_ms for b in runs]):.1f} ms",
                us([b.cpu_us for b in runs]),
                us([b.postgres_cpu_us for b in runs]) if config.postgres is not None else "-",
            ]
        )
    lines += [f"  {line}" for line in table(rows)]
    lines.append("  * median of the per-round ratios (each round ran (a), (b), (c) back to back)")
    lines.append("  per round (heartbeats/s):")
    for config in configs:
        lines.append(f"    ({config.key}): " + ", ".join(f"{b.rate:,.0f}" for b in beats[config.key]))
    pair_ratio = median([c.rate / a.rate for a, c in zip(beats["a"], beats["c"], strict=True)])
    lines += [
        "",
        f"3. leader failover (MODELHUB_NODE_OFFLINE_AFTER={OFFLINE_AFTER:g}; node heartbeating through the follower)",
        f"  last heartbeat -> kill -9 of the leader: {failover.beat_to_kill_s * 1e3:.0f} ms",
        f"  kill -> survivor /readyz details.leader true: {failover.kill_to_leader_s:.2f} s",
        f"  kill -> NodeStatusChanged offline on the survivor's WebSocket: {failover.kill_to_offline_s:.2f} s",
        f"  last heartbeat -> offline frame: {failover.beat_to_offline_s:.2f} s "
        f"({failover.offline_frames} offline frame(s) within 2 s after the first)",
        "",
        "goals:",
    ]
    hub_p99 = percentile(visibility.hub_ms, 0.99)
    frame_p99 = percentile(visibility.frame_ms, 0.99)
    goals = [
        (f"B's hub p99 <= {VISIBILITY_GOAL_MS:g} ms", hub_p99 <= VISIBILITY_GOAL_MS, f"{hub_p99:.1f} ms"),
        (
            f"B's WebSocket frame p99 <= {VISIBILITY_GOAL_MS:g} ms",
            frame_p99 <= VISIBILITY_GOAL_MS,
            f"{frame_p99:.1f} ms",
        ),
        (
            f"(c) 2 replicas on PostgreSQL >= {PAIR_RATIO_GOAL:g}x (a) 1 on SQLite",
            pair_ratio >= PAIR_RATIO_GOAL,
            f"{pair_ratio:.2f}x, median of per-round ratios",
        ),
        (
            f"offline frame - last heartbeat <= OFFLINE_AFTER + {OFFLINE_SLACK_S:g} s",
            failover.beat_to_offline_s <= OFFLINE_AFTER + OFFLINE_SLACK_S and failover.offline_frames == 1,
            f"{failover.beat_to_offline_s:.2f} s, {failover.offline_frames} frame(s)",
        ),
        (
            "kill -> survivor leads <= OFFLINE_AFTER",
            failover.kill_to_leader_s <= OFFLINE_AFTER,
            f"{failover.kill_to_leader_s:.2f} s",
        ),
    ]
    lines += [f"  {name}: {verdict(ok)} ({detail})" for name, ok, detail in goals]
    return "\n".join(lines), all(ok for _, ok, _ in goals)


def main(argv: list[str] | None = None) -> int:
    """Check the tools, start the services and replicas, run the three measurements, print the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=3, help="heartbeat rounds per configuration; medians")
    parser.add_argument("--duration", type=float, default=6.0, help="seconds per heartbeat round")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of one untimed heartbeat round (0: none)")
    parser.add_argument("--changes", type=int, default=30, help="register/delete changes timed for visibility")
    arguments = parser.parse_args(argv)
    if arguments.rounds < 1 or arguments.duration <= 0 or arguments.warmup < 0 or arguments.changes < 2:
        parser.error("--rounds, --duration positive, --warmup not negative, --changes at least 2")
    missing = [
        hint
        for found, hint in (
            (shutil.which("wrk"), "wrk (apt-get install wrk)"),
            (shutil.which("redis-server"), "redis-server (apt-get install redis-server)"),
            (shutil.which("initdb") or next(Path("/usr/lib/postgresql").glob("*/bin/initdb"), None), "postgresql"),
        )
        if not found
    ]
    if missing:
        raise SystemExit(f"not installed: {', '.join(missing)}")
    from tests.adversarial.services import PrivatePostgres, PrivateRedis

    def terminate(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, terminate)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started with SIGINT ignored (nohup, &)
    load = os.getloadavg()
    cleanup = Cleanup()
    with tempfile.TemporaryDirectory(prefix="replicas-bench-") as temporary:
        directory = Path(temporary)
        try:
            postgres = PrivatePostgres()
            cleanup.add(postgres.close)
            postgres.start()
            pg_version = postgres_setup(postgres, ["single", "pair", "visibility"])
            redises = {}
            for name in ("single", "pair", "visibility"):
                redises[name] = PrivateRedis(directory)
                cleanup.add(redises[name].kill)
                redises[name].start()
            versions = (pg_version, redis_version(redises["pair"]))

            # 2. heartbeats: (a) SQLite, (b) one replica on PostgreSQL, (c) two
            script = directory / "heartbeat.lua"
            script.write_text(HEARTBEAT_LUA % {"total": HEARTBEAT_TOTAL}, encoding="utf-8")
            sqlite = start_replica(
                directory, "sqlite", f"sqlite+aiosqlite:///{directory / 'bench.db'}", None, BENCH_OFFLINE_AFTER, cleanup
            )
            single = start_replica(
                directory,
                "pg-single",
                database_url(postgres.url, "single"),
                redises["single"].url,
                BENCH_OFFLINE_AFTER,
                cleanup,
            )
            pair = [
                start_replica(
                    directory,
                    f"pg-pair-{n}",
                    database_url(postgres.url, "pair"),
                    redises["pair"].url,
                    BENCH_OFFLINE_AFTER,
                    cleanup,
                )
                for n in ("a", "b")
            ]
            configs = [
                Config("a", "1 replica, SQLite", [sqlite]),
                Config("b", "1 replica, PostgreSQL", [single], postgres),
                Config("c", "2 replicas, PostgreSQL", pair, postgres),
            ]
            beats = measure_heartbeats(configs, script, arguments.rounds, arguments.duration, arguments.warmup)
            for replica in (sqlite, single, *pair):
                stop_server(replica.process)

            # 1. visibility, then 3. failover, on a fresh pair
            visible = [
                start_replica(
                    directory,
                    f"pg-{n}",
                    database_url(postgres.url, "visibility"),
                    redises["visibility"].url,
                    OFFLINE_AFTER,
                    cleanup,
                )
                for n in ("a", "b")
            ]
            visibility = measure_visibility(visible[0], visible[1], arguments.changes)
            failover = measure_failover(visible)
        except KeyboardInterrupt:
            print("interrupted; stopping everything", file=sys.stderr)
            return 130
        finally:
            cleanup.run()
    text, ok = report(visibility, beats, configs, failover, arguments, versions, load)
    print(text, flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
