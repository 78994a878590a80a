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
import sys
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from runtime.agent.agent import run_node
from runtime.agent.config import NodeConfig
from runtime.agent.errors import CacheError, ConfigError, Forbidden, Unauthorized

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine, Sequence
    from typing import Any

PROG = "modelhub node"


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
    )


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
    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=getattr(logging, arguments.log_level, logging.INFO),
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        )
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
