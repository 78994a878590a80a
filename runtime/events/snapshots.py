"""The ``Snapshot`` frames: a topic's current state, sent on subscribe and after ``ResyncRequired``.

``models`` is the hub list (the same bytes as ``GET /v0/models/hub``, pre-encoded by ``HubCache``);
``model:<id>`` that model's detail (``GET /v0/models/{id}``: the item and every node's row);
``nodes`` the nodes as ``GET /v0/nodes`` shows them, ``node:<id>`` that node's detail
(``GET /v0/nodes/{id}``); ``metrics`` and ``metrics:<id>`` each node's latest metrics with their
stale flag. A node topic for a node that has not registered yet has no items.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from generated.types import MetricsState
from runtime.errors import NodeNotFound
from runtime.events import topics

if TYPE_CHECKING:
    from collections.abc import Iterable

    from generated.types import Node
    from runtime.catalog.services import HubCache
    from runtime.lifecycle.service import LifecycleService

__all__ = ["Snapshots"]

_encode = msgspec.json.Encoder().encode


def _metrics(node: Node) -> MetricsState:
    return MetricsState(runtime_id=node.runtime_id, metrics=node.metrics, stale=node.metrics_stale)


class Snapshots:
    """Builds snapshot frames from the lifecycle's state and the hub cache."""

    def __init__(self, lifecycle: LifecycleService, hub: HubCache) -> None:
        """Read state from ``lifecycle`` and hub items from ``hub``."""
        self.lifecycle = lifecycle
        self.hub = hub
        self._models: tuple[bytes, str] = (b"", "")
        """The last ``models`` frame and the hub body it was built from: many clients resync at once after a gap."""

    def frames(self, topics: Iterable[str]) -> list[str]:
        """One Snapshot frame per topic, in the order given."""
        return [self.frame(topic) for topic in topics]

    def frame(self, topic: str) -> str:
        """The Snapshot frame of one (valid) topic."""
        if topic == "models":
            body = self.hub.body()[0]
            if body is not self._models[0]:
                self._models = (body, f'{{"type":"Snapshot","topic":"models","items":{body.decode()}}}')
            return self._models[1]
        return f'{{"type":"Snapshot","topic":{_encode(topic).decode()},"items":{self._items(topic).decode()}}}'

    def _items(self, topic: str) -> bytes:
        kind, key = topics.parse(topic) or ("", None)
        if kind == "model" and key is not None:
            return _encode([self.hub.detail(key)])
        if kind == "node" and key is not None:
            try:
                return _encode([self.lifecycle.node_detail(key)])
            except NodeNotFound:
                return b"[]"
        nodes = self.lifecycle.nodes() if key is None else self._node(key)
        if kind == "metrics":
            return _encode([_metrics(node) for node in nodes])
        return _encode(nodes)

    def _node(self, runtime_id: str) -> list[Node]:
        try:
            return [self.lifecycle.node(runtime_id)]
        except NodeNotFound:
            return []
