"""Read a JSON request body into a generated type, for handlers that skip Litestar's body parsing.

Litestar decodes a body to Python objects, then converts them into the handler's type, then runs
its parameter model: on the heartbeat, the route every node calls every few seconds, that was a
third of the request's CPU. A handler on such a path reads the raw bytes instead and decodes them
in one pass with a typed msgspec decoder. The rules are those of the other routes: the body must be
``application/json`` (415 otherwise); a body that is not UTF-8 JSON is a 400 ``validation_error``,
and one that is JSON but not of the type (a wrong or unknown field, a value out of range) a 422
``validation_error`` whose message and pointer name the field at fault.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec
from litestar.di import Provide

from runtime.errors import MalformedBody, PayloadTooLarge, UnsupportedMediaType, ValidationFailed
from runtime.preencoded import request_header

if TYPE_CHECKING:
    from litestar import Request
    from litestar.types import Receive, Scope

__all__ = ["decode_json", "documented_body", "is_json", "read_body", "read_json", "require_json"]

T = TypeVar("T")

#: msgspec's location suffix: `` - at `$.models[0].state` ``.
_AT = re.compile(r" - at `\$(?P<path>[^`]*)`$")
_STEP = re.compile(r"\.([^.\[]+)|\[(\d+)\]")


def documented_body(model: type[Any]) -> dict[str, Provide]:
    """Handler ``dependencies`` that give the OpenAPI document a request body of ``model``.

    Litestar documents a handler's body from its ``data`` parameter, or from a dependency's; a
    handler that reads its body with ``read_json`` has no ``data``, so it declares this dependency,
    which it never asks for and Litestar therefore never calls.
    """

    def body(data: Any) -> None:
        """Never called; see ``documented_body``."""

    body.__annotations__ = {"data": model, "return": None}
    return {"documented_body": Provide(body, sync_to_thread=False)}


def is_json(content_type: bytes | None) -> bool:
    """Whether a Content-Type header names JSON (``application/json`` or ``application/*+json``, any parameters)."""
    if content_type is None:
        return False
    media_type = content_type.split(b";", 1)[0].strip().lower()
    return media_type == b"application/json" or (
        media_type.startswith(b"application/") and media_type.endswith(b"+json")
    )


async def read_json(request: Request[Any, Any, Any], decoder: msgspec.json.Decoder[T]) -> T:
    """The body decoded by ``decoder``; 415 unless it is JSON, 400 if it does not parse, 422 naming the field."""
    require_json(request.scope)
    limit = request.route_handler.resolve_request_max_body_size()
    return decode_json(await read_body(request.scope, request.receive, limit), decoder)


def require_json(scope: Scope) -> None:
    """415 unless the request's Content-Type is JSON (checked before reading: such a body is never buffered)."""
    if not is_json(request_header(scope, b"content-type")):
        raise UnsupportedMediaType("The request body must be JSON: send Content-Type: application/json.")


async def read_body(scope: Scope, receive: Receive, limit: int | None) -> bytes:
    """The raw body from the ASGI messages, refused with 413 beyond ``limit`` bytes.

    Litestar's ``Request.body`` builds a header container to read Content-Length and buffers
    through a stream: a tenth of a heartbeat's CPU, for what is a loop over ``receive``.
    """
    declared = request_header(scope, b"content-length")
    if limit is not None and declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge()
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":  # the client went away
            raise MalformedBody("The client went away before sending the whole body.")
        chunk = message.get("body", b"")
        size += len(chunk)
        if limit is not None and size > limit:
            raise PayloadTooLarge()
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def decode_json(body: bytes, decoder: msgspec.json.Decoder[T]) -> T:
    """``body`` decoded by ``decoder``: 400 if it is not UTF-8 JSON, 422 naming the field it breaks."""
    try:
        return decoder.decode(body)
    except msgspec.ValidationError as error:
        message, pointer = _located(str(error))
        where = f"{pointer}: " if pointer else ""
        raise ValidationFailed(f"The request is not valid: {where}{message}.", pointer=pointer or None) from None
    except (msgspec.DecodeError, UnicodeDecodeError) as error:
        raise MalformedBody(f"The request body is not valid JSON: {error}.") from None


def _located(message: str) -> tuple[str, str]:
    """The decoder's message without its location, and the location as a JSON pointer ("" for the whole body)."""
    match = _AT.search(message)
    if match is None:
        return message, ""
    steps = [name or index for name, index in _STEP.findall(match["path"])]
    pointer = "".join("/" + step.replace("~", "~0").replace("/", "~1") for step in steps)
    return message[: match.start()], pointer
