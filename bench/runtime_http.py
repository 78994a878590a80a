"""Benchmark the runtime's HTTP hot paths under uvicorn with wrk: the hub, a bare route, and heartbeats.

The script starts one server itself: ``create_app`` on a temporary SQLite file (auto-approved nodes,
nodes never go offline during the run), under ``uvicorn.run`` with uvloop and httptools as
``modelhub serve`` runs it, plus two routes registered on that same app object for the benchmark only:
``GET /bench/bare`` answers pre-encoded bytes (a copy of the hub body, so the same size) and
``POST /bench/bare`` takes that copy once the hub is set up. The bare route goes through the same
server, middleware and response path but does no work of its own, and has no auth guard: it is the
ceiling for a route that returns a body of this size.

Measured with wrk, 64 connections, ``--latency``:

* ``GET /v0/models/hub`` on the real catalog, 3 models registered and 3 nodes reporting (one ready
  on all 3, one downloading with progress, one pending), so items carry non-zero node counts and
  byte sums; the read token is sent;
* ``GET /bench/bare`` with the same header, alternating with the hub round by round (both with one
  wrk thread, ``-t1 -c64``);
* ``POST /v0/nodes/node-<i>/heartbeat`` from 100 nodes that each report 10 registered models as
  downloading, ``bytes_done`` strictly increasing per node (a wrk Lua script, ``-t64 -c64``: each
  wrk thread has one connection and owns its nodes, so a node never has two heartbeats in flight;
  each round starts above the last round's values).

Every figure is the median of ``--rounds`` rounds of ``--duration`` seconds, after an untimed
``--warmup`` round per route; the hub/bare ratio is the median of the per-round ratios (each pair
ran back to back, so drift in machine load hits both sides alike). Any non-2xx answer or socket
error fails the run. The server's CPU time per request (user + system, all its threads, from /proc)
is reported too: on a shared machine it moves much less than throughput. On a machine with two or
more CPUs the server is pinned to the first and this script with wrk to the second, so they do not
compete for a core.

Goals: hub throughput >= 0.9 of the bare route's, hub p99 <= 20 ms; >= 5,000 heartbeats/s with
p99 <= 50 ms at 64 connections, and the server's CPU per heartbeat <= 3x the bare route's CPU per
request in the same run.

Run from the repository root::

    .venv/bin/python bench/runtime_http.py [--rounds 3] [--duration 8] [--warmup 2]
        [--profile FILE [--profile-route hub|bare|heartbeat]]

``--profile`` runs, after the timed rounds, a second server under cProfile for one round of the
chosen route (default hub) and writes its top 25 entries by cumulative and by own time to FILE.
The profile's clock is the CPU time of the server's main thread (the event loop), so idle waits do
not count; SQLAlchemy's greenlet switches hide from cProfile, so CPU spent on other requests while a
heartbeat flush waits for SQLite may be charged to SQLAlchemy's ``execute``. The profiled server is
much slower: its round is not reported.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

#: The repository root: generated/ and runtime/ are imported from here.
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from _measure import (  # noqa: E402
    WrkResult,
    cpu_seconds,
    cpu_text,
    cpu_ticks,
    free_port,
    median,
    parse_wrk,
    steal_share,
    table,
    verdict,
)

from generated.catalog import CATALOG  # noqa: E402

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

ADMIN_TOKEN = "bench-admin-token"
NODE_TOKEN = "bench-node-token"
READ_TOKEN = "bench-read-token"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
NODE = {"Authorization": f"Bearer {NODE_TOKEN}"}
READ = {"Authorization": f"Bearer {READ_TOKEN}"}

CONNECTIONS = 64
HUB_MODELS = 3
HEARTBEAT_NODES = 100
HEARTBEAT_MODELS = 10
#: bytes_total of every heartbeat report: large enough that bytes_done never reaches it.
HEARTBEAT_TOTAL = 10**12
#: bytes_done of round r starts above r * ROUND_STRIDE, so no round goes back on the one before.
ROUND_STRIDE = 10**8
#: Goals from the issue.
RATIO_GOAL = 0.9
P99_GOAL_MS = 20.0
HEARTBEAT_GOAL = 5_000.0
HEARTBEAT_P99_GOAL_MS = 50.0
HEARTBEAT_CPU_GOAL = 3.0
"""Server CPU per heartbeat, at most this many times the bare route's CPU per request."""
PROFILE_TOP = 25

