"""Exponential backoff with jitter, for failed downloads and an unreachable server."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable


@dataclass(frozen=True, slots=True)
class Backoff:
    """Delays of ``base * factor ** (failures - 1)`` seconds, at most ``cap``, less up to ``jitter`` of it.

    The jitter spreads nodes that failed together (a Hub outage) so they do not retry in step.

    Attributes:
        base: The first delay, in seconds.
        factor: How much each further failure multiplies the delay.
        cap: The longest delay, in seconds.
        jitter: The fraction of a delay that is taken off at random, 0..1.
        random: A source of floats in [0, 1), replaceable in tests.
    """

    base: float = 1.0
    factor: float = 2.0
    cap: float = 60.0
    jitter: float = 0.5
    random: Callable[[], float] = field(default=random.random, repr=False)

    def delay(self, failures: int) -> float:
        """Seconds to wait after ``failures`` failures in a row (1 for the first)."""
        exponent = max(0, failures - 1)
        raw = self.cap if exponent >= 64 else min(self.cap, self.base * self.factor**exponent)
        return raw * (1.0 - self.jitter * self.random())
