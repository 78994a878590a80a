"""Benchmark the server's CPU with 1,000 simulated nodes heartbeating every 2 s, all simulated by one process.

The script starts ``modelhub serve`` itself (``python -m runtime serve``: uvicorn with uvloop and
httptools, as in production) on a temporary SQLite file, with nodes auto-approved and the default
offline timeout, registers the ``--models`` smallest catalog models, and runs ``--nodes`` simulated
nodes in this process (``runtime.simulator``: one asyncio loop on uvloop, one shared httpx client).
Each node registers, fetches the models at the default speed (200 MB/s per node and model), and
then heartbeats every ``--interval`` seconds with one ``ready`` report per model and random metrics.

It measures, once every node has registered, has answered a heartbeat and reports every model ready,
after ``--warmup`` more seconds:

* heartbeats/s that reached the server, errors (any non-2xx answer or transport error), slots the
  nodes missed because a heartbeat took longer than the interval, and heartbeat latency p50/p99 as
  the simulator sees it;
* the server's CPU (user + system, every thread, from ``/proc/<pid>/stat``) as a share of one core
  and per heartbeat, and its resident memory (``/proc/<pid>/status``);
* the simulator's own CPU (``/proc/self/stat``) and resident memory (``/proc/self/status``; VmHWM is
  the peak), i.e. the cost of simulating the nodes.

Every figure is the median of ``--rounds`` rounds of ``--duration`` seconds. The time to register
every node and to get every node ``online`` is reported too. On a machine with two or more CPUs the
server is pinned to the first and this script to the second, so they do not compete for a core.

Goal from the issue: 1,000 simulated nodes run on one process — the nodes keep their schedule
(heartbeats/s within 2 % of nodes / interval, no slot missed) without errors.

Run from the repository root::

    .venv/bin/python bench/simulator_scale.py [--nodes 1000] [--interval 2] [--models 3]
        [--concurrency N] [--no-pin] [--rounds 3] [--duration 10] [--warmup 4]
"""

from __future__ import annotations

import argparse
import asyncio
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
    from collections.abc import Iterator, Sequence

ADMIN_TOKEN = "bench-admin-token"
NODE_TOKEN = "bench-node-token"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
#: Goal: the nodes keep their schedule.
RATE_TOLERANCE = 0.02
#: Longest wait for every node to be registered and online.
SETTLE_TIMEOUT = 120.0


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


async def measure(
    simulator: Simulator, server_pid: int, rounds: int, duration: float, warmup: float
) -> tuple[list[Round], tuple[float, float]]:
    """Run the simulator, wait for it to settle, then time the rounds."""
    stop = asyncio.Event()
    task = asyncio.create_task(simulator.run(stop))
    results = []
    try:
        settled = await settle(simulator, len(simulator.nodes))
        await asyncio.sleep(warmup)
        for _ in range(rounds):
            stats = simulator.stats
            simulator.stats.snapshot(simulator.nodes)  # the next snapshot's rate and percentiles start here
            sent, errors, late = stats.heartbeats_sent, sum(stats.errors.values()), stats.late
            server_before, self_before, started = cpu_seconds(server_pid), cpu_seconds("self"), time.monotonic()
            await asyncio.sleep(duration)
            elapsed = time.monotonic() - started
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
                )
            )
    finally:
        stop.set()
        await task
    return results, settled


