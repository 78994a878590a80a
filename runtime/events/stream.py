"""The server's side of every WebSocket: one subscription to the event channel, fanned out by topic.

One task reads the channel (``run``): each event gets its seq written in, goes into a bounded replay
buffer and into the queue of every connection subscribed to one of its topics — each event encoded
once, whatever the number of clients. Connections are served in one event loop, so subscribing is
atomic with respect to delivery: a client is registered for its topics and given its snapshot (or
its replay) in one step, and every later event follows it in its queue.

Resume: ``horizon`` is the seq from which the buffer holds every event; a ``since`` between it and
the latest seq is answered with the events after ``since``, anything else with ``ResyncRequired``
and snapshots. A gap (the backend lost events) moves the horizon to now and resynchronises every
client. Events in flight when a snapshot is taken arrive after it; each carries its model's or
node's whole state as of its publication, so the client ends on the latest state.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict, deque
from typing import TYPE_CHECKING

import msgspec

from generated.types import ErrorFrame, Subscribed, SubscribeOp, UnsubscribeOp
from runtime.events.backends import CHANNEL, now_us
from runtime.events.wire import GAP, parse

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from litestar.channels import ChannelsPlugin

    from generated.types import PingOp
    from runtime.events.backends import SequencedMemoryBackend, SequencedRedisBackend
    from runtime.events.connection import Connection
    from runtime.events.snapshots import Snapshots

__all__ = ["EventStream"]

logger = logging.getLogger(__name__)

_encode = msgspec.json.Encoder().encode
RESYNC = '{"type":"ResyncRequired"}'
PONG = '{"type":"Pong"}'
HEARTBEAT = '{"type":"Heartbeat"}'


class EventStream:
    """Delivers the channel's events to the connections subscribed to them."""

    def __init__(
        self,
        channels: ChannelsPlugin,
        snapshots: Snapshots,
        *,
        replay_size: int,
        max_topics: int = 1024,
        backend: SequencedMemoryBackend | SequencedRedisBackend | None = None,
        clock: Callable[[], int] = now_us,
    ) -> None:
        """Read ``channels``; build snapshots with ``snapshots``; replay up to ``replay_size`` events.

        ``backend`` is the channels backend, asked for its health (``healthy``) by ``/readyz``.
        """
        self.channels = channels
        self.backend = backend
        self.snapshots = snapshots
        self.replay_size = replay_size
        self.max_topics = max_topics
        self._clock = clock
        self.last_seq = self.horizon = self._clock()
        self.delivered = 0
        """Frames queued for clients since start (for /metrics and the benchmark)."""
        self.resyncs = 0
        """Times a client was sent ResyncRequired after falling behind or a gap."""
        self.connections: set[Connection] = set()
        self._by_topic: defaultdict[str, set[Connection]] = defaultdict(set)
        self._ring: deque[tuple[int, tuple[str, ...], str]] = deque()  # seq, topics, frame
        self.listening = asyncio.Event()

    # ----------------------------------------------------------------- the channel

    async def run(self) -> None:
        """Read the event channel until cancelled."""
        async with self.channels.start_subscription([CHANNEL]) as subscriber:
            self.listening.set()
            async for message in subscriber.iter_events():
                self.receive(message)

    def receive(self, message: bytes) -> None:
        """Deliver one channel message: an event, or a gap marker."""
        if message == GAP:
            self.gap()
            return
        seq, topics, frame = parse(message)
        if seq <= self.last_seq:
            logger.warning("events: seq went back from %d to %d; resynchronising", self.last_seq, seq)
            self.gap()
            self.horizon = seq - 1  # a new numbering: what follows is complete from here
        self.last_seq = seq
        self._ring.append((seq, topics, frame))
        if len(self._ring) > self.replay_size:
            self.horizon = self._ring.popleft()[0]
        groups = [subscribers for topic in topics if (subscribers := self._by_topic.get(topic))]
        if not groups:
            return
        # A connection on several of the event's topics gets the frame once.
        for connection in groups[0] if len(groups) == 1 else set().union(*groups):
            connection.push(frame)
            self.delivered += 1

    def gap(self) -> None:
        """Events may have been lost: forget the buffer and resynchronise every client."""
        self._ring.clear()
        self.last_seq = self.horizon = max(self.last_seq, self._clock())
        for connection in self.connections:
            connection.fall_behind()

    # ----------------------------------------------------------------- connections

    def add(self, connection: Connection) -> None:
        """Start tracking a connection (it has no topics yet)."""
        self.connections.add(connection)

    def remove(self, connection: Connection) -> None:
        """Forget a closed connection."""
        self.connections.discard(connection)
        for topic in list(connection.topics):
            self._unsubscribe(connection, topic)

    def _unsubscribe(self, connection: Connection, topic: str) -> None:
        connection.topics.discard(topic)
        subscribers = self._by_topic.get(topic)
        if subscribers is not None:
            subscribers.discard(connection)
            if not subscribers:
                del self._by_topic[topic]

    def heartbeat(self) -> None:
        """Queue a Heartbeat frame for every connection."""
        for connection in self.connections:
            connection.push(HEARTBEAT)

    def reachable(self, since: int) -> bool:
        """Whether the buffer holds every event after ``since``."""
        return self.horizon <= since <= self.last_seq

    def apply(self, connection: Connection, op: SubscribeOp | UnsubscribeOp | PingOp) -> None:
        """Carry out one client operation."""
        if isinstance(op, SubscribeOp):
            self.subscribe(connection, op.topics, None if isinstance(op.since, msgspec.UnsetType) else op.since)
        elif isinstance(op, UnsubscribeOp):
            for topic in op.topics:
                self._unsubscribe(connection, topic)
            connection.push(self._subscribed(connection))
        else:
            connection.push(PONG)

    def subscribe(self, connection: Connection, topics: Iterable[str], since: int | None = None) -> None:
        """Add topics: Subscribed, then each named topic's snapshot, or its replay after ``since``.

        Every topic named is answered for, also one the connection had already: a client that asks
        again wants the state again (events it may then see twice carry a seq it has seen). A frame
        that would take the connection past ``max_topics`` is refused whole (``too_many_topics``), so
        what one frame costs — its Subscribed lists the connection's topics — stays bounded.
        """
        named = list(dict.fromkeys(topics))
        added = sum(topic not in connection.topics for topic in named)
        if len(connection.topics) + added > self.max_topics:
            self.error(
                connection,
                "too_many_topics",
                f"A connection may hold at most {self.max_topics} topics; it holds {len(connection.topics)} and "
                f"this frame adds {added}. Nothing was subscribed: take fewer, or `models`, `nodes` or `metrics`.",
            )
            return
        for topic in named:
            connection.topics.add(topic)
            self._by_topic[topic].add(connection)
        frames = [self._subscribed(connection)]
        if since is not None and self.reachable(since):
            wanted = set(named)
            frames += [frame for seq, topics, frame in self._ring if seq > since and not wanted.isdisjoint(topics)]
        else:
            if since is not None:
                frames.append(RESYNC)
            frames += self.snapshots.frames(named)
        connection.push_all(frames)

    def resync(self, connection: Connection) -> list[str]:
        """What a client that fell behind gets once it takes data again."""
        self.resyncs += 1
        return [RESYNC, *self.snapshots.frames(sorted(connection.topics))]

    def error(self, connection: Connection, code: str, message: str) -> None:
        """Tell a client its frame was refused."""
        connection.push(_encode(ErrorFrame(code=code, message=message)).decode())

    def _subscribed(self, connection: Connection) -> str:
        return _encode(Subscribed(topics=sorted(connection.topics), seq=self.last_seq)).decode()
