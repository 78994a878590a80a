"""Which web pages may open the WebSocket: the server's own origin and those the operator lists.

A browser sends the ``modelhub_token`` cookie with a WebSocket handshake whatever page starts it, so
without this check any site a signed-in operator visits could read the events (cross-site
WebSocket hijacking). A handshake that carries ``Origin`` is accepted only from the origin the
request was made to (scheme and ``Host``) or one in ``MODELHUB_ALLOWED_ORIGINS``; ``null`` and every
other origin are refused. A handshake without ``Origin`` is not from a browser page (the node agent,
the CLI, scripts) and is judged by its token alone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from runtime.preencoded import request_header

if TYPE_CHECKING:
    from collections.abc import Iterable

    from litestar.types import Scope

__all__ = ["Origins", "parse_origins"]


def parse_origins(value: str) -> frozenset[str]:
    """``MODELHUB_ALLOWED_ORIGINS``: comma-separated origins such as ``https://ops.example.com``."""
    return frozenset(part for part in value.split(",") if part.strip())  # Origins normalises them


def _normal(origin: str) -> str:
    return origin.strip().rstrip("/").lower()


class Origins:
    """The origins allowed to open the WebSocket."""

    def __init__(self, allowed: Iterable[str] = ()) -> None:
        """Allow the server's own origin and ``allowed``."""
        self.allowed = frozenset(_normal(origin) for origin in allowed)

    def refusal(self, scope: Scope) -> str | None:
        """Why the handshake of ``scope`` is refused, or None when its origin may open the socket."""
        header = request_header(scope, b"origin")
        if header is None:
            return None
        origin = _normal(header.decode("latin-1"))
        if origin in self.allowed or origin == self._own(scope):
            return None
        return f"Origin {origin!r} may not open this WebSocket; an operator may list it in MODELHUB_ALLOWED_ORIGINS."

    @staticmethod
    def _own(scope: Scope) -> str | None:
        host = request_header(scope, b"host")
        if host is None:
            return None
        scheme = "https" if scope.get("scheme") in ("wss", "https") else "http"
        return _normal(f"{scheme}://{host.decode('latin-1')}")
