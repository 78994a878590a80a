"""The topic grammar, in one place, and the names of each event's topics.

Topics: ``models``, ``model:<model_id>``, ``nodes``, ``node:<runtime_id>``, ``metrics``,
``metrics:<runtime_id>``.
The publisher names an event's topics with the functions here, the stream routes by them, the
protocol checks a client's topics with ``parse``, and the snapshots pick their contents by it.
"""

from __future__ import annotations

import re

__all__ = ["KINDS", "METRICS", "MODELS", "NODES", "metrics", "model", "node", "parse"]

MODELS = "models"
NODES = "nodes"
METRICS = "metrics"
KINDS = {"model": MODELS, "node": NODES, "metrics": METRICS}
"""Each one-item kind and its all-items topic."""
MAX_LENGTH = 200
_MODEL_KEY = re.compile(r"[a-z0-9]+(?:[._-][a-z0-9]+)*")  # ModelId in catalog.schema.json
_NODE_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]*")  # RuntimeId in nodes.schema.json
_KEYS = {"model": _MODEL_KEY, "node": _NODE_KEY, "metrics": _NODE_KEY}
"""The key grammar of each kind, as the Topic pattern of events.schema.json writes it."""


def model(model_id: str) -> str:
    """The topic of one model."""
    return f"model:{model_id}"


def node(runtime_id: str) -> str:
    """The topic of one node."""
    return f"node:{runtime_id}"


def metrics(runtime_id: str) -> str:
    """The topic of one node's metrics."""
    return f"metrics:{runtime_id}"


def parse(topic: str) -> tuple[str, str | None] | None:
    """``(kind, key)``: ``("models", None)``, ``("model", "qwen3")`` for ``model:qwen3``; None if unknown.

    Accepts exactly what the Topic pattern of events.schema.json accepts.
    """
    if topic in (MODELS, NODES, METRICS):
        return topic, None
    kind, colon, key = topic.partition(":")
    if colon and kind in _KEYS and len(topic) <= MAX_LENGTH and _KEYS[kind].fullmatch(key):
        return kind, key
    return None
