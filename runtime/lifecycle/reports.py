"""The rules a node's report on one model must follow: pure, so they can be tested from a table.

A heartbeat is checked report by report before anything is applied (one bad report rejects the
heartbeat and changes nothing). Each rejection names the report by its JSON pointer in the body
(``/models/<index>`` or ``/models/<index>/<field>``), which the node agent uses to find it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from generated.lifecycle import NODE_MODEL_STATE_TRANSITIONS
from generated.types import NodeModelState
from runtime.db import NodeModelRecord
from runtime.errors import InvalidTransition, ModelNotSupported, NotRegistered, ValidationFailed

if TYPE_CHECKING:
    from collections.abc import Container
    from datetime import datetime

    from generated.types import HeartbeatModelReport

__all__ = ["check_report"]


def check_report(
    runtime_id: str,
    index: int,
    report: HeartbeatModelReport,
    previous: NodeModelRecord | None,
    *,
    catalog: Container[str],
    registered: Container[str],
    now: datetime,
) -> NodeModelRecord:
    """The record of one report, or the error that rejects it (``previous``: the node's last report on the model).

    (The JSON pointers are built only when a report is rejected: this runs for every report of every heartbeat.)
    """
    if report.model_id not in catalog:
        at = _pointer(index, "model_id")
        raise ModelNotSupported(f"{at}: {report.model_id!r} is not in the catalog.", pointer=at)
    if report.model_id not in registered:
        at = _pointer(index, "model_id")
        raise NotRegistered(
            f"{at}: {report.model_id} is not registered; the heartbeat answer lists the registered models.", pointer=at
        )
    if report.bytes_done > report.bytes_total:
        at = _pointer(index, "bytes_done")
        raise ValidationFailed(f"{at}: {report.bytes_done} exceeds bytes_total ({report.bytes_total}).", pointer=at)
    if report.state == NodeModelState.ready and report.bytes_done != report.bytes_total:
        at = _pointer(index, "bytes_done")
        raise ValidationFailed(f"{at}: a ready model has bytes_done equal to bytes_total.", pointer=at)
    if previous is not None:
        if previous.state != report.state and (previous.state, report.state) not in NODE_MODEL_STATE_TRANSITIONS:
            at = _pointer(index, "state")
            raise InvalidTransition(
                f"{at}: {report.model_id} cannot go from {previous.state.value} to {report.state.value}.", pointer=at
            )
        if (
            previous.state == report.state == NodeModelState.downloading
            and previous.bytes_total == report.bytes_total
            and report.bytes_done < previous.bytes_done
        ):
            at = _pointer(index, "bytes_done")
            raise InvalidTransition(
                f"{at}: bytes_done of {report.model_id} went back from {previous.bytes_done} to "
                f"{report.bytes_done}; report failed first to restart a download.",
                pointer=at,
            )
    error = report.error if isinstance(report.error, str) else None
    return NodeModelRecord(runtime_id, report.model_id, report.state, report.bytes_done, report.bytes_total, error, now)


def _pointer(index: int, name: str) -> str:
    """The JSON pointer of field ``name`` of report ``index`` in the heartbeat body."""
    return f"/models/{index}/{name}"
