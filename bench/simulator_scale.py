"""Benchmark the server with 1,000 simulated nodes heartbeating every 2 s while they download 10 models.

The script starts ``modelhub serve`` itself (``python -m runtime serve``: uvicorn with uvloop and
httptools, as in production) on a temporary SQLite file, with nodes auto-approved and the default
offline timeout, registers the ``--models`` smallest catalog models, and runs ``--nodes`` simulated
nodes in this process (``runtime.simulator``: one asyncio loop on uvloop, one shared httpx client).
Each node registers and heartbeats every ``--interval`` seconds with one ``downloading`` report per
model and random metrics, fetching at ``--speed`` bytes/s per node and model (slow enough by default
that every node is still downloading every model when the run ends: the case where events are most
frequent). A ``websockets`` client on ``/ws`` subscribed to ``models`` stands for one dashboard.

It measures, once every node has registered and answered a heartbeat, after ``--warmup`` more seconds:

* heartbeats/s that reached the server, errors (any non-2xx answer or transport error), slots the
  nodes missed because a heartbeat took longer than the interval, and heartbeat latency p50/p99 as
  the simulator sees it;
* the server's CPU (user + system, every thread, from ``/proc/<pid>/stat``) as a share of one core
  and per heartbeat, and its resident memory (``/proc/<pid>/status``);
* the simulator's own CPU (``/proc/self/stat``) and resident memory (``/proc/self/status``; VmHWM is
  the peak), i.e. the cost of simulating the nodes;
* what one ``models`` subscriber receives: bytes/s and the mean ``ModelStatusChanged`` frame; and the
  size of a ``GET /v0/models/hub`` answer (uncompressed).

Frame size must not depend on the node count, so the same measurement first runs with
``--baseline-nodes`` nodes (one round) and both are printed side by side.

Every figure is the median of ``--rounds`` rounds of ``--duration`` seconds. The time to register
every node and to get every node ``online`` is reported too. On a machine with two or more CPUs the
server is pinned to the first and this script to the second, so they do not compete for a core.

Goals: the nodes keep their schedule (heartbeats/s within 2 % of nodes / interval, no slot missed)
without errors; at 1,000 nodes x 10 models the server's RSS stays <= 150 MiB, the mean
``ModelStatusChanged`` frame is <= 1 KB and within 10 % of the baseline run's, one ``models``
subscriber receives <= 20 KB/s, and a hub GET is <= 40 KB.

Run from the repository root::

    .venv/bin/python bench/simulator_scale.py [--nodes 1000] [--baseline-nodes 100] [--interval 2]
        [--models 10] [--speed B] [--concurrency N] [--no-pin] [--rounds 3] [--duration 10] [--warmup 4]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import shlex
import statistics
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import uvloop
import websockets

#: The repository root: generated/ and runtime/ are imported from here.
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from _measure import memory_mib, table  # noqa: E402
from _measure import running_server as serving  # noqa: E402

from generated.catalog import CATALOG  # noqa: E402
from runtime.simulator import NodePhase, Simulator, SimulatorConfig  # noqa: E402

if TYPE_CHECKING:
    import subprocess
    from collections.abc import Iterator

ADMIN_TOKEN = "bench-admin-token"
NODE_TOKEN = "bench-node-token"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
#: Goal: the nodes keep their schedule.
RATE_TOLERANCE = 0.02
#: Longest wait for every node to be registered and online.
SETTLE_TIMEOUT = 120.0
#: Goals at 1,000 nodes x 10 models.
MAX_RSS_MIB = 150.0
MAX_FRAME_BYTES = 1000
MAX_SUBSCRIBER_BYTES_PER_S = 20_000
MAX_HUB_BYTES = 40_000
#: Frame size may differ this much between the baseline and the full run.
FRAME_TOLERANCE = 0.10


def cpu_seconds(pid: int | str) -> float:
    """User plus system CPU time of process ``pid`` (``"self"``: this one), every thread, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text(encoding="ascii").rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def running_server(scratch: Path, cpu: int | None) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``python -m runtime serve`` on a free port, pinned to ``cpu``, approving nodes itself."""
    env = {"MODELHUB_ADMIN_TOKEN": ADMIN_TOKEN, "MODELHUB_NODE_TOKEN": NODE_TOKEN, "MODELHUB_AUTO_APPROVE_NODES": "1"}
    with serving(scratch, env, cpu) as (base, process, _):
        yield base, process


@dataclass(frozen=True)
class Round:
    """One timed round."""

    heartbeats_per_s: float
    errors: int
    late: int
    p50_ms: float
    p99_ms: float
    server_cpu: float
    """Share of one core."""
    server_us_per_heartbeat: float
    simulator_cpu: float
    simulator_us_per_heartbeat: float
    subscriber_bytes_per_s: float
    mean_model_frame: float
    """Mean size of a ModelStatusChanged frame, bytes (0 if none arrived)."""


class Subscriber:
    """One ``models`` subscriber on ``/ws``, counting what it receives."""

    def __init__(self, base: str) -> None:
        self.url = base.replace("http://", "ws://") + f"/ws?token={ADMIN_TOKEN}"
        self.bytes = 0
        self.model_frames: list[int] = []
        self._task: asyncio.Task[None] | None = None
        self.ready = asyncio.Event()

    async def run(self) -> None:
        async with websockets.connect(self.url, max_size=None) as socket:
            await socket.send('{"op":"subscribe","topics":["models"]}')
            async for frame in socket:
                text = frame if isinstance(frame, str) else frame.decode()
                if '"type":"Snapshot"' in text[:40]:
                    self.ready.set()
                    continue  # the initial snapshot is not part of the steady stream
                self.bytes += len(text.encode())
                if text.startswith('{"type":"ModelStatusChanged"'):
                    self.model_frames.append(len(text.encode()))

    def start(self) -> None:
        self._task = asyncio.create_task(self.run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


async def settle(simulator: Simulator, nodes: int) -> tuple[float, float]:
    """Wait until every node is registered and then online; return both times since the start."""
    started = time.monotonic()
    registered_at = None
    while time.monotonic() - started < SETTLE_TIMEOUT:
        phases = [node.phase for node in simulator.nodes]
        if registered_at is None and NodePhase.starting not in phases:
            registered_at = time.monotonic() - started
        if registered_at is not None and phases.count(NodePhase.online) == nodes:
            return registered_at, time.monotonic() - started
        await asyncio.sleep(0.1)
    raise SystemExit(f"the nodes did not all get online within {SETTLE_TIMEOUT:g} s: {simulator.stats.snapshot([])}")


async def all_downloading(base: str, nodes: int) -> None:
    """Wait until the hub shows every node downloading every registered model: the steady state measured."""
    async with httpx.AsyncClient(base_url=base, headers=ADMIN) as client:
        deadline = time.monotonic() + SETTLE_TIMEOUT
        while time.monotonic() < deadline:
            items = [item for item in (await client.get("/v0/models/hub")).json() if item["status"] != "available"]
            if all(item["node_counts"]["downloading"] == nodes for item in items):
                return
            await asyncio.sleep(0.5)
    raise SystemExit(f"the nodes were not all downloading every model within {SETTLE_TIMEOUT:g} s")


async def measure(
    simulator: Simulator, base: str, server_pid: int, rounds: int, duration: float, warmup: float
) -> tuple[list[Round], tuple[float, float]]:
    """Run the simulator, wait for it to settle, then time the rounds."""
    stop = asyncio.Event()
    task = asyncio.create_task(simulator.run(stop))
    subscriber = Subscriber(base)
    subscriber.start()
    results = []
    try:
        await asyncio.wait_for(subscriber.ready.wait(), 30)
        settled = await settle(simulator, len(simulator.nodes))
        await all_downloading(base, len(simulator.nodes))
        await asyncio.sleep(warmup)
        for _ in range(rounds):
            stats = simulator.stats
            simulator.stats.snapshot(simulator.nodes)  # the next snapshot's rate and percentiles start here
            sent, errors, late = stats.heartbeats_sent, sum(stats.errors.values()), stats.late
            received, frames_before = subscriber.bytes, len(subscriber.model_frames)
            server_before, self_before, started = cpu_seconds(server_pid), cpu_seconds("self"), time.monotonic()
            await asyncio.sleep(duration)
            elapsed = time.monotonic() - started
            frames = subscriber.model_frames[frames_before:]
            server_cpu, self_cpu = cpu_seconds(server_pid) - server_before, cpu_seconds("self") - self_before
            snapshot = stats.snapshot(simulator.nodes)
            count = max(1, snapshot.heartbeats_sent - sent)
            results.append(
                Round(
                    heartbeats_per_s=count / elapsed,
                    errors=snapshot.error_count - errors,
                    late=snapshot.late - late,
                    p50_ms=snapshot.p50_ms or 0.0,
                    p99_ms=snapshot.p99_ms or 0.0,
                    server_cpu=server_cpu / elapsed,
                    server_us_per_heartbeat=server_cpu / count * 1e6,
                    simulator_cpu=self_cpu / elapsed,
                    simulator_us_per_heartbeat=self_cpu / count * 1e6,
                    subscriber_bytes_per_s=(subscriber.bytes - received) / elapsed,
                    mean_model_frame=statistics.fmean(frames) if frames else 0.0,
                )
            )
    finally:
        await subscriber.stop()
        stop.set()
        await task
    return results, settled


@dataclass(frozen=True)
class Run:
    """One server and simulator run at a node count."""

    nodes: int
    results: list[Round]
    settled: tuple[float, float]
    server_rss: float
    simulator_rss: float
    simulator_peak: float
    hub_bytes: int
    connections: int

    def median(self, field: str) -> float:
        return statistics.median(getattr(r, field) for r in self.results)


def report(arguments: argparse.Namespace, baseline: Run, full: Run, pinning: str, load: tuple[float, ...]) -> str:
    """The table (baseline and full run side by side), the per-round figures and the goals."""
    expected = full.nodes / arguments.interval
    rate = full.median("heartbeats_per_s")
    errors, late = sum(r.errors for r in full.results), sum(r.late for r in full.results)
    header = [
        "nodes",
        "heartbeats/s",
        "p50",
        "p99",
        "server CPU",
        "server CPU/heartbeat",
        "server RSS",
        "hub GET",
        "models subscriber",
        "mean ModelStatusChanged",
    ]
    rows = [header] + [
        [
            str(run.nodes),
            f"{run.median('heartbeats_per_s'):.1f}",
            f"{run.median('p50_ms'):.2f} ms",
            f"{run.median('p99_ms'):.2f} ms",
            f"{run.median('server_cpu'):.1%}",
            f"{run.median('server_us_per_heartbeat'):.0f} us",
            f"{run.server_rss:.0f} MiB",
            f"{run.hub_bytes / 1000:.1f} KB",
            f"{run.median('subscriber_bytes_per_s') / 1000:.2f} KB/s",
            f"{run.median('mean_model_frame'):.0f} B",
        ]
        for run in (baseline, full)
    ]
    frame, base_frame = full.median("mean_model_frame"), baseline.median("mean_model_frame")
    keeps = abs(rate - expected) <= RATE_TOLERANCE * expected and errors == 0 and late == 0
    same_frame = base_frame > 0 and abs(frame - base_frame) <= FRAME_TOLERANCE * base_frame
    received = full.median("subscriber_bytes_per_s")

    def verdict(ok: bool) -> str:
        return "PASS" if ok else "FAIL"

    lines = [
        f"simulator scale benchmark ({full.nodes} nodes, baseline {baseline.nodes}; 1 heartbeat / "
        f"{arguments.interval:g} s; {arguments.models} models registered, every node downloading each at "
        f"{arguments.speed:,.0f} B/s; {arguments.rounds} rounds x {arguments.duration:g} s, median (baseline: "
        f"1 round); {pinning}; python {platform.python_version()})",
        f"command: {shlex.join([os.path.relpath(sys.executable, ROOT), *sys.argv])}",
        f"load average before the run (1/5/15 min): {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}",
        f"start-up ({full.nodes} nodes): every node registered after {full.settled[0]:.1f} s, every node online "
        f"after {full.settled[1]:.1f} s; {full.connections} pooled connections",
        *table(rows),
        f"simulator ({full.nodes} nodes): CPU {full.median('simulator_cpu'):.1%}, "
        f"{full.median('simulator_us_per_heartbeat'):.0f} us/heartbeat, RSS {full.simulator_rss:.0f} MiB "
        f"(peak {full.simulator_peak:.0f} MiB)",
        "per round (heartbeats/s, server CPU, p99 ms, subscriber KB/s): "
        + ", ".join(
            f"{r.heartbeats_per_s:.0f} ({r.server_cpu:.0%}, {r.p99_ms:.1f}, {r.subscriber_bytes_per_s / 1000:.1f})"
            for r in full.results
        ),
        "goals:",
        f"  {full.nodes} nodes on one process keep their schedule: {verdict(keeps)} "
        f"({rate:.1f} of {expected:.1f} heartbeats/s, {errors} errors, {late} slots missed)",
        f"  server RSS <= {MAX_RSS_MIB:.0f} MiB: {verdict(full.server_rss <= MAX_RSS_MIB)} ({full.server_rss:.0f} MiB)",
        f"  mean ModelStatusChanged <= {MAX_FRAME_BYTES} B: {verdict(0 < frame <= MAX_FRAME_BYTES)} ({frame:.0f} B)",
        f"  ModelStatusChanged independent of the node count (within {FRAME_TOLERANCE:.0%}): {verdict(same_frame)} "
        f"({base_frame:.0f} B at {baseline.nodes} nodes, {frame:.0f} B at {full.nodes})",
        f"  one models subscriber <= {MAX_SUBSCRIBER_BYTES_PER_S / 1000:.0f} KB/s: "
        f"{verdict(received <= MAX_SUBSCRIBER_BYTES_PER_S)} ({received / 1000:.2f} KB/s)",
        f"  hub GET <= {MAX_HUB_BYTES / 1000:.0f} KB: {verdict(full.hub_bytes <= MAX_HUB_BYTES)} "
        f"({full.hub_bytes / 1000:.1f} KB)",
    ]
    return "\n".join(lines)


def run(arguments: argparse.Namespace, nodes: int, rounds: int, server_cpu: int | None) -> Run:
    """Start a server, register the models, run ``nodes`` simulated nodes for ``rounds`` rounds."""
    with (
        tempfile.TemporaryDirectory(prefix="simulator-scale-bench-") as temporary,
        running_server(Path(temporary), server_cpu) as (base, process),
    ):
        for model in sorted(CATALOG, key=lambda model: model.size_bytes)[: arguments.models]:
            response = httpx.post(f"{base}/v0/models/register", json={"model_id": model.id}, headers=ADMIN)
            if response.status_code != 201:
                raise SystemExit(f"registering {model.id}: {response.status_code} {response.text}")
        config = SimulatorConfig(
            server=base,
            token=NODE_TOKEN,
            nodes=nodes,
            heartbeat_interval=arguments.interval,
            speed_bytes_per_s=arguments.speed,
            seed=1,
            concurrency=arguments.concurrency,
        )
        simulator = Simulator(config)
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            results, settled = runner.run(
                measure(simulator, base, process.pid, rounds, arguments.duration, arguments.warmup)
            )
        hub = httpx.get(f"{base}/v0/models/hub", headers=ADMIN)
        memory = (memory_mib(process.pid), memory_mib("self"), memory_mib("self", "VmHWM"))
        if process.poll() is not None:
            raise SystemExit("the server died during the run")
    return Run(nodes, results, settled, *memory, len(hub.content), config.connections)


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run the baseline and the full run, print the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--nodes", type=int, default=1000, help="simulated nodes (default 1000)")
    parser.add_argument("--baseline-nodes", type=int, default=100, help="nodes of the baseline run (default 100)")
    parser.add_argument("--interval", type=float, default=2.0, help="seconds between a node's heartbeats (default 2)")
    parser.add_argument("--models", type=int, default=10, help="catalog models registered, smallest first (default 10)")
    parser.add_argument(
        "--speed", type=float, default=100_000.0, help="bytes/s per node and model (default 100 kB/s: all downloading)"
    )
    parser.add_argument("--concurrency", type=int, help="the simulator's connections (default: its own rule)")
    parser.add_argument("--no-pin", action="store_true", help="let the OS place the server and the simulator")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds; medians are reported")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per round")
    parser.add_argument("--warmup", type=float, default=4.0, help="seconds after every node is online, not timed")
    arguments = parser.parse_args(argv)
    if (
        min(arguments.nodes, arguments.baseline_nodes, arguments.rounds) < 1
        or min(arguments.interval, arguments.duration) <= 0
    ):
        parser.error("--nodes, --baseline-nodes, --rounds, --interval and --duration must be positive")
    if not 0 <= arguments.models <= len(CATALOG) or arguments.warmup < 0 or arguments.speed <= 0:
        parser.error(f"--models must be 0..{len(CATALOG)}, --warmup not negative and --speed positive")

    cpus = sorted(os.sched_getaffinity(0))
    server_cpu: int | None = None
    if arguments.no_pin:
        pinning = f"not pinned (--no-pin; {len(cpus)} cpus)"
    elif len(cpus) >= 2:
        server_cpu = cpus[0]
        os.sched_setaffinity(0, {cpus[1]})
        pinning = f"server on cpu {cpus[0]}, simulator on cpu {cpus[1]}"
    else:
        pinning = f"not pinned ({len(cpus)} cpu)"

    load = os.getloadavg()
    baseline = run(arguments, arguments.baseline_nodes, 1, server_cpu)
    full = run(arguments, arguments.nodes, arguments.rounds, server_cpu)
    print(report(arguments, baseline, full, pinning, load), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