#: The server: ``python -c LAUNCHER CONFIG_JSON``. It pins itself first, before any thread exists.
LAUNCHER = """
import cProfile, io, json, os, pstats, signal, sys, time
config = json.loads(sys.argv[1])
if config["cpu"] is not None:
    os.sched_setaffinity(0, {config["cpu"]})
sys.path.insert(0, config["root"])

import uvicorn
from litestar import get, post
from litestar.di import NamedDependency
from litestar.types import ASGIApp

from runtime.app import create_app
from runtime.deps import Services
from runtime.preencoded import PreEncoded
from runtime.settings import Settings

app = create_app(
    Settings(
        database_url=config["database_url"],
        admin_token=config["admin_token"],
        node_token=config["node_token"],
        read_token=config["read_token"],
        auto_approve_nodes=True,
        node_offline_after=3600,
        hf_endpoint="http://hub.invalid",
        hf_hub_offline=True,
    )
)
bare_body = [b"[]"]


@get("/bench/bare", include_in_schema=False)
async def bare() -> ASGIApp:
    # the fastest way this app returns bytes: the same PreEncoded response the hub uses
    return PreEncoded(bare_body[0])


@post("/bench/bare", include_in_schema=False, status_code=200)
async def freeze(services: NamedDependency[Services]) -> dict[str, int]:
    bare_body[0] = bytes(bytearray(services.hub.body(None)[0]))
    return {"bytes": len(bare_body[0])}


app.register(bare)
app.register(freeze)
from runtime.cli import _freeze_startup_heap

app.on_startup.append(_freeze_startup_heap)  # as modelhub serve does (runtime/cli.py)
options = dict(
    host="127.0.0.1", port=config["port"], log_level="warning", access_log=False, loop="uvloop", http="httptools"
)
if config["profile"]:
    # uvicorn re-raises the SIGTERM it shut down on once it has restored the previous handler:
    # ignoring it then lets this process live on to write the profile.
    signal.signal(signal.SIGTERM, lambda *_: None)
    # CPU time of this (the event loop's) thread: waiting in epoll is not counted, nor SQLite's own
    # work on aiosqlite's thread.
    profiler = cProfile.Profile(time.thread_time)
    profiler.runcall(uvicorn.run, app, **options)
    stream = io.StringIO()
    stats = pstats.Stats(profiler, stream=stream)
    stream.write("== by cumulative time ==\\n")
    stats.sort_stats("cumulative").print_stats(config["top"])
    stream.write("== by own time ==\\n")
    stats.sort_stats("tottime").print_stats(config["top"])
    with open(config["profile"], "w", encoding="utf-8") as output:
        output.write(stream.getvalue())
else:
    uvicorn.run(app, **options)
"""

