from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
from litestar.testing import TestClient

from runtime.app import create_app
from runtime.settings import Settings

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

ADMIN_TOKEN = "admin-secret-token"
NODE_TOKEN = "node-secret-token"
READ_TOKEN = "read-secret-token"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
NODE = {"Authorization": f"Bearer {NODE_TOKEN}"}
READ = {"Authorization": f"Bearer {READ_TOKEN}"}
HF_ENDPOINT = "http://hub.invalid"


def make_settings(tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": f"sqlite+aiosqlite:///{tmp_path / 'modelhub.db'}",
        "admin_token": ADMIN_TOKEN,
        "node_token": NODE_TOKEN,
        "read_token": READ_TOKEN,
        "hf_endpoint": HF_ENDPOINT,
        "heartbeat_flush_interval": 0.05,
        "hf_hub_offline": True,  # tests never leave the machine; the HF tests point HF_ENDPOINT at the fake Hub
        **overrides,
    }
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def run_modelhub(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``python -m runtime ARGS`` to the end, with ``env`` and none of this process's MODELHUB_ variables."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("MODELHUB_")}
    return subprocess.run(
        [sys.executable, "-m", "runtime", *args],
        env={**environment, **env},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def spawn_server(tmp_path: Path, environment: Mapping[str, str], *args: str) -> tuple[str, subprocess.Popen[str]]:
    """`modelhub serve` on a free loopback port with exactly ``environment``; its base URL and process (not waited for).

    Its output goes to ``process.log_path`` under ``tmp_path``: a file, not a pipe, which blocks the server once full.
    """
    port = free_port()
    with (tmp_path / f"server-{port}.log").open("w") as log:  # the child keeps its own descriptor
        process = subprocess.Popen(
            [sys.executable, "-m", "runtime", "serve", "--port", str(port), *args],
            env=dict(environment),
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
    process.log_path = log.name  # type: ignore[attr-defined]
    return f"http://127.0.0.1:{port}", process


def stop_server(process: subprocess.Popen[str]) -> None:
    """SIGTERM, as an operator stops it; killed if it has not stopped within 10 s."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def live_server(tmp_path: Path, *args: str, **env: str) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """`modelhub serve` in a subprocess on a free loopback port, once it answers; yields its base URL and process."""
    environment = {
        **os.environ,
        "MODELHUB_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'live.db'}",
        "MODELHUB_ADMIN_TOKEN": ADMIN_TOKEN,
        "MODELHUB_NODE_TOKEN": NODE_TOKEN,
        "MODELHUB_READ_TOKEN": READ_TOKEN,
        "HF_ENDPOINT": HF_ENDPOINT,
        "HF_HUB_OFFLINE": "1",
        **env,
    }
    base, process = spawn_server(tmp_path, environment, *args)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server did not start:\n{Path(process.log_path).read_text()}")  # type: ignore[attr-defined]
            time.sleep(0.1)
        yield base, process
    finally:
        stop_server(process)
