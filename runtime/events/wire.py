r"""The one format of an event on the channel, written by the publisher and read by the stream.

A message is ``b"<seq>\n<topic> <topic> ...\n<event JSON>"``. The publisher writes the route line
(every topic the event belongs to) and the event with ``"seq":0`` as its second member; the backend
puts the number in front when it publishes (``numbered``), so the order is decided in one place;
``parse`` takes both off and writes the number into the JSON without decoding it. An empty message
is a gap marker: the backend lost events and every client must resynchronise.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = ["GAP", "message", "numbered", "parse"]

GAP = b""
_PLACEHOLDER = b',"seq":0,'


def message(topics: Iterable[str], event: bytes) -> bytes:
    """What the publisher hands the backend: the route line and the event encoded with ``"seq":0``."""
    if _PLACEHOLDER not in event[:64]:
        raise ValueError("an event is encoded with type first and seq 0 second")
    return " ".join(topics).encode() + b"\n" + event


def numbered(seq: int, data: bytes) -> bytes:
    """A publisher's message with its seq in front, as the backend publishes it."""
    return b"%d\n" % seq + data


def parse(published: bytes) -> tuple[int, tuple[str, ...], str]:
    """A numbered message as (seq, its topics, the frame with the seq written in)."""
    head, _, rest = published.partition(b"\n")
    route, _, event = rest.partition(b"\n")
    seq = int(head)
    frame = event.replace(_PLACEHOLDER, b',"seq":%d,' % seq, 1).decode()
    return seq, tuple(route.decode().split(" ")), frame
