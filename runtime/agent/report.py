"""What to tell the server about each model, so that every report is one it accepts.

The server takes a report only if it follows from the last one it holds: the state change must be in
the generated transition table, ``bytes_done`` may not go back while ``downloading``, and one bad
report rejects the whole heartbeat. The agent's real state can jump further than one step between two
heartbeats (a retry that failed and succeeded within one interval goes failed → ready, which the table
does not allow; a restarted download goes back in bytes), so ``Reporter`` remembers the last report the
server accepted per model and sends the first step of the shortest allowed path towards the real state:
failed → downloading → ready, downloading → failed (the restart) → downloading. It needs at most one
extra heartbeat per jump.

When the server holds something else than the agent believes (it restarted before it stored the last
reports, or the agent restarted), the server answers 409 and ``resync`` marks the model: its next report
is ``failed`` (allowed from every state), and from there the path is known again.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

import msgspec

from generated.lifecycle import NODE_MODEL_STATE_TRANSITIONS
from generated.types import HeartbeatModelReport, NodeModelState

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

RESTARTED = "the download restarted from an earlier byte"
RESYNC = "resynchronising with the server"


def path_between(start: NodeModelState, goal: NodeModelState) -> list[NodeModelState]:
    """The shortest chain of allowed state changes from ``start`` to ``goal``, both included."""
    previous: dict[NodeModelState, NodeModelState | None] = {start: None}
    queue = deque([start])
    while queue:
        state = queue.popleft()
        if state == goal:
            break
        for source, target in NODE_MODEL_STATE_TRANSITIONS:
            if source == state and target not in previous:
                previous[target] = state
                queue.append(target)
    if goal not in previous:  # pragma: no cover - failed is reachable from every state, and reaches every state
        return [start, NodeModelState.failed, goal]
    chain = [goal]
    while (step := previous[chain[-1]]) is not None:
        chain.append(step)
    return chain[::-1]


def next_report(previous: HeartbeatModelReport | None, actual: HeartbeatModelReport) -> HeartbeatModelReport:
    """The report to send now, given the last one the server accepted (None: unknown) and the real state."""
    if previous is None:
        return actual
    if previous.state == actual.state:
        if (
            actual.state == NodeModelState.downloading
            and actual.bytes_total == previous.bytes_total
            and actual.bytes_done < previous.bytes_done
        ):
            return msgspec.structs.replace(actual, state=NodeModelState.failed, error=_error(actual, RESTARTED))
        return actual
    if (previous.state, actual.state) in NODE_MODEL_STATE_TRANSITIONS:
        return actual
    step = path_between(previous.state, actual.state)[1]
    if step == NodeModelState.failed:
        return msgspec.structs.replace(actual, state=step, error=_error(actual, RESTARTED))
    return msgspec.structs.replace(actual, state=step)


def _error(actual: HeartbeatModelReport, fallback: str) -> str:
    return actual.error if isinstance(actual.error, str) and actual.error else fallback


class Reporter:
    """Turns the real states into acceptable reports, and learns from the server's answers."""

    def __init__(self) -> None:
        self._accepted: dict[str, HeartbeatModelReport] = {}
        self._resync: dict[str, str] = {}

    def reports(self, actual: Sequence[HeartbeatModelReport]) -> list[HeartbeatModelReport]:
        """The reports to send for the real states ``actual``."""
        sent = []
        for report in actual:
            reason = self._resync.get(report.model_id)
            if reason is not None:
                sent.append(msgspec.structs.replace(report, state=NodeModelState.failed, error=f"{RESYNC}: {reason}"))
            else:
                sent.append(next_report(self._accepted.get(report.model_id), report))
        return sent

    def accepted(self, sent: Iterable[HeartbeatModelReport]) -> None:
        """The server took these reports (models not among them are forgotten)."""
        self._accepted = {report.model_id: report for report in sent}
        self._resync.clear()

    def resync(self, model_ids: Iterable[str], reason: str) -> None:
        """The server rejected a report of these models: start their next report from ``failed``."""
        for model_id in model_ids:
            self._resync[model_id] = reason[:500]
            self._accepted.pop(model_id, None)
