"""Pure rules that derive a model's status and progress from its registration and the nodes' reports.

From CONTRACTS.md: ``registered`` = registered, no node has begun; ``downloading`` = some node
fetching, none ready; ``ready`` = ready on at least one online node. Reports of offline nodes count
for nothing but are still listed. ``progress`` is bytes done over bytes to fetch, summed over the
nodes fetching, while the status is ``downloading``; otherwise it is null.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from generated.types import ModelStatus, NodeModelProgress, NodeModelState, NodeStatus

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from runtime.db import NodeModelRecord


@dataclass(frozen=True, slots=True)
class ModelView:
    """A model's derived lifecycle: what the hub and the events show."""

    status: ModelStatus
    progress: float | None
    nodes: tuple[NodeModelProgress, ...]


AVAILABLE = ModelView(ModelStatus.available, None, ())


def model_view(
    registered: bool, reports: Mapping[str, NodeModelRecord], node_status: Mapping[str, NodeStatus]
) -> ModelView:
    """Derive one model's view; ``reports`` maps runtime id to that node's report on the model."""
    if not registered:
        return AVAILABLE
    nodes = node_progress(reports)
    live = [r for r in reports.values() if node_status.get(r.runtime_id, NodeStatus.offline) != NodeStatus.offline]
    if any(r.state == NodeModelState.ready and node_status[r.runtime_id] == NodeStatus.online for r in live):
        return ModelView(ModelStatus.ready, None, nodes)
    fetching = [r for r in live if r.state == NodeModelState.downloading]
    if not fetching:
        return ModelView(ModelStatus.registered, None, nodes)
    total = sum(r.bytes_total for r in fetching)
    done = sum(min(r.bytes_done, r.bytes_total) for r in fetching)
    return ModelView(ModelStatus.downloading, done / total if total else 0.0, nodes)


def node_has_all(registered: Iterable[str], reports: Mapping[str, NodeModelRecord]) -> bool:
    """Whether a node reports every registered model ready (``reports`` maps model id to its report)."""
    return all(
        (report := reports.get(model_id)) is not None and report.state == NodeModelState.ready
        for model_id in registered
    )


def node_progress(reports: Mapping[str, NodeModelRecord]) -> tuple[NodeModelProgress, ...]:
    """Each node's report on a model, as the hub lists them (by runtime id)."""
    return tuple(
        NodeModelProgress(
            runtime_id=r.runtime_id, state=r.state, bytes_done=r.bytes_done, bytes_total=r.bytes_total, error=r.error
        )
        for _, r in sorted(reports.items())
    )
