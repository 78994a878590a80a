"""Helpers the benchmarks share: the server in a subprocess, reading wrk's report, /proc figures, ports, tables."""

from __future__ import annotations

import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence

#: The repository root: the server runs from here.
ROOT = Path(__file__).resolve().parent.parent

_UNITS_MS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}


@dataclass(frozen=True)
class WrkResult:
    """One wrk run: throughput, latency percentiles (ms) and the number of requests."""

    rate: float
    p50_ms: float
    p99_ms: float
    requests: int
    cpu_us: float | None = None
    """CPU time of the server process (every thread) per request, in microseconds, if known."""
    steal_pct: float | None = None
    """Share of the server's CPU the hypervisor ran something else on during the run (``steal``), if known."""


def parse_wrk(output: str) -> WrkResult:
    """Read wrk's ``--latency`` report; a non-2xx answer or a socket error is a failure."""
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    if non_2xx and int(non_2xx.group(1)):
        raise SystemExit(f"wrk saw {non_2xx.group(1)} non-2xx responses:\n{output}")
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    if errors and any(int(count) for count in errors.groups()):
        raise SystemExit(f"wrk saw socket errors:\n{output}")
    rate = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.MULTILINE)
    total = re.search(r"^\s*(\d+) requests in ", output, re.MULTILINE)
    percentiles = {
        match.group(1): float(match.group(2)) * _UNITS_MS[match.group(3)]
        for match in re.finditer(r"^\s+(\d+)%\s+([\d.]+)(us|ms|s|m|h)\s*$", output, re.MULTILINE)
    }
    if rate is None or total is None or "50" not in percentiles or "99" not in percentiles:
        raise SystemExit(f"could not read wrk's report:\n{output}")
    return WrkResult(float(rate.group(1)), percentiles["50"], percentiles["99"], int(total.group(1)))


def cpu_seconds(pid: int) -> float | None:
    """User plus system CPU time of process ``pid`` (all its threads), from /proc; None without /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text(encoding="ascii").rpartition(")")[2].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_ticks(cpu: int) -> tuple[int, int] | None:
    """(steal, all) clock ticks of one CPU since boot, from /proc/stat; None without it.

    On a virtual machine ``steal`` is time the CPU was wanted but the hypervisor ran another guest:
    it stalls whatever runs there, and shows in latency tails rather than in CPU per request.
    """
    try:
        lines = Path("/proc/stat").read_text(encoding="ascii").splitlines()
    except OSError:
        return None
    for line in lines:
        name, *fields = line.split()
        if name == f"cpu{cpu}":
            ticks = [int(field) for field in fields[:8]]  # user nice system idle iowait irq softirq steal
            return ticks[7], sum(ticks)
    return None


def steal_share(before: tuple[int, int] | None, after: tuple[int, int] | None) -> float | None:
    """Percent of the ticks between two ``cpu_ticks`` readings that were stolen."""
    if before is None or after is None or after[1] <= before[1]:
        return None
    return 100 * (after[0] - before[0]) / (after[1] - before[1])


def memory_mib(pid: int | str, field: str = "VmRSS") -> float:
    """A memory figure of ``/proc/<pid>/status`` (VmRSS: resident now, VmHWM: peak resident), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text(encoding="ascii").splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise SystemExit(f"/proc/{pid}/status has no {field}")


def tail(path: Path, lines: int = 40) -> str:
    """The last ``lines`` lines of a log file."""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


@contextmanager
def running_server(
    scratch: Path, env: Mapping[str, str], cpu: int | None = None, start_timeout: float = 60.0
) -> Iterator[tuple[str, subprocess.Popen[bytes], Path]]:
    """``python -m runtime serve`` on a free port with ``env`` added; yields its URL, process and log file.

    The database is a SQLite file in ``scratch`` and Hugging Face is never called (``env`` may say
    otherwise). With ``cpu``, the server is pinned to that CPU before it starts any thread. It is
    stopped with SIGTERM (then SIGKILL after 30 s) when the block ends.
    """
    port = free_port()
    environment = {
        **os.environ,
        "MODELHUB_DATABASE_URL": f"sqlite+aiosqlite:///{scratch / 'bench.db'}",
        "HF_ENDPOINT": "http://hub.invalid",
        "HF_HUB_OFFLINE": "1",
        **env,
    }
    log_path = scratch / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "runtime", "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT,
            env=environment,
            stdout=log,
            stderr=log,
            preexec_fn=(lambda: os.sched_setaffinity(0, {cpu})) if cpu is not None else None,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + start_timeout
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1, trust_env=False).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                state = (
                    f"exited with {process.returncode} before answering /healthz"
                    if process.poll() is not None
                    else f"did not answer /healthz within {start_timeout:g} s"
                )
                raise SystemExit(f"the server {state}; its log ends:\n{tail(log_path)}")
            time.sleep(0.1)
        yield base, process, log_path
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def cpu_text(values: Sequence[float | None]) -> str:
    known = [value for value in values if value is not None]
    return f"{median(known):.0f} us" if known and len(known) == len(values) else "n/a"


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def table(rows: list[list[str]]) -> list[str]:
    """Left-aligned columns two spaces apart."""
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]
