"""Benchmark the node agent's downloads: throughput against curl on loopback, and its RSS while fetching 2 GiB.

One fake Hub (``runtime.fakehub``, under uvicorn with uvloop and httptools, as ``modelhub fake-hub``) serves
one extra file of ``--size-mib`` (default 2048 MiB, deterministic bytes). In the same run, each of
``--rounds`` rounds fetches that file, one transfer at a time:

* ``curl -o /dev/null`` - the network path alone;
* ``curl -o FILE`` - the same to a file in the benchmark's directory (page cache); then ``fsync(FILE)`` is
  timed on its own, and ``curl + fsync`` is the two together;
* the agent's downloader (``runtime.agent.download.fetch_file`` with ``DownloadTransport`` and the client
  settings ``run_node`` uses, on uvloop), in a subprocess, to a file in the same directory: it writes,
  hashes (the manifest gives the sha256) and fsyncs before the rename. "last byte" is when the last byte
  is written and hashed (its progress callback reports the whole size), "complete" is when it returns
  (verified, fsynced and renamed). Its RSS is sampled from ``/proc/<pid>/status`` every 0.2 s.

Then, once each, the whole agent: ``python -m runtime node`` (that is ``modelhub node``), and the same
agent started through its own entry point ``runtime.agent.node_main``, which imports nothing but the agent
(the two should match: ``modelhub node`` once imported the whole server, 95 MB idle), against the server
on a one-model catalog holding that file with its sha256 (``tests/runtime/e2e/small_server.py``:
``modelhub serve`` on a small catalog). Each agent comes online, its idle RSS is read, the model is
registered, and its RSS is sampled every 0.2 s while its ``.part`` file exists; ``VmHWM`` is its peak RSS
over its whole life. Its throughput is the size over the time from the response to its ``GET`` to its
``ready`` log line (both from its own log, ms resolution).

Throughputs are MB/s (10^6 bytes), medians over the rounds; the ratios are of medians. On a machine with
two or more CPUs the fake Hub (and the server) run on the first CPU, curl and the agent on the others,
so the two sides of a transfer do not compete for a core. CPU seconds per transfer (user + system) come
from ``getrusage(RUSAGE_CHILDREN)``.

Goals from the issue: the agent's download throughput >= 0.7x curl's on the same file in the same run
(judged on the like-for-like pairs: agent "last byte" against ``curl -o FILE``, and agent "complete"
against ``curl -o FILE`` + fsync); the agent's RSS while fetching a 2 GB file flat (the median of the last
third of the samples at most 16 MB above the first third's) and at most 100 MB (VmHWM included), judged on
``modelhub node``.

Run from the repository root::

    .venv/bin/python bench/node_agent.py [--size-mib 2048] [--rounds 3] [--dir DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

#: The repository root: runtime/ and tests/ are imported from here.
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.runtime.e2e.small_server import free_port, running_small_server  # noqa: E402

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

ADMIN_TOKEN = "bench-admin-token"
NODE_TOKEN = "bench-node-token"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
REPO = "bench/node-agent-GGUF"
FILENAME = "node-agent-bench-Q4_K_M.gguf"
MODEL_ID = "node-agent-bench"
MB = 1_000_000
SAMPLE_EVERY = 0.2
#: Goals from the issue.
RATIO_GOAL = 0.7
RSS_GOAL = 100 * MB
FLAT_GOAL = 16 * MB

#: The fake Hub: ``python -c FAKE_HUB CONFIG_JSON``; it pins itself before any thread exists.
FAKE_HUB = """
import json, os, sys
config = json.loads(sys.argv[1])
if config["cpus"]:
    os.sched_setaffinity(0, set(config["cpus"]))
sys.path.insert(0, config["root"])
import uvicorn
from runtime.fakehub import create_fake_hub
app = create_fake_hub(extra_files={config["repo"]: {config["file"]: config["size"]}})
uvicorn.run(app, host="127.0.0.1", port=config["port"], log_level="warning", access_log=False,
            loop="uvloop", http="httptools", timeout_graceful_shutdown=2)
