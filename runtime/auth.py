"""Bearer tokens, their roles, and the guards that check them.

Three kinds of token (CONTRACTS.md): admin, node and read. A request without a token, or with one
the server does not know, is 401; a known token of the wrong kind is 403. Tokens are compared in
constant time against every configured token, and never logged or echoed.
"""

from __future__ import annotations

import hmac
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from litestar.enums import ScopeType

from runtime.errors import Forbidden, Unauthorized

if TYPE_CHECKING:
    from collections.abc import Callable

    from litestar.connection import ASGIConnection
    from litestar.handlers.base import BaseRouteHandler

    from runtime.settings import Settings


class Role(StrEnum):
    """What a token allows."""

    admin = "admin"
    node = "node"
    read = "read"


#: Who may call what; admin tokens may also read.
READ = frozenset({Role.read, Role.admin})
ADMIN = frozenset({Role.admin})
NODE = frozenset({Role.node})
NODE_OR_ADMIN = frozenset({Role.node, Role.admin})

COOKIE = "modelhub_token"


class Tokens:
    """The configured tokens and the role of each."""

    def __init__(self, settings: Settings) -> None:
        """Collect the tokens that are set."""
        self._tokens = [
            (secret.get_secret_value().encode(), role)
            for secret, role in (
                (settings.admin_token, Role.admin),
                (settings.node_token, Role.node),
                (settings.read_token, Role.read),
            )
            if secret is not None
        ]

    def role(self, token: str) -> Role | None:
        """The role of ``token``, or None; compares against every token so timing reveals nothing."""
        given = token.encode()
        found = None
        for secret, role in self._tokens:
            if hmac.compare_digest(given, secret) and found is None:
                found = role
        return found


def presented_token(connection: ASGIConnection[Any, Any, Any, Any], *, websocket: bool = False) -> str | None:
    """The bearer token of a request; a WebSocket may also use ``?token=`` or the cookie."""
    header = connection.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    if websocket:
        return connection.query_params.get("token") or connection.cookies.get(COOKIE) or None
    return None


def require(roles: frozenset[Role]) -> Callable[[ASGIConnection[Any, Any, Any, Any], BaseRouteHandler], None]:
    """A guard that lets through tokens of ``roles`` only."""

    def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        token = presented_token(connection, websocket=connection.scope["type"] == ScopeType.WEBSOCKET)
        if token is None:
            raise Unauthorized("A bearer token is required (Authorization: Bearer <token>).")
        role = connection.app.state.tokens.role(token)
        if role is None:
            raise Unauthorized("The token is not valid.")
        if role not in roles:
            raise Forbidden(f"A {role.value} token may not do this; it needs a {' or '.join(sorted(roles))} token.")

    return guard
