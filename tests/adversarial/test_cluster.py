"""Replicas behind a real HAProxy (the config ``runtime/cluster.py`` generates): balanced, WebSockets, rolling restarts.

Three ``modelhub serve`` replicas on a private PostgreSQL and a private Redis, each on a fixed free
port, and HAProxy in front on another. The rolling restart stops each replica in turn with SIGTERM
while client threads keep asking for /v0/models and /v1/models through HAProxy, starts it again on
the same port and waits until HAProxy's checks see it up: no request may fail. A missing haproxy
skips the module (a failure when MODELHUB_REQUIRE_REDIS=1, as for the other services).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
from websockets.asyncio.client import connect

from runtime.cluster import haproxy_config, server_states
from tests.adversarial.services import PrivatePostgres, PrivateRedis
from tests.runtime.conftest import ADMIN, ADMIN_TOKEN, HF_ENDPOINT, NODE, NODE_TOKEN, READ_TOKEN, free_port

if TYPE_CHECKING:
    from collections.abc import Iterator

REPLICAS = ("replica-1", "replica-2", "replica-3")


def haproxy_binary() -> str:
    binary = shutil.which("haproxy") or ("/usr/sbin/haproxy" if Path("/usr/sbin/haproxy").exists() else None)
    if binary is None:
        if os.environ.get("MODELHUB_REQUIRE_REDIS") == "1":
            pytest.fail("haproxy is not installed (apt-get install haproxy)")
        pytest.skip("haproxy is not installed")
    return binary


def wait_for(condition, what: str, within: float, every: float = 0.1):
    """Poll ``condition`` until it returns something truthy; fail with ``what`` after ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        try:
            value = condition()
        except (OSError, httpx.TransportError):
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} within {within:g} s")
        time.sleep(every)


