"""Bearer tokens, their roles, and the middleware that checks them.

Three kinds of token (README, Settings): admin, node and read. A request without a token, or with one
the server does not know, is 401; a known token of the wrong kind is 403. Tokens are compared in
constant time against every configured token, and never logged or echoed.

Each route names the roles it admits as a handler option, ``roles=READ`` (Litestar puts extra
decorator arguments in ``opt``); a route without one is public, and a test checks that only the
health and schema routes are. The check runs as ASGI middleware rather than a Litestar guard: guards
copy the route handler on every call, which tripled the cost of the hub's hot path.
"""

from __future__ import annotations

import hmac
from http.cookies import SimpleCookie
from typing import TYPE_CHECKING
from urllib.parse import parse_qs

from litestar.enums import ScopeType

from generated.types import Role
from runtime.errors import AppClientError, Forbidden, Unauthorized

if TYPE_CHECKING:
    from collections.abc import Callable

    from litestar.types import ASGIApp, Receive, Scope, Send

    from runtime.origins import Origins
    from runtime.settings import Settings


#: Who may call what; admin tokens may also read.
READ = frozenset({Role.read, Role.admin})
ADMIN = frozenset({Role.admin})
NODE = frozenset({Role.node})
NODE_OR_ADMIN = frozenset({Role.node, Role.admin})

COOKIE = "modelhub_token"


def _an(word: str) -> str:
    """``word`` with its indefinite article: ``an admin``, ``a node``."""
    return f"{'an' if word[:1] in 'aeiou' else 'a'} {word}"


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

    def role(self, token: bytes) -> Role | None:
        """The role of ``token``, or None; compares against every token so timing reveals nothing."""
        found = None
        for secret, role in self._tokens:
            if hmac.compare_digest(token, secret) and found is None:
                found = role
        return found


def presented_token(scope: Scope) -> bytes | None:
    """The bearer token of a request; a WebSocket may also use ``?token=`` or the ``modelhub_token`` cookie."""
    cookie = None
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, token = value.partition(b" ")
            token = token.strip()
            return token if scheme.lower() == b"bearer" and token else None
        if name == b"cookie":
            cookie = value
    if scope["type"] != ScopeType.WEBSOCKET:
        return None
    query = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token")
    if query and query[0]:
        return query[0].encode()
    if cookie is not None:
        morsel = SimpleCookie(cookie.decode("latin-1")).get(COOKIE)
        if morsel is not None and morsel.value:
            return morsel.value.encode()
    return None


def authorize(tokens: Tokens, scope: Scope, roles: frozenset[Role]) -> Role:
    """The caller's role if it is one of ``roles``; else Unauthorized (401) or Forbidden (403)."""
    token = presented_token(scope)
    if token is None:
        raise Unauthorized("A bearer token is required (Authorization: Bearer <token>).")
    role = tokens.role(token)
    if role is None:
        raise Unauthorized("The token is not valid.")
    if role not in roles:
        wanted = " or ".join(sorted(roles))
        raise Forbidden(f"{_an(role.value).capitalize()} token may not do this; it needs {_an(wanted)} token.")
    return role


async def refuse_socket(receive: Receive, send: Send, error: AppClientError) -> None:
    """Close a WebSocket with 4000 + the HTTP status (4401, 4403) before any frame is sent.

    The handshake is accepted only so that the close code reaches the client: a browser sees an
    HTTP refusal of the handshake as a bare 1006, which it cannot tell from a network failure, and a
    dashboard must know to ask for a new token rather than retry.
    """
    await receive()  # websocket.connect
    await send({"type": "websocket.accept", "subprotocol": None, "headers": []})
    reason = f"{error.code}: {error.message}".encode()[:120].decode(errors="ignore")
    await send({"type": "websocket.close", "code": 4000 + error.status_code, "reason": reason})


def auth_middleware(tokens: Tokens, origins: Origins) -> Callable[[ASGIApp], ASGIApp]:
    """Middleware that lets a request through only with a token of the route's ``roles``.

    A WebSocket handshake from a page of a foreign origin is refused first, whatever its token.
    """

    def wrap(app: ASGIApp) -> ASGIApp:
        async def authenticated(scope: Scope, receive: Receive, send: Send) -> None:
            roles = scope["route_handler"].opt.get("roles")
            if roles is not None:
                if scope["type"] == ScopeType.WEBSOCKET:
                    try:
                        refusal = origins.refusal(scope)
                        if refusal is not None:
                            raise Forbidden(refusal)
                        authorize(tokens, scope, roles)
                    except AppClientError as error:
                        await refuse_socket(receive, send, error)
                        return
                else:
                    authorize(tokens, scope, roles)
            await app(scope, receive, send)

        return authenticated

    return wrap