#: wrk script for heartbeats, run with one connection per wrk thread (``-tN -cN``). Thread k owns nodes
#: k, k + N, k + 2N, ... and has one request in flight at a time, so each node's heartbeats reach the
#: server one after another, answered before the next is sent, as a real node sends them. (With one
#: thread for all connections, a node's heartbeat could overtake its previous one on another
#: connection and be refused with 409 for going backwards.) ``init`` gets: node token, the first
#: bytes_done, then the model ids.
HEARTBEAT_LUA = """
local nodes = %(nodes)d
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
  created = created + 1
end

function init(args)
  headers["Authorization"] = "Bearer " .. args[1]
  headers["Content-Type"] = "application/json"
  base = tonumber(args[2])
  for i = 3, #args do
    models[#models + 1] = args[i]
  end
  for node = id, nodes - 1, threads do
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


def run_wrk(
    url: str,
    duration: float,
    extra: Sequence[str] = (),
    script_args: Sequence[str] = (),
    threads: int = 1,
    server: int | None = None,
    server_cpu: int | None = None,
) -> WrkResult:
    """Run wrk (``threads`` threads, ``CONNECTIONS`` connections) against ``url`` and parse its report.

    With ``server`` (its pid), the server's CPU time per request during the run is measured too: on a
    machine shared with other work it varies much less than throughput. With ``server_cpu`` (the
    CPU it is pinned to), the share of that CPU the hypervisor stole during the run.
    """
    ticks = cpu_ticks(server_cpu) if server_cpu is not None else None
    before = cpu_seconds(server) if server is not None else None
    command = ["wrk", f"-t{threads}", f"-c{CONNECTIONS}", f"-d{duration:g}s", "--latency", *extra, url]
    if script_args:
        command += ["--", *script_args]
    environment = {**os.environ, "BENCH_WRK_THREADS": str(threads)}
    completed = subprocess.run(
        command, capture_output=True, text=True, check=False, timeout=duration + 60, env=environment
    )
    if completed.returncode != 0:
        raise SystemExit(f"wrk failed ({completed.returncode}):\n{completed.stdout}{completed.stderr}")
    result = parse_wrk(completed.stdout)
    after = cpu_seconds(server) if server is not None else None
    if server_cpu is not None:
        result = replace(result, steal_pct=steal_share(ticks, cpu_ticks(server_cpu)))
    if before is None or after is None or not result.requests:
        return result
    return replace(result, cpu_us=(after - before) / result.requests * 1e6)


class Server:
    """The app under uvicorn in a subprocess, pinned to ``cpu`` (None: not pinned)."""

    def __init__(self, scratch: Path, cpu: int | None, profile: Path | None = None) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = scratch / f"server-{self.port}.log"
        self.config = {
            "root": str(ROOT),
            "port": self.port,
            "database_url": f"sqlite+aiosqlite:///{scratch / f'bench-{self.port}.db'}",
            "admin_token": ADMIN_TOKEN,
            "node_token": NODE_TOKEN,
            "read_token": READ_TOKEN,
            "cpu": cpu,
            "profile": str(profile) if profile else None,
            "top": PROFILE_TOP,
        }
        self.cpu = cpu
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""

    def start(self) -> None:
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-c", LAUNCHER, json.dumps(self.config)], cwd=ROOT, stdout=log, stderr=log
            )
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{self.base}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"server did not start:\n{self.output()}")
            time.sleep(0.1)

    def stop(self) -> None:
        """SIGTERM (uvicorn shuts down gracefully and a profile is written), then SIGKILL after 30 s."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def running(scratch: Path, cpu: int | None, profile: Path | None = None) -> Iterator[Server]:
    """Start a server, yield it, always stop it."""
    server = Server(scratch, cpu, profile)
    try:
        server.start()
        yield server
    finally:
        server.stop()


def check(response: httpx.Response, status: int) -> Any:
    if response.status_code != status:
        raise SystemExit(
            f"{response.request.method} {response.request.url.path}: {response.status_code} {response.text}"
        )
    return response.json() if response.content else None


def beat(client: httpx.Client, runtime_id: str, reports: list[dict[str, Any]]) -> None:
    body = {"metrics": {"cpu_usage": 0.5}, "models": reports}
    check(client.post(f"/v0/nodes/{runtime_id}/heartbeat", json=body, headers=NODE), 200)


