"""``modelhub node``: the command line of the node agent.

``add_node_arguments`` fills an ``argparse`` parser (``runtime/cli.py`` gives it the ``node``
subcommand); ``run_node_command`` runs the parsed arguments; ``node_main`` does both for a standalone
entry point. Problems print one line and exit 2 (arguments, settings, the cache directory) or 1 (the
server refused the token); nobody sees a traceback. SIGTERM and SIGINT stop the agent cleanly (exit 0).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from runtime.agent.agent import run_node
from runtime.agent.config import NodeConfig
from runtime.agent.errors import CacheError, ConfigError, Forbidden, Unauthorized
from runtime.agent.throughput import MIN_RATE, RATE_WINDOW, READ_TIMEOUT, format_rate

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine, Sequence
    from typing import Any

PROG = "modelhub node"
_RATE = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*(|B|K|KB|KiB|M|MB|MiB)(?:/s)?\s*", re.IGNORECASE)
_RATE_UNITS = {"": 1, "b": 1, "k": 1024, "kb": 1024, "kib": 1024, "m": 1024**2, "mb": 1024**2, "mib": 1024**2}


def parse_rate(text: str) -> float:
    """Bytes per second from ``10240``, ``10K``, ``10KiB/s`` or ``1.5M`` (K and M are 1024 and 1024²)."""
    match = _RATE.fullmatch(text)
    if match is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a rate: use bytes per second, e.g. 10240, 10K or 1.5MiB")
    return float(match.group(1)) * _RATE_UNITS[match.group(2).casefold()]


def add_node_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``modelhub node`` to ``parser``."""
    parser.add_argument("--server", required=True, help="the Model Hub server's base URL, e.g. http://hub:8000")
    parser.add_argument("--token", help="the node token (default: the MODELHUB_NODE_TOKEN environment variable)")
    parser.add_argument("--cache-dir", required=True, type=Path, help="where models are stored (created if missing)")
    parser.add_argument(
        "--runtime-id", help="the node's id (default: kept in CACHE_DIR/runtime_id, made from the host name)"
    )
    parser.add_argument(
        "--heartbeat-interval", type=float, default=2.0, metavar="S", help="seconds between heartbeats (default 2)"
    )
    parser.add_argument(
        "--concurrency", type=int, default=2, metavar="N", help="files downloaded at the same time (default 2)"
    )
    parser.add_argument(
        "--read-timeout",
        type=float,
        default=READ_TIMEOUT,
        metavar="S",
        help=f"give a download up after S seconds without a byte from the file server (default {READ_TIMEOUT:g})",
    )
    parser.add_argument(
        "--min-download-rate",
        type=parse_rate,
        default=MIN_RATE,
        metavar="RATE",
        help="give a download up when it brings less than RATE bytes per second over --rate-window; "
        f"K and M suffixes allowed (default {format_rate(MIN_RATE)})",
    )
    parser.add_argument(
        "--rate-window",
        type=float,
        default=RATE_WINDOW,
        metavar="S",
        help=f"seconds over which the download rate is averaged (default {RATE_WINDOW:g})",
    )
    levels = ["DEBUG", "INFO", "WARNING", "ERROR"]
    parser.add_argument("--log-level", default="INFO", choices=levels, help="how much to log (default INFO)")


def config_from_arguments(arguments: argparse.Namespace, environ: dict[str, str] | None = None) -> NodeConfig:
    """The ``NodeConfig`` of parsed arguments; the tokens may come from the environment.

    Raises:
        ConfigError: Something is missing or out of range; the message names it.
    """
    environ = dict(os.environ) if environ is None else environ
    token = arguments.token or environ.get("MODELHUB_NODE_TOKEN") or ""
    if not token:
        raise ConfigError("a node token is needed: --token or MODELHUB_NODE_TOKEN")
    return NodeConfig(
        server=arguments.server,
        token=token,
        cache_dir=arguments.cache_dir,
        runtime_id=arguments.runtime_id,
        heartbeat_interval=arguments.heartbeat_interval,
        concurrency=arguments.concurrency,
        hf_token=environ.get("HF_TOKEN") or None,
        read_timeout=arguments.read_timeout,
        min_download_rate=arguments.min_download_rate,
        rate_window=arguments.rate_window,
    )


def configure_logging(level: str) -> None:
    """Log to stderr at ``level`` (unless the root logger has handlers already), without httpx's request lines.

    httpx logs every request at INFO (``HTTP Request: POST … "HTTP/1.1 200 OK"``): a heartbeat every
    2 s would drown the agent's own lines, so its logger is set to WARNING; ``--log-level DEBUG``
    keeps them, with the rest of the detail.
    """
    number = getattr(logging, level, logging.INFO)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=number, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if number > logging.DEBUG:
        logging.getLogger("httpx").setLevel(logging.WARNING)


def _run(main: Coroutine[Any, Any, None]) -> None:
    """Run ``main`` on uvloop when it is installed (it is, with uvicorn[standard]), else on asyncio's loop."""
    factory: Callable[[], asyncio.AbstractEventLoop] | None
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        factory = None
    else:
        factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(main)


def run_node_command(arguments: argparse.Namespace) -> int:
    """Run the agent for parsed arguments until stopped; return the exit status."""
    try:
        config = config_from_arguments(arguments)
    except ConfigError as error:
        print(f"{PROG}: {error}", file=sys.stderr)
        return 2
    configure_logging(arguments.log_level)
    try:
        _run(run_node(config))
    except (ConfigError, CacheError) as error:
        print(f"{PROG}: {error}", file=sys.stderr)
        return 2
    except (Unauthorized, Forbidden) as error:
        print(f"{PROG}: the server refused the node token: {error.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # pragma: no cover - SIGINT is handled as a clean stop
        return 130
    return 0


class _OneLineParser(argparse.ArgumentParser):
    """Reports a usage error as one line and exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message}\n")


def node_main(argv: Sequence[str] | None = None) -> int:
    """``modelhub node [options]`` as a standalone command; return the exit status."""
    parser = _OneLineParser(prog=PROG, description="Run a Model Hub node agent: register, heartbeat, fetch models.")
    add_node_arguments(parser)
    try:
        arguments = parser.parse_args(argv)
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else 2
    return run_node_command(arguments)
