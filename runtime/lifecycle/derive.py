"""Pure rules that derive a model's aggregates and a node's ``synced`` flag from the reports.

From the contract: ``registered`` = registered, no non-offline node has begun; ``downloading`` = some
non-offline node fetching, none ready on an online node; ``ready`` = ready on at least one online
node. ``node_counts`` counts the reports by state, those of offline nodes under ``offline`` alone;
``stalled`` counts downloading reports that stalled (they count under ``downloading`` too).
``bytes_done``/``bytes_total`` are summed over non-offline downloading nodes, and ``progress`` is
their ratio while the status is ``downloading``, else null. A model's aggregates depend on its own
registration and reports only; no other model and no node status but its reporters' enter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from generated.types import ModelStatus, NodeCounts, NodeModelState, NodeStatus

if TYPE_CHECKING:
    from collections.abc import Collection, Iterable, Mapping

    from runtime.db import NodeModelRecord

__all__ = ["AVAILABLE", "OFFLINE", "Aggregate", "aggregate_of", "model_aggregate", "node_synced"]

OFFLINE = "offline"
"""The node-count key of reports from offline nodes."""


@dataclass(frozen=True, slots=True)
class Aggregate:
    """A model's lifecycle as the hub item and ``ModelStatusChanged`` show it."""

    status: ModelStatus
    progress: float | None
    node_counts: NodeCounts
    bytes_done: int
    bytes_total: int


_NO_NODES = NodeCounts(pending=0, downloading=0, ready=0, failed=0, stalled=0, offline=0)
AVAILABLE = Aggregate(ModelStatus.available, None, _NO_NODES, 0, 0)


def aggregate_of(
    *, ready_online: bool, counts: Mapping[str, int], stalled: int, bytes_done: int, bytes_total: int
) -> Aggregate:
    """A registered model's aggregates from its counts (the one place the status rule is written)."""
    node_counts = NodeCounts(
        pending=counts[NodeModelState.pending.value],
        downloading=counts[NodeModelState.downloading.value],
        ready=counts[NodeModelState.ready.value],
        failed=counts[NodeModelState.failed.value],
        stalled=stalled,
        offline=counts[OFFLINE],
    )
    if ready_online:
        return Aggregate(ModelStatus.ready, None, node_counts, bytes_done, bytes_total)
    if node_counts.downloading:
        progress = bytes_done / bytes_total if bytes_total else 0.0
        return Aggregate(ModelStatus.downloading, progress, node_counts, bytes_done, bytes_total)
    return Aggregate(ModelStatus.registered, None, node_counts, bytes_done, bytes_total)


def model_aggregate(
    registered: bool,
    reports: Iterable[NodeModelRecord],
    node_status: Mapping[str, NodeStatus],
    stalled: Collection[str] = (),
) -> Aggregate:
    """Derive one model's aggregates from scratch (the reference the tally is tested against).

    ``stalled`` holds the runtime ids whose download of the model stalled.
    """
    if not registered:
        return AVAILABLE
    counts = {state.value: 0 for state in NodeModelState} | {OFFLINE: 0}
    ready_online = False
    stalled_count = done = total = 0
    for report in reports:
        status = node_status.get(report.runtime_id, NodeStatus.offline)
        if status == NodeStatus.offline:
            counts[OFFLINE] += 1
            continue
        counts[report.state.value] += 1
        if report.state == NodeModelState.ready and status == NodeStatus.online:
            ready_online = True
        if report.state == NodeModelState.downloading:
            stalled_count += report.runtime_id in stalled
            done += min(report.bytes_done, report.bytes_total)
            total += report.bytes_total
    return aggregate_of(
        ready_online=ready_online, counts=counts, stalled=stalled_count, bytes_done=done, bytes_total=total
    )


def node_synced(registered: Iterable[str], reports: Mapping[str, NodeModelRecord]) -> bool:
    """Whether a node reports every registered model ready (``reports`` maps model id to its report)."""
    return all(
        (report := reports.get(model_id)) is not None and report.state == NodeModelState.ready
        for model_id in registered
    )
