"""``GET /ws`` and its alias ``GET /ws/models`` (already subscribed to ``models``; ``?since=`` resumes).

The auth middleware has checked the token before this runs (header, ``?token=`` or the
``modelhub_token`` cookie; read or admin). Each connection gets a sender task that drains its queue;
this handler reads the client's frames and hands each operation to the event stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, cast

from litestar import WebSocket, websocket
from litestar.exceptions import WebSocketDisconnect

from runtime.auth import READ
from runtime.events.budget import FrameBudget
from runtime.events.connection import Connection
from runtime.events.protocol import MAX_FRAME_BYTES, ProtocolError, parse_op

__all__ = ["events_socket", "models_socket"]

logger = logging.getLogger(__name__)

#: RFC 6455: a message too big to process.
MESSAGE_TOO_BIG = 1009


@websocket("/ws", roles=READ)
async def events_socket(socket: WebSocket[Any, Any, Any]) -> None:
    """Events on the topics the client subscribes to."""
    await _serve(socket, ())


@websocket("/ws/models", roles=READ)
async def models_socket(socket: WebSocket[Any, Any, Any]) -> None:
    """Events on ``models`` from the start, as the seed's dashboard expected."""
    await _serve(socket, ("models",))


async def _serve(socket: WebSocket[Any, Any, Any], topics: tuple[str, ...]) -> None:
    services = socket.app.state.services
    stream = services.events
    model_ids = services.lifecycle.catalog
    await socket.accept()
    settings = socket.app.state.settings
    connection = Connection(settings.ws_queue_size)
    # a whole subscription at once, then about as many topics a second (see runtime/events/budget.py)
    budget = FrameBudget(rate=settings.ws_max_topics, burst=2 * settings.ws_max_topics)
    stream.add(connection)
    sender = asyncio.create_task(connection.send_forever(socket.send_text, stream.resync))
    try:
        if topics:
            since = socket.query_params.get("since")
            if since is not None and not since.isdecimal():
                stream.error(connection, "validation_error", f"since must be a whole number, not {since!r}.")
            stream.subscribe(connection, topics, int(since) if since and since.isdecimal() else None)
        while not sender.done():
            message = await socket.receive()
            if message["type"] == "websocket.disconnect":
                break
            text = cast("str | None", message.get("text"))
            data = cast("bytes | None", message.get("bytes"))
            size = len(text.encode()) if text is not None else len(data or b"")
            if size > MAX_FRAME_BYTES:
                await socket.close(MESSAGE_TOO_BIG, f"A frame may hold at most {MAX_FRAME_BYTES} bytes.")
                break
            if text is None:
                stream.error(connection, "invalid_frame", "Send JSON in text frames, not binary ones.")
                await budget.spend(1 + size / 256)
                continue
            try:
                op = parse_op(text, model_ids)
            except ProtocolError as error:
                stream.error(connection, error.code, error.message)
                await budget.spend(1 + size / 256)
            else:
                stream.apply(connection, op)
                await budget.spend(1 + len(getattr(op, "topics", ())))
    except WebSocketDisconnect:
        pass
    finally:
        stream.remove(connection)
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, OSError, RuntimeError):
            await sender