"""


# ---------------------------------------------------------------------------------------------- measurements


@dataclass
class Rss:
    """RSS samples of one process, in bytes, with their times (``time.monotonic``)."""

    samples: list[tuple[float, int]] = field(default_factory=list)
    peak: int | None = None
    """``VmHWM``, when it was read before the process ended."""

    def values(self) -> list[int]:
        return [value for _, value in self.samples]

    def growth(self) -> int:
        """Median of the last third of the samples less the median of the first third."""
        values = self.values()
        third = max(1, len(values) // 3)
        return int(statistics.median(values[-third:]) - statistics.median(values[:third]))

    def summary(self) -> str:
        values = self.values()
        if not values:
            return "no samples"
        text = (
            f"min {values and min(values) / MB:.1f}  median {statistics.median(values) / MB:.1f}  "
            f"max {max(values) / MB:.1f} MB  (growth {self.growth() / MB:+.1f} MB, {len(values)} samples)"
        )
        return text + (f"; VmHWM {self.peak / MB:.1f} MB" if self.peak is not None else "")


def proc_status(pid: int, key: str) -> int | None:
    """A ``kB`` line of ``/proc/<pid>/status`` in bytes (None once the process is gone)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        return None
    return None


@contextmanager
def sampling(pid: int, fetching: Path) -> Iterator[Rss]:
    """Sample ``VmRSS`` of ``pid`` every ``SAMPLE_EVERY`` s on a thread, while ``fetching`` (a part file) exists."""
    rss = Rss()
    stop = threading.Event()

    def sample() -> None:
        while True:
            value = proc_status(pid, "VmRSS") if fetching.exists() else None
            if value is not None:
                rss.samples.append((time.monotonic(), value))
            if stop.wait(SAMPLE_EVERY):
                return

    thread = threading.Thread(target=sample, name="rss-sampler", daemon=True)
    thread.start()
    try:
        yield rss
    finally:
        stop.set()
        thread.join()


def children_cpu() -> float:
    """User + system CPU seconds of the children reaped so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclass
class Transfer:
    """One timed fetch of the file."""

    seconds: float
    cpu: float
    extra: dict[str, float] = field(default_factory=dict)
    rss: Rss | None = None


def fsync_seconds(path: Path) -> float:
    start = time.perf_counter()
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    return time.perf_counter() - start


def curl(url: str, output: str, size: int) -> Transfer:
    """``curl -o output``; time_total as curl measures it."""
    before = children_cpu()
    result = subprocess.run(
        ["curl", "--silent", "--show-error", "--fail", "-o", output, "-w", "%{time_total} %{size_download}", url],
        capture_output=True,
        text=True,
        check=True,
    )
    seconds, downloaded = result.stdout.split()
    if int(downloaded) != size:
        raise RuntimeError(f"curl fetched {downloaded} bytes, not {size}")
    return Transfer(float(seconds), children_cpu() - before)


def agent_fetch(url: str, target: Path, size: int, sha256: str) -> Transfer:
    """The agent's downloader in a subprocess (``_fetch``), its RSS sampled."""
    before = children_cpu()
    command = [sys.executable, str(Path(__file__).resolve()), "_fetch", url, str(target), str(size), sha256]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    with sampling(process.pid, target.with_name(target.name + ".part")) as rss:
        out, _ = process.communicate(timeout=600)
    if process.returncode != 0:
        raise RuntimeError(f"the fetch failed ({process.returncode}): {out}")
    result = json.loads(out)
    if target.stat().st_size != size:
        raise RuntimeError(f"{target} has {target.stat().st_size} bytes, not {size}")
    return Transfer(
        result["complete"], children_cpu() - before, {"last_byte": result["last_byte"], "fsync": result["fsync"]}, rss
    )


def run_fetch(url: str, target: str, size: int, sha256: str) -> int:
    """``_fetch``: fetch like the agent does, print the timings as JSON (runs in the measured subprocess)."""
    import uvloop

    from runtime.agent.download import FileSpec, fetch_file
    from runtime.agent.transport import DownloadTransport

    async def main() -> dict[str, float]:
        concurrency = 2  # run_node's client settings at the default --concurrency
        limits = httpx.Limits(max_connections=concurrency + 4, max_keepalive_connections=concurrency)
        timeout = httpx.Timeout(30.0, connect=15.0, pool=None)
        last_byte: list[float] = []

        def progress(done: int, total: int | None) -> None:
            if done == size and not last_byte:
                last_byte.append(time.perf_counter())

        synced: list[float] = []
        original_fsync = os.fsync

        def timed_fsync(fd: Any) -> None:  # to report how much of "complete" the fsync is
            start = time.perf_counter()
            original_fsync(fd)
            synced.append(time.perf_counter() - start)

        os.fsync = timed_fsync
        spec = FileSpec(name=Path(target).name, url=url, size=size, sha256=sha256)
        async with httpx.AsyncClient(
            transport=DownloadTransport(limits=limits), follow_redirects=True, timeout=timeout
        ) as client:
            start = time.perf_counter()
            fetched = await fetch_file(client, spec, Path(target), progress=progress)
            end = time.perf_counter()
        if fetched.sha256 != sha256:
            raise RuntimeError("the sha256 was not checked")
        return {"last_byte": last_byte[0] - start, "complete": end - start, "fsync": sum(synced)}

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        print(json.dumps(runner.run(main())))
    return 0


