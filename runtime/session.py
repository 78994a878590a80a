"""``/v0/session``: what the presented token allows, and the dashboard's WebSocket cookie.

``GET`` answers the role of the token and the catalog version, so a dashboard knows which buttons to
show. ``POST`` answers the same and signs the browser in for the WebSocket: the server sets the
``modelhub_token`` cookie itself — HttpOnly (no script reads it), SameSite=Strict, Secure when the
request came over HTTPS, and sent to ``/ws`` only. ``DELETE`` (sign-out) clears it; it needs no token,
so that a page whose token was revoked can still sign out.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, delete, post
from litestar.datastructures import Cookie

from generated.catalog import CATALOG_VERSION
from generated.types import Role, Session
from runtime.auth import COOKIE, presented_token
from runtime.openapi_docs import ERRORS, get_with_head, security_for

COOKIE_PATH = "/ws"


class SessionController(Controller):
    """The caller's own session."""

    path = "/v0/session"
    tags = ["session"]  # noqa: RUF012 - Litestar's own attribute

    @get_with_head(
        "", operation_id="getSession", roles=frozenset(Role), security=security_for(frozenset(Role)), responses=ERRORS
    )
    async def session(self, request: Request[Any, Any, Any]) -> Session:
        """The role of the token (any valid token may ask) and the server's catalog version."""
        return _session(request)

    @post(
        "",
        operation_id="signIn",
        roles=frozenset(Role),
        security=security_for(frozenset(Role)),
        status_code=200,
        responses=ERRORS,
    )
    async def sign_in(self, request: Request[Any, Any, Any]) -> Response[Session]:
        """The session, and the HttpOnly cookie that lets this browser's pages open the WebSocket."""
        token = presented_token(request.scope)
        assert token is not None  # the auth middleware let the request through
        session = _session(request)
        if session.role == Role.node:  # the WebSocket takes read and admin tokens only
            return Response(session)
        cookie = Cookie(
            key=COOKIE,
            value=token.decode("latin-1"),
            path=COOKIE_PATH,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return Response(session, cookies=[cookie])

    @delete(
        "",
        operation_id="signOut",
        status_code=204,
        response_cookies=[Cookie(key=COOKIE, value="", path=COOKIE_PATH, httponly=True, samesite="strict", max_age=0)],
    )
    async def sign_out(self) -> None:
        """Clear the WebSocket cookie."""


def _session(request: Request[Any, Any, Any]) -> Session:
    token = presented_token(request.scope)
    role = request.app.state.tokens.role(token) if token is not None else None
    assert role is not None  # the auth middleware let the request through
    return Session(role=role, catalog_version=CATALOG_VERSION)
