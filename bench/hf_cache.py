"""Benchmark the Hugging Face stats cache: a cached lookup's cost, and the hub while the Hub hangs.

Two parts:

* Cached lookup, in this process: a ``StatsCache`` over a fake async fetch that answers at once,
  one key warmed by one fetch. Timed over ``--lookups`` calls each, median of ``--repeat`` runs, in
  nanoseconds per call (the loop's own overhead included): ``cache.peek(key)`` on a fresh value;
  ``await cache.get(key)``, a fresh hit (the cache's hit counter and its single upstream call are
  checked afterwards); ``cache.peek(key)`` on a value that is only last-good (what serving stale
  while the Hub fails costs); and ``HfStatsService.info(key)``, which builds the ``HfInfo`` the hub
  encodes.
* Hub p99 with a healthy and with a hanging fake Hub, in the same run. The fake Hub
  (``runtime.fakehub.run``) and the runtime (``create_app`` under ``uvicorn.run`` with uvloop and
  httptools, as ``modelhub serve`` runs it, on a temporary SQLite file, no model registered) run as
  two subprocesses. The runtime talks to the fake Hub (``HF_HUB_OFFLINE`` off) with a cache TTL of
  2 s (so its background refresh, every second, keeps calling the Hub during the measurement) and a
  request timeout of 5 s. Once every hub item shows fresh ``hf_info``, rounds alternate:

  - healthy: ``wrk -t1 -c64 --latency`` on ``GET /v0/models/hub`` with the read token, no fault;
  - hanging: ``PUT /_fake/faults {"hang": true}`` first, so no call to the Hub API is answered for
    the whole round, the same wrk run, then ``DELETE /_fake/faults`` and a wait until every item is
    fresh again (the recovery time is reported).

  While wrk runs, this script polls the hub twice a second. A healthy round must see Hub API calls
  and end with every item fresh and no new error. A hanging round must see Hub API calls that were
  never answered (the fake Hub counted them; the runtime's ``/readyz`` shows a timeout since the hang
  began and no success), and the hub must have turned every item's ``hf_info`` stale while wrk was
  still running (a round too short for that is reported; if the hub never turns stale, the run
  fails). Any non-2xx answer or wrk socket error (including a request
  slower than wrk's 2 s timeout) fails the run.

Figures are medians over ``--rounds`` rounds; the hanging/healthy p99 ratio is the median of the
per-round ratios (each pair ran back to back). The server's CPU time per request (from /proc) is
reported too. On a machine with two or more CPUs the runtime is pinned to the first, and this script,
wrk and the fake Hub to the second.

Goals from the issue: hub p99 while the Hub hangs <= 1.5x the healthy p99, and <= 50 ms.

Run from the repository root (about 80 s with the defaults)::

    .venv/bin/python bench/hf_cache.py [--rounds 1] [--duration 30] [--warmup 2]
        [--lookups 200000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter, deque
from contextlib import ExitStack
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from itertools import repeat
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import httpx

#: The repository root: generated/ and runtime/ are imported from here.
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from _measure import WrkResult, cpu_seconds, cpu_text, free_port, median, parse_wrk, table, verdict  # noqa: E402

from generated.catalog import CATALOG  # noqa: E402
from generated.types import HfFreshness, HfGating  # noqa: E402
from runtime.hf.cache import Entry, Key, StatsCache  # noqa: E402
from runtime.hf.client import Found  # noqa: E402
from runtime.hf.parse import HfStats  # noqa: E402
from runtime.hf.services import CONCURRENCY, HfStatsService, key_of  # noqa: E402
from runtime.settings import Settings  # noqa: E402

if TYPE_CHECKING:
    from collections.abc import Callable

    from runtime.db import Store
    from runtime.hf.client import Outcome

ADMIN_TOKEN = "bench-admin-token"
NODE_TOKEN = "bench-node-token"
READ_TOKEN = "bench-read-token"
READ = {"Authorization": f"Bearer {READ_TOKEN}"}

CONNECTIONS = 64
#: The runtime's Hugging Face settings during the HTTP rounds.
HF_TTL = 2.0
HF_TIMEOUT = 5.0
#: Seconds between two polls of the hub and the fake Hub's stats while wrk runs.
POLL_INTERVAL = 0.5
#: Seconds to wait for every hub item to be fresh (at start, after a healthy round, after a hang).
FRESH_WAIT = 60.0
#: Goals from the issue.
RATIO_GOAL = 1.5
P99_GOAL_MS = 50.0

#: The runtime: ``python -c LAUNCHER CONFIG_JSON``. It pins itself first, before any thread exists.
LAUNCHER = """
import json, os, sys
config = json.loads(sys.argv[1])
if config["cpu"] is not None:
    os.sched_setaffinity(0, {config["cpu"]})
