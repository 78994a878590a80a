"""Metrics: /proc parsing, and GPU fields only when nvidia-smi says so."""

from __future__ import annotations

import os
import stat

import msgspec
import pytest

from runtime.agent.metrics import MetricsSampler, cpu_usage, parse_cpu_times, parse_meminfo, parse_nvidia_smi

STAT_1 = "cpu  100 0 100 700 100 0 0 0 0 0\ncpu0 50 0 50 350 50 0 0 0 0 0\nintr 1 2 3\n"
STAT_2 = "cpu  200 0 150 1000 150 0 0 0 0 0\ncpu0 100 0 75 500 75 0 0 0 0 0\n"
MEMINFO = "MemTotal:       16000000 kB\nMemFree:         1000000 kB\nMemAvailable:    4000000 kB\n"


def test_cpu_usage_between_two_samples():
    first, second = parse_cpu_times(STAT_1), parse_cpu_times(STAT_2)
    assert first == (800, 1000)
    assert second == (1150, 1500)
    assert cpu_usage(first, second) == pytest.approx(1 - 350 / 500)
    assert cpu_usage(second, second) is None


@pytest.mark.parametrize("text", ["", "intr 1\n", "cpu a b c d\n", "cpu 1 2\n"])
def test_unreadable_cpu_lines_give_nothing(text):
    assert parse_cpu_times(text) is None


def test_memory_usage_from_meminfo():
    assert parse_meminfo(MEMINFO) == pytest.approx(0.75)
    assert parse_meminfo("MemTotal: 100 kB\n") is None


@pytest.mark.parametrize(
    ("output", "usage", "used", "total"),
    [
        ("37, 1024, 8192\n", 0.37, 1024 << 20, 8192 << 20),
        ("10, 100, 1000\n30, 300, 1000\n", 0.2, 400 << 20, 2000 << 20),
        ("[N/A], 512, 4096\n", None, 512 << 20, 4096 << 20),
        ("[Not Supported], [N/A], 4096\n", None, None, 4096 << 20),
    ],
)
def test_nvidia_smi_output(output, usage, used, total):
    gpu = parse_nvidia_smi(output)
    assert gpu is not None
    assert gpu.usage == (pytest.approx(usage) if usage is not None else None)
    assert (gpu.memory_used_bytes, gpu.memory_total_bytes) == (used, total)


def test_no_gpu_listed_is_no_gpu():
    assert parse_nvidia_smi("No devices were found\n") is None


@pytest.fixture
def proc(tmp_path):
    (tmp_path / "stat").write_text(STAT_1)
    (tmp_path / "meminfo").write_text(MEMINFO)
    return tmp_path


@pytest.fixture
def no_nvidia_smi(monkeypatch, tmp_path):
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))


async def test_without_nvidia_smi_no_gpu_field_is_invented(proc, no_nvidia_smi):
    sampler = MetricsSampler(proc=proc)
    assert sampler.nvidia_smi is None
    (proc / "stat").write_text(STAT_2)
    metrics = await sampler.sample()
    fields = msgspec.structs.asdict(metrics)
    assert fields["cpu_usage"] == pytest.approx(0.3)
    assert fields["memory_usage"] == pytest.approx(0.75)
    for name in ("gpu_usage", "gpu_memory_used_bytes", "active_requests"):
        assert fields[name] is msgspec.UNSET
    assert msgspec.json.decode(msgspec.json.encode(metrics)).keys() == {"cpu_usage", "memory_usage"}
    assert await sampler.gpu() is None


async def test_without_proc_nothing_is_reported(tmp_path, no_nvidia_smi):
    metrics = await MetricsSampler(proc=tmp_path / "missing").sample()
    assert msgspec.json.encode(metrics) == b"{}"


def fake_nvidia_smi(tmp_path, body: str) -> str:
    script = tmp_path / "nvidia-smi"
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return str(script)


async def test_nvidia_smi_fills_the_gpu_fields(proc, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    fake_nvidia_smi(tmp_path, "echo '45, 2048, 16384'")
    sampler = MetricsSampler(proc=proc)
    assert sampler.nvidia_smi == str(tmp_path / "nvidia-smi")
    metrics = await sampler.sample()
    assert metrics.gpu_usage == pytest.approx(0.45)
    assert metrics.gpu_memory_used_bytes == 2048 << 20
    gpu = await sampler.gpu()
    assert gpu is not None
    assert gpu.memory_total_bytes == 16384 << 20


@pytest.mark.parametrize("body", ["exit 9", "echo 'NVIDIA-SMI has failed'", "sleep 5"])
async def test_a_failing_nvidia_smi_reports_no_gpu(proc, tmp_path, body):
    sampler = MetricsSampler(proc=proc, nvidia_smi=fake_nvidia_smi(tmp_path, body), timeout=0.3)
    metrics = await sampler.sample()
    assert metrics.gpu_usage is msgspec.UNSET
    assert metrics.gpu_memory_used_bytes is msgspec.UNSET
