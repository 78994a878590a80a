"""Turns lifecycle changes and Hugging Face refreshes into events: the only place events come from.

A ``Change`` names what one command changed; this listener publishes, in this order:
``NodeStatusChanged`` (status or ``synced``) on ``nodes`` and ``node:<id>``; ``NodeModelChanged`` on
``model:<model_id>`` and ``node:<runtime_id>``; ``ModelStatusChanged`` (the aggregates, no per-node
list) on ``models`` and ``model:<id>``; ``MetricsUpdated`` on ``metrics`` and ``metrics:<id>``.
``HfStatsUpdated`` comes from the Hugging Face stats service when a refresh changes what the hub shows.
The offline timer and stall detection are lifecycle commands like any other, so they publish without
any request arriving.

Coalescing: an event that changes only byte counts or metrics — a model's aggregates with the same
status and node counts, one (model, node) row with the same state, total, stall and error, a node's
metrics that stay fresh — waits until ``progress_interval`` has passed since the last event of that
model (``node_progress_interval`` for a pair or a node's metrics), and then carries the state at that
moment; anything else goes out at once. A status change is never delayed.

The two intervals differ because the rows outnumber the models: with 1,000 nodes downloading 10
models there are 10 models and 10,000 rows. Rows at the models' 4 a second filled the replay buffer
(``MODELHUB_WS_REPLAY_SIZE`` events) in about a second, so a client that lost its socket for longer
could not resume, and cost a tenth of the heartbeat bench's CPU (bench/runtime_http.py).
"""

from __future__ import annotations

import asyncio
import math
import time
from typing import TYPE_CHECKING, Generic, TypeVar

import msgspec

from generated.types import HfStatsUpdated, MetricsUpdated, ModelStatusChanged, NodeModelChanged, NodeStatusChanged
from runtime.errors import NodeNotFound
from runtime.events import topics
from runtime.events.wire import message
from runtime.lifecycle.service import rfc3339

if TYPE_CHECKING:
    from collections.abc import Callable, Hashable
    from datetime import datetime

    from generated.types import HfInfo
    from runtime.lifecycle.service import Change, LifecycleService, Pair

__all__ = ["EventPublisher"]

_encode = msgspec.json.Encoder().encode
K = TypeVar("K", bound="Hashable")


class Coalescer(Generic[K]):
    """Per key: send at once when the shape changed or the interval passed, else once when it passes.

    Waiting keys share timers: a key due at time t waits in the bucket of the first tick
    (``interval / 4``) at or after t, and one timer per bucket sends all of its keys. With 10,000
    (model, node) pairs downloading, a timer per key cost more than the events it sent; a bucket
    delays an event by at most a quarter interval more and never sends one early.
    """

    def __init__(self, send: Callable[[K, datetime], None], interval: float, monotonic: Callable[[], float]) -> None:
        """Call ``send(key, changed_at)`` when an event of ``key`` is due."""
        self.send = send
        self.interval = interval
        self.monotonic = monotonic
        self.shapes: dict[K, Hashable] = {}
        self._tick = interval / 4 if interval > 0 else 0.001
        self._last_sent: dict[K, float] = {}
        self._waiting: dict[K, tuple[int, datetime]] = {}  # key -> its bucket, the latest change's time
        self._buckets: dict[int, tuple[asyncio.TimerHandle, set[K]]] = {}

    def changed(self, key: K, shape: Hashable, now: datetime) -> None:
        """``key`` changed to ``shape`` at ``now``."""
        if shape != self.shapes.get(key):
            self.sent(key, shape)
            self.send(key, now)
        else:
            self.progressed(key, now)

    def progressed(self, key: K, now: datetime) -> None:
        """``key`` changed at ``now`` in what its shape leaves out (the caller knows the shape stayed)."""
        waiting = self._waiting.get(key)
        if waiting is not None:
            self._waiting[key] = (waiting[0], now)  # the later change's time; the state is read when it fires
            return
        waited = self.monotonic() - self._last_sent.get(key, float("-inf"))
        if waited >= self.interval:
            self._last_sent[key] = self.monotonic()
            self.send(key, now)
            return
        loop = asyncio.get_running_loop()
        index = math.ceil((loop.time() + self.interval - waited) / self._tick)
        bucket = self._buckets.get(index)
        if bucket is None:
            bucket = self._buckets[index] = (loop.call_at(index * self._tick, self._fire, index), set())
        bucket[1].add(key)
        self._waiting[key] = (index, now)

    def sent(self, key: K, shape: Hashable) -> None:
        """Record that ``key`` went out with ``shape`` now (cancelling a waiting event)."""
        self._unwait(key)
        self.shapes[key] = shape
        self._last_sent[key] = self.monotonic()

    def forget(self, key: K) -> None:
        """Drop what is known of ``key`` (it is gone)."""
        self._unwait(key)
        self.shapes.pop(key, None)
        self._last_sent.pop(key, None)

    def _unwait(self, key: K) -> None:
        waiting = self._waiting.pop(key, None)
        if waiting is None:
            return
        handle, keys = self._buckets[waiting[0]]
        keys.discard(key)
        if not keys:
            handle.cancel()
            del self._buckets[waiting[0]]

    def _fire(self, index: int) -> None:
        _, keys = self._buckets.pop(index)
        sent_at = self.monotonic()
        for key in keys:
            _, changed_at = self._waiting.pop(key)
            self._last_sent[key] = sent_at
            self.send(key, changed_at)

    def close(self) -> None:
        """Drop every waiting event."""
        for handle, _ in self._buckets.values():
            handle.cancel()
        self._buckets.clear()
        self._waiting.clear()


