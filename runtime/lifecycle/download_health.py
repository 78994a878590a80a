"""How a download is going on one node: its rate over a sliding window, its ETA, whether it stalled.

Pure and clock-injected: the lifecycle service feeds it each report's ``(time, bytes_done)`` and asks
it at any time. The rate is the growth of ``bytes_done`` over the samples of the last ``window``
seconds (at least two samples, at least ``min_span`` apart; before that it is unknown, not zero). A
download is stalled when ``bytes_done`` has not grown for ``stall_after`` seconds; a report that
makes progress ends the stall at once. A new attempt (bytes going back, another total) starts over.
"""

from __future__ import annotations

from collections import deque

__all__ = ["DownloadHealth"]


class DownloadHealth:
    """The samples of one (model, node) download."""

    __slots__ = ("_grew_at", "_samples", "_total", "min_span", "window")

    def __init__(self, now: float, bytes_done: int, bytes_total: int, *, window: float = 10.0) -> None:
        """Start tracking at ``now`` (seconds, any monotonic origin)."""
        self.window = window
        self.min_span = 0.5
        self._samples: deque[tuple[float, int]] = deque([(now, bytes_done)])
        self._grew_at = now
        self._total = bytes_total

    def add(self, now: float, bytes_done: int, bytes_total: int) -> None:
        """Take one report's byte counts."""
        samples = self._samples
        last_time, last_done = samples[-1]
        if (
            bytes_total == self._total
            and bytes_done >= last_done
            and len(samples) >= 2
            and last_time < now < samples[-2][0] + self.min_span
        ):  # the common case, a report within min_span of the sample before: it replaces the last one
            if bytes_done > last_done:
                self._grew_at = now
            samples[-1] = (now, bytes_done)
            while len(samples) > 2 and samples[1][0] <= now - self.window:
                samples.popleft()
            return
        if bytes_total != self._total or bytes_done < last_done:
            self._samples.clear()
            self._grew_at = now
            self._total = bytes_total
        elif bytes_done > last_done:
            self._grew_at = now
        if self._samples and now <= last_time:
            self._samples[-1] = (last_time, bytes_done)
        elif len(self._samples) >= 2 and now - self._samples[-2][0] < self.min_span:
            self._samples[-1] = (now, bytes_done)  # one sample per min_span: a fast reporter keeps ~window/min_span
        else:
            self._samples.append((now, bytes_done))
        while len(self._samples) > 2 and self._samples[1][0] <= now - self.window:
            self._samples.popleft()

    def rate(self, now: float) -> float | None:
        """Bytes per second over the window, or None while unknown."""
        first_time, first_done = self._samples[0]
        last_time, last_done = self._samples[-1]
        if now - self._grew_at >= self.window:
            return 0.0  # nothing has moved for a whole window
        span = last_time - first_time
        if span < self.min_span:
            return None
        return (last_done - first_done) / span

    def eta(self, now: float) -> float | None:
        """Seconds until done at the current rate, or None when unknown (no rate, or nothing moving)."""
        rate = self.rate(now)
        if not rate:
            return None
        return max(self._total - self._samples[-1][1], 0) / rate

    def stalled(self, now: float, stall_after: float) -> bool:
        """Whether ``bytes_done`` has not grown for ``stall_after`` seconds."""
        return now - self._grew_at >= stall_after

    def stalls_at(self, stall_after: float) -> float:
        """When it will count as stalled if nothing grows before."""
        return self._grew_at + stall_after
