"""The ``modelhub`` command: serve, node, simulate and fake-hub.

``serve`` runs the runtime under uvicorn, ``node`` a node agent, ``simulate`` simulated nodes and
``fake-hub`` an HF-compatible fake Hub. Errors in settings or
arguments print one line each and exit 2; users never see a traceback.
"""

from __future__ import annotations

import argparse
import errno
import gc
import logging
import os
import socket
import sys
from typing import TYPE_CHECKING

from pydantic import ValidationError

from runtime.agent.command import add_node_arguments, run_node_command
from runtime.settings import Settings, hf_hub_offline_warning

if TYPE_CHECKING:
    from collections.abc import Sequence


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="modelhub", description="Model Hub: the catalog and model lifecycle service.")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the server (settings from MODELHUB_* environment variables)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")
    serve.add_argument(
        "--dev", action="store_true", help="generate any missing tokens and print them once (for development)"
    )
    node = commands.add_parser("node", help="a node agent that fetches the registered models into a cache directory")
    add_node_arguments(node)
    simulate = commands.add_parser("simulate", help="simulated nodes (no file I/O), for demos and load", add_help=False)
    simulate.add_argument("arguments", nargs=argparse.REMAINDER, help="see `modelhub simulate --help`")
    for group in ("models", "nodes"):  # parsed by runtime/admin_cli/ (see `modelhub models --help`)
        operator = commands.add_parser(group, help=f"the operator CLI for {group} over the HTTP API", add_help=False)
        operator.add_argument("arguments", nargs=argparse.REMAINDER, help=f"see `modelhub {group} --help`")
    fake = commands.add_parser("fake-hub", help="an HF-compatible fake Hub for tests and demos (with fault injection)")
    fake.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    fake.add_argument("--port", type=int, default=8080, help="port to listen on (default 8080)")
    return parser


def _load_settings() -> Settings | None:
    try:
        return Settings()
    except ValidationError as error:
        for problem in error.errors():
            print(f"modelhub: {_variable(problem['loc'])}={problem['input']!r}: {problem['msg']}", file=sys.stderr)
        return None


def _variable(location: tuple[int | str, ...]) -> str:
    """The environment variable a settings error is about, as the user spells it (``HF_HUB_OFFLINE``)."""
    first = str(location[0]) if location else ""
    field = Settings.model_fields.get(first)
    if field is not None and isinstance(field.validation_alias, str):
        return field.validation_alias
    if first.isupper():  # pydantic reports an alias by itself
        return first
    return "MODELHUB_" + "_".join(str(part) for part in location).upper()


def _port_problem(host: str, port: int) -> str | None:
    """Why the server could not listen on ``host:port`` (taken, or not an address of this machine), or None."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as error:
        return f"cannot listen on {host}:{port}: {error.strerror or error}"
    family, kind, protocol, _, address = infos[0]
    with socket.socket(family, kind, protocol) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does: a closing socket is no obstacle
        try:
            probe.bind(address)
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                return f"port {port} on {host} is already in use (another modelhub serve?); choose one with --port"
            return f"cannot listen on {host}:{port}: {error.strerror or error}"
    return None


def _freeze_startup_heap() -> None:
    """Move everything alive once the server has started (modules, the catalog, caches) out of the collector's sight.

    Measured with ``bench/ws_fanout.py``: with 1,000 WebSocket clients, each full collection walked
    that heap for 105-120 ms, stalling every client's frames; frozen, the worst change took 37 ms.
    """
    gc.collect()
    gc.freeze()


def serve(host: str, port: int, *, dev: bool) -> int:
    """Check the settings and run the server until interrupted."""
    settings = _load_settings()
    if settings is None:
        return 2
    warning = hf_hub_offline_warning(os.environ)
    if warning is not None:
        print(warning, file=sys.stderr)
    problem = _port_problem(host, port)  # first: before tokens are printed, a database is touched or a file claimed
    if problem is not None:
        print(f"modelhub serve: {problem}", file=sys.stderr)
        return 2
    import asyncio

    from runtime.db.reachable import database_problem, redis_problem
    from runtime.db.single_process import SqliteInUse, claim_sqlite_file

    try:
        claim = claim_sqlite_file(settings.database_url)  # first: before tokens are printed or the schema migrated
    except SqliteInUse as error:
        print(f"modelhub serve: {error}", file=sys.stderr)
        return 2
    problem = asyncio.run(database_problem(settings.database_url)) or redis_problem(settings.redis_url)
    if problem is not None:
        print(f"modelhub serve: {problem}", file=sys.stderr)
        return 2
    if dev:
        from runtime.dev_tokens import tokens_file, with_dev_tokens

        settings, generated = with_dev_tokens(settings)
        if generated:
            print(f"Development tokens (kept in {tokens_file(settings.database_url)}; the environment overrides them):")
            for name, token in generated.items():
                print(f"  {name}={token}")
    missing = [
        name
        for name, value in (
            ("MODELHUB_ADMIN_TOKEN", settings.admin_token),
            ("MODELHUB_NODE_TOKEN", settings.node_token),
        )
        if value is None
    ]
    if missing:
        print(
            f"modelhub serve: {' and '.join(missing)} must be set, or run with --dev to generate tokens.",
            file=sys.stderr,
        )
        return 2

    # Imported here, like the other commands' code: a node agent should not carry the server in memory.
    import uvicorn

    from runtime.app import create_app
    from runtime.drain import DrainingServer
    from runtime.events.protocol import MAX_FRAME_BYTES
    from runtime.log_redaction import RedactSecrets

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    tokens = (settings.admin_token, settings.node_token, settings.read_token, settings.hf_token)
    secrets = RedactSecrets(token.get_secret_value() for token in tokens if token is not None)
    for handler in logging.getLogger().handlers:
        handler.addFilter(secrets)
    app = create_app(settings)
    app.on_startup.append(_freeze_startup_heap)
    # log_config=None: uvicorn's loggers propagate to the root handler above (and its filter) instead
    # of getting handlers of their own. ws_max_size: uvicorn closes with 1009 itself instead of
    # buffering up to its 16 MiB default.
    config = uvicorn.Config(
        app, host=host, port=port, log_level="info", log_config=None, access_log=False, ws_max_size=MAX_FRAME_BYTES
    )
    DrainingServer(config, app, settings.shutdown_drain).run()
    if claim is not None:
        claim.close()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["simulate"]:  # the simulator parses its own arguments (argparse cannot pass --help on)
        from runtime.simulator import simulate_main

        return simulate_main(argv[1:])
    if argv[:1] in (["models"], ["nodes"]):  # the operator CLI parses its own arguments, like the simulator
        from runtime.admin_cli import operator_main

        return operator_main(argv)
    arguments = _parser().parse_args(argv)
    try:
        if arguments.command == "serve":
            return serve(arguments.host, arguments.port, dev=arguments.dev)
        if arguments.command == "node":
            return run_node_command(arguments)
        if arguments.command == "fake-hub":
            from runtime import fakehub

            fakehub.run(arguments.host, arguments.port)
            return 0
    except KeyboardInterrupt:
        return 130
    return 2
