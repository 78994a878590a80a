r"""Litestar channels backends that give every event its ``seq`` at the moment it is published.

The protocol: events carry ``seq``, strictly increasing. Order is decided where an event is
published, so that is where the number is taken: in memory, in the plugin's one publishing task;
with Redis, in a Lua script that takes the number and publishes in one atomic step, so every replica
receives the events in seq order and a client may resume on any replica. A seq is
``max(previous + 1, the time in microseconds)``: it keeps increasing across restarts of the server
(or of Redis, which keeps nothing on disk), so a ``since`` from before a restart is recognisably older
than anything the server holds instead of pointing at unrelated events. The numbers stay below 2**53,
so JavaScript reads them exactly.

The message format (route line, ``"seq":0``, the number in front, the gap marker) is
``runtime.events.wire``'s; this module only takes the number.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

from litestar.channels.backends.memory import MemoryChannelsBackend
from litestar.channels.backends.redis import RedisChannelsPubSubBackend
from redis.asyncio import Redis
from redis.exceptions import RedisError

from runtime.events.wire import GAP, numbered

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, Callable, Iterable


__all__ = [
    "CHANNEL",
    "GAP",
    "SequencedMemoryBackend",
    "SequencedRedisBackend",
    "backend_for",
    "next_seq",
    "now_us",
]

logger = logging.getLogger(__name__)

CHANNEL = "modelhub:events"
SEQ_KEY = "modelhub:events:seq"

# The Lua twin of wire.numbered: "<seq>\n" in front of the publisher's message.
_PUBLISH = """
local seq = redis.call('INCR', KEYS[1])
local floor = tonumber(ARGV[2])
if seq < floor then
  redis.call('SET', KEYS[1], ARGV[2])
  seq = floor
end
local message = string.format('%d', seq) .. '\\n' .. ARGV[1]
for i = 2, #KEYS do
  redis.call('PUBLISH', KEYS[i], message)
end
return seq
"""


def now_us() -> int:
    """The time in microseconds since the epoch."""
    return time.time_ns() // 1000


def next_seq(previous: int, clock: Callable[[], int] = now_us) -> int:
    """The seq after ``previous``: one more, or the time in microseconds (``clock``) if that is larger."""
    return max(previous + 1, clock())


class SequencedMemoryBackend(MemoryChannelsBackend):
    """The in-memory backend (one process), numbering events as it publishes them."""

    def __init__(self, clock: Callable[[], int] = now_us) -> None:
        """No history: EventStream keeps its own bounded replay buffer."""
        super().__init__(history=0)
        self._seq = 0
        self._clock = clock
        self.healthy = True

    def on_gap(self, listener: Callable[[], None]) -> None:
        """Events are never lost in memory: nothing to report."""

    async def publish(self, data: bytes, channels: Iterable[str]) -> None:
        """Number ``data`` and publish it."""
        self._seq = next_seq(self._seq, self._clock)
        await super().publish(numbered(self._seq, data), channels)


class SequencedRedisBackend(RedisChannelsPubSubBackend):
    """Redis pub/sub, numbering events in Redis so that every replica agrees on the order.

    Litestar's backend lets a Redis error end its publishing or reading task, after which events
    silently stop. Here a failed publish is logged and reported as a gap, and a failed read
    reconnects with backoff and then reports a gap, so clients resynchronise instead of going quiet.
    """

    def __init__(self, *, redis: Redis, clock: Callable[[], int] = now_us) -> None:
        """Use ``redis`` for publishing and subscribing."""
        super().__init__(redis=redis, key_prefix="MODELHUB_CHANNELS")
        self._numbered_publish = redis.register_script(_PUBLISH)
        self._clock = clock
        self._gap_listeners: list[Callable[[], None]] = []
        self.healthy = True

    def on_gap(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` whenever events may have been lost."""
        self._gap_listeners.append(listener)

    def _gap(self, error: Exception) -> None:
        self.healthy = False
        logger.error("events: Redis failed (%s: %s); clients will resynchronise", type(error).__name__, error)
        for listener in self._gap_listeners:
            listener()

    async def on_startup(self) -> None:
        """Fail at start, with the reason, when Redis cannot be reached."""
        await self._redis.ping()

    async def on_shutdown(self) -> None:
        """Close the subscription and the client."""
        await super().on_shutdown()
        await self._redis.aclose()

    async def publish(self, data: bytes, channels: Iterable[str]) -> None:
        """Number ``data`` and publish it in one atomic step."""
        try:
            await self._numbered_publish(keys=[SEQ_KEY, *channels], args=[data, self._clock()])
        except (RedisError, OSError) as error:
            self._gap(error)
        else:
            self.healthy = True

    async def stream_events(self) -> AsyncGenerator[tuple[str, Any], None]:
        """Litestar's stream, restarted after a Redis failure with a gap marker in between."""
        delay = 0.1
        while True:
            try:
                async for channel, data in super().stream_events():
                    self.healthy = True
                    delay = 0.1
                    yield channel, data
            except (RedisError, OSError) as error:
                self._gap(error)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                channels = [name.decode() for name in self._pub_sub.channels] or [CHANNEL]
                try:
                    await self._pub_sub.aclose()  # type: ignore[no-untyped-call]
                    await self._pub_sub.subscribe(*channels)
                except (RedisError, OSError):
                    continue
                yield CHANNEL, GAP


def backend_for(redis_url: str | None) -> SequencedMemoryBackend | SequencedRedisBackend:
    """Redis when a URL is set (replicas share events), else in memory (one process)."""
    if redis_url is None:
        return SequencedMemoryBackend()
    return SequencedRedisBackend(redis=Redis.from_url(redis_url))
