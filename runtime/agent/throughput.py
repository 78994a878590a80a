"""How slow a file server may be before a download is given up: a read timeout and a minimum rate.

A server that drips a byte a second never trips a read timeout, and one that stops sending trips
nothing else: ``SpeedLimits`` holds both bounds, ``ThroughputGuard`` judges the rate from the bytes
it is fed (pure: the caller passes the clock's readings), and ``fetch_file`` raises ``TooSlow``
(a kind of ``Interrupted``: the partial file stays for a resume) when either bound is crossed. The
model is then reported ``failed`` with the sentence and retried after the usual backoff.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

READ_TIMEOUT = 60.0
"""Seconds without a byte before a transfer is given up.

Long enough for a CDN or proxy that pauses while it fetches from its origin, or for TCP to recover
from lost packets; short enough that a dead connection is retried within a minute.
"""
MIN_RATE = 10 * 1024
"""Bytes per second, averaged over ``RATE_WINDOW``, below which a transfer is given up (10 KiB/s).

Far below any working link (a 1 Mbit/s line still brings 122 KiB/s), so only a stuck or hostile
server trips it; at 10 KiB/s a 500 MB file would take 14 hours.
"""
RATE_WINDOW = 60.0
"""Seconds over which the rate is averaged: brief stalls and bursts even out within a minute."""


def format_rate(rate: float) -> str:
    """``12 B/s``, ``10 KiB/s``, ``1.5 MiB/s``: a rate in bytes per second, as people read it."""
    for unit in ("B/s", "KiB/s", "MiB/s"):
        if rate < 1024 or unit == "MiB/s":
            return f"{rate:.0f} {unit}" if unit == "B/s" or rate == int(rate) else f"{rate:.1f} {unit}"
        rate /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def format_seconds(seconds: float) -> str:
    """``60 s``, ``0.5 s``."""
    return f"{seconds:g} s"


@dataclass(frozen=True, slots=True)
class SpeedLimits:
    """The least a file server must send.

    Attributes:
        read_timeout: Seconds without a byte (while waiting for the answer or its body) before giving up.
        min_rate: Bytes per second, averaged over ``window``, below which the transfer is given up.
        window: Seconds over which the rate is averaged.
    """

    read_timeout: float = READ_TIMEOUT
    min_rate: float = MIN_RATE
    window: float = RATE_WINDOW

    def __post_init__(self) -> None:
        """Every bound must be a finite number above 0; ``ValueError`` names the first that is not."""
        for name in ("read_timeout", "min_rate", "window"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a finite number above 0, not {value}")

    def guard(self, now: float) -> ThroughputGuard:
        """A guard of the minimum rate whose first window starts at ``now``."""
        return ThroughputGuard(self.min_rate, self.window, now)


class ThroughputGuard:
    """Whether a transfer keeps at least ``min_rate`` bytes per second over each window of ``window`` seconds.

    Windows follow each other: the first starts at ``start``; when one has lasted ``window`` seconds
    (judged at the next ``add``), its bytes over its duration must reach ``min_rate``, and the next
    window starts there. So a transfer that slows down is given up within two windows (plus the read
    timeout, the longest wait for the next ``add``), and the memory used is constant.
    """

    def __init__(self, min_rate: float, window: float, start: float) -> None:
        self.min_rate, self.window = min_rate, window
        self.start = start
        self.count = 0

    def add(self, now: float, count: int) -> float | None:
        """Count ``count`` bytes received at ``now``; the window's rate if it ended below ``min_rate``, else None."""
        self.count += count
        elapsed = now - self.start
        if elapsed < self.window:
            return None
        rate = self.count / elapsed
        if rate < self.min_rate:
            return rate
        self.start, self.count = now, 0
        return None

    def reason(self, rate: float) -> str:
        """The sentence for a window that ended at ``rate`` bytes per second."""
        return (
            f"download too slow: {format_rate(rate)} over the last {format_seconds(self.window)}, "
            f"below the minimum of {format_rate(self.min_rate)}"
        )
