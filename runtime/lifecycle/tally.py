"""A running tally of one model's reports, so a heartbeat updates a model's aggregates in O(1).

``derive.model_aggregate`` defines a model's status, progress, node counts and byte sums from all of
its reports; re-deriving on every heartbeat would cost time proportional to the node count. The
tally keeps what each node contributes and running sums, and is updated one (node, model) pair at a
time. The lifecycle tests check that it always agrees with ``derive.model_aggregate``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from generated.types import NodeModelState, NodeStatus
from runtime.lifecycle.derive import OFFLINE, Aggregate, aggregate_of

if TYPE_CHECKING:
    from runtime.db import NodeModelRecord

__all__ = ["Tally"]

_DOWNLOADING = NodeModelState.downloading.value  # an enum member's .value is a property call: read it once


@dataclass(slots=True)
class _Share:
    """What one node's report adds to a model's aggregates (``bytes_done`` moves in place; see ``progress``)."""

    category: str
    """The node-count key: the report's state, or ``offline`` for an offline node."""
    stalled: bool
    ready_online: bool
    bytes_done: int
    bytes_total: int


class Tally:
    """The counts behind one registered model's aggregates."""

    __slots__ = ("_counts", "_done", "_ready_online", "_shares", "_stalled", "_summary", "_total")

    def __init__(self) -> None:
        """An empty tally: registered, nothing begun."""
        self._shares: dict[str, _Share] = {}
        self._counts = {state.value: 0 for state in NodeModelState} | {OFFLINE: 0}
        self._stalled = 0
        self._ready_online = 0
        self._done = 0
        self._total = 0
        self._summary: Aggregate | None = None

    def forget(self, runtime_id: str) -> None:
        """Remove a node's contribution."""
        share = self._shares.pop(runtime_id, None)
        if share is not None:
            self._add(share, -1)

    def count(self, report: NodeModelRecord, node_status: NodeStatus, *, stalled: bool = False) -> None:
        """Add a node's report as its node's status makes it count (call ``forget`` first)."""
        if node_status == NodeStatus.offline:
            share = _Share(OFFLINE, False, False, 0, 0)
        elif report.state == NodeModelState.downloading:
            done = min(report.bytes_done, report.bytes_total)
            share = _Share(report.state.value, stalled, False, done, report.bytes_total)
        else:
            ready_online = report.state == NodeModelState.ready and node_status == NodeStatus.online
            share = _Share(report.state.value, False, ready_online, 0, 0)
        self._shares[report.runtime_id] = share
        self._add(share, 1)

    def progress(self, runtime_id: str, bytes_done: int) -> bool:
        """Move a counted download's ``bytes_done``; False (nothing changed) if the node's share is not one.

        The heartbeat's common case — only bytes moved — without taking the share apart and adding it again.
        """
        share = self._shares.get(runtime_id)
        if share is None or share.category != _DOWNLOADING:
            return False
        done = min(bytes_done, share.bytes_total)
        self._done += done - share.bytes_done
        share.bytes_done = done
        self._summary = None
        return True

    def _add(self, share: _Share, sign: int) -> None:
        self._counts[share.category] += sign
        self._stalled += sign * share.stalled
        self._ready_online += sign * share.ready_online
        self._done += sign * share.bytes_done
        self._total += sign * share.bytes_total
        self._summary = None

    def summary(self) -> Aggregate:
        """The aggregates, exactly as ``derive.model_aggregate`` defines them (kept until the tally changes)."""
        if self._summary is None:
            self._summary = aggregate_of(
                ready_online=self._ready_online > 0,
                counts=self._counts,
                stalled=self._stalled,
                bytes_done=self._done,
                bytes_total=self._total,
            )
        return self._summary