# -------------------------------------------------------------------------------------------- the processes


@contextmanager
def fake_hub(scratch: Path, size: int, cpus: Sequence[int]) -> Iterator[str]:
    """The fake Hub serving the benchmark file; yields its base URL."""
    port = free_port()
    config = {"cpus": list(cpus), "root": str(ROOT), "port": port, "repo": REPO, "file": FILENAME, "size": size}
    log = (scratch / "fake-hub.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-c", FAKE_HUB, json.dumps(config)], stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/_fake/faults", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the fake Hub did not start:\n{(scratch / 'fake-hub.log').read_text()}")
            time.sleep(0.05)
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


_LOG_TIME = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) ")


def _log_time(line: str) -> float | None:
    match = _LOG_TIME.match(line)
    if match is None:
        return None
    return datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()  # local time, like the log


ENTRY_POINTS = {
    "modelhub node": ["-m", "runtime", "node"],
    "node_main": ["-c", "import sys; from runtime.agent import node_main; sys.exit(node_main())"],
}
"""How the whole agent is started: the command (``python -m runtime node`` is ``modelhub node``), and the
agent's own entry point, which imports nothing but the agent."""


@dataclass
class AgentRun:
    """One whole agent fetching the file once."""

    entry: str
    idle: int | None
    rss: Rss
    wall: float
    seconds: float | None
    """From the response to its GET to its ``ready`` log line."""


def whole_agents(scratch: Path, hub_url: str, size: int, sha256: str, server_cpus: Sequence[int]) -> list[AgentRun]:
    """Each entry point's agent against the small-catalog server, one after the other, fetching the file once."""
    catalog = scratch / "bench-catalog.json"
    model = {
        "id": MODEL_ID,
        "name": "Node agent benchmark",
        "description": f"A {size / MB:,.0f} MB file served by the fake Hub, for bench/node_agent.py.",
        "repo": REPO,
        "recommended_filename": FILENAME,
        "size_bytes": size,
        "required_memory_bytes": size * 3 // 2,
        "tags": ["bench"],
        "capabilities": ["TextGeneration"],
        "format": "gguf",
        "sha256": sha256,
    }
    catalog.write_text(json.dumps({"models": [model]}, indent=2))
    env = {
        "MODELHUB_DATABASE_URL": f"sqlite+aiosqlite:///{scratch / 'bench.db'}",
        "MODELHUB_ADMIN_TOKEN": ADMIN_TOKEN,
        "MODELHUB_NODE_TOKEN": NODE_TOKEN,
        "MODELHUB_READ_TOKEN": ADMIN_TOKEN,
        "MODELHUB_AUTO_APPROVE_NODES": "1",
        "HF_HUB_OFFLINE": "1",
        "HF_ENDPOINT": hub_url,
    }
    runs = []
    with (
        running_small_server(scratch, env, catalog=catalog, cpus=server_cpus) as (base, _),
        httpx.Client(base_url=base, headers=ADMIN, timeout=10) as api,
    ):
        for number, (entry, arguments) in enumerate(ENTRY_POINTS.items()):
            runs.append(whole_agent(scratch, api, entry, arguments, f"bench-node-{number}", hub_url, size))
            api.delete(f"/v0/models/{MODEL_ID}").raise_for_status()
    return runs


