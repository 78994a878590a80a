"""Benchmark WebSocket fan-out: 1,000 subscribed dashboards, and how soon each sees a status change.

The script starts ``modelhub serve`` itself (``python -m runtime serve``: uvicorn with uvloop and
httptools, as in production) on a temporary SQLite file, registers one model (``qwen3-0.6b``) and one
node (``bench-1``, auto-approved; nodes never go offline during the run), and connects ``--clients``
WebSocket clients to ``/ws?token=<read token>``, split over ``--workers`` client processes (this
script again, with a hidden flag: ``websockets`` on uvloop, no compression, no client pings). Each
client subscribes to ``models``, waits for its snapshot, and then notes, for every
``ModelStatusChanged`` frame, the ``CLOCK_MONOTONIC`` time it came out of ``recv()`` (the clock is
system-wide, so the processes compare). Every change is a heartbeat of ``bench-1`` that flips the
model between ``downloading`` and ``failed`` (so the model's status changes and the event is
published at once, never coalesced as progress) with ``bytes_done`` one higher than the last, which
names the event: the clients read it out of the frame.

Phases, in one run against one server:

* latency: ``--changes`` heartbeats (after 5 untimed ones), one every ``--spacing`` seconds; for
  each, the time from just before the POST until the *last* of the clients has the frame (and the
  first, and every single delivery). Every client must get every event, in order: a missing frame is
  a failure.
* 10 s polling, the comparison: ``--clients`` dashboards polling ``GET /v0/models/hub`` every
  ``--poll-interval`` seconds, each with a random phase, for the very same change times (simulated:
  a change is seen at the client's next poll plus one hub GET). The hub GET itself is measured for
  real (``--hub-gets`` sequential requests with the clients connected: latency, bytes on the wire,
  server CPU per request), which gives the pollers' request rate, bytes and server CPU.
* throughput: ``--rounds`` rounds of ``--duration`` seconds in which one sequential poster sends
  such heartbeats as fast as the server answers (or ``--rate`` per second); deliveries/s is the
  frames every client received divided by the time from the first POST until the last client had
  the round's last frame. ``ResyncRequired`` frames (a client's queue on the server overflowed and
  its backlog was dropped) and frames never received are counted.

Where the tail comes from: a sitecustomize.py put on the server's PYTHONPATH (``--no-gc-watch``
leaves it out) logs every garbage collection of the server that takes 5 ms or more; the server's
run-queue wait (``/proc/<pid>/task/*/schedstat``: time it was runnable but another process had its
CPU) is sampled at every change; and each client process watches its own event loop for stalls of
40 ms or more. Each change over the goal is attributed to a server collection and/or machine noise
(run-queue wait >= 10 ms or a client stall during it), and the p99 without the noisy changes is
printed next to the raw one (the goal is judged on the raw one). ``--raw FILE`` writes the figures
of every change as JSON.

Also reported: the server's CPU (user + system, every thread, ``/proc/<pid>/stat``) as a share of
one core, its resident memory (``/proc/<pid>/status``: VmRSS before the clients connect, with every
client idle, after the run, and VmHWM, the peak), the client processes' CPU (if they use all of
their core, the clients, not the server, are the limit), and any warning or error in the server's
log. On a machine with two or more CPUs the server is pinned to the first and this script with its
client processes to the second.

Goals from the issue: with 1,000 subscribed clients on loopback, a status change reaches all of
them with p99 <= 100 ms; >= 20,000 frame deliveries/s per server process; every client gets every
event.

Run from the repository root::

    .venv/bin/python bench/ws_fanout.py [--clients 1000] [--workers 2] [--changes 100]
        [--spacing 0.15] [--rounds 3] [--duration 8] [--rate 0] [--poll-interval 10] [--hub-gets 50]
        [--no-pin] [--no-gc-watch] [--raw FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import itertools
import json
import math
import os
import platform
import random
import resource
import shlex
import signal
import statistics
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import uvloop

#: The repository root: the server runs from here.
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from _measure import cpu_seconds, memory_mib, table, tail, verdict  # noqa: E402
from _measure import running_server as serving  # noqa: E402

if TYPE_CHECKING:
    import subprocess
    from collections.abc import Iterator, Sequence

ADMIN_TOKEN = "bench-admin-token"
NODE_TOKEN = "bench-node-token"
READ_TOKEN = "bench-read-token"
MODEL = "qwen3-0.6b"
NODE = "bench-1"
#: bytes_total of every report: bytes_done (the event's name) only grows, and stays below it.
BYTES_TOTAL = 10**15
#: Untimed changes before the latency phase.
WARMUP_CHANGES = 5
#: Goals from the issue.
GOAL_P99_MS = 100.0
GOAL_DELIVERIES = 20_000.0
#: Time limits.
START_TIMEOUT = 60.0
CONNECT_TIMEOUT = 180.0
DRAIN_TIMEOUT = 60.0
REPLY_TIMEOUT = 120.0
#: Frame prefixes the clients look for (the server writes ``type`` first).
MODEL_EVENT = '{"type":"ModelStatusChanged"'
BYTES_DONE = '"bytes_done":'
#: A client process's event loop is watched every TICK_NS; waking STALL_NS late or more is a stall.
TICK_NS = 5_000_000
STALL_NS = 40_000_000
#: Server garbage collections this long or longer are logged (``--no-gc-watch`` turns the watch off).
GC_PAUSE_NS = 5_000_000
#: The server's sitecustomize.py: logs "<start> <wall time> <CPU time of its thread> <generation>" (ns) of each
#: long collection; the wall time includes any time another process had the CPU, the CPU time does not.
GC_WATCH = f"""\
import gc, os, time
_log = open(os.environ["WS_FANOUT_GC_LOG"], "a", buffering=1)
_started = [0, 0]
def _watch(phase, info):
    if phase == "start":
        _started[:] = time.monotonic_ns(), time.thread_time_ns()
    elif time.monotonic_ns() - _started[0] >= {GC_PAUSE_NS}:
        wall, cpu = time.monotonic_ns() - _started[0], time.thread_time_ns() - _started[1]
        _log.write(f"{{_started[0]}} {{wall}} {{cpu}} {{info['generation']}}\\n")
