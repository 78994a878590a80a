"""``modelhub simulate``: run simulated nodes until Ctrl-C (or ``--duration``), printing a summary line now and then."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import signal
import sys
from typing import NoReturn

from runtime.simulator._config import DEFAULT_SPEED, SimulatorConfig, SimulatorError
from runtime.simulator._run import Simulator

PROG = "modelhub simulate"
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]i?)?b?\s*(?:/s)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12, "ki": 2**10, "mi": 2**20, "gi": 2**30, "ti": 2**40}


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (and still exit status 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message}\n")


def _speed(text: str) -> float:
    """Bytes per second: a number with an optional unit, e.g. ``200000000``, ``200MB``, ``1.5GiB/s``."""
    match = _SIZE.match(text)
    if match is None:
        raise argparse.ArgumentTypeError(f"not a speed: {text!r} (e.g. 200000000, 200MB, 1GiB)")
    return float(match.group(1)) * _UNITS[(match.group(2) or "").lower()]


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="Run simulated nodes in one process (no file I/O) against a Model Hub server.",
        epilog="Every few seconds a line shows heartbeats/s, errors, latency, and nodes and models by state.",
    )
    parser.add_argument("--server", required=True, metavar="URL", help="the server's base URL")
    parser.add_argument("--token", metavar="T", help="the node token (default: $MODELHUB_NODE_TOKEN)")
    parser.add_argument("--nodes", type=int, required=True, metavar="N", help="how many nodes to simulate")
    parser.add_argument("--heartbeat-interval", type=float, default=2.0, metavar="S", help="seconds (default 2)")
    parser.add_argument(
        "--speed",
        type=_speed,
        default=float(DEFAULT_SPEED),
        metavar="BYTES_PER_S",
        help="download speed per node and model, e.g. 200MB (default 200 MB/s)",
    )
    parser.add_argument(
        "--failure-rate", type=float, default=0.0, metavar="P", help="per heartbeat and download: chance it fails"
    )
    parser.add_argument("--flap-rate", type=float, default=0.0, metavar="P", help="per heartbeat: chance to go silent")
    parser.add_argument(
        "--flap-seconds", type=float, default=35.0, metavar="S", help="how long a flapping node is silent (default 35)"
    )
    parser.add_argument("--seed", type=int, metavar="N", help="seed for a reproducible run (default: random, printed)")
    parser.add_argument("--gpu", action="store_true", help="the nodes have a GPU (GPU memory and usage are reported)")
    parser.add_argument("--runtime-id-prefix", default="sim", metavar="P", help="runtime ids are P-0000, P-0001, …")
    parser.add_argument(
        "--concurrency", type=int, metavar="N", help="most requests in flight (default: 1 per 125 heartbeats/s, 2..64)"
    )
    parser.add_argument("--stats-interval", type=float, default=5.0, metavar="S", help="seconds between summaries")
    parser.add_argument(
        "--connect-timeout", type=float, default=10.0, metavar="S", help="seconds to wait for the server at start"
    )
    parser.add_argument("--duration", type=float, metavar="S", help="stop after this many seconds (default: Ctrl-C)")
    return parser


def simulate_main(argv: list[str] | None = None) -> int:
    """``modelhub simulate [options]``: ``argv`` is what follows ``simulate``; return the exit status.

    Errors (arguments, settings, a server that cannot be reached or refuses the token) print one line
    and give 2; Ctrl-C or SIGTERM stops the nodes cleanly and gives 0.
    """
    if argv is None:
        argv = sys.argv[1:]
        if argv[:1] == ["simulate"]:
            argv = argv[1:]
    try:
        arguments = _parser().parse_args(argv)
    except SystemExit as exit_:  # --help (0) or a usage error, already printed (2)
        return exit_.code if isinstance(exit_.code, int) else 2
    token = arguments.token or os.environ.get("MODELHUB_NODE_TOKEN", "")
    if not token:
        print(f"{PROG}: give --token or set MODELHUB_NODE_TOKEN", file=sys.stderr)
        return 2
    if arguments.duration is not None and not arguments.duration > 0:
        print(f"{PROG}: --duration must be greater than 0", file=sys.stderr)
        return 2
    try:
        config = SimulatorConfig(
            server=arguments.server,
            token=token,
            nodes=arguments.nodes,
            heartbeat_interval=arguments.heartbeat_interval,
            speed_bytes_per_s=arguments.speed,
            failure_rate=arguments.failure_rate,
            flap_rate=arguments.flap_rate,
            flap_seconds=arguments.flap_seconds,
            seed=arguments.seed,
            runtime_id_prefix=arguments.runtime_id_prefix,
            gpu=arguments.gpu,
            concurrency=arguments.concurrency,
            stats_interval=arguments.stats_interval,
            connect_timeout=arguments.connect_timeout,
        )
        with _runner() as runner:
            return runner.run(_run(config, arguments.duration))
    except SimulatorError as error:
        print(f"{PROG}: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # only where signal handlers cannot be installed
        return 130


def _runner() -> asyncio.Runner:
    """An asyncio runner on uvloop where it is installed (less CPU per request for big runs)."""
    try:
        import uvloop  # optional: imported only here
    except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard] on Linux and macOS
        return asyncio.Runner()
    return asyncio.Runner(loop_factory=uvloop.new_event_loop)


async def _run(config: SimulatorConfig, duration: float | None) -> int:
    simulator = Simulator(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    handled = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):  # not the main thread, or Windows
            loop.add_signal_handler(signum, stop.set)
            handled.append(signum)
    timer = loop.call_later(duration, stop.set) if duration is not None else None
    print(
        f"simulating {config.nodes} nodes against {config.server} (seed {simulator.seed}, heartbeat every "
        f"{config.heartbeat_interval:g} s, runtime ids {config.runtime_id_prefix}-0000…); Ctrl-C stops",
        flush=True,
    )
    try:
        final = await simulator.run(stop, lambda snapshot: print(snapshot.line(), flush=True))
    finally:
        if timer is not None:
            timer.cancel()
        for signum in handled:
            loop.remove_signal_handler(signum)
    print(f"stopped; whole run: {final.line()}", flush=True)
    return 0