def report(
    arguments: argparse.Namespace,
    results: Sequence[Round],
    settled: tuple[float, float],
    memory: tuple[float, float, float],
    pinning: str,
    load: tuple[float, float, float],
    connections: int,
) -> str:
    median = statistics.median
    expected = arguments.nodes / arguments.interval
    rate = median([r.heartbeats_per_s for r in results])
    errors, late = sum(r.errors for r in results), sum(r.late for r in results)
    server_rss, simulator_rss, simulator_peak = memory
    rows = [
        [
            "heartbeats/s",
            "p50",
            "p99",
            "server CPU",
            "server CPU/heartbeat",
            "simulator CPU",
            "simulator CPU/heartbeat",
        ],
        [
            f"{rate:.1f}",
            f"{median([r.p50_ms for r in results]):.2f} ms",
            f"{median([r.p99_ms for r in results]):.2f} ms",
            f"{median([r.server_cpu for r in results]):.1%}",
            f"{median([r.server_us_per_heartbeat for r in results]):.0f} us",
            f"{median([r.simulator_cpu for r in results]):.1%}",
            f"{median([r.simulator_us_per_heartbeat for r in results]):.0f} us",
        ],
    ]
    keeps = abs(rate - expected) <= RATE_TOLERANCE * expected and errors == 0 and late == 0
    lines = [
        f"simulator scale benchmark ({arguments.nodes} nodes x 1 heartbeat / {arguments.interval:g} s, "
        f"{arguments.models} models registered; {arguments.rounds} rounds x {arguments.duration:g} s, median; "
        f"{pinning}; python {platform.python_version()})",
        f"command: {shlex.join([os.path.relpath(sys.executable, ROOT), *sys.argv])}",
        f"load average before the run (1/5/15 min): {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}",
        f"start-up: every node registered after {settled[0]:.1f} s, every node online after {settled[1]:.1f} s; "
        f"{connections} pooled connections",
        *table(rows),
        f"memory: server RSS {server_rss:.0f} MiB; simulator RSS {simulator_rss:.0f} MiB "
        f"(peak {simulator_peak:.0f} MiB)",
        "per round (heartbeats/s, server CPU, simulator CPU, p99 ms): "
        + ", ".join(
            f"{r.heartbeats_per_s:.0f} ({r.server_cpu:.0%}, {r.simulator_cpu:.0%}, {r.p99_ms:.1f})" for r in results
        ),
        "goals:",
        f"  {arguments.nodes} nodes on one process keep their schedule: {'PASS' if keeps else 'FAIL'} "
        f"({rate:.1f} of {expected:.1f} heartbeats/s, {errors} errors, {late} slots missed)",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, start the server, run the simulator, print the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--nodes", type=int, default=1000, help="simulated nodes (default 1000)")
    parser.add_argument("--interval", type=float, default=2.0, help="seconds between a node's heartbeats (default 2)")
    parser.add_argument("--models", type=int, default=3, help="catalog models registered, smallest first (default 3)")
    parser.add_argument("--concurrency", type=int, help="the simulator's connections (default: its own rule)")
    parser.add_argument("--no-pin", action="store_true", help="let the OS place the server and the simulator")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds; medians are reported")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per round")
    parser.add_argument("--warmup", type=float, default=4.0, help="seconds after every node is online, not timed")
    arguments = parser.parse_args(argv)
    if min(arguments.nodes, arguments.rounds) < 1 or min(arguments.interval, arguments.duration) <= 0:
        parser.error("--nodes, --rounds, --interval and --duration must be positive")
    if not 0 <= arguments.models <= len(CATALOG) or arguments.warmup < 0:
        parser.error(f"--models must be 0..{len(CATALOG)} and --warmup not negative")

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

    with tempfile.TemporaryDirectory(prefix="simulator-scale-bench-") as temporary:
        load = os.getloadavg()
        with running_server(Path(temporary), server_cpu) as (base, process):
            for model in sorted(CATALOG, key=lambda model: model.size_bytes)[: arguments.models]:
                response = httpx.post(f"{base}/v0/models/register", json={"model_id": model.id}, headers=ADMIN)
                if response.status_code != 201:
                    raise SystemExit(f"registering {model.id}: {response.status_code} {response.text}")
            config = SimulatorConfig(
                server=base,
                token=NODE_TOKEN,
                nodes=arguments.nodes,
                heartbeat_interval=arguments.interval,
                seed=1,
                concurrency=arguments.concurrency,
            )
            simulator = Simulator(config)
            with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                results, settled = runner.run(
                    measure(simulator, process.pid, arguments.rounds, arguments.duration, arguments.warmup)
                )
            memory = (memory_mib(process.pid), memory_mib("self"), memory_mib("self", "VmHWM"))
            if process.poll() is not None:
                raise SystemExit("the server died during the run")
    print(report(arguments, results, settled, memory, pinning, load, config.connections), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
