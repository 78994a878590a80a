"""EventStream and Connection without sockets: routing, replay, resynchronisation, bounded queues."""

from __future__ import annotations

import asyncio
import json

import pytest

from generated.types import PingOp, SubscribeOp, UnsubscribeOp
from runtime.events import topics, wire
from runtime.events.connection import Connection
from runtime.events.stream import EventStream
from runtime.events.wire import GAP

START = 1_000


class FakeSnapshots:
    """Snapshot frames that say which topic they are for."""

    def frames(self, topics):
        return [json.dumps({"type": "Snapshot", "topic": topic, "items": []}) for topic in topics]


def message(seq: int, kind: str, key: str, **fields) -> bytes:
    """An event of one item (``kind`` model, node or metrics) on its all-items topic and its own, numbered."""
    body = json.dumps({"type": "X", "seq": 0, "key": key, **fields}, separators=(",", ":")).encode()
    return wire.numbered(seq, wire.message((topics.KINDS[kind], f"{kind}:{key}"), body))


@pytest.fixture
def stream() -> EventStream:
    return EventStream(None, FakeSnapshots(), replay_size=4, clock=lambda: START)  # type: ignore[arg-type]


def drain(connection: Connection) -> list[dict]:
    frames = [json.loads(frame) for frame in connection._frames]
    connection._frames.clear()
    return frames


def subscribed(stream: EventStream, *topics: str, since: int | None = None) -> Connection:
    connection = Connection(capacity=8)
    stream.add(connection)
    stream.subscribe(connection, topics, since)
    return connection


def test_subscribe_answers_subscribed_then_a_snapshot_per_topic(stream):
    connection = subscribed(stream, "models", "node:n1", "models")
    assert drain(connection) == [
        {"type": "Subscribed", "topics": ["models", "node:n1"], "seq": START},
        {"type": "Snapshot", "topic": "models", "items": []},
        {"type": "Snapshot", "topic": "node:n1", "items": []},
    ]


def test_events_get_their_seq_and_go_to_the_topics_subscribers_once(stream):
    everything = subscribed(stream, "models", "model:a")
    one = subscribed(stream, "model:b")
    nodes = subscribed(stream, "nodes")
    for connection in (everything, one, nodes):
        drain(connection)
    stream.receive(message(START + 1, "model", "a"))
    stream.receive(message(START + 2, "model", "b"))
    stream.receive(message(START + 3, "node", "n1"))
    assert [(frame["seq"], frame["key"]) for frame in drain(everything)] == [(START + 1, "a"), (START + 2, "b")]
    assert [(frame["seq"], frame["key"]) for frame in drain(one)] == [(START + 2, "b")]
    assert [(frame["seq"], frame["key"]) for frame in drain(nodes)] == [(START + 3, "n1")]
    assert stream.last_seq == START + 3


def test_only_the_seq_field_is_rewritten(stream):
    connection = subscribed(stream, "models")
    drain(connection)
    stream.receive(message(START + 1, "model", "a", note=',"seq":0,'))
    assert drain(connection) == [{"type": "X", "seq": START + 1, "key": "a", "note": ',"seq":0,'}]


def test_resume_with_since_replays_the_missed_events_of_the_new_topics_only(stream):
    for seq, kind, key in [(START + 1, "model", "a"), (START + 2, "node", "n1"), (START + 3, "model", "b")]:
        stream.receive(message(seq, kind, key))
    connection = subscribed(stream, "models", since=START + 1)
    assert [(frame["type"], frame.get("seq"), frame.get("key")) for frame in drain(connection)] == [
        ("Subscribed", START + 3, None),
        ("X", START + 3, "b"),
    ]


def test_topics_named_again_are_answered_again(stream):
    connection = subscribed(stream, "models")
    drain(connection)
    stream.subscribe(connection, ["models", "nodes"], since=0)
    assert [(frame["type"], frame.get("topic")) for frame in drain(connection)] == [
        ("Subscribed", None),
        ("ResyncRequired", None),
        ("Snapshot", "models"),
        ("Snapshot", "nodes"),
    ]


def test_resume_from_the_latest_seq_replays_nothing(stream):
    stream.receive(message(START + 1, "model", "a"))
    connection = subscribed(stream, "models", since=START + 1)
    assert [frame["type"] for frame in drain(connection)] == ["Subscribed"]


