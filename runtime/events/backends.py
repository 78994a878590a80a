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
import contextlib
import logging
import time
from typing import TYPE_CHECKING, Any

from litestar.channels.backends.memory import MemoryChannelsBackend
from litestar.channels.backends.redis import RedisChannelsPubSubBackend
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
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
PROBE = b"probe"
"""Published on the event channel to check the subscription end to end; never delivered to clients."""

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

    Litestar's stream reads one ``PubSub`` for ever: once Redis restarts, its resubscribe can fail
    and leave it waiting quietly on a connection that subscribes to nothing, while publishing works
    again and everything looks healthy — no event reaches a client any more. So this backend reads
    its own subscription and checks it end to end: every ``probe_interval`` seconds it publishes a
    probe on the event channel, and the subscription counts as alive only while it hears something
    (a probe or an event) within ``probe_timeout``. A read that fails or a silence that lasts drops
    the subscription and subscribes again with backoff (0.1 s doubling to 1 s) until it works. Each
    loss is reported as a gap when it is noticed and once more when events flow again, so clients
    resynchronise on the state that changed meanwhile. ``healthy`` (``/readyz``) is true only while
    events flow.
    """

    def __init__(
        self,
        *,
        redis: Redis,
        clock: Callable[[], int] = now_us,
        probe_interval: float = 1.0,
        probe_timeout: float = 3.0,
    ) -> None:
        """Use ``redis`` for publishing and subscribing; probe every ``probe_interval`` seconds."""
        super().__init__(redis=redis, key_prefix="MODELHUB_CHANNELS")
        self._numbered_publish = redis.register_script(_PUBLISH)
        self._clock = clock
        self._gap_listeners: list[Callable[[], None]] = []
        self.probe_interval = probe_interval
        self.probe_timeout = probe_timeout
        self._heard_at = float("-inf")
        self._published_ok = True
        self._prober: asyncio.Task[None] | None = None

    @property
    def healthy(self) -> bool:
        """Whether events flow: the last publish worked and the subscription heard Redis lately."""
        return self._published_ok and time.monotonic() - self._heard_at < self.probe_timeout

    def on_gap(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` whenever events may have been lost."""
        self._gap_listeners.append(listener)

    def _gap(self, reason: str) -> None:
        logger.error("events: %s; clients will resynchronise", reason)
        for listener in self._gap_listeners:
            listener()

    async def on_startup(self) -> None:
        """Fail at start, with the reason, when Redis cannot be reached; then start probing."""
        await self._redis.ping()
        self._prober = asyncio.create_task(self._probe())

    async def on_shutdown(self) -> None:
        """Stop probing; close the client (the subscription closes with its stream)."""
        if self._prober is not None:
            self._prober.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._prober
        await self._redis.aclose()

    async def subscribe(self, channels: Iterable[str]) -> None:
        """The stream always reads the one event channel; nothing to do per subscriber."""

    async def unsubscribe(self, channels: Iterable[str]) -> None:
        """See ``subscribe``."""

    async def publish(self, data: bytes, channels: Iterable[str]) -> None:
        """Number ``data`` and publish it in one atomic step; a failure is a gap."""
        try:
            await self._numbered_publish(keys=[SEQ_KEY, *channels], args=[data, self._clock()])
        except (RedisError, OSError) as error:
            if self._published_ok:  # once per outage, not once per event
                self._gap(f"publishing to Redis failed ({type(error).__name__}: {error})")
            self._published_ok = False
        else:
            if not self._published_ok:
                self._gap("publishing to Redis works again; events published meanwhile were lost")
            self._published_ok = True

    async def _probe(self) -> None:
        while True:
            try:
                await self._redis.publish(CHANNEL, PROBE)
            except (RedisError, OSError):
                pass  # the stream notices the silence
            else:
                if not self._published_ok:
                    self._gap("publishing to Redis works again; events published meanwhile were lost")
                    self._published_ok = True
            await asyncio.sleep(self.probe_interval)

    async def stream_events(self) -> AsyncGenerator[tuple[str, Any], None]:
        """The event channel's messages, without probes; a gap marker once events flow after a loss."""
        delay = 0.1
        lost = False
        while True:
            pubsub = self._redis.pubsub()
            try:
                await pubsub.subscribe(CHANNEL)
                await self._redis.publish(CHANNEL, PROBE)  # heard back at once when the subscription works
                waiting_since = time.monotonic()
                while True:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=self.probe_interval)
                    now = time.monotonic()
                    if message is None:
                        if now - max(self._heard_at, waiting_since) >= self.probe_timeout:
                            raise RedisConnectionError(f"nothing heard for {self.probe_timeout:g} s")
                        continue
                    self._heard_at = now
                    delay = 0.1
                    if lost:
                        lost = False
                        logger.warning("events: the Redis subscription delivers again")
                        yield CHANNEL, GAP
                    if message["data"] != PROBE:
                        yield message["channel"].decode(), message["data"]
            except (RedisError, OSError) as error:
                self._heard_at = float("-inf")
                if not lost:
                    lost = True
                    self._gap(f"the Redis subscription failed ({type(error).__name__}: {error})")
            finally:
                with contextlib.suppress(RedisError, OSError):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)


def backend_for(redis_url: str | None) -> SequencedMemoryBackend | SequencedRedisBackend:
    """Redis when a URL is set (replicas share events), else in memory (one process)."""
    if redis_url is None:
        return SequencedMemoryBackend()
    return SequencedRedisBackend(redis=Redis.from_url(redis_url))