class Cluster:
    """The replicas on fixed ports and HAProxy in front; ``stop``/``start`` one replica at will."""

    def __init__(self, directory: Path, database_url: str, redis_url: str) -> None:
        self.directory = directory
        self.ports = {replica: free_port() for replica in REPLICAS}
        self.front_port = free_port()
        self.front = f"http://127.0.0.1:{self.front_port}"
        self.socket = directory / "haproxy.sock"
        self.config = directory / "haproxy.cfg"
        self.config.write_text(haproxy_config(list(self.ports.items()), self.front_port, stats_socket=self.socket))
        environment = {k: v for k, v in os.environ.items() if not k.startswith("MODELHUB_")}
        self.environment = environment | {
            "MODELHUB_DATABASE_URL": database_url,
            "MODELHUB_REDIS_URL": redis_url,
            "MODELHUB_ADMIN_TOKEN": ADMIN_TOKEN,
            "MODELHUB_NODE_TOKEN": NODE_TOKEN,
            "MODELHUB_READ_TOKEN": READ_TOKEN,
            "HF_ENDPOINT": HF_ENDPOINT,
            "HF_HUB_OFFLINE": "1",
            "MODELHUB_AUTO_APPROVE_NODES": "true",
            "MODELHUB_SHUTDOWN_DRAIN": "3",  # /readyz 503 first: HAProxy (inter 1s fall 2) moves away before the stop
        }
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.haproxy: subprocess.Popen[bytes] | None = None

    def log(self, name: str) -> str:
        path = self.directory / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def start(self, replica: str) -> None:
        """`modelhub serve` as ``replica`` on its port (not waited for)."""
        with (self.directory / f"{replica}.log").open("ab") as log:
            self.processes[replica] = subprocess.Popen(
                [sys.executable, "-m", "runtime", "serve", "--port", str(self.ports[replica])],
                env=self.environment | {"MODELHUB_REPLICA_ID": replica},
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def stop(self, replica: str) -> None:
        """SIGTERM, as an operator stops it; waits until it has exited (graceful: in-flight requests finish)."""
        process = self.processes[replica]
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise AssertionError(f"{replica} did not stop within 15 s on SIGTERM:\n{self.log(replica)}") from None

    def wait_ready(self, replica: str) -> None:
        def ready() -> bool:
            process = self.processes[replica]
            assert process.poll() is None, f"{replica} exited ({process.returncode}):\n{self.log(replica)}"
            return httpx.get(f"http://127.0.0.1:{self.ports[replica]}/readyz", timeout=2).status_code == 200

        wait_for(ready, f"{replica} was not ready", 45)

    def states(self) -> dict[str, str]:
        return server_states(self.socket)

    def wait_state(self, replica: str, state: str, within: float = 20) -> None:
        wait_for(lambda: self.states().get(replica) == state, f"HAProxy did not see {replica} {state}", within)

    def start_haproxy(self, binary: str) -> None:
        with (self.directory / "haproxy.log").open("ab") as log:
            self.haproxy = subprocess.Popen(
                [binary, "-f", str(self.config), "-db"], stdout=log, stderr=subprocess.STDOUT
            )
        wait_for(
            lambda: set(self.states().values()) == {"UP"} and len(self.states()) == len(REPLICAS),
            "HAProxy did not see every replica up",
            20,
        )

    def close(self) -> None:
        processes = [*self.processes.values(), *([self.haproxy] if self.haproxy else [])]
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Iterator[Cluster]:
    binary = haproxy_binary()
    directory = tmp_path_factory.mktemp("cluster")
    postgres = PrivatePostgres()
    redis_server = PrivateRedis(directory)
    running = None
    try:
        postgres.start()
        redis_server.start()
        running = Cluster(directory, postgres.url, redis_server.url)
        for replica in REPLICAS:
            running.start(replica)
        for replica in REPLICAS:
            running.wait_ready(replica)
        running.start_haproxy(binary)
        yield running
    finally:
        if running is not None:
            running.close()
        redis_server.kill()
        postgres.close()


def test_the_generated_config_is_valid_for_haproxy(tmp_path):
    binary = haproxy_binary()
    config = haproxy_config(
        [("replica-1", 18001), ("replica-2", 18002)], 18000, stats_port=18009, stats_socket=tmp_path / "s.sock"
    )
    assert "server replica-1 127.0.0.1:18001" in config
    assert "server replica-2 127.0.0.1:18002" in config
    assert "http-check send meth GET uri /readyz" in config
    assert "balance roundrobin" in config
    assert "timeout tunnel 1h" in config
    assert "shutdown-sessions" not in config
    (tmp_path / "haproxy.cfg").write_text(config)
    checked = subprocess.run([binary, "-c", "-f", str(tmp_path / "haproxy.cfg")], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    with pytest.raises(ValueError, match="at least one replica"):
        haproxy_config([], 18000)


def test_requests_through_haproxy_reach_every_replica(cluster):
    with httpx.Client(base_url=cluster.front, timeout=5) as client:
        assert client.get("/v0/models", headers=ADMIN).status_code == 200
        seen = Counter()
        for _ in range(4 * len(REPLICAS)):
            ready = client.get("/readyz")
            assert ready.status_code == 200, ready.text
            seen[ready.json()["details"]["replica"]] += 1
    assert set(seen) == set(REPLICAS), seen


def test_heartbeats_through_haproxy_land_on_every_replica_and_all_show_the_model_ready(cluster):
    """Round robin sends a node's consecutive heartbeats to different replicas; every replica ends with one state."""
    model = "qwen3-0.6b"
    with httpx.Client(base_url=cluster.front, timeout=5) as client:
        registered = client.post("/v0/models/register", json={"model_id": model}, headers=ADMIN)
        assert registered.status_code in (201, 409), registered.text
        node = {"runtime_id": "hb-node", "machine_name": "hb"}
        assert client.post("/v0/nodes", json=node, headers=NODE).status_code in (200, 201)
        time.sleep(0.3)  # every replica has heard of the node (~0.05 s)
        for done in (10, 20, 30, 40, 50, 60):
            body = {"metrics": {}, "models": [{"model_id": model, "state": "downloading", "bytes_done": done,
                                               "bytes_total": 100}]}  # fmt: skip
            answer = client.post("/v0/nodes/hb-node/heartbeat", json=body, headers=NODE)
            assert answer.status_code == 200, answer.text
            time.sleep(0.2)
        body = {"metrics": {}, "models": [{"model_id": model, "state": "ready", "bytes_done": 100, "bytes_total": 100}]}
        assert client.post("/v0/nodes/hb-node/heartbeat", json=body, headers=NODE).status_code == 200

    def ready_everywhere() -> bool:
        for port in cluster.ports.values():
            detail = httpx.get(f"http://127.0.0.1:{port}/v0/models/{model}", headers=ADMIN, timeout=5).json()
            rows = [(row["runtime_id"], row["state"]) for row in detail["nodes"]]
            if detail["status"] != "ready" or rows != [("hb-node", "ready")]:
                return False
        return True

    wait_for(ready_everywhere, "every replica shows the model ready on hb-node", 5)


async def test_a_websocket_through_haproxy_gets_its_snapshot(cluster):
    url = f"{cluster.front.replace('http://', 'ws://')}/ws?token={READ_TOKEN}"
    async with connect(url) as websocket:
        await websocket.send(json.dumps({"op": "subscribe", "topics": ["models"]}))
        frames = [json.loads(await asyncio.wait_for(websocket.recv(), 10)) for _ in range(2)]
    assert [frame["type"] for frame in frames] == ["Subscribed", "Snapshot"], frames
    assert frames[1]["topic"] == "models"
    assert isinstance(frames[1]["items"], list)


class Load:
    """Client threads asking HAProxy for /v0/models and /v1/models and registering a node (a POST, which HAProxy
    may not retry once sent), one request after another, until stopped."""

    def __init__(self, base: str, threads: int = 3) -> None:
        self.base = base
        self.done = threading.Event()
        self.lock = threading.Lock()
        self.ok = 0
        self.failures: list[str] = []
        self.threads = [threading.Thread(target=self.run, daemon=True) for _ in range(threads)]

    def run(self) -> None:
        with httpx.Client(base_url=self.base, headers=ADMIN, timeout=10) as client:
            paths = ("/v0/models", "/v1/models", "/v0/nodes")
            turn = 0
            while not self.done.is_set():
                path = paths[turn % 3]
                turn += 1
                try:
                    if path == "/v0/nodes":
                        node = {"runtime_id": f"load-{turn % 7}", "machine_name": "load"}
                        response = client.post(path, json=node, headers=NODE)
                    else:
                        response = client.get(path)
                    failure = None if response.is_success else f"{path}: {response.status_code} {response.text[:200]}"
                except httpx.HTTPError as error:
                    failure = f"{path}: {type(error).__name__}: {error}"
                with self.lock:
                    if failure is None:
                        self.ok += 1
                    else:
                        self.failures.append(failure)

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.done.set()
        for thread in self.threads:
            thread.join(timeout=15)


def test_a_rolling_restart_through_haproxy_fails_no_request(cluster):
    with Load(cluster.front) as load:
        wait_for(lambda: load.ok >= 20, "the load did not get going", 10)
        for replica in REPLICAS:
            before = load.ok
            cluster.stop(replica)
            cluster.wait_state(replica, "DOWN")
            cluster.start(replica)
            cluster.wait_ready(replica)
            cluster.wait_state(replica, "UP")
            wait_for(lambda before=before: load.ok > before + 20, f"no requests were answered around {replica}", 10)
        wait_for(lambda: load.ok > 0, "no requests", 1)
    assert load.failures == [], f"{len(load.failures)} of {load.ok + len(load.failures)} failed: {load.failures[:5]}"
    assert load.ok > 100
