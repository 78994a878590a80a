"""The agent against `modelhub serve` in a subprocess: real wire, real auth, signals and exit codes."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time

import httpx
import pytest

from runtime.agent.agent import run_node
from runtime.agent.config import NodeConfig
from tests.runtime.conftest import NODE_TOKEN, READ, live_server


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    with live_server(tmp_path_factory.mktemp("live"), MODELHUB_AUTO_APPROVE_NODES="1") as (url, _):
        yield url


NODE_COMMAND = [sys.executable, "-c", "import sys; from runtime.agent import node_main; sys.exit(node_main())"]


def node_status(base: str, runtime_id: str) -> str | None:
    nodes = httpx.get(f"{base}/v0/nodes", headers=READ, timeout=5).json()
    return next((node["status"] for node in nodes if node["runtime_id"] == runtime_id), None)


async def test_run_node_registers_heartbeats_and_stops_on_the_event(base, tmp_path):
    stop = asyncio.Event()
    config = NodeConfig(server=base, token=NODE_TOKEN, cache_dir=tmp_path / "cache", heartbeat_interval=0.1)
    task = asyncio.create_task(run_node(config, stop=stop))
    runtime_id = None
    deadline = time.monotonic() + 15
    while True:
        if runtime_id is None and (tmp_path / "cache" / "runtime_id").exists():
            runtime_id = (tmp_path / "cache" / "runtime_id").read_text().strip()
        status = await asyncio.to_thread(node_status, base, runtime_id) if runtime_id else None
        if status == "online":  # its first heartbeat was accepted
            break
        assert time.monotonic() < deadline, "the node did not come online"
        assert not task.done(), task
        await asyncio.sleep(0.1)
    stop.set()
    await asyncio.wait_for(task, 10)


def test_the_command_stops_cleanly_on_sigterm(base, tmp_path):
    argv = ["--server", base, "--cache-dir", str(tmp_path / "cache"), "--runtime-id", "cli-node"]
    env = {"MODELHUB_NODE_TOKEN": NODE_TOKEN, "PATH": "/usr/bin:/bin"}
    process = subprocess.Popen(
        [*NODE_COMMAND, *argv, "--heartbeat-interval", "0.1"], env=env, text=True, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 15
        while node_status(base, "cli-node") != "online":
            assert time.monotonic() < deadline
            assert process.poll() is None
            time.sleep(0.1)
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0
    assert "Traceback" not in err
    assert NODE_TOKEN not in err
    assert "node cli-node is online" in err


def test_a_wrong_token_exits_1_with_one_line(base, tmp_path):
    argv = ["--server", base, "--cache-dir", str(tmp_path / "cache"), "--token", "not-the-token"]
    result = subprocess.run([*NODE_COMMAND, *argv], capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("modelhub node: the server refused the node token")
    assert "Traceback" not in result.stderr
    assert "not-the-token" not in result.stderr
