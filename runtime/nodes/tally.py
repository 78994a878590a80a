"""A running tally of one model's reports, so a heartbeat updates a model's status in O(1).

``derive.model_view`` defines the status and progress from all of a model's reports; with 100 nodes
and 10 models, re-deriving on every heartbeat cost a millisecond. The tally keeps, per model, the
nodes where it is ready and online and the nodes fetching it (with running sums of bytes), and is
updated one (node, model) pair at a time. The lifecycle tests check that it always agrees with
``model_view``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from generated.types import ModelStatus, NodeModelState, NodeStatus

if TYPE_CHECKING:
    from runtime.db import NodeModelRecord


class Tally:
    """The counts behind one registered model's status and progress."""

    __slots__ = ("_done", "_fetching", "_ready", "_total")

    def __init__(self) -> None:
        """An empty tally: registered, nothing begun."""
        self._ready: set[str] = set()
        self._fetching: dict[str, tuple[int, int]] = {}
        self._done = 0
        self._total = 0

    def forget(self, runtime_id: str) -> None:
        """Remove a node's contribution."""
        self._ready.discard(runtime_id)
        counted = self._fetching.pop(runtime_id, None)
        if counted is not None:
            self._done -= counted[0]
            self._total -= counted[1]

    def count(self, report: NodeModelRecord, node_status: NodeStatus) -> None:
        """Add a node's report, as its node's status makes it count (call ``forget`` first)."""
        if report.state == NodeModelState.ready and node_status == NodeStatus.online:
            self._ready.add(report.runtime_id)
        elif report.state == NodeModelState.downloading and node_status != NodeStatus.offline:
            done = min(report.bytes_done, report.bytes_total)
            self._fetching[report.runtime_id] = (done, report.bytes_total)
            self._done += done
            self._total += report.bytes_total

    def summary(self) -> tuple[ModelStatus, float | None]:
        """Status and progress, exactly as ``derive.model_view`` defines them."""
        if self._ready:
            return ModelStatus.ready, None
        if self._fetching:
            return ModelStatus.downloading, self._done / self._total if self._total else 0.0
        return ModelStatus.registered, None
