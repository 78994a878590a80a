"""A response whose bytes and headers are ready before the request arrives.

The hub and the manifests are served many times between changes. Litestar's ``Response`` builds
a header container and encodes it on every request; for these routes the handler returns this
ASGI app instead (annotated ``ASGIApp``, which Litestar passes through untouched), and the two ASGI
messages are built from bytes the cache already holds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from litestar.types import Receive, Scope, Send

JSON = b"application/json"


class PreEncoded:
    """An ASGI app that sends one fixed response."""

    __slots__ = ("body", "headers", "status")

    def __init__(self, body: bytes, *, status: int = 200, headers: tuple[tuple[bytes, bytes], ...] = ()) -> None:
        """Hold the body and any extra headers; content type and length are added here."""
        self.status = status
        self.body = body
        self.headers = [(b"content-type", JSON), (b"content-length", str(len(body)).encode()), *headers]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Send the response (the headers alone for HEAD)."""
        await send({"type": "http.response.start", "status": self.status, "headers": self.headers})
        body = b"" if scope.get("method") == "HEAD" else self.body
        await send({"type": "http.response.body", "body": body, "more_body": False})


def request_header(scope: Scope, name: bytes) -> bytes | None:
    """One request header straight from the ASGI scope (``name`` in lower case)."""
    for key, value in scope["headers"]:
        if key == name:
            return value
    return None
