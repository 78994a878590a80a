"""Refuse request paths that no route can mean, before a handler sees them.

uvicorn decodes the path: ``/assets/..%00/x`` reaches the static files with a NUL in it (the file
system then raises, a 500), and ``/v1/models/%2F`` becomes ``/v1/models//``, which routing reads as
the model list. No route of ours has a control character or an encoded slash in it — ids are single
path segments without either — so such a path is a 404 with the error body, whatever the route.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from litestar.enums import ScopeType

from runtime.errors import error_body
from runtime.preencoded import PreEncoded

if TYPE_CHECKING:
    from litestar.types import ASGIApp, Receive, Scope, Send

__all__ = ["path_guard", "path_problem"]

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_ENCODED_SLASH = re.compile(rb"%2f|%5c", re.IGNORECASE)


def path_guard(app: ASGIApp) -> ASGIApp:
    """Middleware: 404 for a path with a control character or an encoded slash or backslash."""

    async def guarded(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == ScopeType.HTTP:
            problem = path_problem(scope)
            if problem is not None:
                await PreEncoded(error_body("not_found", problem), status=404)(scope, receive, send)
                return
        await app(scope, receive, send)

    return guarded


def path_problem(scope: Scope) -> str | None:
    """Why no route can mean this path, or None."""
    if _CONTROL.search(scope["path"]):
        return "No such path: it contains a control character."
    if _ENCODED_SLASH.search(scope.get("raw_path") or b""):
        return "No such path: an encoded slash (%2F or %5C) is not part of any route."
    return None
