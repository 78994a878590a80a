"""ThroughputGuard fed (time, bytes) by hand, SpeedLimits' checks, and how rates are written."""

from __future__ import annotations

import math

import pytest

from runtime.agent.throughput import MIN_RATE, RATE_WINDOW, READ_TIMEOUT, SpeedLimits, ThroughputGuard, format_rate

# Each case: min_rate (B/s), window (s), the (time, bytes) fed from a start at 0, and what each add returns
# (None: fine so far; a number: the window's rate, below the minimum).
CASES = {
    "a window not over yet is never judged": (100, 10, [(1, 0), (5, 0), (9.99, 0)], [None, None, None]),
    "a drip of a byte a second fails at the end of the window": (
        1024,
        10,
        [(t, 1) for t in range(1, 11)],
        [None] * 9 + [1.0],
    ),
    "exactly the minimum passes": (100, 10, [(5, 500), (10, 500)], [None, None]),
    "a byte under the minimum fails": (100, 10, [(5, 500), (10, 499)], [None, 99.9]),
    "a late piece is averaged over the time it really took": (100, 10, [(20, 1500)], [75.0]),
    "a burst at the end of a stalled window rescues it": (100, 10, [(9, 0), (10, 5000)], [None, None]),
    "each window is judged on its own bytes": (
        100,
        10,
        [(10, 10_000), (15, 100), (20, 100)],  # a fast first window does not pay for a slow second one
        [None, None, 20.0],
    ),
    "a fast transfer is never stopped": (
        1024,
        1,
        [(i / 10, 1 << 20) for i in range(1, 51)],
        [None] * 50,
    ),
}


@pytest.mark.parametrize(("min_rate", "window", "feed", "expected"), CASES.values(), ids=CASES.keys())
def test_the_guard_judges_each_window(min_rate, window, feed, expected):
    guard = ThroughputGuard(min_rate, window, start=0.0)
    assert [guard.add(now, count) for now, count in feed] == pytest.approx(expected)


def test_the_reason_names_the_rate_the_window_and_the_minimum():
    guard = SpeedLimits().guard(0.0)
    assert guard.add(60.0, 720) == 12.0
    assert guard.reason(12.0) == "download too slow: 12 B/s over the last 60 s, below the minimum of 10 KiB/s"


@pytest.mark.parametrize(
    ("rate", "text"),
    [(0, "0 B/s"), (12.4, "12 B/s"), (1023, "1023 B/s"), (10 * 1024, "10 KiB/s"), (1.5 * 1024**2, "1.5 MiB/s")],
)
def test_rates_are_written_as_people_read_them(rate, text):
    assert format_rate(rate) == text


def test_the_defaults():
    limits = SpeedLimits()
    assert (limits.read_timeout, limits.min_rate, limits.window) == (READ_TIMEOUT, MIN_RATE, RATE_WINDOW)
    assert (READ_TIMEOUT, MIN_RATE, RATE_WINDOW) == (60.0, 10 * 1024, 60.0)


@pytest.mark.parametrize("field", ["read_timeout", "min_rate", "window"])
@pytest.mark.parametrize("value", [0, -1, math.inf, math.nan])
def test_every_bound_must_be_a_finite_number_above_0(field, value):
    with pytest.raises(ValueError, match=f"^{field} must be a finite number above 0"):
        SpeedLimits(**{field: value})
