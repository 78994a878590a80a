"""``modelhub models …`` and ``modelhub nodes …``: the operator CLI over the HTTP API.

A table on a terminal (plain aligned columns when stdout is not one), ``--json`` for scripts (the
server's JSON as it came). Exit codes: 0 done, 1 the operation failed (the server's message on one
line), 2 usage, 3 server unreachable, 4 token refused (401/403), 130 interrupted. Never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from typing import TYPE_CHECKING, Any

import msgspec

from generated.types import HubItem, ModelDetail, Node, NodeDetail
from runtime.admin_cli import render
from runtime.admin_cli.client import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    Api,
    CliError,
)
from runtime.agent.wire import LenientDecoder

if TYPE_CHECKING:
    from collections.abc import Sequence

    import httpx

DEFAULT_SERVER = "http://127.0.0.1:8000"

__all__ = ["operator_main"]


def _common(parser: argparse.ArgumentParser) -> None:
    """The options every operator command takes, before or after the action (``models --json list``)."""
    suppress = argparse.SUPPRESS
    parser.add_argument(
        "--server", default=suppress, help=f"the server's URL (env MODELHUB_SERVER, default {DEFAULT_SERVER})"
    )
    parser.add_argument("--token", default=suppress, help="an API token (env MODELHUB_TOKEN)")
    parser.add_argument("--json", action="store_true", default=suppress, help="print the server's JSON")


def _parser(group: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"modelhub {group}", description=f"Operate the Model Hub's {group} over the HTTP API."
    )
    _common(parser)
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    noun = "model" if group == "models" else "node"
    listing = actions.add_parser("list", help=f"every {noun}")
    _common(listing)
    show = actions.add_parser("show", help=f"one {noun} in detail")
    show.add_argument("id", metavar="ID")
    _common(show)
    if group == "models":
        register = actions.add_parser("register", help="register a catalog model so the nodes fetch it")
        register.add_argument("id", metavar="ID")
        register.add_argument("--wait", action="store_true", help="follow it until it is ready (exit 0) or failed (1)")
        register.add_argument(
            "--timeout", type=_seconds, metavar="S", help="with --wait: give up after S seconds (exit 1)"
        )
        _common(register)
    else:
        approve = actions.add_parser("approve", help="approve a pending node")
        approve.add_argument("id", metavar="ID")
        _common(approve)
    delete = actions.add_parser("delete", help=f"delete a {noun}" + (" registration" if noun == "model" else ""))
    delete.add_argument("id", metavar="ID")
    _common(delete)
    return parser


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds: {text!r}")
    return value


def operator_main(argv: Sequence[str]) -> int:
    """``argv`` is ``["models", …]`` or ``["nodes", …]``; return the exit status."""
    group, rest = argv[0], list(argv[1:])
    try:
        arguments = _parser(group).parse_args(rest)
    except SystemExit as exit_:  # argparse: 0 for --help, 2 for a usage error (its message already printed)
        return exit_.code if isinstance(exit_.code, int) else EXIT_USAGE
    server = getattr(arguments, "server", None) or os.environ.get("MODELHUB_SERVER") or DEFAULT_SERVER
    token = getattr(arguments, "token", None) or os.environ.get("MODELHUB_TOKEN") or None
    as_json = bool(getattr(arguments, "json", False))
    if not server.startswith(("http://", "https://")):
        print(f"modelhub {group}: --server must be an http:// or https:// URL, not {server!r}", file=sys.stderr)
        return EXIT_USAGE
    api = Api(server, token)
    try:
        if group == "models":
            return _models(api, arguments, as_json=as_json)
        return _nodes(api, arguments, as_json=as_json)
    except CliError as error:
        print(f"modelhub {group} {arguments.action}: {error.message}", file=sys.stderr)
        return error.status
    except KeyboardInterrupt:
        if arguments.action == "register" and arguments.wait:
            print(f"\nmodelhub: interrupted; the registration of {arguments.id} stays in place", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `modelhub models list | head`
        sys.stderr.close()
        return EXIT_OK
    except Exception as error:  # never a traceback: one line, exit 1
        print(
            f"modelhub {group} {arguments.action}: unexpected error: {type(error).__name__}: {error}", file=sys.stderr
        )
        return EXIT_FAILED
    finally:
        api.close()


def _decode(kind: Any, response: httpx.Response) -> Any:
    try:
        return LenientDecoder(kind).decode(response.content)
    except (msgspec.DecodeError, msgspec.ValidationError) as error:
        raise CliError(f"unexpected answer from the server: {error}", EXIT_FAILED) from None


def _print_json(response: httpx.Response) -> None:
    print(response.text if response.content else "")


def _path(identifier: str) -> str:
    from urllib.parse import quote

    return quote(identifier, safe="")


def _models(api: Api, arguments: argparse.Namespace, *, as_json: bool) -> int:
    action = arguments.action
    if action == "list":
        response = api.request("GET", "/v0/models/hub")
        _print_json(response) if as_json else render.hub_table(_decode(list[HubItem], response))
    elif action == "show":
        response = api.request("GET", f"/v0/models/{_path(arguments.id)}")
        _print_json(response) if as_json else render.model_detail(_decode(ModelDetail, response))
    elif action == "register":
        response = api.request("POST", "/v0/models/register", json={"model_id": arguments.id})
        if not arguments.wait:
            if as_json:
                _print_json(response)
            else:
                print(f"registered {arguments.id}")
            return EXIT_OK
        if not as_json:
            print(f"registered {arguments.id}; waiting until it is ready", flush=True)
        return _wait(api, arguments.id, arguments.timeout, as_json=as_json)
    elif action == "delete":
        api.request("DELETE", f"/v0/models/{_path(arguments.id)}")
        if not as_json:  # 204: the server sends no JSON, so neither does --json
            print(f"deleted the registration of {arguments.id}")
    return EXIT_OK


def _wait(api: Api, model_id: str, timeout: float | None, *, as_json: bool) -> int:
    from runtime.admin_cli.follow import follow

    async def bounded() -> tuple[int, Any]:
        return await asyncio.wait_for(follow(api.server, api.token, model_id, quiet=as_json), timeout)

    try:
        status, state = asyncio.run(bounded())
    except TimeoutError:
        raise CliError(f"timed out after {timeout:g} s waiting for {model_id} to be ready", EXIT_FAILED) from None
    if as_json:
        _print_json(api.request("GET", f"/v0/models/{_path(model_id)}"))
    if status == EXIT_OK:
        if not as_json:
            print(f"{model_id} is ready")
        return EXIT_OK
    raise CliError(f"{model_id} failed on every node reporting it: {state.errors()}", EXIT_FAILED)


def _nodes(api: Api, arguments: argparse.Namespace, *, as_json: bool) -> int:
    action = arguments.action
    if action == "list":
        response = api.request("GET", "/v0/nodes")
        _print_json(response) if as_json else render.nodes_table(_decode(list[Node], response))
    elif action == "show":
        response = api.request("GET", f"/v0/nodes/{_path(arguments.id)}")
        _print_json(response) if as_json else render.node_detail(_decode(NodeDetail, response))
    elif action == "approve":
        response = api.request("POST", f"/v0/nodes/{_path(arguments.id)}/approve")
        if as_json:
            _print_json(response)
        else:
            print(f"approved {arguments.id}")
    elif action == "delete":
        api.request("DELETE", f"/v0/nodes/{_path(arguments.id)}")
        if not as_json:
            print(f"deleted node {arguments.id}")
    return EXIT_OK