class EventPublisher:
    """A lifecycle listener that publishes events through ``publish`` (bytes in ``wire.message`` format)."""

    def __init__(
        self,
        lifecycle: LifecycleService,
        publish: Callable[[bytes], None],
        *,
        progress_interval: float = 0.25,
        node_progress_interval: float | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """Publish through ``publish``; ``attach`` starts listening (``node_progress_interval``: default the same)."""
        self.lifecycle = lifecycle
        self.publish = publish
        per_node = progress_interval if node_progress_interval is None else node_progress_interval
        self._models: Coalescer[str] = Coalescer(self._send_model, progress_interval, monotonic)
        self._rows: Coalescer[Pair] = Coalescer(self._send_row, per_node, monotonic)
        self._metrics: Coalescer[str] = Coalescer(self._send_metrics, per_node, monotonic)
        self._attached = False

    def attach(self) -> None:
        """Listen from now on; the state loaded at start is what snapshots show, not events."""
        for model_id in self.lifecycle.catalog:
            self._models.shapes[model_id] = self._model_shape(model_id)
        self.lifecycle.listeners.append(self.on_change)
        self._attached = True

    def close(self) -> None:
        """Stop listening and drop events still waiting (the server is stopping)."""
        if self.on_change in self.lifecycle.listeners:
            self.lifecycle.listeners.remove(self.on_change)
        self._attached = False
        self._models.close()
        self._rows.close()
        self._metrics.close()

    def on_change(self, change: Change) -> None:
        """Publish the events of one change (one of another replica's is published there: only noted)."""
        if not change.local:
            self._note_remote(change)
            return
        now = self.lifecycle.clock()
        if change.nodes:
            ts = rfc3339(now)
            for runtime_id, (previous, status) in sorted(change.nodes.items()):
                self._node_changed(runtime_id, previous, status, ts, change.removed_names.get(runtime_id, ""))
        rows = change.node_models
        if change.progressed_rows:  # a heartbeat's byte counts: each waits for its pair's timer (order is moot)
            shapes = self._rows.shapes
            waiting = [pair for pair in change.progressed_rows if pair in shapes]
            for pair in waiting:
                self._rows.progressed(pair, now)
            rows = rows.difference(waiting)
        for pair in sorted(rows):
            shape = self.lifecycle.row_shape(*pair)
            if shape is None:
                self._rows.forget(pair)
                self._send_row(pair, now)
            else:
                self._rows.changed(pair, shape, now)
        for model_id in sorted(change.models):
            if model_id in change.progressed_models and model_id in self._models.shapes:
                self._models.progressed(model_id, now)
            else:
                self._models.changed(model_id, self._model_shape(model_id), now)
        for runtime_id in sorted(change.metrics):
            self._metrics.changed(runtime_id, self._metrics_shape(runtime_id), now)

    def _note_remote(self, change: Change) -> None:
        """Take another replica's change as sent: a heartbeat here then publishes only what differs from it."""
        for pair in change.node_models:
            shape = self.lifecycle.row_shape(*pair)
            if shape is None:
                self._rows.forget(pair)
            else:
                self._rows.shapes[pair] = shape
        for model_id in change.models:
            self._models.shapes[model_id] = self._model_shape(model_id)
        for runtime_id in change.metrics:
            self._metrics.shapes[runtime_id] = self._metrics_shape(runtime_id)

    def on_hf_info(self, model_id: str, hf_info: HfInfo | None, now: datetime) -> None:
        """A Hugging Face refresh changed what the hub shows of ``model_id``."""
        if not self._attached:
            return
        event = HfStatsUpdated(seq=0, ts=rfc3339(now), model_id=model_id, hf_info=hf_info)
        self.publish(message((topics.MODELS, topics.model(model_id)), _encode(event)))

    def _model_shape(self, model_id: str) -> Hashable:
        aggregate = self.lifecycle.aggregate(model_id)
        return aggregate.status, aggregate.node_counts

    def _node_changed(self, runtime_id: str, previous: object, status: object, ts: str, removed_name: str) -> None:
        try:
            node = self.lifecycle.node(runtime_id)
            machine_name, synced = node.machine_name, node.synced
        except NodeNotFound:
            machine_name, synced = removed_name, False  # deleted: status null says so
        event = NodeStatusChanged(
            seq=0,
            ts=ts,
            runtime_id=runtime_id,
            machine_name=machine_name,
            status=status,  # type: ignore[arg-type]
            previous=previous,  # type: ignore[arg-type]
            synced=synced,
        )
        self.publish(message((topics.NODES, topics.node(runtime_id)), _encode(event)))

    def _send_row(self, pair: Pair, changed_at: datetime) -> None:
        model_id, runtime_id = pair
        row = self.lifecycle.row(model_id, runtime_id)
        event = NodeModelChanged(
            seq=0,
            ts=rfc3339(changed_at),
            model_id=model_id,
            runtime_id=runtime_id,
            state=row.state if row else None,  # null: the report is gone
            bytes_done=row.bytes_done if row else 0,
            bytes_total=row.bytes_total if row else 0,
            bytes_per_second=row.bytes_per_second if row else None,
            eta_seconds=row.eta_seconds if row else None,
            stalled=row.stalled if row else False,
            error=row.error if row else None,
        )
        self.publish(message((topics.model(model_id), topics.node(runtime_id)), _encode(event)))

    def _send_model(self, model_id: str, changed_at: datetime) -> None:
        aggregate = self.lifecycle.aggregate(model_id)
        event = ModelStatusChanged(
            seq=0,
            ts=rfc3339(changed_at),
            model_id=model_id,
            status=aggregate.status,
            progress=aggregate.progress,
            node_counts=aggregate.node_counts,
            bytes_done=aggregate.bytes_done,
            bytes_total=aggregate.bytes_total,
        )
        self.publish(message((topics.MODELS, topics.model(model_id)), _encode(event)))

    def _metrics_shape(self, runtime_id: str) -> Hashable:
        """Metrics coalesce like progress; going stale (or fresh again) is sent at once."""
        return self.lifecycle.metrics_stale(runtime_id)

    def _send_metrics(self, runtime_id: str, changed_at: datetime) -> None:
        try:
            node = self.lifecycle.node(runtime_id)
        except NodeNotFound:
            self._metrics.forget(runtime_id)
            return  # deleted; its NodeStatusChanged says so
        ts = rfc3339(changed_at)
        event = MetricsUpdated(
            seq=0,
            ts=node.last_heartbeat_at or ts,
            runtime_id=runtime_id,
            metrics=node.metrics,
            stale=node.metrics_stale,
        )
        self.publish(message((topics.METRICS, topics.metrics(runtime_id)), _encode(event)))