sys.path.insert(0, config["root"])

import uvicorn

from runtime.app import create_app
from runtime.settings import Settings

app = create_app(
    Settings(
        database_url=config["database_url"],
        admin_token=config["admin_token"],
        node_token=config["node_token"],
        read_token=config["read_token"],
        hf_endpoint=config["hf_endpoint"],
        hf_hub_offline=False,
        hf_cache_ttl=config["hf_ttl"],
        hf_timeout=config["hf_timeout"],
    )
)
uvicorn.run(app, host="127.0.0.1", port=config["port"], log_level="warning", access_log=False, loop="uvloop",
            http="httptools")
"""

#: The fake Hub: ``python -c FAKE_HUB_LAUNCHER PORT`` (it inherits this script's CPU).
FAKE_HUB_LAUNCHER = "import sys; from runtime.fakehub import run; run('127.0.0.1', int(sys.argv[1]))"


# ---------------------------------------------------------------------------------------------- lookups


@dataclass(frozen=True)
class Lookup:
    """One in-process measurement: its name and ns per call of every run."""

    name: str
    ns: list[float]


def drain(call: Callable[[Key], object], keys: list[Key]) -> float:
    """Ns per ``call(key)`` over ``keys``, driven from C (``map`` into a zero-length deque)."""
    start = time.perf_counter_ns()
    deque(map(call, keys), maxlen=0)
    return (time.perf_counter_ns() - start) / len(keys)


async def lookup_costs(iterations: int, runs: int) -> list[Lookup]:
    """The cost of a cached lookup, fresh and last-good, and of building the hub's HfInfo."""
    stats = HfStats(downloads=1_234_567, likes=890, last_modified="2025-01-02T03:04:05.000Z", gated=HfGating.open)
    fetches = 0

    async def fetch(repo: str, revision: str | None) -> Outcome:
        nonlocal fetches
        fetches += 1
        return Found(stats)

    key: Key = key_of(CATALOG[0])
    cache = StatsCache(fetch, ttl=3600.0, maxsize=1024)
    entry, freshness = await cache.get(key)  # warm: the one upstream call
    if entry is None or freshness is not HfFreshness.fresh or fetches != 1:
        raise SystemExit(f"warming the cache went wrong: {entry}, {freshness}, {fetches} fetches")
    stale = StatsCache(fetch, ttl=3600.0, maxsize=1024, offline=True)
    stale.remember(key, Entry(stats, datetime.now(UTC) - timedelta(hours=2)))
    if stale.peek(key)[1] is not HfFreshness.stale:
        raise SystemExit("the last-good cache does not serve its value as stale")
    settings = Settings(hf_endpoint="http://hub.invalid", hf_hub_offline=True, hf_cache_ttl=3600.0)
    service = HfStatsService(settings, cast("Store", None), cache=cache)  # info() never touches the store
    info = service.info(key)
    if info is None or info.freshness is not HfFreshness.fresh or info.downloads != stats.downloads:
        raise SystemExit(f"HfStatsService.info does not show the cached value: {info}")

    get = cache.get

    async def gets() -> None:
        for _ in range(iterations):
            await get(key)

    async def time_gets() -> float:
        start = time.perf_counter_ns()
        await gets()
        return (time.perf_counter_ns() - start) / iterations

    keys = list(repeat(key, iterations))
    sync_calls: list[tuple[str, Callable[[Key], object]]] = [
        ("StatsCache.peek(key), fresh", cache.peek),
        ("StatsCache.peek(key), stale (last good only)", stale.peek),
        ("HfStatsService.info(key), fresh", service.info),
    ]
    get_name = "await StatsCache.get(key), fresh hit"
    results = {name: Lookup(name, []) for name in (get_name, *dict(sync_calls))}
    hits = cache.health.hits
    try:
        for run in range(runs + 1):  # run 0 warms up and is not counted
            for name, call in sync_calls:
                ns = drain(call, keys)
                if run:
                    results[name].ns.append(ns)
            ns = await time_gets()
            if run:
                results[get_name].ns.append(ns)
    finally:
        await service.close()
    if fetches != 1 or cache.health.upstream_calls != 1 or cache.health.hits - hits != iterations * (runs + 1):
        raise SystemExit(f"cache.get did not hit every time: {fetches} fetches, {cache.health.hits - hits} hits")
    order = [sync_calls[0][0], get_name, sync_calls[1][0], sync_calls[2][0]]
    return [results[name] for name in order]


