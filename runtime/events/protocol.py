"""The client half of the WebSocket protocol: reading a frame into an operation, or a reason why not.

Client frames: ``{"op":"subscribe","topics":[…],"since":<seq>?}``, ``{"op":"unsubscribe","topics":[…]}``
and ``{"op":"ping"}``. A frame that is not JSON, names an unknown op or an unknown topic, or has the
wrong shape is refused with an ``Error`` frame, and the connection stays open (``ProtocolError``
carries the code and message of that frame). A frame larger than ``MAX_FRAME_BYTES`` closes the
connection with 1009, as RFC 6455 prescribes for a message too big to process.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from generated.types import ClientOp, PingOp, SubscribeOp, UnsubscribeOp
from runtime.events import topics as grammar

if TYPE_CHECKING:
    from collections.abc import Container

__all__ = ["MAX_FRAME_BYTES", "OPS", "ProtocolError", "parse_op", "topic_error"]

MAX_FRAME_BYTES = 64 * 1024
OPS = ("subscribe", "unsubscribe", "ping")

_decode_op = msgspec.json.Decoder(ClientOp).decode


class ProtocolError(Exception):
    """A client frame the server refuses; becomes an ``Error`` frame."""

    def __init__(self, code: str, message: str) -> None:
        """Keep the wire code and the sentence for people."""
        super().__init__(message)
        self.code = code
        self.message = message


def topic_error(topic: object, model_ids: Container[str]) -> str | None:
    """Why ``topic`` is not one the server knows, or None when it is.

    ``model:<id>`` must name a catalog model. ``node:<id>`` and ``metrics:<id>`` may name a node that
    has not registered yet: a dashboard can watch for it (its snapshot is empty until it comes).
    """
    if not isinstance(topic, str):
        return f"a topic is a string, not {type(topic).__name__}"
    parsed = grammar.parse(topic)
    if parsed is None:
        return f"unknown topic {topic!r}; topics are models, model:<id>, nodes, node:<id>, metrics, metrics:<id>"
    kind, key = parsed
    if kind == "model" and key not in model_ids:
        return f"unknown topic {topic!r}: {key!r} is not in the catalog"
    return None


def parse_op(raw: str, model_ids: Container[str]) -> SubscribeOp | UnsubscribeOp | PingOp:
    """The operation a text frame asks for; ProtocolError when it is not one the server can do."""
    try:
        frame = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        raise ProtocolError("invalid_json", "The frame is not JSON; send one JSON object per frame.") from None
    if not isinstance(frame, dict):
        raise ProtocolError("validation_error", 'A frame is a JSON object with an op, such as {"op":"ping"}.')
    op = frame.get("op")
    if op not in OPS:
        raise ProtocolError("unknown_op", f"Unknown op {op!r}; ops are {', '.join(OPS)}.")
    topics = frame.get("topics")
    if isinstance(topics, list):
        for topic in topics:
            reason = topic_error(topic, model_ids)
            if reason is not None:
                raise ProtocolError("unknown_topic", f"{reason[0].upper()}{reason[1:]}.")
    try:
        decoded: SubscribeOp | UnsubscribeOp | PingOp = _decode_op(raw)
    except msgspec.ValidationError as error:
        raise ProtocolError("validation_error", f"The {op} frame is not valid: {error}.") from None
    return decoded