gc.callbacks.append(_watch)
"""
#: A change is contended when the server waited this long (ms) for its CPU meanwhile.
SERVER_WAIT_MS = 10.0


def schedstat_ms(pid: int, field: int) -> float:
    """A figure of ``/proc/<pid>/task/*/schedstat`` summed over every thread, in ms (nanosecond resolution).

    Field 0 is the time on a CPU; field 1 the time runnable but waiting for one (for the server, alone on
    its CPU, the time other processes of the machine took from it).
    """
    total_ns = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total_ns += int((task / "schedstat").read_text(encoding="ascii").split()[field])
        except (OSError, IndexError, ValueError):
            continue  # the thread ended, or no schedstat in this kernel
    return total_ns / 1e6


def run_queue_ms(pid: int) -> float:
    return schedstat_ms(pid, 1)


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile: the smallest value at least ``fraction`` of the values do not exceed."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def raise_open_files(needed: int) -> None:
    """Raise the soft limit on open files to the hard one; fail clearly if that is still too low."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, needed)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    if target < needed:
        raise SystemExit(f"need {needed} open files, the hard limit is {hard} (ulimit -Hn)")


def heartbeat_body(key: int) -> bytes:
    """The heartbeat of change ``key``: odd keys downloading, even ones failed; bytes_done is the key."""
    report: dict[str, Any] = {"model_id": MODEL, "bytes_done": key, "bytes_total": BYTES_TOTAL}
    report["state"] = "downloading" if key % 2 else "failed"
    if not key % 2:
        report["error"] = "bench"
    return json.dumps({"metrics": {}, "models": [report]}).encode()


# --------------------------------------------------------------------------- client worker process


class Client:
    """One WebSocket client's tally."""

    __slots__ = (
        "closed",
        "disorder",
        "error_frames",
        "event_bytes",
        "events",
        "heartbeats",
        "last_key",
        "last_ns",
        "resyncs",
    )

    def __init__(self) -> None:
        self.last_key = 0
        self.last_ns = 0
        self.events = 0
        self.event_bytes = 0
        self.resyncs = 0
        self.heartbeats = 0
        self.disorder = 0
        self.error_frames: list[str] = []
        self.closed: str | None = None


async def run_client(
    url: str, client: Client, times: dict[int, int], record_upto: int, gate: asyncio.Semaphore, ready: list[int]
) -> None:
    """Connect, subscribe to ``models``, then tally every frame until the connection closes."""
    from websockets.asyncio.client import connect

    monotonic_ns = time.monotonic_ns
    try:
        async with gate:
            socket = await connect(
                url,
                compression=None,
                proxy=None,
                ping_interval=None,
                open_timeout=60,
                close_timeout=2,
                max_queue=4096,
            )
            await socket.send('{"op":"subscribe","topics":["models"]}')
            while True:
                frame = await asyncio.wait_for(socket.recv(), 60)
                if isinstance(frame, str) and frame.startswith('{"type":"Snapshot"'):
                    break
        ready[0] += 1
        async for frame in socket:
            now = monotonic_ns()
            if not isinstance(frame, str):
                client.error_frames.append(f"binary frame of {len(frame)} bytes")
            elif frame.startswith(MODEL_EVENT):
                start = frame.index(BYTES_DONE) + len(BYTES_DONE)
                key = int(frame[start : frame.index(",", start)])
                client.events += 1
                client.event_bytes += len(frame)
                client.last_ns = now
                if key <= client.last_key:
                    client.disorder += 1
                else:
                    client.last_key = key
                if key <= record_upto:
                    times[key] = now
            elif frame == '{"type":"Heartbeat"}':
                client.heartbeats += 1
            elif frame.startswith('{"type":"ResyncRequired"'):
                client.resyncs += 1
            elif not frame.startswith(('{"type":"Snapshot"', '{"type":"Subscribed"')):
                client.error_frames.append(frame[:300])
        client.closed = f"closed by the server: {socket.close_code} {socket.close_reason!r}"
    except Exception as error:
        client.closed = f"{type(error).__name__}: {error}"


def worker_stats(clients: Sequence[Client], key: int) -> dict[str, Any]:
    errors = [frame for client in clients for frame in client.error_frames]
    closed = [client.closed for client in clients if client.closed]
    return {
        "reached": sum(client.last_key >= key for client in clients),
        "events": sum(client.events for client in clients),
        "event_bytes": sum(client.event_bytes for client in clients),
        "resyncs": sum(client.resyncs for client in clients),
        "heartbeats": sum(client.heartbeats for client in clients),
        "disorder": sum(client.disorder for client in clients),
        "last_ns": max(client.last_ns for client in clients),
        "errors": len(errors),
        "error_sample": errors[:3],
        "closed": len(closed),
        "closed_sample": closed[:3],
        "cpu": cpu_seconds(os.getpid()),
        "rss": memory_mib("self"),
    }


async def worker(url: str, count: int, record_upto: int) -> None:
    """Run ``count`` clients; answer the parent's commands (one JSON line each on stdin) on stdout."""
    raise_open_files(count + 64)
    clients = [Client() for _ in range(count)]
    times: list[dict[int, int]] = [{} for _ in range(count)]
    ready = [0]
    gate = asyncio.Semaphore(32)
    started = time.monotonic()
    tasks = [
        asyncio.create_task(run_client(url, client, log, record_upto, gate, ready))
        for client, log in zip(clients, times, strict=True)
    ]
    loop = asyncio.get_running_loop()
    commands = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(commands), sys.stdin)

    def reply(message: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(message, separators=(",", ":")) + "\n")
        sys.stdout.flush()

    while ready[0] < count and not any(client.closed for client in clients):
        await asyncio.sleep(0.02)
    gc.collect()
    gc.freeze()  # the connections live for the whole run: later collections need not walk them
    stalls: list[tuple[int, int]] = []
    monitor = asyncio.create_task(watch_loop(stalls))
    reply({"connected": ready[0], "seconds": time.monotonic() - started, **worker_stats(clients, 0)})
    while line := await commands.readline():
        command = json.loads(line)
        if command["cmd"] == "wait":  # until every client has the event named ``key``, or the timeout
            deadline = time.monotonic() + command["timeout"]
            key = command["key"]
            while time.monotonic() < deadline and any(
                client.last_key < key and not client.closed for client in clients
            ):
                await asyncio.sleep(0.005)
            reply(worker_stats(clients, key))
        elif command["cmd"] == "times":  # every client's receive time of each event in [lo, hi]
            keys = range(command["lo"], command["hi"] + 1)
            reply(
                {
                    "times": {key: [log[key] for log in times if key in log] for key in keys},
                    "incomplete": sum(any(key not in log for key in keys) for log in times),
                    "stalls": stalls,
                }
            )
        elif command["cmd"] == "quit":
            break
    for task in [*tasks, monitor]:
        task.cancel()
    await asyncio.gather(*tasks, monitor, return_exceptions=True)


async def watch_loop(stalls: list[tuple[int, int]]) -> None:
    """Note each time this process's event loop woke ``STALL_NS`` or more late: (when it should have, how late)."""
    while True:
        due = time.monotonic_ns() + TICK_NS
        await asyncio.sleep(TICK_NS / 1e9)
        late = time.monotonic_ns() - due
        if late >= STALL_NS:
            stalls.append((due, late))


# --------------------------------------------------------------------------- the server


@contextmanager
def running_server(
    scratch: Path, cpu: int | None, gc_log: Path | None
) -> Iterator[tuple[str, subprocess.Popen[bytes], Path]]:
    """``python -m runtime serve`` on a free port, pinned to ``cpu`` before it starts any thread.

    With ``gc_log``, a sitecustomize.py on the server's PYTHONPATH logs its long garbage collections there.
    """
    env = {
        "MODELHUB_ADMIN_TOKEN": ADMIN_TOKEN,
        "MODELHUB_NODE_TOKEN": NODE_TOKEN,
        "MODELHUB_READ_TOKEN": READ_TOKEN,
        "MODELHUB_AUTO_APPROVE_NODES": "true",
        "MODELHUB_NODE_OFFLINE_AFTER": "86400",
    }
    if gc_log is not None:
        site = scratch / "gc-watch"
        site.mkdir()
        (site / "sitecustomize.py").write_text(GC_WATCH, encoding="utf-8")
        gc_log.touch()
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))
        env["WS_FANOUT_GC_LOG"] = str(gc_log)
    with serving(scratch, env, cpu, START_TIMEOUT) as running:
        yield running


def gc_pauses(gc_log: Path | None) -> list[tuple[int, int, int, int]]:
    """The server's logged collections: start (monotonic), wall time and CPU time in ns, and the generation."""
    if gc_log is None:
        return []
    pauses = []
    for line in gc_log.read_text(encoding="ascii").splitlines():
        start, wall, cpu, generation = (int(field) for field in line.split())
        pauses.append((start, wall, cpu, generation))
    return pauses


def log_problems(path: Path) -> list[str]:
    """Lines of the server log that report a warning, an error or a traceback."""
    markers = (" WARNING ", " ERROR ", " CRITICAL ", "Traceback", "Exception", "ERROR:", "WARNING:")
    return [line for line in path.read_text(errors="replace").splitlines() if any(m in line for m in markers)]


# --------------------------------------------------------------------------- the parent


class Workers:
    """The client processes and the line protocol with them."""

    def __init__(self, processes: list[asyncio.subprocess.Process]) -> None:
        self.processes = processes

    @classmethod
    async def start(cls, url: str, clients: int, workers: int, record_upto: int) -> Workers:
        shares = [clients // workers + (index < clients % workers) for index in range(workers)]
        processes = []
        for share in shares:
            processes.append(
                await asyncio.create_subprocess_exec(
                    sys.executable,
                    __file__,
                    "--worker",
                    "--url",
                    url,
                    "--clients",
                    str(share),
                    "--record-upto",
                    str(record_upto),
                    stdin=asyncio.subprocess.PIPE,
                    stdout=asyncio.subprocess.PIPE,
                    limit=1 << 28,
                )
            )
        return cls(processes)

    @property
    def pids(self) -> list[int]:
        return [process.pid for process in self.processes]

    async def read(self, timeout: float) -> list[dict[str, Any]]:
        async def one(process: asyncio.subprocess.Process) -> dict[str, Any]:
            assert process.stdout is not None
            line = await asyncio.wait_for(process.stdout.readline(), timeout)
            if not line:
                raise SystemExit(f"client process {process.pid} exited ({await process.wait()}); see its stderr above")
            return dict(json.loads(line))

        return list(await asyncio.gather(*(one(process) for process in self.processes)))

    async def ask(self, command: dict[str, Any], timeout: float = REPLY_TIMEOUT) -> list[dict[str, Any]]:
        for process in self.processes:
            assert process.stdin is not None
            process.stdin.write(json.dumps(command).encode() + b"\n")
            await process.stdin.drain()
        return await self.read(timeout)

    async def stop(self) -> None:
        for process in self.processes:
            if process.returncode is None and process.stdin is not None:
                try:
                    process.stdin.write(b'{"cmd":"quit"}\n')
                    await process.stdin.drain()
                except (BrokenPipeError, ConnectionResetError):
                    pass
        for process in self.processes:
            try:
                await asyncio.wait_for(process.wait(), 15)
            except TimeoutError:
                process.kill()
                await process.wait()


def total(replies: Sequence[dict[str, Any]], field: str) -> int:
    return sum(int(reply[field]) for reply in replies)


def check_clients(replies: Sequence[dict[str, Any]]) -> None:
    """Stop the run if a client's connection closed or it got a frame it should not have."""
    closed = total(replies, "closed")
    if closed:
        samples = [sample for reply in replies for sample in reply["closed_sample"]]
        raise SystemExit(f"FAIL: {closed} client connections closed during the run, e.g. {samples}")


@dataclass(frozen=True)
class Latency:
    """The latency phase."""

    change_times: list[float]
    """When each change was sent, seconds (monotonic)."""
    all_ms: list[float]
    """Per change: until the last client had it."""
    first_ms: list[float]
    each_ms: list[float]
    """Every delivery."""
    post_ms: list[float]
    """Round trip of each heartbeat POST."""
    missing: int
    incomplete_clients: int
    server_cpu: float
    """Share of one core during the phase."""
    frame_bytes: float
    client_stall_ms: float
    """The longest a client process's event loop was late (at least STALL_NS) during the phase."""
    client_stalled: list[bool]
    """Per change: whether a client process's event loop stalled before the last client had it."""
    server_waited_ms: list[float]
    """Per change: how long the server waited on the run queue from its POST until the next change's."""
    server_gc_ms: list[float]
    """Per change: the longest server garbage collection (>= GC_PAUSE_NS) before the last client had it."""


@dataclass(frozen=True)
class Round:
    """One throughput round."""

    posted_per_s: float
    deliveries_per_s: float
    missing: int
    resyncs: int
    server_cpu: float
    clients_cpu: float
    drained: bool


@dataclass(frozen=True)
class Hub:
    """The hub GET the pollers would make."""

    latency_ms: float
    body_bytes: int
    wire_bytes: int
    server_us: float


@dataclass
class Run:
    """Everything measured in one run."""

    connect_s: float = 0.0
    latency: Latency | None = None
    hub: Hub | None = None
    rounds: list[Round] | None = None
    rss_before: float = 0.0
    rss_idle: float = 0.0
    rss_after: float = 0.0
    rss_peak: float = 0.0
    clients_rss: float = 0.0
    heartbeats: int = 0
    disorder: int = 0
    error_frames: int = 0
    error_sample: list[str] | None = None


async def post_change(http: httpx.AsyncClient, key: int) -> None:
    response = await http.post(
        f"/v0/nodes/{NODE}/heartbeat",
        content=heartbeat_body(key),
        headers={"Authorization": f"Bearer {NODE_TOKEN}", "Content-Type": "application/json"},
    )
    if response.status_code != 200:
        raise SystemExit(f"heartbeat {key} answered {response.status_code}: {response.text[:500]}")


async def measure_hub(http: httpx.AsyncClient, server_pid: int, gets: int) -> Hub:
    headers = {"Authorization": f"Bearer {READ_TOKEN}"}
    latencies, wire = [], 0
    body = 0
    cpu_before = schedstat_ms(server_pid, 0)  # /proc/<pid>/stat counts 10 ms ticks: too coarse for a few GETs
    for _ in range(gets):
        started = time.monotonic()
        response = await http.get("/v0/models/hub", headers=headers)
        latencies.append((time.monotonic() - started) * 1e3)
        if response.status_code != 200:
            raise SystemExit(f"GET /v0/models/hub answered {response.status_code}: {response.text[:500]}")
        body, wire = len(response.content), response.num_bytes_downloaded
    server_us = (schedstat_ms(server_pid, 0) - cpu_before) / gets * 1e3
    return Hub(statistics.median(latencies), body, wire, server_us)


async def latency_phase(
    http: httpx.AsyncClient,
    workers: Workers,
    clients: int,
    server_pid: int,
    changes: int,
    spacing: float,
    gc_log: Path | None,
) -> Latency:
    for key in range(1, WARMUP_CHANGES + 1):
        await post_change(http, key)
        await asyncio.sleep(spacing)
    first, last = WARMUP_CHANGES + 1, WARMUP_CHANGES + changes
    sent: dict[int, int] = {}
    post_ms = []
    cpu_before, wall_before = cpu_seconds(server_pid), time.monotonic()
    start = time.monotonic()
    waits = [run_queue_ms(server_pid)]
    for index, key in enumerate(range(first, last + 1)):
        await asyncio.sleep(max(0.0, start + index * spacing - time.monotonic()))
        if index:
            waits.append(run_queue_ms(server_pid))
        sent[key] = time.monotonic_ns()
        await post_change(http, key)
        post_ms.append((time.monotonic_ns() - sent[key]) / 1e6)
    replies = await workers.ask({"cmd": "wait", "key": last, "timeout": DRAIN_TIMEOUT})
    waits.append(run_queue_ms(server_pid))
    cpu_after, wall_after = cpu_seconds(server_pid), time.monotonic()
    check_clients(replies)
    timed = await workers.ask({"cmd": "times", "lo": first, "hi": last})
    all_ms, first_ms, each_ms = [], [], []
    missing = 0
    for key in range(first, last + 1):
        received = [ns for reply in timed for ns in reply["times"][str(key)]]
        missing += clients - len(received)
        if received:
            delays = [(ns - sent[key]) / 1e6 for ns in received]
            all_ms.append(max(delays))
            first_ms.append(min(delays))
            each_ms.extend(delays)
        else:
            all_ms.append(math.inf)
            first_ms.append(math.inf)
    stalls = [(due, due + late) for reply in timed for due, late in reply["stalls"] if due >= sent[first]]
    client_stalled = [
        any(begin < sent[key] + delay * 1e6 and end > sent[key] for begin, end in stalls)
        for key, delay in zip(sent, all_ms, strict=True)
    ]
    server_waited = [after - before for before, after in itertools.pairwise(waits)]
    collections = [(start, start + wall) for start, wall, _, _ in gc_pauses(gc_log)]
    server_gc = [
        max(
            ((end - begin) / 1e6 for begin, end in collections if begin < sent[key] + delay * 1e6 and end > sent[key]),
            default=0.0,
        )
        for key, delay in zip(sent, all_ms, strict=True)
    ]
    server_cpu = (
        (cpu_after - cpu_before) / (wall_after - wall_before) if cpu_before is not None and cpu_after is not None else 0
    )
    frame_bytes = total(replies, "event_bytes") / max(1, total(replies, "events"))
    return Latency(
        change_times=[sent[key] / 1e9 for key in range(first, last + 1)],
        all_ms=all_ms,
        first_ms=first_ms,
        each_ms=each_ms,
        post_ms=post_ms,
        missing=missing,
        incomplete_clients=total(timed, "incomplete"),
        server_cpu=server_cpu,
        frame_bytes=frame_bytes,
        client_stall_ms=max(((end - begin) / 1e6 for begin, end in stalls), default=0.0),
        client_stalled=client_stalled,
        server_waited_ms=server_waited,
        server_gc_ms=server_gc,
    )


async def throughput_round(
    http: httpx.AsyncClient, workers: Workers, clients: int, server_pid: int, key: int, duration: float, rate: float
) -> tuple[Round, int]:
    """Post changes for ``duration`` seconds after ``key``; return the round and the last key posted."""
    before = await workers.ask({"cmd": "wait", "key": key, "timeout": DRAIN_TIMEOUT})
    server_before, clients_before = cpu_seconds(server_pid), sum(reply["cpu"] for reply in before)
    started_ns = time.monotonic_ns()
    started = time.monotonic()
    posted = 0
    while time.monotonic() - started < duration:
        if rate > 0:
            await asyncio.sleep(max(0.0, started + posted / rate - time.monotonic()))
        key += 1
        posted += 1
        await post_change(http, key)
    posting_s = time.monotonic() - started
    after = await workers.ask({"cmd": "wait", "key": key, "timeout": DRAIN_TIMEOUT})
    wall = time.monotonic() - started
    server_after = cpu_seconds(server_pid)
    check_clients(after)
    received = total(after, "events") - total(before, "events")
    elapsed = (max(reply["last_ns"] for reply in after) - started_ns) / 1e9
    server_cpu = (server_after - server_before) / wall if server_before is not None and server_after is not None else 0
    return (
        Round(
            posted_per_s=posted / posting_s,
            deliveries_per_s=received / elapsed,
            missing=posted * clients - received,
            resyncs=total(after, "resyncs") - total(before, "resyncs"),
            server_cpu=server_cpu,
            clients_cpu=(sum(reply["cpu"] for reply in after) - clients_before) / wall,
            drained=total(after, "reached") == clients,
        ),
        key,
    )


async def measure(arguments: argparse.Namespace, base: str, server_pid: int, gc_log: Path | None) -> Run:
    run = Run()
    clients = arguments.clients
    async with httpx.AsyncClient(base_url=base, timeout=30, trust_env=False) as http:
        response = await http.post(
            "/v0/models/register", json={"model_id": MODEL}, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
        )
        if response.status_code != 201:
            raise SystemExit(f"registering {MODEL}: {response.status_code} {response.text}")
        response = await http.post(
            "/v0/nodes",
            json={"runtime_id": NODE, "machine_name": "bench"},
            headers={"Authorization": f"Bearer {NODE_TOKEN}"},
        )
        if response.status_code not in (200, 201):
            raise SystemExit(f"registering node {NODE}: {response.status_code} {response.text}")
        run.rss_before = memory_mib(server_pid)

        url = base.replace("http://", "ws://") + f"/ws?token={READ_TOKEN}"
        workers = await Workers.start(url, clients, arguments.workers, WARMUP_CHANGES + arguments.changes)
        try:
            replies = await workers.read(CONNECT_TIMEOUT)
            check_clients(replies)
            if total(replies, "connected") != clients:
                raise SystemExit(f"only {total(replies, 'connected')} of {clients} clients connected")
            run.connect_s = max(reply["seconds"] for reply in replies)
            await asyncio.sleep(1.0)
            run.rss_idle = memory_mib(server_pid)
            run.hub = await measure_hub(http, server_pid, arguments.hub_gets)
            run.latency = await latency_phase(
                http, workers, clients, server_pid, arguments.changes, arguments.spacing, gc_log
            )
            key = WARMUP_CHANGES + arguments.changes
            run.rounds = []
            for _ in range(arguments.rounds):
                result, key = await throughput_round(
                    http, workers, clients, server_pid, key, arguments.duration, arguments.rate
                )
                run.rounds.append(result)
            run.rss_after = memory_mib(server_pid)
            run.rss_peak = memory_mib(server_pid, "VmHWM")
            final = await workers.ask({"cmd": "wait", "key": 0, "timeout": 0})
            run.clients_rss = sum(reply["rss"] for reply in final)
            run.heartbeats = total(final, "heartbeats")
            run.disorder = total(final, "disorder")
            run.error_frames = total(final, "errors")
            run.error_sample = [sample for reply in final for sample in reply["error_sample"]]
        finally:
            await workers.stop()
    return run


def simulate_polling(
    change_times: Sequence[float], clients: int, interval: float, get_ms: float
) -> tuple[list[float], list[float]]:
    """Pollers with random phases: per change the delay until the last one saw it, and every delay (ms)."""
    rng = random.Random(1)
    phases = [rng.uniform(0, interval) for _ in range(clients)]
    all_ms, each_ms = [], []
    for moment in change_times:
        delays = [((phase - moment) % interval) * 1e3 + get_ms for phase in phases]
        all_ms.append(max(delays))
        each_ms.extend(delays)
    return all_ms, each_ms


def report(
    arguments: argparse.Namespace,
    run: Run,
    pinning: str,
    load: tuple[float, float, float],
    problems: list[str],
    collections: list[tuple[int, int, int, int]],
) -> tuple[str, bool]:
    latency, hub, rounds = run.latency, run.hub, run.rounds
    assert latency is not None
    assert hub is not None
    assert rounds is not None
    median = statistics.median
    clients = arguments.clients
    poll_all, poll_each = simulate_polling(latency.change_times, clients, arguments.poll_interval, hub.latency_ms)

    def ms(value: float) -> str:
        return f"{value:,.1f} ms" if value < 1e4 else f"{value / 1e3:,.2f} s"

    def row(name: str, values: Sequence[float]) -> list[str]:
        return [name, ms(percentile(values, 0.5)), ms(percentile(values, 0.99)), ms(max(values))]

    latency_rows = [
        ["heartbeat POST -> frame at the client", "p50", "p99", "max"],
        row(f"websocket, last of {clients} clients", latency.all_ms),
        row("websocket, each delivery", latency.each_ms),
        row("websocket, first client", latency.first_ms),
        row(f"{arguments.poll_interval:g} s polling, last of {clients} (simulated)", poll_all),
        row(f"{arguments.poll_interval:g} s polling, each delivery (simulated)", poll_each),
        row("(heartbeat POST round trip)", latency.post_ms),
    ]
    noisy = [
        stalled or waited >= SERVER_WAIT_MS
        for stalled, waited in zip(latency.client_stalled, latency.server_waited_ms, strict=True)
    ]
    slow = [delay > GOAL_P99_MS for delay in latency.all_ms]
    slow_gc = sum(late and pause > 0 for late, pause in zip(slow, latency.server_gc_ms, strict=True))
    slow_noisy = sum(late and noise for late, noise in zip(slow, noisy, strict=True))
    quiet = [delay for delay, noise in zip(latency.all_ms, noisy, strict=True) if not noise]
    long_wall = max((wall for _, wall, _, _ in collections), default=0) / 1e6
    long_cpu = max((cpu for _, _, cpu, _ in collections), default=0) / 1e6
    gc_text = (
        "not watched (--no-gc-watch)"
        if arguments.no_gc_watch
        else f"{len(collections)} collections >= {GC_PAUSE_NS / 1e6:g} ms in the run "
        f"({sum(generation == 2 for *_, generation in collections)} of generation 2), longest {long_wall:.0f} ms "
        f"(most CPU in one: {long_cpu:.0f} ms)"
    )
    tails = [
        f"changes over {GOAL_P99_MS:g} ms: {sum(slow)}; {slow_gc} overlapped a server garbage collection "
        f">= {GC_PAUSE_NS / 1e6:g} ms, {slow_noisy} machine noise (the server waited >= {SERVER_WAIT_MS:g} ms "
        f"for its CPU, or a client process's loop stalled >= {STALL_NS / 1e6:g} ms)",
        f"server garbage collection: {gc_text}; server run-queue wait {sum(latency.server_waited_ms):.0f} ms "
        f"in the phase; longest client stall {latency.client_stall_ms:.0f} ms",
        f"without the changes hit by machine noise ({len(latency.all_ms) - len(quiet)}): last client "
        f"p50 {ms(percentile(quiet, 0.5))}, p99 {ms(percentile(quiet, 0.99))}"
        if quiet
        else "every change was hit by machine noise",
    ]
    span = latency.change_times[-1] - latency.change_times[0]
    change_rate = (len(latency.change_times) - 1) / span if span > 0 else 0.0
    ws_frames = change_rate * clients * 60
    polls = clients * 60 / arguments.poll_interval
    cost_rows = [
        ["per minute, same changes", "requests", "frames", "bytes", "server CPU"],
        [
            f"websocket ({change_rate:.1f} changes/s)",
            "0",
            f"{ws_frames:,.0f}",
            f"{ws_frames * (latency.frame_bytes + 4) / 1e6:,.1f} MB",
            f"{latency.server_cpu:.1%} of a core (measured)",
        ],
        [
            f"{arguments.poll_interval:g} s polling (any change rate)",
            f"{polls:,.0f}",
            "-",
            f"{polls * hub.wire_bytes / 1e6:,.1f} MB",
            f"{polls / 60 * hub.server_us / 1e6:.1%} of a core (est.)",
        ],
    ]
    throughput_rows = [
        [
            "round",
            "changes/s posted",
            "deliveries/s",
            "server CPU",
            "per delivery",
            "clients CPU",
            "per delivery",
            "ResyncRequired",
            "missing",
        ],
        *[
            [
                str(index + 1),
                f"{r.posted_per_s:,.0f}",
                f"{r.deliveries_per_s:,.0f}",
                f"{r.server_cpu:.0%}",
                f"{r.server_cpu / r.deliveries_per_s * 1e6:.1f} us",
                f"{r.clients_cpu:.0%}",
                f"{r.clients_cpu / r.deliveries_per_s * 1e6:.1f} us",
                str(r.resyncs),
                str(r.missing) + ("" if r.drained else " (not drained)"),
            ]
            for index, r in enumerate(rounds)
        ],
    ]
    deliveries = median([r.deliveries_per_s for r in rounds])
    per_delivery = median([r.server_cpu / r.deliveries_per_s * 1e6 for r in rounds])
    p99 = percentile(latency.all_ms, 0.99)
    resyncs = sum(r.resyncs for r in rounds)
    throughput_missing = sum(r.missing for r in rounds)
    complete = latency.missing == 0 and throughput_missing == 0 and run.disorder == 0 and run.error_frames == 0
    goals = [
        (p99 <= GOAL_P99_MS, f"status change reaches all {clients} clients, p99 <= {GOAL_P99_MS:g} ms: {ms(p99)}"),
        (
            deliveries >= GOAL_DELIVERIES,
            f">= {GOAL_DELIVERIES:,.0f} frame deliveries/s: {deliveries:,.0f} (median of {len(rounds)} rounds)",
        ),
        (
            complete,
            f"every client got every event, in order: {latency.missing} frames missing in the latency phase "
            f"({latency.incomplete_clients} clients incomplete), {throughput_missing} in the throughput rounds, "
            f"{run.disorder} out of order, {run.error_frames} unexpected frames",
        ),
    ]
    rate = "as fast as answered" if arguments.rate <= 0 else f"{arguments.rate:g}/s"
    lines = [
        f"WebSocket fan-out benchmark ({clients} clients subscribed to models in {arguments.workers} processes; "
        f"{pinning}; python {platform.python_version()})",
        f"command: {shlex.join([os.path.relpath(sys.executable, ROOT), *sys.argv])}",
        f"load average before the run (1/5/15 min): {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}",
        f"start-up: {clients} clients connected and had their snapshot after {run.connect_s:.1f} s",
        "",
        f"latency: {len(latency.all_ms)} status changes, one every {arguments.spacing * 1e3:g} ms "
        f"(after {WARMUP_CHANGES} untimed); polling simulated for the same change times, random phases, "
        f"plus one hub GET ({hub.latency_ms:.1f} ms measured)",
        *table(latency_rows),
        *tails,
        "",
        f"cost: a ModelStatusChanged frame is ~{latency.frame_bytes:.0f} bytes; a hub GET returns "
        f"{hub.body_bytes:,} bytes ({hub.wire_bytes:,} on the wire) and costs the server {hub.server_us:.0f} us CPU",
        *table(cost_rows),
        "",
        f"throughput: {len(rounds)} rounds x {arguments.duration:g} s, one sequential poster ({rate}); "
        "deliveries/s = frames received by all clients / (last frame at the last client - first POST)",
        *table(throughput_rows),
        f"median: {deliveries:,.0f} deliveries/s, server CPU {median([r.server_cpu for r in rounds]):.0%}, "
        f"clients CPU {median([r.clients_cpu for r in rounds]):.0%} (all {arguments.workers} client processes); "
        f"{resyncs} ResyncRequired, {throughput_missing} frames never received; at the median server CPU per "
        f"delivery ({per_delivery:.1f} us) one core would deliver {1e6 / per_delivery:,.0f} frames/s",
        "",
        f"memory: server VmRSS {run.rss_before:.0f} MiB before the clients, {run.rss_idle:.0f} MiB with {clients} "
        f"idle clients, {run.rss_after:.0f} MiB after the run; VmHWM (peak) {run.rss_peak:.0f} MiB; "
        f"client processes {run.clients_rss:.0f} MiB",
        f"server log: {len(problems)} warning/error lines; {run.heartbeats} Heartbeat frames received",
        *(f"  {line}" for line in problems[:10]),
        *(f"  unexpected frame: {frame}" for frame in (run.error_sample or [])),
        "goals:",
        *(f"  {verdict(ok)}: {text}" for ok, text in goals),
    ]
    return "\n".join(lines), all(ok for ok, _ in goals)


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, start the server and the clients, run the phases, print the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--clients", type=int, default=1000, help="WebSocket clients (default 1000)")
    parser.add_argument("--workers", type=int, default=2, help="client processes (default 2)")
    parser.add_argument("--changes", type=int, default=100, help="timed status changes in the latency phase")
    parser.add_argument("--spacing", type=float, default=0.15, help="seconds between them (default 0.15)")
    parser.add_argument("--rounds", type=int, default=3, help="throughput rounds; medians are reported")
    parser.add_argument("--duration", type=float, default=8.0, help="seconds of posting per throughput round")
    parser.add_argument("--rate", type=float, default=0.0, help="changes/s in the throughput rounds (0: flat out)")
    parser.add_argument("--poll-interval", type=float, default=10.0, help="the pollers' interval in seconds")
    parser.add_argument("--hub-gets", type=int, default=50, help="hub GETs timed for the polling comparison")
    parser.add_argument("--no-pin", action="store_true", help="let the OS place the server and the clients")
    parser.add_argument("--no-gc-watch", action="store_true", help="do not log the server's long garbage collections")
    parser.add_argument("--raw", type=Path, help="write each timed change's figures (ms) to this JSON file")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--record-upto", type=int, default=0, help=argparse.SUPPRESS)
    arguments = parser.parse_args(argv)
    if arguments.worker:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(worker(arguments.url, arguments.clients, arguments.record_upto))
        return 0
    if min(arguments.clients, arguments.workers, arguments.changes, arguments.rounds, arguments.hub_gets) < 1:
        parser.error("--clients, --workers, --changes, --rounds and --hub-gets must be positive")
    if min(arguments.spacing, arguments.duration, arguments.poll_interval) <= 0 or arguments.rate < 0:
        parser.error("--spacing, --duration and --poll-interval must be positive, --rate not negative")
    arguments.workers = min(arguments.workers, arguments.clients)
    raise_open_files(arguments.clients + 256)  # the server inherits the limit

    cpus = sorted(os.sched_getaffinity(0))
    server_cpu: int | None = None
    if arguments.no_pin:
        pinning = f"not pinned (--no-pin; {len(cpus)} cpus)"
    elif len(cpus) >= 2:
        server_cpu = cpus[0]
        os.sched_setaffinity(0, {cpus[1]})  # the client processes inherit it
        pinning = f"server on cpu {cpus[0]}, this script and the clients on cpu {cpus[1]}"
    else:
        pinning = f"not pinned ({len(cpus)} cpu)"

    with tempfile.TemporaryDirectory(prefix="ws-fanout-bench-") as temporary:
        load = os.getloadavg()
        gc_log = None if arguments.no_gc_watch else Path(temporary) / "gc.log"
        with running_server(Path(temporary), server_cpu, gc_log) as (base, process, log_path):
            try:
                with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                    run = runner.run(measure(arguments, base, process.pid, gc_log))
            except BaseException:
                print(f"server log ends:\n{tail(log_path)}", file=sys.stderr)
                raise
            if process.poll() is not None:
                raise SystemExit(f"the server died during the run; its log ends:\n{tail(log_path)}")
        problems = log_problems(log_path)  # after the server stopped: its shutdown counts too
        if process.returncode not in (0, -signal.SIGTERM):
            problems.append(f"the server exited with {process.returncode} on SIGTERM")
        collections = gc_pauses(gc_log)
    text, passed = report(arguments, run, pinning, load, problems, collections)
    if arguments.raw and run.latency:
        latency = run.latency
        start = latency.change_times[0]
        changes = [
            {
                "sent_s": round(moment - start, 4),
                "sent_monotonic_s": moment,
                "first_ms": first,
                "last_ms": last,
                "post_ms": post,
                "client_stall": stalled,
                "server_run_queue_ms": waited,
                "server_gc_ms": collection,
            }
            for moment, first, last, post, stalled, waited, collection in zip(
                latency.change_times,
                latency.first_ms,
                latency.all_ms,
                latency.post_ms,
                latency.client_stalled,
                latency.server_waited_ms,
                latency.server_gc_ms,
                strict=True,
            )
        ]
        server_gc = [
            {"start_s": round(begin / 1e9 - start, 4), "wall_ms": wall / 1e6, "cpu_ms": cpu / 1e6, "generation": gen}
            for begin, wall, cpu, gen in collections
        ]
        arguments.raw.write_text(json.dumps({"changes": changes, "server_gc": server_gc}, indent=1))
    print(text, flush=True)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