# ---------------------------------------------------------------------------------------------- wrk


def run_wrk(url: str, duration: float, server: int, watch: Callable[[], None] | None = None) -> WrkResult:
    """Run ``wrk -t1 -c64 --latency`` with the read token on ``url``; call ``watch`` every poll meanwhile."""
    before = cpu_seconds(server)
    command = ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{duration:g}s", "--latency"]
    command += ["-H", f"Authorization: Bearer {READ_TOKEN}", url]
    deadline = time.monotonic() + duration + 60
    # wrk's report is a few hundred bytes: the pipes cannot fill while this loop polls.
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as process:
        try:
            while process.poll() is None:
                if time.monotonic() > deadline:
                    raise SystemExit("wrk did not finish")
                if watch is not None:
                    watch()
                time.sleep(POLL_INTERVAL)
            stdout, stderr = process.communicate()
        finally:
            if process.poll() is None:
                process.kill()
    if process.returncode != 0:
        raise SystemExit(f"wrk failed ({process.returncode}):\n{stdout}{stderr}")
    result = parse_wrk(stdout)
    after = cpu_seconds(server)
    if before is None or after is None or not result.requests:
        return result
    return replace(result, cpu_us=(after - before) / result.requests * 1e6)


# ---------------------------------------------------------------------------------------------- processes


class Process:
    """A server in a subprocess, its output in a log file; ``ready`` answers 200 once it serves."""

    def __init__(self, name: str, scratch: Path, port: int, command: list[str], ready: str) -> None:
        self.name = name
        self.base = f"http://127.0.0.1:{port}"
        self.log = scratch / f"{name}-{port}.log"
        self.command = command
        self.ready = ready
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        if self.process is None:
            raise RuntimeError(f"{self.name} is not running")
        return self.process.pid

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""

    def start(self) -> None:
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(self.command, cwd=ROOT, stdout=log, stderr=log)
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{self.base}{self.ready}", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"{self.name} did not start:\n{self.output()}")
            time.sleep(0.1)

    def alive(self) -> None:
        if self.process is None or self.process.poll() is not None:
            raise SystemExit(f"{self.name} died:\n{self.output()}")

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 30 s."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def fake_hub(scratch: Path) -> Process:
    port = free_port()
    return Process("fakehub", scratch, port, [sys.executable, "-c", FAKE_HUB_LAUNCHER, str(port)], "/_fake/stats")


def runtime(scratch: Path, cpu: int | None, hf_endpoint: str) -> Process:
    port = free_port()
    config = {
        "root": str(ROOT),
        "port": port,
        "cpu": cpu,
        "database_url": f"sqlite+aiosqlite:///{scratch / f'bench-{port}.db'}",
        "admin_token": ADMIN_TOKEN,
        "node_token": NODE_TOKEN,
        "read_token": READ_TOKEN,
        "hf_endpoint": hf_endpoint,
        "hf_ttl": HF_TTL,
        "hf_timeout": HF_TIMEOUT,
    }
    return Process("runtime", scratch, port, [sys.executable, "-c", LAUNCHER, json.dumps(config)], "/healthz")


