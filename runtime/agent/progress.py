"""What an operator reads while a model downloads: a start line, a progress line every so often, the end.

``ProgressLog`` holds one attempt of one model; it is pure (every reading of the clock is passed in)
and returns the lines for ``sync.ModelSync`` to log, e.g.::

    qwen3-0.6b: downloading 968.9 MiB (2 files)
    qwen3-0.6b: 412.3 MiB of 968.9 MiB (42.6 %), 21.4 MiB/s, about 26 s left
    qwen3-0.6b: ready, 968.9 MiB in 45 s (21.5 MiB/s on average)
    qwen3-0.6b: failed at 412.3 MiB of 968.9 MiB: <reason>; retrying in 4.0 s

The speed is ``RateEstimate``'s: the bytes of the last ``ESTIMATE_WINDOW`` seconds over their duration,
so the time left follows the link as it is now, not its average since the start.
"""

from __future__ import annotations

import math
from collections import deque

from runtime.agent.throughput import format_rate

PROGRESS_INTERVAL = 10.0
"""Seconds between two progress lines of one model (a constant, not an option).

Often enough to see a download move and to notice a stall long before the rate window
(``throughput.RATE_WINDOW``, 60 s) gives it up; rare enough that a download of hours writes a few
hundred lines an hour, not one per heartbeat. ``--heartbeat-interval`` (2 s) would be far too chatty,
and no operator asked for another knob; ``Syncer(progress_interval=...)`` changes it for tests.
"""
ESTIMATE_WINDOW = 30.0
"""Seconds of recent progress the speed (and so the time left) is computed from."""

_UNITS = ("KiB", "MiB", "GiB", "TiB")


def format_size(size: float) -> str:
    """``512 B``, ``1.5 KiB``, ``968.9 MiB``, ``7.5 GiB``: bytes in the units of ``format_rate``."""
    if size < 1024:
        return f"{size:.0f} B"
    for unit in _UNITS:
        size /= 1024
        if size < 1024 or unit == _UNITS[-1]:
            return f"{size:.1f} {unit}"
    raise AssertionError("unreachable")  # pragma: no cover


def format_duration(seconds: float) -> str:
    """``0.4 s``, ``26 s``, ``4 min 05 s``, ``2 h 07 min``: a duration rounded to what matters at its scale."""
    if seconds < 9.95:
        return f"{max(0.0, seconds):.1f} s"
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    minutes = (whole + 30) // 60
    return f"{minutes // 60} h {minutes % 60:02d} min"


def progress_line(model_id: str, done: int, total: int, rate: float | None) -> str:
    """``m: 412.3 MiB of 968.9 MiB (42.6 %), 21.4 MiB/s, about 26 s left``; no speed while ``rate`` is None."""
    percent = 100.0 * done / total if total > 0 else 100.0
    line = f"{model_id}: {format_size(done)} of {format_size(total)} ({percent:.1f} %)"
    if rate is None:
        return line
    line += f", {format_rate(rate)}"
    if rate > 0 and total > done:
        line += f", about {format_duration((total - done) / rate)} left"
    elif rate <= 0:
        line += ", stalled"
    return line


class RateEstimate:
    """Bytes per second over the last ``window`` seconds, from readings of a growing byte count.

    It keeps the readings of the window plus the last one before it, so the span covers the whole
    window once the transfer has lasted that long. A count that goes back (a partial file discarded)
    starts the estimate afresh.
    """

    def __init__(self, window: float = ESTIMATE_WINDOW) -> None:
        if not (math.isfinite(window) and window > 0):
            raise ValueError(f"window must be a finite number above 0, not {window}")
        self.window = window
        self._readings: deque[tuple[float, int]] = deque()

    def add(self, now: float, done: int) -> None:
        """``done`` bytes in all at ``now`` (readings in time order)."""
        readings = self._readings
        if readings and done < readings[-1][1]:
            readings.clear()
        readings.append((now, done))
        while len(readings) > 2 and readings[1][0] <= now - self.window:
            readings.popleft()

    def rate(self) -> float | None:
        """Bytes per second over the readings kept; None until two of them are apart in time."""
        if len(self._readings) < 2:
            return None
        (first, start), (last, end) = self._readings[0], self._readings[-1]
        if last <= first:
            return None
        return (end - start) / (last - first)


class ProgressLog:
    """The lines of one download attempt of one model, at most one progress line per ``interval`` seconds."""

    def __init__(
        self,
        model_id: str,
        *,
        now: float,
        done: int,
        total: int,
        interval: float = PROGRESS_INTERVAL,
        window: float = ESTIMATE_WINDOW,
    ) -> None:
        """Start at ``now`` with ``done`` of ``total`` bytes already on disk."""
        self.model_id = model_id
        self.interval = interval
        self.started_at = self._last_line = now
        self.start_done = self.done = done
        self.total = total
        self.estimate = RateEstimate(window)
        self.estimate.add(now, done)

    def started(self, files: int) -> str:
        """The first line: the whole size, and what was on disk already."""
        plural = "file" if files == 1 else "files"
        line = f"{self.model_id}: downloading {format_size(self.total)} ({files} {plural} to fetch)"
        if self.start_done:
            line += f", {format_size(self.start_done)} already on disk"
        return line

    def update(self, now: float, done: int, total: int) -> str | None:
        """Count a reading; a progress line when ``interval`` seconds have passed since the last line."""
        self.done, self.total = done, total
        self.estimate.add(now, done)
        if now - self._last_line < self.interval:
            return None
        self._last_line = now
        return progress_line(self.model_id, done, total, self.estimate.rate())

    def finished(self, now: float, done: int) -> str:
        """The last line: the size, the time taken and the mean speed of this attempt."""
        elapsed = now - self.started_at
        fetched = max(0, done - self.start_done)
        line = f"{self.model_id}: ready, {format_size(done)} in {format_duration(elapsed)}"
        if elapsed > 0:
            line += f" ({format_rate(fetched / elapsed)} on average"
            line += f", {format_size(self.start_done)} was on disk already)" if self.start_done else ")"
        return line

    def failed(self, reason: str, delay: float) -> str:
        """The line of a failed attempt: how far it got, the reason, when it is tried again."""
        return (
            f"{self.model_id}: failed at {format_size(self.done)} of {format_size(self.total)}: {reason}; "
            f"retrying in {delay:.1f} s"
        )
