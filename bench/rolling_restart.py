"""Benchmark a rolling restart behind HAProxy under wrk: every replica stopped and started again, no request lost.

The script starts what ``tests/adversarial/test_cluster.py`` starts: a private PostgreSQL (``initdb``
on its own port), a private Redis, three ``modelhub serve`` replicas on them (fixed loopback ports)
and HAProxy in front with the configuration ``runtime/cluster.py`` generates. Then, per round:

* baseline: ``wrk -t2 -c32`` on ``GET /v0/models`` (admin token) through HAProxy for ``--duration``
  seconds, nothing restarted;
* rolling: the same wrk run while each replica in turn gets SIGTERM, is waited for, HAProxy is
  waited for to mark it DOWN, it is started again on the same port, and HAProxy is waited for to
  mark it UP. The restart starts 2 s into the run and must end before wrk does (else the round fails).

wrk's own report gives the requests, the non-2xx answers and the socket errors (connect, read,
write, timeout). Figures are medians of ``--rounds`` rounds. The machine's load average is printed:
the replicas, HAProxy and wrk share its CPUs (nothing is pinned).

Goal: 0 failed requests (non-2xx + socket errors) during the rolling restart.

Run from the repository root::

    .venv/bin/python bench/rolling_restart.py [--rounds 1] [--duration 40]
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path

#: The repository root: runtime/ and tests/ are imported from here.
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from _measure import WrkResult, median, parse_wrk, table, verdict  # noqa: E402

# The cluster of the tests: replicas on fixed ports and HAProxy with runtime/cluster.py's generated config.
from tests.adversarial.test_cluster import REPLICAS, Cluster  # noqa: E402
from tests.runtime.conftest import ADMIN_TOKEN  # noqa: E402

THREADS = 2
CONNECTIONS = 32
#: Seconds into the wrk run before the first replica is stopped.
LEAD = 2.0
#: The lines of wrk's report that count failures, which ``_measure.parse_wrk`` refuses.
_NON_2XX = re.compile(r"^\s*Non-2xx or 3xx responses:\s+(\d+)\s*$", re.MULTILINE)
_SOCKET_ERRORS = re.compile(
    r"^\s*Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)\s*$", re.MULTILINE
)


@dataclass(frozen=True)
class Run:
    """One wrk run: requests, failures and latency."""

    requests: int
    non_2xx: int
    socket_errors: int
    rate: float
    p99_ms: float
    restart_s: float | None = None
    """Seconds the rolling restart took (None: no restart in this run)."""

    @property
    def failed(self) -> int:
        return self.non_2xx + self.socket_errors


def parse(output: str) -> Run:
    """Read wrk's ``--latency`` report, failures included (``_measure.parse_wrk`` stops at the first).

    The failure counts are read here; the rest of the report (requests, rate, latency) by ``parse_wrk``,
    given the report without its failure lines.
    """
    non_2xx = _NON_2XX.search(output)
    errors = _SOCKET_ERRORS.search(output)
    figures: WrkResult = parse_wrk(_SOCKET_ERRORS.sub("", _NON_2XX.sub("", output)))
    return Run(
        requests=figures.requests,
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=sum(int(count) for count in errors.groups()) if errors else 0,
        rate=figures.rate,
        p99_ms=figures.p99_ms,
    )


def wrk(url: str, duration: float) -> subprocess.Popen[str]:
    command = ["wrk", f"-t{THREADS}", f"-c{CONNECTIONS}", f"-d{duration:g}s", "--latency"]
    command += ["-H", f"Authorization: Bearer {ADMIN_TOKEN}", url]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finish(process: subprocess.Popen[str], duration: float) -> Run:
    output, _ = process.communicate(timeout=duration + 60)
    if process.returncode != 0:
        raise SystemExit(f"wrk failed ({process.returncode}):\n{output}")
    return parse(output)


def rolling_restart(cluster: Cluster) -> None:
    """Each replica in turn: SIGTERM, HAProxy sees it DOWN, started again, HAProxy sees it UP."""
    for replica in REPLICAS:
        cluster.stop(replica)
        cluster.wait_state(replica, "DOWN")
        cluster.start(replica)
        cluster.wait_ready(replica)
        cluster.wait_state(replica, "UP")


def measure_round(cluster: Cluster, duration: float) -> tuple[Run, Run]:
    """A baseline run, then a run with a full rolling restart in it."""
    url = f"{cluster.front}/v0/models"
    baseline = finish(wrk(url, duration), duration)
    process = wrk(url, duration)
    time.sleep(LEAD)
    problem: list[BaseException] = []

    def restart() -> None:
        try:
            rolling_restart(cluster)
        except BaseException as error:  # reported below, after wrk has finished
            problem.append(error)

    worker = threading.Thread(target=restart)
    begun = time.monotonic()
    worker.start()
    worker.join(timeout=duration + 60)
    took = time.monotonic() - begun
    rolling = finish(process, duration)
    if problem:
        raise SystemExit(f"the rolling restart failed: {problem[0]}")
    if LEAD + took > duration:
        raise SystemExit(f"the rolling restart took {took:.1f} s, longer than the wrk run; raise --duration")
    return baseline, replace(rolling, restart_s=took)


def report(rounds: list[tuple[Run, Run]], duration: float, load: tuple[float, float, float]) -> str:
    baseline = [pair[0] for pair in rounds]
    rolling = [pair[1] for pair in rounds]
    rows = [["run", "requests", "req/s", "p99", "non-2xx", "socket errors", "restart"]]
    for name, runs in (("no restart", baseline), ("rolling restart", rolling)):
        restarts = [r.restart_s for r in runs if r.restart_s is not None]
        rows.append(
            [
                name,
                f"{median([r.requests for r in runs]):,.0f}",
                f"{median([r.rate for r in runs]):,.0f}",
                f"{median([r.p99_ms for r in runs]):.1f} ms",
                f"{sum(r.non_2xx for r in runs)}",
                f"{sum(r.socket_errors for r in runs)}",
                f"{median(restarts):.1f} s" if restarts else "-",
            ]
        )
    failed = sum(r.failed for r in rolling)
    cpus = len(os.sched_getaffinity(0))
    lines = [
        f"rolling restart behind HAProxy (wrk -t{THREADS} -c{CONNECTIONS} -d{duration:g}s on GET /v0/models; "
        f"{len(REPLICAS)} replicas, PostgreSQL + Redis private; {len(rounds)} round(s), median; {cpus} cpus, "
        f"nothing pinned; python {platform.python_version()})",
        f"load average before the run (1/5/15 min): {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}",
        *table(rows),
        "non-2xx and socket errors are totals over the rounds",
        "goals:",
        f"  0 failed requests during the rolling restart: {verdict(failed == 0)} ({failed} failed of "
        f"{sum(r.requests for r in rolling):,})",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Check the tools, start the cluster, run the rounds, print the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=1, help="rounds (baseline + rolling each); medians")
    parser.add_argument("--duration", type=float, default=40.0, help="seconds per wrk run")
    arguments = parser.parse_args(argv)
    if arguments.rounds < 1 or arguments.duration <= LEAD:
        parser.error(f"--rounds must be positive and --duration above {LEAD:g}")
    haproxy = shutil.which("haproxy") or ("/usr/sbin/haproxy" if Path("/usr/sbin/haproxy").exists() else None)
    missing = [
        hint
        for found, hint in (
            (shutil.which("wrk"), "wrk (apt-get install wrk)"),
            (haproxy, "haproxy (apt-get install haproxy)"),
            (shutil.which("redis-server"), "redis-server (apt-get install redis-server)"),
            (shutil.which("initdb") or next(Path("/usr/lib/postgresql").glob("*/bin/initdb"), None), "postgresql"),
        )
        if not found
    ]
    if missing or haproxy is None:
        raise SystemExit(f"not installed: {', '.join(missing)}")
    from tests.adversarial.services import PrivatePostgres, PrivateRedis

    load = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="rolling-restart-bench-") as temporary:
        directory = Path(temporary)
        postgres = PrivatePostgres()
        redis_server = PrivateRedis(directory)
        cluster: Cluster | None = None
        try:
            postgres.start()
            redis_server.start()
            cluster = Cluster(directory, postgres.url, redis_server.url)
            for replica in REPLICAS:
                cluster.start(replica)
            for replica in REPLICAS:
                cluster.wait_ready(replica)
            cluster.start_haproxy(haproxy)
            rounds = [measure_round(cluster, arguments.duration) for _ in range(arguments.rounds)]
        finally:
            if cluster is not None:
                cluster.close()
            redis_server.kill()
            postgres.close()
    print(report(rounds, arguments.duration, load), flush=True)
    return 0 if all(pair[1].failed == 0 for pair in rounds) else 1


if __name__ == "__main__":
    sys.exit(main())