def check(response: httpx.Response, status: int) -> Any:
    if response.status_code != status:
        raise SystemExit(f"{response.request.method} {response.request.url}: {response.status_code} {response.text}")
    return response.json() if response.content else None


# ---------------------------------------------------------------------------------------------- rounds


@dataclass
class Round:
    """One wrk round and what the fake Hub and the runtime did meanwhile."""

    hanging: bool
    wrk: WrkResult | None = None
    api_calls: int = 0
    """Calls to the fake Hub's API during the round."""
    upstream_calls: int = 0
    """Calls the runtime counted as sent during the round."""
    stale_at: float | None = None
    """Seconds after the hang began when every hub item first showed stale hf_info."""
    stale_during_wrk: bool = False
    recovered_after: float | None = None
    """Seconds after the faults were cleared until every hub item showed fresh hf_info again."""


class Bench:
    """The two servers and the calls this script makes to them."""

    def __init__(self, hub: Process, server: Process, client: httpx.Client) -> None:
        self.hub = hub
        self.server = server
        self.client = client
        self.hub_url = f"{server.base}/v0/models/hub"

    def items(self) -> list[dict[str, Any]]:
        return cast("list[dict[str, Any]]", check(self.client.get(self.hub_url, headers=READ), 200))

    def freshness(self) -> Counter[str]:
        """How many hub items show each hf_info freshness (``null``: no hf_info at all)."""
        return Counter(item["hf_info"]["freshness"] if item["hf_info"] else "null" for item in self.items())

    def api_calls(self) -> int:
        return int(check(self.client.get(f"{self.hub.base}/_fake/stats"), 200)["api_calls"])

    def health(self) -> dict[str, Any]:
        body = check(self.client.get(f"{self.server.base}/readyz"), 200)
        return cast("dict[str, Any]", body["details"]["huggingface"])

    def wait_all(self, freshness: str, timeout: float) -> float | None:
        """Seconds until every hub item shows ``freshness`` (polled), or None after ``timeout``."""
        start = time.monotonic()
        while True:
            counts = self.freshness()
            if counts[freshness] == sum(counts.values()):
                return time.monotonic() - start
            if time.monotonic() - start > timeout:
                return None
            time.sleep(0.1)

    def round(self, hanging: bool, duration: float) -> Round:
        """One wrk round; with ``hanging``, the fake Hub answers no API call until it ends."""
        result = Round(hanging)
        health_before = self.health()
        calls_before = self.api_calls()
        hang_wall = datetime.now(UTC)
        started = cleared = time.monotonic()
        if hanging:
            check(self.client.put(f"{self.hub.base}/_fake/faults", json={"hang": True}), 200)

        def watch() -> None:
            counts = self.freshness()
            if result.stale_at is None and counts["stale"] == sum(counts.values()):
                result.stale_at = time.monotonic() - started
                result.stale_during_wrk = True

        try:
            result.wrk = run_wrk(self.hub_url, duration, self.server.pid, watch)
            self.server.alive()
            if hanging and result.stale_at is None:
                # The round was too short for the hub to give up on the Hub: wait for it (hang still on).
                limit = HF_TTL + math.ceil(len({key_of(m) for m in CATALOG}) / CONCURRENCY) * HF_TIMEOUT * 2 + 10
                waited = self.wait_all("stale", limit)
                if waited is None:
                    raise SystemExit(
                        f"the hub did not turn stale within {limit:g} s of a hanging Hub: {self.freshness()}"
                    )
                result.stale_at = time.monotonic() - started
            result.api_calls = self.api_calls() - calls_before
            health = self.health()
        finally:
            if hanging:
                check(self.client.delete(f"{self.hub.base}/_fake/faults"), 204)
                cleared = time.monotonic()
        result.upstream_calls = health["upstream_calls"] - health_before["upstream_calls"]
        if result.api_calls <= 0:
            raise SystemExit(f"the runtime made no Hub API call during the {'hanging' if hanging else 'healthy'} round")
        if hanging:
            verify_hang(health, hang_wall)
            waited = self.wait_all("fresh", FRESH_WAIT)
            if waited is None:
                raise SystemExit(f"the hub did not turn fresh again after the hang: {self.freshness()}")
            result.recovered_after = time.monotonic() - cleared
        else:
            if health["last_error_at"] != health_before["last_error_at"]:
                raise SystemExit(f"a Hub call failed during the healthy round: {health['last_error']}")
            if self.wait_all("fresh", FRESH_WAIT) is None:
                raise SystemExit(f"the hub is not fresh after the healthy round: {self.freshness()}")
        return result


