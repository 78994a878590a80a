"""What the node reports about itself: CPU and memory from ``/proc``, the GPU from ``nvidia-smi``.

A value the node cannot measure is left out of ``NodeMetrics``, never guessed: no ``/proc`` (not
Linux), no CPU figure yet (the first sample has nothing to compare with), no ``nvidia-smi``, or a GPU
field it answers ``[N/A]`` for. ``active_requests`` stays absent: the agent serves no inference yet.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
from dataclasses import dataclass
from pathlib import Path

import msgspec

from generated.types import NodeMetrics

logger = logging.getLogger(__name__)

GPU_QUERY = (
    "--query-gpu=utilization.gpu,memory.used,memory.total",
    "--format=csv,noheader,nounits",
)
"""The ``nvidia-smi`` arguments: percent busy, MiB used and MiB in all, one line per GPU."""
_MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class GpuSample:
    """What ``nvidia-smi`` told, summed over the GPUs (usage averaged); None where it did not say."""

    usage: float | None
    memory_used_bytes: int | None
    memory_total_bytes: int | None


def parse_cpu_times(stat: str) -> tuple[int, int] | None:
    """``(idle, total)`` jiffies from the ``cpu`` line of ``/proc/stat``; idle includes iowait."""
    for line in stat.splitlines():
        fields = line.split()
        if fields and fields[0] == "cpu":
            try:
                values = [int(value) for value in fields[1:]]
            except ValueError:
                return None
            if len(values) < 4:
                return None
            # user nice system idle iowait irq softirq steal guest guest_nice; guest time is already in user.
            counted = values[:8]
            idle = values[3] + (values[4] if len(values) > 4 else 0)
            return idle, sum(counted)
    return None


def cpu_usage(previous: tuple[int, int], current: tuple[int, int]) -> float | None:
    """The busy fraction between two ``parse_cpu_times`` samples, or None when no time passed."""
    idle = current[0] - previous[0]
    total = current[1] - previous[1]
    if total <= 0:
        return None
    return min(1.0, max(0.0, 1.0 - idle / total))


def parse_meminfo(meminfo: str) -> float | None:
    """The used fraction of memory from ``/proc/meminfo``: ``1 - MemAvailable / MemTotal``."""
    values: dict[str, int] = {}
    for line in meminfo.splitlines():
        name, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[0].isdigit():
            values[name.strip()] = int(parts[0])
    total, available = values.get("MemTotal"), values.get("MemAvailable")
    if not total or available is None:
        return None
    return min(1.0, max(0.0, 1.0 - available / total))


def _number(text: str) -> float | None:
    try:
        return float(text.strip())
    except ValueError:
        return None  # "[N/A]", "[Not Supported]"


def parse_nvidia_smi(output: str) -> GpuSample | None:
    """Parse ``nvidia-smi`` CSV output (``GPU_QUERY``); None when it lists no GPU."""
    usages: list[float] = []
    used: list[float] = []
    totals: list[float] = []
    gpus = 0
    for line in output.splitlines():
        fields = line.split(",")
        if len(fields) != 3:
            continue
        gpus += 1
        for column, text in zip((usages, used, totals), fields, strict=True):
            value = _number(text)
            if value is not None and value >= 0:
                column.append(value)
    if not gpus:
        return None
    return GpuSample(
        usage=min(1.0, sum(usages) / len(usages) / 100) if len(usages) == gpus else None,
        memory_used_bytes=round(sum(used) * _MIB) if len(used) == gpus else None,
        memory_total_bytes=round(sum(totals) * _MIB) if len(totals) == gpus else None,
    )


class MetricsSampler:
    """Takes one ``NodeMetrics`` per heartbeat; the CPU figure covers the time since the previous one."""

    def __init__(self, proc: Path = Path("/proc"), nvidia_smi: str | None = None, *, timeout: float = 5.0) -> None:
        """Prepare the sources.

        Args:
            proc: Where ``stat`` and ``meminfo`` are.
            nvidia_smi: The ``nvidia-smi`` binary; None looks it up on ``PATH`` (absent: no GPU fields).
            timeout: Seconds ``nvidia-smi`` may take.
        """
        self.proc = proc
        self.nvidia_smi = nvidia_smi or shutil.which("nvidia-smi")
        self.timeout = timeout
        self._cpu = self._cpu_times()

    def _read(self, name: str) -> str | None:
        try:
            return (self.proc / name).read_text()
        except OSError:
            return None

    def _cpu_times(self) -> tuple[int, int] | None:
        stat = self._read("stat")
        return parse_cpu_times(stat) if stat is not None else None

    async def gpu(self) -> GpuSample | None:
        """Ask ``nvidia-smi``; None when it is missing, fails, or lists no GPU."""
        if self.nvidia_smi is None:
            return None
        try:
            process = await asyncio.create_subprocess_exec(
                self.nvidia_smi,
                *GPU_QUERY,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.DEVNULL,
                start_new_session=True,  # so that a timeout kills whatever it started too
            )
        except OSError as error:
            logger.debug("nvidia-smi could not run: %s", error)
            return None
        try:
            output, _ = await asyncio.wait_for(process.communicate(), self.timeout)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            await process.wait()
            logger.debug("nvidia-smi took longer than %.0f s", self.timeout)
            return None
        if process.returncode != 0:
            logger.debug("nvidia-smi exited with %s", process.returncode)
            return None
        return parse_nvidia_smi(output.decode(errors="replace"))

    async def sample(self) -> NodeMetrics:
        """The current metrics; fields that cannot be measured are absent."""
        values: dict[str, float | int] = {}
        current = self._cpu_times()
        if current is not None and self._cpu is not None:
            usage = cpu_usage(self._cpu, current)
            if usage is not None:
                values["cpu_usage"] = usage
        if current is not None:
            self._cpu = current
        meminfo = self._read("meminfo")
        memory = parse_meminfo(meminfo) if meminfo is not None else None
        if memory is not None:
            values["memory_usage"] = memory
        gpu = await self.gpu()
        if gpu is not None and gpu.usage is not None:
            values["gpu_usage"] = gpu.usage
        if gpu is not None and gpu.memory_used_bytes is not None:
            values["gpu_memory_used_bytes"] = gpu.memory_used_bytes
        return msgspec.convert(values, NodeMetrics)
