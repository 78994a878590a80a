"""Helpers the wrk benchmarks share: reading wrk's report, /proc CPU time, ports and the printed table."""

from __future__ import annotations

import os
import re
import socket
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

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
