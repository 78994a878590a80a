"""Turns each change of the lifecycle service into events on the channel: the only place events come from.

A ``Change`` names what one command changed (models, nodes with their previous and new status,
nodes whose metrics were reported or went stale); this listener publishes one event for each:
``NodeStatusChanged``, ``ModelStatusChanged``, ``MetricsUpdated``, in that order. The offline timer
and metrics going stale are lifecycle commands like any other (``LifecycleService.expire``), so they
publish without any request arriving.

Progress is coalesced per model: an event that changes only byte counts (same status, same nodes
in the same states) waits until 250 ms have passed since that model's last event, and then carries
the model's state at that moment; anything else goes out at once. So a node reporting every few
milliseconds costs at most four events a second per model, and a status change is never delayed.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import msgspec

from generated.types import MetricsUpdated, ModelStatusChanged, NodeStatusChanged
from runtime.errors import NodeNotFound

if TYPE_CHECKING:
    from collections.abc import Callable, Hashable

    from runtime.nodes.derive import ModelView
    from runtime.nodes.services import Change, LifecycleService

__all__ = ["EventPublisher", "rfc3339"]

_encode = msgspec.json.Encoder().encode


def rfc3339(moment: datetime) -> str:
    """A UTC time as RFC 3339 with a Z, as every ``ts`` on the wire."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _shape(view: ModelView) -> Hashable:
    """What of a model's view is more than progress: a change here is published at once."""
    return view.status, tuple((node.runtime_id, node.state, node.bytes_total, node.error) for node in view.nodes)


class EventPublisher:
    r"""A lifecycle listener that publishes events.

    Each message is ``b"<kind> <id>\n"`` (kind: model, node or metrics; what ``EventStream`` routes
    by, without parsing the JSON) followed by the event with ``"seq":0`` (the backend numbers it).
    """

    def __init__(
        self,
        lifecycle: LifecycleService,
        publish: Callable[[bytes], None],
        *,
        progress_interval: float = 0.25,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """Publish through ``publish``; ``attach`` starts listening."""
        self.lifecycle = lifecycle
        self.publish = publish
        self.progress_interval = progress_interval
        self.monotonic = monotonic
        self._shapes: dict[str, Hashable] = {}
        self._last_sent: dict[str, float] = {}
        self._waiting: dict[str, tuple[asyncio.TimerHandle, datetime]] = {}

    def attach(self) -> None:
        """Listen from now on; the state loaded at start is what snapshots show, not events."""
        for model_id in self.lifecycle.catalog:
            self._shapes[model_id] = _shape(self.lifecycle.view(model_id))
        self.lifecycle.listeners.append(self.on_change)

    def close(self) -> None:
        """Stop listening and drop progress events still waiting (the server is stopping)."""
        if self.on_change in self.lifecycle.listeners:
            self.lifecycle.listeners.remove(self.on_change)
        for handle, _ in self._waiting.values():
            handle.cancel()
        self._waiting.clear()

    def on_change(self, change: Change) -> None:
        """Publish the events of one change."""
        now = self.lifecycle.clock()
        ts = rfc3339(now)
        for runtime_id, (previous, status) in sorted(change.nodes.items()):
            if previous != status:
                event = NodeStatusChanged(seq=0, ts=ts, runtime_id=runtime_id, status=status, previous=previous)
                self.publish(b"node %s\n%s" % (runtime_id.encode(), _encode(event)))
        for model_id in sorted(change.models):
            self._model_changed(model_id, now)
        for runtime_id in sorted(change.metrics):
            self._metrics_changed(runtime_id, ts)

    def _model_changed(self, model_id: str, now: datetime) -> None:
        view = self.lifecycle.view(model_id)
        shape = _shape(view)
        waited = self.monotonic() - self._last_sent.get(model_id, float("-inf"))
        if shape != self._shapes.get(model_id) or waited >= self.progress_interval:
            self._send_model(model_id, now)
        elif model_id in self._waiting:
            handle, _ = self._waiting[model_id]
            self._waiting[model_id] = (handle, now)  # the later change's time; the state is read when it fires
        else:
            handle = asyncio.get_running_loop().call_later(
                self.progress_interval - waited, self._send_waiting, model_id
            )
            self._waiting[model_id] = (handle, now)

    def _send_waiting(self, model_id: str) -> None:
        _, changed_at = self._waiting[model_id]
        self._send_model(model_id, changed_at)

    def _send_model(self, model_id: str, changed_at: datetime) -> None:
        waiting = self._waiting.pop(model_id, None)
        if waiting is not None:
            waiting[0].cancel()
        view = self.lifecycle.view(model_id)
        self._shapes[model_id] = _shape(view)
        self._last_sent[model_id] = self.monotonic()
        event = ModelStatusChanged(
            seq=0,
            ts=rfc3339(changed_at),
            model_id=model_id,
            status=view.status,
            progress=view.progress,
            nodes=view.nodes,
        )
        self.publish(b"model %s\n%s" % (model_id.encode(), _encode(event)))

    def _metrics_changed(self, runtime_id: str, ts: str) -> None:
        try:
            node = self.lifecycle.node(runtime_id)
        except NodeNotFound:
            return  # deleted in the same change; its NodeStatusChanged says so
        event = MetricsUpdated(
            seq=0,
            ts=node.last_heartbeat_at or ts,
            runtime_id=runtime_id,
            metrics=node.metrics,
            stale=node.metrics_stale,
        )
        self.publish(b"metrics %s\n%s" % (runtime_id.encode(), _encode(event)))
