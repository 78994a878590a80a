"""``just demo``: the server on embedded defaults, the fake Hub and 3 simulated nodes, in one command.

Everything runs on loopback: the fake Hub stands in for huggingface.co (``HF_ENDPOINT``), the
server auto-approves nodes, and the simulated nodes fetch nothing for real. Tokens are generated
for this run. The three processes write their logs to files in the data directory, so the summary
(dashboard URL, tokens, commands to try) is the last thing on screen; after it the demo prints a
line only when something happens: a model's status changes (counted per model, not per node) or a
process stops. Ctrl-C stops all three.
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import httpx

from runtime.dev_tokens import new_token

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

#: The CLI's default server (``runtime/admin_cli``): ``--server`` is shown only for another port.
_DEFAULT_SERVER = "http://127.0.0.1:8000"
#: The model the summary suggests registering: the smallest in the catalog, ready in seconds.
EXAMPLE_MODEL = "qwen3-0.6b"
#: Seconds between two looks at the hub for the status line.
POLL_INTERVAL = 1.0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _start(command: list[str], env: dict[str, str], log: IO[bytes], stack: ExitStack) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [sys.executable, "-m", "runtime", *command], env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log
    )

    def stop() -> None:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    stack.callback(stop)
    return process


def _wait_until_up(url: str, process: subprocess.Popen[bytes], what: str, log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"demo: the {what} stopped (exit {process.returncode}); see {log}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.2)
    raise SystemExit(f"demo: the {what} did not start within 30 s; see {log}")


def model_counts(hub: Iterable[Mapping[str, Any]]) -> Counter[str]:
    """Catalog models by status, one count per model (a model ready on 3 nodes is one ready model)."""
    return Counter(str(item["status"]) for item in hub)


def status_line(counts: Mapping[str, int]) -> str:
    """``models: 1 ready, 1 downloading, 0 registered (of 21 in the catalog)``."""
    total = sum(counts.values())
    ready, downloading, registered = (counts.get(status, 0) for status in ("ready", "downloading", "registered"))
    noun = "model" if ready == 1 else "models"
    return f"{ready} {noun} ready, {downloading} downloading, {registered} registered (of {total} in the catalog)"


def _cli_command() -> str:
    """How to run ``modelhub`` from here: the venv's console script when there is one."""
    script = Path(sys.executable).with_name("modelhub")
    if not script.exists():
        return f"{shlex.quote(sys.executable)} -m runtime"
    try:
        return str(script.relative_to(Path.cwd()))
    except ValueError:
        return str(script)


def summary(
    server_url: str, hub_url: str, tokens: Mapping[str, str], data: Path, nodes: int, counts: Mapping[str, int]
) -> str:
    """What the demo prints once everything is up: where to look, the tokens, what to try."""
    cli = _cli_command()
    server = "" if server_url == _DEFAULT_SERVER else f" --server {server_url}"
    admin = tokens["ADMIN"]
    return "\n".join(
        [
            "",
            f"Model Hub demo: the server, the fake Hub and {nodes} simulated nodes (auto-approved) are running.",
            "",
            f"  dashboard    {server_url}/   (sign in with the admin or the read token)",
            f"  API docs     {server_url}/schema",
            f"  fake Hub     {hub_url}   (HF_ENDPOINT of the server)",
            f"  admin token  {admin}",
            f"  read token   {tokens['READ']}",
            f"  node token   {tokens['NODE']}",
            f"  logs         {data}/server.log, fake-hub.log, simulate.log",
            f"  models       {status_line(counts)}",
            "",
            "Try:",
            f"  export MODELHUB_TOKEN={admin}",
            f"  {cli} models register {EXAMPLE_MODEL} --wait{server}   # follow it to ready",
            f"  {cli} models list{server}",
            f"  {cli} nodes list{server}",
            f"  {cli} models delete {EXAMPLE_MODEL}{server}",
            "",
            "Ctrl-C stops everything. A line follows when a model's status changes:",
        ]
    )


def _hub_counts(client: httpx.Client, server_url: str, token: str) -> Counter[str] | None:
    try:
        response = client.get(f"{server_url}/v0/models/hub", headers={"Authorization": f"Bearer {token}"})
    except httpx.TransportError:
        return None
    return model_counts(response.json()) if response.status_code == 200 else None


def main(argv: list[str] | None = None) -> int:
    """Start the three parts, print how to reach them, then report model status changes until Ctrl-C."""
    parser = argparse.ArgumentParser(prog="just demo", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, default=8000, help="server port (default 8000)")
    parser.add_argument("--nodes", type=int, default=3, help="simulated nodes (default 3)")
    parser.add_argument(
        "--data", type=Path, default=Path("data/demo"), help="where the demo keeps its database and logs"
    )
    arguments = parser.parse_args(argv)

    tokens = {name: new_token() for name in ("ADMIN", "NODE", "READ")}
    hub_port = _free_port()
    hub_url = f"http://127.0.0.1:{hub_port}"
    server_url = f"http://127.0.0.1:{arguments.port}"
    data: Path = arguments.data
    data.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "MODELHUB_DATABASE_URL": f"sqlite+aiosqlite:///{data / 'modelhub.db'}",
        "MODELHUB_AUTO_APPROVE_NODES": "1",
        "MODELHUB_NODE_OFFLINE_AFTER": "10",
        "HF_ENDPOINT": hub_url,
        **{f"MODELHUB_{name}_TOKEN": token for name, token in tokens.items()},
    }
    env.pop("HF_HUB_OFFLINE", None)
    env.pop("MODELHUB_HF_HUB_OFFLINE", None)
    logs = {name: data / f"{name}.log" for name in ("fake-hub", "server", "simulate")}
    with ExitStack() as stack:
        files = {name: stack.enter_context(path.open("wb")) for name, path in logs.items()}
        hub = _start(["fake-hub", "--port", str(hub_port)], env, files["fake-hub"], stack)
        _wait_until_up(f"{hub_url}/_fake/stats", hub, "fake Hub", logs["fake-hub"])
        server = _start(["serve", "--port", str(arguments.port)], env, files["server"], stack)
        _wait_until_up(f"{server_url}/healthz", server, "server", logs["server"])
        simulate = ["simulate", "--server", server_url, "--token", tokens["NODE"], "--nodes", str(arguments.nodes)]
        nodes = _start(simulate, env, files["simulate"], stack)
        processes = {"fake Hub": (hub, logs["fake-hub"]), "server": (server, logs["server"])}
        processes["simulated nodes"] = (nodes, logs["simulate"])
        client = stack.enter_context(httpx.Client(timeout=5))
        shown = _hub_counts(client, server_url, tokens["READ"]) or Counter()
        print(summary(server_url, hub_url, tokens, data, arguments.nodes, shown), flush=True)
        try:
            while True:
                for what, (process, log) in processes.items():
                    if process.poll() is not None:
                        print(f"demo: the {what} stopped (exit {process.returncode}); see {log}", flush=True)
                        return 1
                counts = _hub_counts(client, server_url, tokens["READ"])
                if counts is not None and counts != shown:
                    print(f"{time.strftime('%H:%M:%S')}  {status_line(counts)}", flush=True)
                    shown = counts
                time.sleep(POLL_INTERVAL)
        except KeyboardInterrupt:
            return 0


if __name__ == "__main__":
    raise SystemExit(main())