def verify_hang(health: dict[str, Any], hang_began: datetime) -> None:
    """The runtime got no answer from the Hub since the hang began, and timed out calling it."""
    success = health["last_success_at"]
    # A call already past the fake Hub's fault check when the hang began may still succeed just after.
    if success is not None and datetime.fromisoformat(success) > hang_began + timedelta(seconds=1):
        raise SystemExit(f"the runtime got an answer from the hanging Hub at {success}")
    error_at = health["last_error_at"]
    if health["last_error"] != "timeout" or error_at is None or datetime.fromisoformat(error_at) < hang_began:
        raise SystemExit(f"the runtime saw no timeout from the hanging Hub: {health}")


def measure(scratch: Path, cpu: int | None, rounds: int, duration: float, warmup: float) -> tuple[list[Round], int]:
    """Start both servers, alternate healthy and hanging rounds, always stop both."""
    results: list[Round] = []
    with ExitStack() as stack:
        hub = fake_hub(scratch)
        stack.callback(hub.stop)
        hub.start()
        server = runtime(scratch, cpu, hub.base)
        stack.callback(server.stop)
        server.start()
        client = stack.enter_context(httpx.Client(timeout=10))
        bench = Bench(hub, server, client)
        if bench.wait_all("fresh", FRESH_WAIT) is None:
            raise SystemExit(f"the hub did not show fresh hf_info for every item: {bench.freshness()}")
        response = client.get(bench.hub_url, headers=READ)
        check(response, 200)
        size = len(response.content)
        if warmup > 0:
            run_wrk(bench.hub_url, warmup, server.pid)
        for _ in range(rounds):
            results.append(bench.round(False, duration))
            results.append(bench.round(True, duration))
        server.alive()
        hub.alive()
    return results, size


# ---------------------------------------------------------------------------------------------- report


def wrk_of(round_: Round) -> WrkResult:
    if round_.wrk is None:
        raise RuntimeError("a round without a wrk result")
    return round_.wrk


