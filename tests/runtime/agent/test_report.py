"""Reporter: every report it sends is one the server's transition rules accept."""

from __future__ import annotations

import itertools

import msgspec
import pytest

from generated.lifecycle import NODE_MODEL_STATE_TRANSITIONS
from generated.types import HeartbeatModelReport, NodeModelState
from runtime.agent.report import RESTARTED, RESYNC, Reporter, next_report, path_between

PENDING, DOWNLOADING, READY, FAILED = (
    NodeModelState.pending,
    NodeModelState.downloading,
    NodeModelState.ready,
    NodeModelState.failed,
)


def report(state: NodeModelState, done: int = 0, total: int = 100, error: str | None = None) -> HeartbeatModelReport:
    if state == READY:
        done = total
    return HeartbeatModelReport("m", state, done, total, error if error else msgspec.UNSET)


def accepted(previous: HeartbeatModelReport, sent: HeartbeatModelReport) -> bool:
    """The server's rule (runtime/lifecycle/service.py _checked_report), restated."""
    if previous.state != sent.state and (previous.state, sent.state) not in NODE_MODEL_STATE_TRANSITIONS:
        return False
    return not (
        previous.state == sent.state == DOWNLOADING
        and previous.bytes_total == sent.bytes_total
        and sent.bytes_done < previous.bytes_done
    )


@pytest.mark.parametrize(("start", "goal"), list(itertools.product(NodeModelState, repeat=2)))
def test_every_state_reaches_every_state_in_accepted_steps(start, goal):
    previous, actual = report(start, 50), report(goal, 20)
    for _ in range(4):
        sent = next_report(previous, actual)
        assert accepted(previous, sent), (previous.state, sent.state)
        previous = sent
    assert previous == actual


@pytest.mark.parametrize(
    ("start", "goal", "chain"),
    [
        (FAILED, READY, [FAILED, DOWNLOADING, READY]),
        (DOWNLOADING, PENDING, [DOWNLOADING, FAILED, PENDING]),
        (READY, PENDING, [READY, FAILED, PENDING]),
        (PENDING, READY, [PENDING, READY]),
        (READY, READY, [READY]),
    ],
)
def test_shortest_paths(start, goal, chain):
    assert path_between(start, goal) == chain


def test_a_download_that_went_back_in_bytes_is_reported_failed_first():
    sent = next_report(report(DOWNLOADING, 80), report(DOWNLOADING, 10))
    assert (sent.state, sent.bytes_done, sent.error) == (FAILED, 10, RESTARTED)
    assert next_report(sent, report(DOWNLOADING, 10)) == report(DOWNLOADING, 10)


def test_the_failure_reason_is_kept_on_the_way():
    sent = next_report(report(DOWNLOADING, 80), report(DOWNLOADING, 10, error="sha256 mismatch"))
    assert sent.error == "sha256 mismatch"


def test_a_grown_total_may_restart_bytes():
    actual = report(DOWNLOADING, 10, total=300)  # shards found: the total grew
    assert next_report(report(DOWNLOADING, 80), actual) == actual


def test_without_an_accepted_report_the_real_state_is_sent():
    reporter = Reporter()
    assert reporter.reports([report(READY)]) == [report(READY)]


def test_the_reporter_steps_from_what_the_server_accepted():
    reporter = Reporter()
    reporter.accepted([report(FAILED, 0, error="boom")])
    sent = reporter.reports([report(READY)])
    assert sent[0].state == DOWNLOADING
    reporter.accepted(sent)
    assert reporter.reports([report(READY)]) == [report(READY)]


def test_a_resync_sends_failed_then_continues():
    reporter = Reporter()
    reporter.accepted([report(DOWNLOADING, 50)])
    reporter.resync(["m"], "models[0]: bytes_done went back")
    sent = reporter.reports([report(DOWNLOADING, 5)])
    assert sent[0].state == FAILED
    assert sent[0].error == f"{RESYNC}: models[0]: bytes_done went back"
    reporter.accepted(sent)
    assert reporter.reports([report(DOWNLOADING, 5)]) == [report(DOWNLOADING, 5)]