def setup_hub(client: httpx.Client) -> int:
    """Register ``HUB_MODELS`` models and 3 reporting nodes; freeze the bare body; return the body size."""
    models = CATALOG[:HUB_MODELS]
    for model in models:
        check(client.post("/v0/models/register", json={"model_id": model.id}, headers=ADMIN), 201)
    states = {"hub-ready": "ready", "hub-downloading": "downloading", "hub-pending": "pending"}
    for runtime_id, state in states.items():
        registration = {"runtime_id": runtime_id, "machine_name": f"{runtime_id}.lan", "gpu_memory_bytes": 24 << 30}
        check(client.post("/v0/nodes", json=registration, headers=NODE), 201)
        reports = []
        for position, model in enumerate(models, start=1):
            total = model.size_bytes
            done = {"ready": total, "downloading": total * position // (HUB_MODELS + 1), "pending": 0}[state]
            reports.append({"model_id": model.id, "state": state, "bytes_done": done, "bytes_total": total})
        beat(client, runtime_id, reports)

    hub = client.get("/v0/models/hub", headers=READ)
    items = check(hub, 200)
    if [item["id"] for item in items] != [model.id for model in CATALOG]:
        raise SystemExit("the hub does not list the catalog in order")
    expected = {"pending": 1, "downloading": 1, "ready": 1, "failed": 0, "stalled": 0, "offline": 0}
    for item in items[:HUB_MODELS]:
        if item["status"] != "ready" or item["node_counts"] != expected or not item["bytes_done"]:
            raise SystemExit(f"hub item {item['id']} does not carry the 3 nodes' counts: {item}")
    size = check(client.post("/bench/bare"), 200)["bytes"]
    bare = client.get("/bench/bare", headers=READ)
    check(bare, 200)
    if not (size == len(hub.content) == len(bare.content)) or bare.content != hub.content:
        raise SystemExit(f"bare body ({len(bare.content)} bytes) differs from the hub body ({len(hub.content)} bytes)")
    return len(hub.content)


def setup_heartbeats(client: httpx.Client) -> list[str]:
    """Register models up to ``HEARTBEAT_MODELS`` and ``HEARTBEAT_NODES`` nodes; return the model ids."""
    models = [model.id for model in CATALOG[:HEARTBEAT_MODELS]]
    if len(models) < HEARTBEAT_MODELS:
        raise SystemExit(f"the catalog has {len(models)} models; the heartbeat bench needs {HEARTBEAT_MODELS}")
    for model_id in models[HUB_MODELS:]:
        check(client.post("/v0/models/register", json={"model_id": model_id}, headers=ADMIN), 201)
    for node in range(HEARTBEAT_NODES):
        registration = {"runtime_id": f"node-{node}", "machine_name": f"gpu-{node}.lan"}
        if check(client.post("/v0/nodes", json=registration, headers=NODE), 201)["status"] != "registering":
            raise SystemExit(f"node-{node} was not auto-approved")
    return models


def write_script(scratch: Path) -> Path:
    script = scratch / "heartbeat.lua"
    script.write_text(HEARTBEAT_LUA % {"nodes": HEARTBEAT_NODES, "total": HEARTBEAT_TOTAL}, encoding="utf-8")
    return script


def heartbeat_round(server: Server, script: Path, models: list[str], round_index: int, duration: float) -> WrkResult:
    args = [NODE_TOKEN, str(round_index * ROUND_STRIDE), *models]
    return run_wrk(
        server.base, duration, ["-s", str(script)], args, threads=CONNECTIONS, server=server.pid, server_cpu=server.cpu
    )


def check_heartbeats(client: httpx.Client, models: list[str], last_round: int) -> None:
    """Every benchmark node is in each model's detail, downloading, with bytes_done from the last round."""
    for model_id in models:
        detail = check(client.get(f"/v0/models/{model_id}", headers=READ), 200)
        nodes = {node["runtime_id"]: node for node in detail["nodes"] if node["runtime_id"].startswith("node-")}
        if len(nodes) != HEARTBEAT_NODES or any(
            node["state"] != "downloading" or node["bytes_done"] <= last_round * ROUND_STRIDE for node in nodes.values()
        ):
            raise SystemExit(f"the hub does not show the heartbeats of the last round for {model_id}")


@dataclass
class Rounds:
    """Every round's result, by route."""

    hub: list[WrkResult]
    bare: list[WrkResult]
    heartbeat: list[WrkResult]


def measure(scratch: Path, cpu: int | None, rounds: int, duration: float, warmup: float) -> tuple[Rounds, int]:
    """The timed rounds on one server; returns them and the hub body size."""
    results = Rounds([], [], [])
    read_header = ["-H", f"Authorization: Bearer {READ_TOKEN}"]
    script = write_script(scratch)
    with running(scratch, cpu) as server, httpx.Client(base_url=server.base, timeout=10) as client:
        size = setup_hub(client)
        hub_url, bare_url = f"{server.base}/v0/models/hub", f"{server.base}/bench/bare"
        if warmup > 0:
            run_wrk(hub_url, warmup, read_header)
            run_wrk(bare_url, warmup, read_header)
        for _ in range(rounds):
            results.hub.append(run_wrk(hub_url, duration, read_header, server=server.pid, server_cpu=server.cpu))
            results.bare.append(run_wrk(bare_url, duration, read_header, server=server.pid, server_cpu=server.cpu))

        models = setup_heartbeats(client)
        if warmup > 0:
            heartbeat_round(server, script, models, 0, warmup)
        for index in range(1, rounds + 1):
            results.heartbeat.append(heartbeat_round(server, script, models, index, duration))
        check_heartbeats(client, models, rounds)
        if server.process is not None and server.process.poll() is not None:
            raise SystemExit(f"the server died:\n{server.output()}")
    return results, size


def profile(scratch: Path, cpu: int | None, route: str, duration: float, output: Path) -> None:
    """One round of ``route`` on a fresh server under cProfile; the server writes the stats to ``output``."""
    output.unlink(missing_ok=True)
    script = write_script(scratch)
    with running(scratch, cpu, output) as server, httpx.Client(base_url=server.base) as client:
        setup_hub(client)
        if route == "heartbeat":
            heartbeat_round(server, script, setup_heartbeats(client), 1, duration)
        else:
            path = "/v0/models/hub" if route == "hub" else "/bench/bare"
            run_wrk(f"{server.base}{path}", duration, ["-H", f"Authorization: Bearer {READ_TOKEN}"])
    if not output.exists():
        raise SystemExit(f"the profiled server wrote no profile:\n{server.output()}")


def report(
    results: Rounds, size: int, rounds: int, duration: float, pinning: str, load: tuple[float, float, float]
) -> str:
    """The table, the per-round figures and the goals."""
    routes = [
        ("GET /v0/models/hub", results.hub),
        ("GET /bench/bare", results.bare),
        (f"POST heartbeat ({HEARTBEAT_NODES}x{HEARTBEAT_MODELS})", results.heartbeat),
    ]
    rows = [["route", "req/s", "p50", "p99", "server CPU/req"]]
    for name, runs in routes:
        rows.append(
            [
                name,
                f"{median([r.rate for r in runs]):.0f}",
                f"{median([r.p50_ms for r in runs]):.2f} ms",
                f"{median([r.p99_ms for r in runs]):.2f} ms",
                cpu_text([r.cpu_us for r in runs]),
            ]
        )
    ratios = [hub.rate / bare.rate for hub, bare in zip(results.hub, results.bare, strict=True)]
    ratio = median(ratios)
    p99 = median([r.p99_ms for r in results.hub])
    heartbeats = median([r.rate for r in results.heartbeat])
    heartbeat_p99 = median([r.p99_ms for r in results.heartbeat])
    per_round = [
        beat.cpu_us / bare.cpu_us
        for beat, bare in zip(results.heartbeat, results.bare, strict=True)
        if beat.cpu_us is not None and bare.cpu_us
    ]
    heartbeat_cpu = median(per_round) if len(per_round) == len(results.heartbeat) else None
    lines = [
        f"runtime HTTP benchmark (wrk -c{CONNECTIONS}: -t1 for the GETs, -t{CONNECTIONS} for heartbeats; "
        f"{rounds} rounds x {duration:g} s, median; {pinning}; uvicorn + uvloop + httptools; "
        f"python {platform.python_version()})",
        f"load average before the run (1/5/15 min): {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}",
        f"hub body: {size:,} bytes ({len(CATALOG)} catalog models, {HUB_MODELS} registered, 3 nodes reporting); "
        "the bare route answers a copy of it",
        *table(rows),
        "per round (req/s, p99 ms):",
    ]
    for name, runs in routes:
        lines.append(f"  {name}: " + ", ".join(f"{r.rate:.0f} ({r.p99_ms:.1f})" for r in runs))
    lines.append("  hub/bare: " + ", ".join(f"{r:.2f}" for r in ratios))
    for name, runs in routes:
        if all(r.steal_pct is not None for r in runs):
            lines.append(f"  CPU stolen from the server, {name}: " + ", ".join(f"{r.steal_pct:.0f}%" for r in runs))
    cpu_ratios = [
        bare.cpu_us / hub.cpu_us
        for hub, bare in zip(results.hub, results.bare, strict=True)
        if hub.cpu_us and bare.cpu_us is not None
    ]
    if len(cpu_ratios) == len(ratios):
        lines.append("  bare/hub server CPU per request: " + ", ".join(f"{r:.2f}" for r in cpu_ratios))
        cpu_note = f"; from server CPU per request {median(cpu_ratios):.2f}"
    else:
        cpu_note = ""
    lines += [
        "goals:",
        f"  hub/bare throughput >= {RATIO_GOAL:g}: {verdict(ratio >= RATIO_GOAL)} "
        f"({ratio:.2f}, median of per-round ratios{cpu_note})",
        f"  hub p99 <= {P99_GOAL_MS:g} ms: {verdict(p99 <= P99_GOAL_MS)} ({p99:.1f} ms)",
        f"  heartbeats >= {HEARTBEAT_GOAL:,.0f}/s: {verdict(heartbeats >= HEARTBEAT_GOAL)} ({heartbeats:,.0f}/s)",
        f"  heartbeat p99 <= {HEARTBEAT_P99_GOAL_MS:g} ms at {CONNECTIONS} connections: "
        f"{verdict(heartbeat_p99 <= HEARTBEAT_P99_GOAL_MS)} ({heartbeat_p99:.1f} ms)",
        f"  server CPU per heartbeat <= {HEARTBEAT_CPU_GOAL:g}x the bare route's per request: "
        + (
            f"{verdict(heartbeat_cpu <= HEARTBEAT_CPU_GOAL)} ({heartbeat_cpu:.2f}x, median of per-round ratios)"
            if heartbeat_cpu is not None
            else "FAIL (server CPU not measured)"
        ),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run the rounds, print the report; optionally profile one round."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds per route; medians are reported")
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per round")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of one untimed round per route (0: none)")
    parser.add_argument("--profile", type=Path, metavar="FILE", help="also cProfile one round; write the stats here")
    parser.add_argument("--profile-route", choices=("hub", "bare", "heartbeat"), default="hub")
    arguments = parser.parse_args(argv)
    if arguments.rounds < 1 or arguments.duration <= 0 or arguments.warmup < 0:
        parser.error("--rounds and --duration must be positive, --warmup not negative")
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install wrk)")

    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) >= 2:
        server_cpu: int | None = cpus[0]
        os.sched_setaffinity(0, {cpus[1]})  # this script and wrk, which inherits it
        pinning = f"server on cpu {cpus[0]}, wrk on cpu {cpus[1]}"
    else:
        server_cpu = None
        pinning = f"not pinned ({len(cpus)} cpu)"

    with tempfile.TemporaryDirectory(prefix="runtime-http-bench-") as temporary:
        scratch = Path(temporary)
        load = os.getloadavg()
        results, size = measure(scratch, server_cpu, arguments.rounds, arguments.duration, arguments.warmup)
        print(report(results, size, arguments.rounds, arguments.duration, pinning, load), flush=True)
        if arguments.profile:
            output = arguments.profile.resolve()
            profile(scratch, server_cpu, arguments.profile_route, arguments.duration, output)
            print(
                f"\ncProfile of one {arguments.profile_route} round ({arguments.duration:g} s) written to {output} "
                f"(top {PROFILE_TOP} by cumulative and by own time)"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