def whole_agent(
    scratch: Path, api: httpx.Client, entry: str, arguments: list[str], runtime_id: str, hub_url: str, size: int
) -> AgentRun:
    """Start the agent, wait until it is online, register the model, sample its RSS until it is ready there."""
    cache = scratch / f"cache-{runtime_id}"
    log_path = scratch / f"agent-{runtime_id}.log"
    target = cache / MODEL_ID / FILENAME
    command = [sys.executable, *arguments, "--server", str(api.base_url), "--cache-dir", str(cache)]
    command += ["--runtime-id", runtime_id, "--heartbeat-interval", "0.5"]
    environment = {**os.environ, "MODELHUB_NODE_TOKEN": NODE_TOKEN}
    environment.pop("HF_TOKEN", None)

    def state() -> tuple[str | None, str | None]:
        node = next((n for n in api.get("/v0/nodes").json() if n["runtime_id"] == runtime_id), None)
        item = api.get("/v0/models/hub").json()[0]
        report = next((n for n in item["nodes"] if n["runtime_id"] == runtime_id), None)
        return (node["status"] if node else None), (report["state"] if report else None)

    with log_path.open("wb") as log:
        agent = subprocess.Popen(command, cwd=ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while state()[0] != "online":
            if agent.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the agent did not come online:\n{log_path.read_text()}")
            time.sleep(0.1)
        time.sleep(1.0)  # a few heartbeats: the idle figure includes the first metrics and requests
        idle = proc_status(agent.pid, "VmRSS")
        started = time.monotonic()
        with sampling(agent.pid, target.with_name(target.name + ".part")) as rss:
            api.post("/v0/models/register", json={"model_id": MODEL_ID}).raise_for_status()
            deadline = time.monotonic() + 600
            while state() != ("online", "ready"):
                if agent.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the model did not become ready:\n{log_path.read_text()}")
                time.sleep(SAMPLE_EVERY)
        wall = time.monotonic() - started
        rss.peak = proc_status(agent.pid, "VmHWM")
    finally:
        agent.send_signal(signal.SIGTERM)
        try:
            agent.wait(timeout=15)
        except subprocess.TimeoutExpired:
            agent.kill()
            agent.wait()
    if target.stat().st_size != size:
        raise RuntimeError(f"{target} has {target.stat().st_size} bytes, not {size}")
    target.unlink()
    got = ready = None
    for line in log_path.read_text().splitlines():
        if got is None and f"GET {hub_url}/{REPO}/resolve/" in line:
            got = _log_time(line)
        if f"{MODEL_ID}: ready" in line:
            ready = _log_time(line)
    seconds = ready - got if got is not None and ready is not None else None
    return AgentRun(entry, idle, rss, wall, seconds)


# ------------------------------------------------------------------------------------------------ the report


def rate(size: int, seconds: float | None) -> float | None:
    return size / seconds / MB if seconds else None


def fmt(value: float | None, digits: int = 0) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def measure(scratch: Path, size: int, rounds: int, hub_cpus: Sequence[int]) -> dict[str, Any]:
    from runtime.fakehub import file_sha256

    started = time.perf_counter()
    sha256 = file_sha256(REPO, FILENAME, size)
    print(f"sha256 of the {size / MB:,.0f} MB file: {sha256} ({time.perf_counter() - started:.1f} s)", flush=True)
    results: dict[str, list[Transfer]] = {"null": [], "file": [], "agent": []}
    with fake_hub(scratch, size, hub_cpus) as hub_url:
        url = f"{hub_url}/{REPO}/resolve/main/{FILENAME}"
        curl(url, "/dev/null", size)  # warm-up: the fake Hub's block cache, the page cache of the binaries
        for number in range(1, rounds + 1):
            results["null"].append(curl(url, "/dev/null", size))
            output = scratch / "curl.out"
            transfer = curl(url, str(output), size)
            transfer.extra["fsync"] = fsync_seconds(output)
            output.unlink()
            results["file"].append(transfer)
            target = scratch / "agent-direct" / FILENAME
            results["agent"].append(agent_fetch(url, target, size, sha256))
            target.unlink()
            print(
                f"round {number}: curl null {fmt(rate(size, results['null'][-1].seconds))} MB/s, "
                f"curl file {fmt(rate(size, transfer.seconds))} MB/s (+fsync {transfer.extra['fsync']:.2f} s), "
                f"agent {fmt(rate(size, results['agent'][-1].extra['last_byte']))} MB/s to the last byte, "
                f"{fmt(rate(size, results['agent'][-1].seconds))} MB/s complete",
                flush=True,
            )
        runs = whole_agents(scratch, hub_url, size, sha256, hub_cpus)
    return {"sha256": sha256, "results": results, "runs": runs}


def report(measured: dict[str, Any], size: int, rounds: int, pinning: str, load: tuple[float, ...]) -> str:
    results: dict[str, list[Transfer]] = measured["results"]
    runs: list[AgentRun] = measured["runs"]
    command = runs[0]  # modelhub node: what the goals are judged on

    def median(values: list[float]) -> float:
        return statistics.median(values)

    null = median([t.seconds for t in results["null"]])
    to_file = median([t.seconds for t in results["file"]])
    file_sync = median([t.seconds + t.extra["fsync"] for t in results["file"]])
    last_byte = median([t.extra["last_byte"] for t in results["agent"]])
    complete = median([t.seconds for t in results["agent"]])
    agent_fsync = median([t.extra["fsync"] for t in results["agent"]])
    rows = [
        ("curl -o /dev/null", null, median([t.cpu for t in results["null"]])),
        ("curl -o FILE (page cache)", to_file, median([t.cpu for t in results["file"]])),
        ("curl -o FILE + fsync", file_sync, None),
        ("agent fetch_file, last byte", last_byte, None),
        ("agent fetch_file, complete", complete, median([t.cpu for t in results["agent"]])),
        *((f"agent ({run.entry}) GET->ready, once", run.seconds, None) for run in runs),
    ]
    lines = [
        f"node agent downloads: {size / MB:,.0f} MB file ({size:,} bytes), median of {rounds} rounds; "
        f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} cpus, {pinning}, "
        f"load {load[0]:.2f}",
        "",
        f"{'transfer':<40}{'MB/s':>8}{'seconds':>10}{'CPU s':>8}",
    ]
    for name, seconds, cpu in rows:
        lines.append(f"{name:<40}{fmt(rate(size, seconds)):>8}{fmt(seconds, 2):>10}{fmt(cpu, 2):>8}")
    lines.append(
        f"(fetch_file's fsync: {agent_fsync:.2f} s of its complete time; whole agents: register->ready "
        + ", ".join(f"{run.wall:.2f} s" for run in runs)
        + " wall, heartbeat 0.5 s)"
    )

    def ratio(agent_seconds: float | None, curl_seconds: float) -> float | None:
        return curl_seconds / agent_seconds if agent_seconds else None

    pairs = [
        ("agent last byte / curl -o FILE", ratio(last_byte, to_file), "goal"),
        ("agent complete / curl -o FILE + fsync", ratio(complete, file_sync), "goal"),
        *(
            (f"agent ({run.entry}) / curl -o FILE + fsync", ratio(run.seconds, file_sync), "(one run, for information)")
            for run in runs
        ),
        ("agent complete / curl -o /dev/null", ratio(complete, null), "(for information)"),
    ]
    lines += ["", f"throughput ratios (goal >= {RATIO_GOAL} on the like-for-like pairs):"]
    for name, value, kind in pairs:
        mark = verdict(value is not None and value >= RATIO_GOAL) if kind == "goal" else kind
        lines.append(f"  {name:<48}{fmt(value, 2):>6}x  {mark}")

    lines += ["", "RSS while fetching (VmRSS every 0.2 s while the .part file exists; VmHWM: the peak of its life):"]
    for run in runs:
        lines.append(f"  agent ({run.entry}): idle {fmt((run.idle or 0) / MB, 1)} MB; {run.rss.summary()}")
    for number, transfer in enumerate(results["agent"], start=1):
        if transfer.rss is not None:
            lines.append(f"  fetch_file subprocess, round {number}: {transfer.rss.summary()}")
    rss = command.rss
    top = max([*rss.values(), rss.peak or 0])
    lines.append(
        f"  goal ({command.entry}): flat (growth {rss.growth() / MB:+.1f} MB <= {FLAT_GOAL / MB:.0f} MB) "
        f"{verdict(bool(rss.samples) and rss.growth() <= FLAT_GOAL)}, "
        f"max {top / MB:.1f} MB <= {RSS_GOAL / MB:.0f} MB {verdict(top <= RSS_GOAL)}"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run the transfers, print the report."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["_fetch"]:  # the measured subprocess
        url, target, size, sha256 = argv[1:5]
        return run_fetch(url, target, int(size), sha256)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--size-mib", type=int, default=2048, help="size of the file in MiB (default 2048)")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds; medians are reported")
    parser.add_argument("--dir", type=Path, help="where the files are written (default: a temporary directory)")
    arguments = parser.parse_args(argv)
    if arguments.rounds < 1 or arguments.size_mib < 1:
        parser.error("--rounds and --size-mib must be positive")
    if shutil.which("curl") is None:
        raise SystemExit("curl is not installed")
    size = arguments.size_mib * 1024 * 1024

    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) >= 2:
        hub_cpus = cpus[:1]
        os.sched_setaffinity(0, set(cpus[1:]))  # this script, curl and the agent, which inherit it
        pinning = f"fake Hub + server on cpu {cpus[0]}, curl/agent on cpu {','.join(map(str, cpus[1:]))}"
    else:
        hub_cpus = []
        pinning = f"not pinned ({len(cpus)} cpu)"
    with tempfile.TemporaryDirectory(prefix="node-agent-bench-", dir=arguments.dir) as temporary:
        load = os.getloadavg()
        measured = measure(Path(temporary), size, arguments.rounds, hub_cpus)
        print("\n" + report(measured, size, arguments.rounds, pinning, load), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
