"""``GET /v0/session``: what the presented token allows, so a dashboard knows which buttons to show."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get

from generated.catalog import CATALOG_VERSION
from generated.types import Role, Session
from runtime.auth import presented_token


class SessionController(Controller):
    """The caller's own session."""

    path = "/v0/session"
    tags = ["session"]  # noqa: RUF012 - Litestar's own attribute

    @get("", operation_id="getSession", roles=frozenset(Role))
    async def session(self, request: Request[Any, Any, Any]) -> Session:
        """The role of the token (any valid token may ask) and the server's catalog version."""
        token = presented_token(request.scope)
        role = request.app.state.tokens.role(token) if token is not None else None
        assert role is not None  # the auth middleware let the request through
        return Session(role=role, catalog_version=CATALOG_VERSION)