@pytest.mark.parametrize("since", [START - 1, 0, START + 99])
def test_a_since_out_of_reach_gets_resync_required_and_snapshots(stream, since):
    stream.receive(message(START + 1, "model", "a"))
    connection = subscribed(stream, "models", since=since)
    assert [frame["type"] for frame in drain(connection)] == ["Subscribed", "ResyncRequired", "Snapshot"]


def test_the_replay_buffer_is_bounded_and_moves_the_horizon(stream):
    for offset in range(1, 7):
        stream.receive(message(START + offset, "model", "a"))
    assert stream.horizon == START + 2  # 6 events, 4 kept: everything after START+2 is there
    assert stream.reachable(START + 2)
    assert not stream.reachable(START + 1)
    replayed = subscribed(stream, "models", since=START + 2)
    assert [frame.get("seq") for frame in drain(replayed)][1:] == [START + 3, START + 4, START + 5, START + 6]


def test_a_gap_resynchronises_every_client_and_forgets_the_buffer(stream):
    connection = subscribed(stream, "models")
    stream.receive(message(START + 1, "model", "a"))
    stream.receive(GAP)
    assert connection.behind
    assert connection.pending() == 0
    assert not stream.reachable(START)
    assert [json.loads(frame) for frame in stream.resync(connection)] == [
        {"type": "ResyncRequired"},
        {"type": "Snapshot", "topic": "models", "items": []},
    ]


def test_a_seq_that_goes_back_is_a_gap(stream):
    connection = subscribed(stream, "models")
    stream.receive(message(START + 5, "model", "a"))
    drain(connection)
    stream.receive(message(START + 2, "model", "a"))  # Redis lost its counter
    assert connection.behind
    assert stream.last_seq == START + 2
    assert stream.reachable(START + 1)  # the new numbering is complete from its first event
    assert not stream.reachable(START + 5)


def test_unsubscribe_and_ping(stream):
    connection = subscribed(stream, "models", "nodes")
    drain(connection)
    stream.apply(connection, UnsubscribeOp(topics=["models"]))
    stream.apply(connection, PingOp())
    stream.receive(message(START + 1, "model", "a"))
    assert drain(connection) == [{"type": "Subscribed", "topics": ["nodes"], "seq": START}, {"type": "Pong"}]


def test_apply_subscribe_passes_since(stream):
    stream.receive(message(START + 1, "model", "a"))
    connection = Connection(capacity=8)
    stream.apply(connection, SubscribeOp(topics=["models"], since=START))
    assert [frame.get("seq") for frame in drain(connection)] == [START + 1, START + 1]


def test_removed_connections_get_nothing(stream):
    connection = subscribed(stream, "models")
    drain(connection)
    stream.remove(connection)
    assert stream._by_topic == {}
    stream.receive(message(START + 1, "model", "a"))
    stream.heartbeat()
    assert connection.pending() == 0


def test_heartbeat_reaches_every_connection(stream):
    first, second = subscribed(stream, "models"), Connection(capacity=8)
    stream.add(second)
    drain(first)
    stream.heartbeat()
    assert drain(first) == drain(second) == [{"type": "Heartbeat"}]


# ----------------------------------------------------------------- Connection


def test_a_full_queue_drops_the_backlog_and_falls_behind():
    connection = Connection(capacity=3)
    for index in range(3):
        connection.push(str(index))
    connection.push("3")
    assert connection.behind
    assert connection.pending() == 0
    connection.push("4")  # nothing is queued while behind
    assert connection.pending() == 0


async def test_the_sender_sends_in_order_and_resynchronises_once_drained():
    connection = Connection(capacity=2)
    sent: list[str] = []
    gate = asyncio.Event()

    async def send(frame: str) -> None:
        await gate.wait()  # a client that does not read
        sent.append(frame)

    sender = asyncio.create_task(connection.send_forever(send, lambda _: ["resync", "snapshot"]))
    connection.push("a")
    await asyncio.sleep(0)  # the sender takes "a" and blocks on it
    for frame in ("b", "c", "d"):  # b, c fill the queue; d overflows it
        connection.push(frame)
    assert connection.behind
    gate.set()
    await asyncio.sleep(0.01)
    connection.push("e")
    await asyncio.sleep(0.01)
    sender.cancel()
    assert sent == ["a", "resync", "snapshot", "e"]
    assert connection.resyncs == 1
