"""Reading client frames: each kind of bad frame gets its own code and a message that names the problem."""

from __future__ import annotations

import pytest

from generated.types import PingOp, SubscribeOp, UnsubscribeOp
from runtime.events.protocol import ProtocolError, parse_op, topic_error

MODELS = {"qwen3-0.6b"}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ('{"op":"ping"}', PingOp()),
        ('{"op":"subscribe","topics":["models"]}', SubscribeOp(topics=["models"])),
        (
            '{"op":"subscribe","topics":["nodes","metrics"],"since":7}',
            SubscribeOp(topics=["nodes", "metrics"], since=7),
        ),
        ('{"op":"unsubscribe","topics":["model:qwen3-0.6b"]}', UnsubscribeOp(topics=["model:qwen3-0.6b"])),
        (
            '{"op":"subscribe","topics":["node:gpu-01","metrics:gpu-01"]}',
            SubscribeOp(topics=["node:gpu-01", "metrics:gpu-01"]),
        ),
    ],
)
def test_valid_frames_become_operations(raw, expected):
    assert parse_op(raw, MODELS) == expected


@pytest.mark.parametrize(
    ("raw", "code", "words"),
    [
        ("not json", "invalid_json", "not JSON"),
        ("", "invalid_json", "not JSON"),
        ("[1, 2]", "validation_error", "JSON object"),
        ('"ping"', "validation_error", "JSON object"),
        ("{}", "unknown_op", "Unknown op None"),
        ('{"op":"publish"}', "unknown_op", "Unknown op 'publish'"),
        ('{"op":7}', "unknown_op", "Unknown op 7"),
        ('{"op":"subscribe","topics":["weather"]}', "unknown_topic", "Unknown topic 'weather'"),
        ('{"op":"subscribe","topics":["models","model:no-such"]}', "unknown_topic", "'no-such' is not in the catalog"),
        ('{"op":"subscribe","topics":["node:"]}', "unknown_topic", "Unknown topic 'node:'"),
        ('{"op":"unsubscribe","topics":[3]}', "unknown_topic", "A topic is a string, not int"),
        ('{"op":"subscribe"}', "validation_error", "missing required field `topics`"),
        ('{"op":"subscribe","topics":"models"}', "validation_error", "Expected `array`, got `str` - at `$.topics`"),
        ('{"op":"subscribe","topics":["models"],"since":-1}', "validation_error", "`$.since`"),
        ('{"op":"subscribe","topics":["models"],"since":"5"}', "validation_error", "`$.since`"),
        ('{"op":"ping","extra":1}', "validation_error", "unknown field `extra`"),
        ('{"op":"subscribe","topics":["models"],"extra":1}', "validation_error", "unknown field `extra`"),
        ('{"op":"subscribe","topics":[' + ",".join(['"models"'] * 257) + "]}", "validation_error", "length <= 256"),
    ],
)
def test_bad_frames_are_refused_with_a_code_and_a_reason(raw, code, words):
    with pytest.raises(ProtocolError) as refused:
        parse_op(raw, MODELS)
    assert refused.value.code == code
    assert words in refused.value.message


@pytest.mark.parametrize(
    ("topic", "known"),
    [
        ("models", True),
        ("nodes", True),
        ("metrics", True),
        ("model:qwen3-0.6b", True),
        ("model:QWEN3-0.6B", False),
        ("node:not-registered-yet", True),
        ("metrics:gpu-01", True),
        ("model", False),
        ("models:qwen3-0.6b", False),
        ("Models", False),
    ],
)
def test_topics(topic, known):
    assert (topic_error(topic, MODELS) is None) is known
