"""``just demo``: the server on embedded defaults, the fake Hub and 3 simulated nodes, in one command.

Everything runs on loopback: the fake Hub stands in for huggingface.co (``HF_ENDPOINT``), the
server auto-approves nodes, and the simulated nodes fetch nothing for real. Tokens are generated
for this run and printed with the dashboard URL. Ctrl-C stops all three.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path

import httpx


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _start(command: list[str], env: dict[str, str], stack: ExitStack) -> subprocess.Popen[bytes]:
    process = subprocess.Popen([sys.executable, "-m", "runtime", *command], env=env)

    def stop() -> None:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()

    stack.callback(stop)
    return process


def _wait_until_up(url: str, process: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"demo: the {what} stopped (exit {process.returncode})")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.2)
    raise SystemExit(f"demo: the {what} did not start within 30 s")


def main(argv: list[str] | None = None) -> int:
    """Start the three parts, print how to reach them, wait for Ctrl-C."""
    parser = argparse.ArgumentParser(prog="just demo", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, default=8000, help="server port (default 8000)")
    parser.add_argument("--nodes", type=int, default=3, help="simulated nodes (default 3)")
    parser.add_argument("--data", type=Path, default=Path("data/demo"), help="where the demo keeps its database")
    arguments = parser.parse_args(argv)

    tokens = {name: secrets.token_urlsafe(18) for name in ("ADMIN", "NODE", "READ")}
    hub_port = _free_port()
    hub_url = f"http://127.0.0.1:{hub_port}"
    server_url = f"http://127.0.0.1:{arguments.port}"
    arguments.data.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "MODELHUB_DATABASE_URL": f"sqlite+aiosqlite:///{arguments.data / 'modelhub.db'}",
        "MODELHUB_AUTO_APPROVE_NODES": "1",
        "MODELHUB_NODE_OFFLINE_AFTER": "10",
        "HF_ENDPOINT": hub_url,
        **{f"MODELHUB_{name}_TOKEN": token for name, token in tokens.items()},
    }
    env.pop("HF_HUB_OFFLINE", None)
    with ExitStack() as stack:
        hub = _start(["fake-hub", "--port", str(hub_port)], env, stack)
        _wait_until_up(f"{hub_url}/_fake/stats", hub, "fake Hub")
        server = _start(["serve", "--port", str(arguments.port)], env, stack)
        _wait_until_up(f"{server_url}/healthz", server, "server")
        nodes = _start(
            ["simulate", "--server", server_url, "--token", tokens["NODE"], "--nodes", str(arguments.nodes)], env, stack
        )
        print(
            f"\nModel Hub demo\n  dashboard:  {server_url}/\n  API:        {server_url}/schema\n"
            f"  fake Hub:   {hub_url}\n  admin token: {tokens['ADMIN']}\n  read token:  {tokens['READ']}\n"
            f"  node token:  {tokens['NODE']}\n"
            f"Register a model: curl -X POST -H 'Authorization: Bearer {tokens['ADMIN']}' "
            f"-H 'Content-Type: application/json' -d '{{\"model_id\": \"qwen3-0.6b\"}}' "
            f"{server_url}/v0/models/register\nCtrl-C stops everything.\n",
            flush=True,
        )
        try:
            while all(process.poll() is None for process in (hub, server, nodes)):
                time.sleep(0.5)
        except KeyboardInterrupt:
            return 0
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
