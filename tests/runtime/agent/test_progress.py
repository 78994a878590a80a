"""The download progress lines: sizes, durations and speeds as written, the rate estimate and the throttle, by hand."""

from __future__ import annotations

import pytest

from runtime.agent.progress import (
    PROGRESS_INTERVAL,
    ProgressLog,
    RateEstimate,
    format_duration,
    format_size,
    progress_line,
)

MIB = 1024 * 1024


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (0, "0 B"),
        (1023, "1023 B"),
        (1024, "1.0 KiB"),
        (1536, "1.5 KiB"),
        (int(968.9 * MIB), "968.9 MiB"),
        (int(7.5 * 1024 * MIB), "7.5 GiB"),
        (3 * 1024**4, "3.0 TiB"),
        (5000 * 1024**4, "5000.0 TiB"),
    ],
)
def test_sizes_are_written_in_binary_units(size, text):
    assert format_size(size) == text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0.0 s"),
        (-3, "0.0 s"),
        (0.34, "0.3 s"),
        (9.94, "9.9 s"),
        (9.95, "10 s"),
        (25.6, "26 s"),
        (59.4, "59 s"),
        (60, "1 min 00 s"),
        (245, "4 min 05 s"),
        (3599, "59 min 59 s"),
        (3600, "1 h 00 min"),
        (2 * 3600 + 7 * 60 + 29, "2 h 07 min"),
        (2 * 3600 + 7 * 60 + 31, "2 h 08 min"),
    ],
)
def test_durations_are_rounded_to_their_scale(seconds, text):
    assert format_duration(seconds) == text


@pytest.mark.parametrize(
    ("done", "total", "rate", "line"),
    [
        (
            int(412.3 * MIB),
            int(968.9 * MIB),
            21.4 * MIB,
            "m: 412.3 MiB of 968.9 MiB (42.6 %), 21.4 MiB/s, about 26 s left",
        ),
        (0, 10 * MIB, None, "m: 0 B of 10.0 MiB (0.0 %)"),
        (5 * MIB, 10 * MIB, 0.0, "m: 5.0 MiB of 10.0 MiB (50.0 %), 0 B/s, stalled"),
        (10 * MIB, 10 * MIB, 2 * MIB, "m: 10.0 MiB of 10.0 MiB (100.0 %), 2 MiB/s"),
        (0, 0, None, "m: 0 B of 0 B (100.0 %)"),
        (MIB, 7 * 1024 * MIB, 1024 * 1024, "m: 1.0 MiB of 7.0 GiB (0.0 %), 1 MiB/s, about 1 h 59 min left"),
    ],
)
def test_a_progress_line(done, total, rate, line):
    assert progress_line("m", done, total, rate) == line


# Each case: the window (s), the (time, bytes done) readings, and the rate after each.
RATES = {
    "one reading tells no rate": (30, [(0, 0)], [None]),
    "two readings at the same time tell none either": (30, [(0, 0), (0, 100)], [None, None]),
    "a steady link": (30, [(0, 0), (1, 100), (2, 200)], [None, 100.0, 100.0]),
    "a resumed download counts only what arrives": (30, [(0, 5000), (10, 6000)], [None, 100.0]),
    "old readings leave the window": (
        10,
        [(0, 0), (10, 10_000), (20, 10_100), (30, 10_200)],  # fast at first, slow since: the rate follows
        [None, 1000.0, 10.0, 10.0],
    ),
    "the reading just before the window is kept, so the span covers it": (
        10,
        [(0, 0), (4, 400), (12, 800), (16, 1200)],
        [None, 100.0, 800 / 12, 800 / 12],
    ),
    "a count that goes back starts afresh": (30, [(0, 0), (1, 1000), (2, 10), (3, 110)], [None, 1000.0, None, 100.0]),
}


@pytest.mark.parametrize(("window", "readings", "rates"), RATES.values(), ids=RATES.keys())
def test_the_rate_over_a_sliding_window(window, readings, rates):
    estimate = RateEstimate(window)
    seen = []
    for now, done in readings:
        estimate.add(now, done)
        seen.append(estimate.rate())
    assert seen == pytest.approx(rates)


@pytest.mark.parametrize("window", [0, -1, float("inf"), float("nan")])
def test_the_window_must_be_a_positive_number(window):
    with pytest.raises(ValueError, match="window"):
        RateEstimate(window)


def test_at_most_one_progress_line_per_interval():
    log = ProgressLog("m", now=100.0, done=0, total=100 * MIB, interval=10.0)
    lines = {now: log.update(now, int((now - 100) * MIB), 100 * MIB) for now in (101.0, 105.0, 109.9, 110.0, 115.0)}
    assert [now for now, line in lines.items() if line] == [110.0]
    assert lines[110.0] == "m: 10.0 MiB of 100.0 MiB (10.0 %), 1 MiB/s, about 1 min 30 s left"
    assert log.update(119.0, 19 * MIB, 100 * MIB) is None
    assert log.update(120.0, 20 * MIB, 100 * MIB) is not None


def test_the_start_end_and_failure_lines():
    log = ProgressLog("m", now=0.0, done=0, total=968 * MIB)
    assert log.interval == PROGRESS_INTERVAL == 10.0
    assert log.started(2) == "m: downloading 968.0 MiB (2 files to fetch)"
    log.update(20.0, 400 * MIB, 968 * MIB)
    assert log.failed("f: the connection broke off", 4.0) == (
        "m: failed at 400.0 MiB of 968.0 MiB: f: the connection broke off; retrying in 4.0 s"
    )
    assert log.finished(40.0, 968 * MIB) == "m: ready, 968.0 MiB in 40 s (24.2 MiB/s on average)"


def test_a_resumed_download_says_what_was_on_disk():
    log = ProgressLog("m", now=0.0, done=100 * MIB, total=200 * MIB)
    assert log.started(1) == "m: downloading 200.0 MiB (1 file to fetch), 100.0 MiB already on disk"
    assert log.finished(50.0, 200 * MIB) == (
        "m: ready, 200.0 MiB in 50 s (2 MiB/s on average, 100.0 MiB was on disk already)"
    )
