"""Counters of a simulator run and the snapshots handed to ``on_stats``."""

from __future__ import annotations

import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from runtime.simulator._node import SimNode

#: Latencies kept for the percentiles: the most recent ones, so a snapshot shows how things are now.
LATENCY_WINDOW = 20_000


@dataclass(frozen=True, slots=True)
class StatsSnapshot:
    """The counters at one moment, with rates and percentiles since the previous snapshot."""

    elapsed: float
    """Seconds since the run started."""
    heartbeats_sent: int
    heartbeats_ok: int
    registrations: int
    """Successful ``POST /v0/nodes`` (first registrations and re-registrations of nodes the server forgot)."""
    errors: Mapping[str, int]
    """Failed requests by kind: ``"<status> <code>"`` (e.g. ``"404 not_registered"``) or the transport error's name."""
    late: int
    """Heartbeat slots skipped because the previous heartbeat took longer than the interval (overload)."""
    resyncs: int
    """Heartbeats refused as going backwards (409), after which the node reported every model failed."""
    heartbeats_per_s: float
    """Heartbeats sent per second since the previous snapshot (or over the whole run)."""
    p50_ms: float | None
    """Median heartbeat latency over the same span (None without an answer in it)."""
    p99_ms: float | None
    nodes: Mapping[str, int]
    """Nodes by phase (``NodePhase``)."""
    models: Mapping[str, int]
    """Per-node model states, counted over every node."""
    last_errors: Mapping[str, str] = field(default_factory=dict)
    """The last message seen for each kind of error."""

    @property
    def error_count(self) -> int:
        """Failed requests of every kind."""
        return sum(self.errors.values())

    def line(self) -> str:
        """One line for a person: rates, errors, latency, nodes and models by state."""
        latency = f"p50 {self.p50_ms:.1f} ms p99 {self.p99_ms:.1f} ms" if self.p50_ms is not None else "p50 - p99 -"
        errors = ", ".join(f"{kind}: {count}" for kind, count in sorted(self.errors.items())) or "none"
        if self.late:
            errors += f"; {self.late} slots missed"
        nodes = " ".join(f"{phase}={count}" for phase, count in sorted(self.nodes.items()))
        models = " ".join(f"{state}={count}" for state, count in sorted(self.models.items())) or "-"
        return (
            f"[{self.elapsed:6.1f} s] {self.heartbeats_per_s:7.1f} heartbeats/s, {self.heartbeats_ok} ok, "
            f"errors {errors}; {latency}; nodes {nodes}; models {models}"
        )


class SimulatorStats:
    """What the runner counts while it goes; ``snapshot`` reads it."""

    def __init__(self) -> None:
        """Start counting now."""
        self.started = time.monotonic()
        self.heartbeats_sent = 0
        self.heartbeats_ok = 0
        self.registrations = 0
        self.resyncs = 0
        self.late = 0
        self.errors: Counter[str] = Counter()
        self.last_errors: dict[str, str] = {}
        self.latencies: deque[float] = deque(maxlen=LATENCY_WINDOW)
        self._marked_at = self.started
        self._marked_sent = 0
        self._latency_total = 0  # latencies recorded so far, including those the window dropped
        self._window_from = 0  # the value of _latency_total at the last recent snapshot

    def latency(self, seconds: float) -> None:
        """Record one answered heartbeat's latency."""
        self.latencies.append(seconds)
        self._latency_total += 1

    def error(self, kind: str, message: str) -> None:
        """Count one failed request."""
        self.errors[kind] += 1
        self.last_errors[kind] = message

    def snapshot(self, nodes: Iterable[SimNode], *, recent: bool = True) -> StatsSnapshot:
        """The counters now.

        With ``recent``, the rate and the percentiles cover the time since the previous recent snapshot
        (and the next one starts from here); otherwise the whole run (the latest ``LATENCY_WINDOW``
        latencies), without moving that mark.
        """
        now = time.monotonic()
        if recent:
            since, sent = now - self._marked_at, self.heartbeats_sent - self._marked_sent
            fresh = min(self._latency_total - self._window_from, len(self.latencies))
            window = sorted(list(self.latencies)[len(self.latencies) - fresh :])
            self._marked_at, self._marked_sent, self._window_from = now, self.heartbeats_sent, self._latency_total
        else:
            since, sent, window = now - self.started, self.heartbeats_sent, sorted(self.latencies)
        phases: Counter[str] = Counter()
        states: Counter[str] = Counter()
        for node in nodes:
            phases[node.phase.value] += 1
            states.update(progress.state.value for progress in node.models.values())
        return StatsSnapshot(
            elapsed=now - self.started,
            heartbeats_sent=self.heartbeats_sent,
            heartbeats_ok=self.heartbeats_ok,
            registrations=self.registrations,
            errors=dict(self.errors),
            resyncs=self.resyncs,
            late=self.late,
            heartbeats_per_s=sent / since if since > 0 else 0.0,
            p50_ms=_percentile(window, 0.50),
            p99_ms=_percentile(window, 0.99),
            nodes=dict(phases),
            models=dict(states),
            last_errors=dict(self.last_errors),
        )


def _percentile(ordered: list[float], fraction: float) -> float | None:
    """Nearest-rank percentile of sorted seconds, in milliseconds."""
    if not ordered:
        return None
    rank = max(0, min(len(ordered) - 1, round(fraction * len(ordered) + 0.5) - 1))
    return ordered[rank] * 1000