def report(
    lookups: list[Lookup],
    iterations: int,
    runs: int,
    results: list[Round],
    size: int,
    duration: float,
    pinning: str,
    load: tuple[float, float, float],
) -> str:
    """The lookup table, the hub table, the per-round figures and the goals."""
    rows = [["cached lookup (in process)", "ns/call", "min..max"]]
    for lookup in lookups:
        rows.append([lookup.name, f"{median(lookup.ns):.0f}", f"{min(lookup.ns):.0f}..{max(lookup.ns):.0f}"])
    healthy = [r for r in results if not r.hanging]
    hanging = [r for r in results if r.hanging]
    hub_rows = [["fake Hub", "req/s", "p50", "p99", "server CPU/req", "Hub API calls", "hf_info"]]
    for name, runs_ in (("healthy", healthy), ("hanging", hanging)):
        wrks = [wrk_of(r) for r in runs_]
        if runs_[0].hanging:
            states = "stale after " + ", ".join(f"{r.stale_at:.1f} s" for r in runs_ if r.stale_at is not None)
        else:
            states = "fresh"
        hub_rows.append(
            [
                f"GET /v0/models/hub, {name}",
                f"{median([w.rate for w in wrks]):.0f}",
                f"{median([w.p50_ms for w in wrks]):.2f} ms",
                f"{median([w.p99_ms for w in wrks]):.2f} ms",
                cpu_text([w.cpu_us for w in wrks]),
                "/".join(str(r.api_calls) for r in runs_),
                states,
            ]
        )
    ratios = [wrk_of(b).p99_ms / wrk_of(a).p99_ms for a, b in zip(healthy, hanging, strict=True)]
    ratio = median(ratios)
    p99 = median([wrk_of(r).p99_ms for r in hanging])
    lines = [
        f"hf cache benchmark (python {platform.python_version()}; {pinning})",
        f"load average before the run (1/5/15 min): {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}",
        f"cached lookups: {iterations:,} calls per run, median of {runs} runs (loop overhead included)",
        *table(rows),
        "",
        f"hub under wrk -t1 -c{CONNECTIONS}, {len(healthy)} healthy + {len(hanging)} hanging rounds x {duration:g} s "
        f"alternating, median; uvicorn + uvloop + httptools; runtime hf_cache_ttl={HF_TTL:g} s, "
        f"hf_timeout={HF_TIMEOUT:g} s; hub body {size:,} bytes ({len(CATALOG)} catalog models, none registered)",
        *table(hub_rows),
        "per round (req/s, p50 ms, p99 ms; Hub API calls seen by the fake Hub / sent by the runtime):",
    ]
    for index, (a, b) in enumerate(zip(healthy, hanging, strict=True), start=1):
        wa, wb = wrk_of(a), wrk_of(b)
        stale = f"{b.stale_at:.1f} s" if b.stale_at is not None else "never"
        where = "while wrk ran" if b.stale_during_wrk else "AFTER wrk ended (round too short)"
        recovered = f"{b.recovered_after:.1f} s" if b.recovered_after is not None else "n/a"
        lines += [
            f"  {index}. healthy {wa.rate:.0f}, {wa.p50_ms:.2f}, {wa.p99_ms:.2f}; "
            f"calls {a.api_calls}/{a.upstream_calls}",
            f"     hanging {wb.rate:.0f}, {wb.p50_ms:.2f}, {wb.p99_ms:.2f}; calls {b.api_calls}/{b.upstream_calls} "
            f"(none answered); every item stale {stale} after the hang began, {where}; "
            f"fresh again {recovered} after the faults were cleared; p99 ratio {wb.p99_ms / wa.p99_ms:.2f}",
        ]
    lines += [
        "goals:",
        f"  hub p99 hanging <= {RATIO_GOAL:g}x healthy: {verdict(ratio <= RATIO_GOAL)} "
        f"({ratio:.2f}x, median of per-round ratios)",
        f"  hub p99 hanging <= {P99_GOAL_MS:g} ms: {verdict(p99 <= P99_GOAL_MS)} ({p99:.2f} ms)",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, measure the lookups, then the rounds; print the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=1, help="healthy + hanging pairs; medians are reported")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds per wrk round (the hang lasts as long)")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of one untimed healthy round (0: none)")
    parser.add_argument("--lookups", type=int, default=200_000, help="calls per timed run of each cached lookup")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs of each cached lookup; the median is shown")
    arguments = parser.parse_args(argv)
    if min(arguments.rounds, arguments.lookups, arguments.repeat) < 1 or arguments.duration <= 0:
        parser.error("--rounds, --duration, --lookups and --repeat must be positive")
    if arguments.warmup < 0:
        parser.error("--warmup must not be negative")
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install wrk)")

    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) >= 2:
        server_cpu: int | None = cpus[0]
        os.sched_setaffinity(0, {cpus[1]})  # this script, wrk and the fake Hub, which inherit it
        pinning = f"runtime on cpu {cpus[0]}; wrk, fake Hub and this script on cpu {cpus[1]}"
    else:
        server_cpu = None
        pinning = f"not pinned ({len(cpus)} cpu)"

    executable = Path(sys.executable)
    shown = executable.relative_to(ROOT) if executable.is_relative_to(ROOT) else executable
    print("$", shown, *sys.argv, flush=True)
    load = os.getloadavg()
    lookups = asyncio.run(lookup_costs(arguments.lookups, arguments.repeat))
    with tempfile.TemporaryDirectory(prefix="hf-cache-bench-") as temporary:
        results, size = measure(Path(temporary), server_cpu, arguments.rounds, arguments.duration, arguments.warmup)
    print(
        report(lookups, arguments.lookups, arguments.repeat, results, size, arguments.duration, pinning, load),
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
