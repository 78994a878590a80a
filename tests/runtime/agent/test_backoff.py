"""Backoff: exponential, capped, jittered downwards only."""

from __future__ import annotations

import pytest

from runtime.agent.backoff import Backoff


def test_the_sequence_doubles_up_to_the_cap():
    backoff = Backoff(base=1.0, factor=2.0, cap=60.0, random=lambda: 0.0)
    assert [backoff.delay(n) for n in range(1, 10)] == [1, 2, 4, 8, 16, 32, 60, 60, 60]


def test_jitter_takes_off_at_most_its_fraction():
    backoff = Backoff(base=1.0, cap=60.0, jitter=0.5, random=lambda: 0.999999)
    assert backoff.delay(3) == pytest.approx(2.0, rel=1e-5)


@pytest.mark.parametrize("failures", [0, 1, 5, 64, 10_000])
def test_delays_stay_within_bounds(failures):
    backoff = Backoff(base=0.5, cap=30.0)
    for _ in range(50):
        assert 0.0 < backoff.delay(failures) <= 30.0
