"""FrameBudget with an injected clock: a burst passes, a flood waits, waiting refills."""

from __future__ import annotations

from runtime.events.budget import FrameBudget


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_passes_and_a_flood_waits_in_proportion():
    clock = Clock()
    budget = FrameBudget(rate=100, burst=200, clock=clock)
    assert budget.charge(150) == 0.0
    assert budget.charge(50) == 0.0
    assert budget.charge(100) == 1.0  # 100 units in debt at 100 units/s
    clock.now += 1.0  # it waited
    assert budget.charge(1) == 0.01


def test_an_idle_connection_refills_up_to_the_burst_only():
    clock = Clock()
    budget = FrameBudget(rate=100, burst=200, clock=clock)
    budget.charge(200)
    clock.now += 60
    assert budget.charge(200) == 0.0
    assert budget.charge(100) == 1.0
