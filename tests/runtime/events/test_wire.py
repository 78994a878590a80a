"""runtime.events.wire (message -> numbered -> parse) and runtime.events.topics against the schema's Topic."""

from __future__ import annotations

import json
import re

import msgspec
import pytest

from generated.types import ModelStatusChanged, NodeCounts
from runtime.events import topics, wire
from tests.runtime.events.schemas import topic_pattern

COUNTS = NodeCounts(pending=0, downloading=1, ready=0, failed=0, stalled=0, offline=0)


def event(model_id: str = "qwen3-0.6b") -> bytes:
    return msgspec.json.encode(
        ModelStatusChanged(
            seq=0,
            ts="2026-01-01T12:00:00Z",
            model_id=model_id,
            status="downloading",  # type: ignore[arg-type]
            progress=0.5,
            node_counts=COUNTS,
            bytes_done=5,
            bytes_total=10,
        )
    )


@pytest.mark.parametrize("seq", [1, 1_000, 2**53 - 1])
def test_message_numbered_parse_round_trip(seq):
    routes = (topics.MODELS, topics.model("qwen3-0.6b"))
    seq_back, topics_back, frame = wire.parse(wire.numbered(seq, wire.message(routes, event())))
    assert (seq_back, topics_back) == (seq, routes)
    assert json.loads(frame) == {**json.loads(event()), "seq": seq}
    assert frame == event().decode().replace('"seq":0', f'"seq":{seq}', 1)


def test_only_the_placeholder_is_rewritten_not_a_lookalike_in_a_string():
    body = b'{"type":"X","seq":0,"note":",\\"seq\\":0,","model_id":"a,\\"seq\\":0,"}'
    _, _, frame = wire.parse(wire.numbered(7, wire.message(["model:a"], body)))
    assert json.loads(frame) == {"type": "X", "seq": 7, "note": ',"seq":0,', "model_id": 'a,"seq":0,'}


def test_one_topic_and_topics_with_colons_in_the_key():
    routes = (topics.model("a"), topics.node("host:8080"))
    assert wire.parse(wire.numbered(3, wire.message(routes, event())))[1] == routes


def test_message_refuses_an_event_without_seq_zero_second():
    with pytest.raises(ValueError, match="seq 0"):
        wire.message([topics.MODELS], b'{"type":"X","seq":5,"a":1}')
    with pytest.raises(ValueError, match="seq 0"):
        wire.message([topics.MODELS], b'{"seq":0}')  # not second: no comma before it


def test_the_gap_marker_is_empty_and_never_a_numbered_message():
    assert wire.GAP == b""
    assert wire.numbered(1, wire.message([topics.MODELS], event())) != wire.GAP


# ----------------------------------------------------------------- topics


PATTERN = re.compile(topic_pattern())

VALID = [
    "models",
    "nodes",
    "metrics",
    "model:qwen3-0.6b",
    "model:smollm2-1.7b-instruct-q8_0",
    "node:n1",
    "node:host.lan:8080",
    "node:A-b_c.d",
    "metrics:n1",
    "metrics:host:1",
]
INVALID = [
    "",
    "model",
    "node",
    "model:",
    "node:",
    "metrics:",
    "models:x",
    "nodes:x",
    "hub",
    "Model:a",
    " models",
    "model:Qwen",  # model ids are lower case
    "model:-a",
    "node:-a",
    "node:a b",
]


@pytest.mark.parametrize("topic", VALID)
def test_valid_topics_parse_and_match_the_schema(topic):
    assert PATTERN.fullmatch(topic)
    parsed = topics.parse(topic)
    assert parsed is not None
    kind, key = parsed
    if key is None:
        assert kind == topic
        assert kind in topics.KINDS.values()
    else:
        assert kind in topics.KINDS
        assert getattr(topics, kind)(key) == topic


@pytest.mark.parametrize("topic", INVALID)
def test_invalid_topics_are_refused_by_the_schema(topic):
    assert not PATTERN.fullmatch(topic)


@pytest.mark.parametrize("topic", INVALID)
def test_topics_parse_refuses_what_the_schema_refuses(topic):
    assert topics.parse(topic) is None


@pytest.mark.parametrize(
    "topic", ["node:" + "a" * 195, "node:" + "a" * 196, "metrics:" + "b" * 193, "model:" + "c" * 200]
)
def test_parse_and_the_schema_agree_on_the_length_limit(topic):
    assert (topics.parse(topic) is not None) == bool(PATTERN.fullmatch(topic) and len(topic) <= 200)


def test_an_ill_formed_node_key_is_an_unknown_topic_on_the_socket_protocol():
    from runtime.events.protocol import ProtocolError, parse_op

    with pytest.raises(ProtocolError) as refused:
        parse_op('{"op":"subscribe","topics":["node:a b"]}', {"qwen3-0.6b"})
    assert refused.value.code == "unknown_topic"
