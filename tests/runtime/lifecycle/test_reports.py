"""check_report from a table: each rule, the report it accepts or rejects, the error class, code and pointer."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from generated.lifecycle import NODE_MODEL_STATE_TRANSITIONS
from generated.types import HeartbeatModelReport, NodeModelState
from runtime.db import NodeModelRecord
from runtime.errors import AppClientError, InvalidTransition, ModelNotSupported, NotRegistered, ValidationFailed
from runtime.lifecycle.reports import check_report

NOW = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
EARLIER = datetime(2025, 1, 1, 11, 59, tzinfo=UTC)
A, B, UNKNOWN = "model-a", "model-b", "no-such-model"
CATALOG = frozenset({A, B})
REGISTERED = frozenset({A})
PENDING, DOWNLOADING, READY, FAILED = (
    NodeModelState.pending,
    NodeModelState.downloading,
    NodeModelState.ready,
    NodeModelState.failed,
)


def report(model_id: str, state: NodeModelState, done: int = 0, total: int = 100, error: str | None = None):
    if error is None:
        return HeartbeatModelReport(model_id=model_id, state=state, bytes_done=done, bytes_total=total)
    return HeartbeatModelReport(model_id=model_id, state=state, bytes_done=done, bytes_total=total, error=error)


def before(state: NodeModelState, done: int = 0, total: int = 100) -> NodeModelRecord:
    return NodeModelRecord("n1", A, state, done, total, None, EARLIER)


def check(index: int, new: HeartbeatModelReport, previous: NodeModelRecord | None) -> NodeModelRecord:
    return check_report("n1", index, new, previous, catalog=CATALOG, registered=REGISTERED, now=NOW)


def _bytes(state: NodeModelState) -> tuple[int, int]:
    return (100, 100) if state == READY else (10, 100)


ACCEPTED = [
    pytest.param(report(A, PENDING), None, id="first-report-pending"),
    pytest.param(report(A, DOWNLOADING, 40), None, id="first-report-downloading"),
    pytest.param(report(A, READY, 100), None, id="first-report-ready"),
    pytest.param(report(A, FAILED, 7, error="disk full"), None, id="first-report-failed"),
    pytest.param(report(A, DOWNLOADING, 0, 0), None, id="nothing-to-fetch"),
    pytest.param(report(A, READY, 0, 0), None, id="ready-with-nothing-to-fetch"),
    pytest.param(report(A, DOWNLOADING, 100), None, id="downloading-with-every-byte"),
    pytest.param(report(A, DOWNLOADING, 50), before(DOWNLOADING, 40), id="bytes-growing"),
    pytest.param(report(A, DOWNLOADING, 40), before(DOWNLOADING, 40), id="bytes-standing-still"),
    pytest.param(report(A, DOWNLOADING, 5, 200), before(DOWNLOADING, 40), id="bytes-back-with-another-total"),
    pytest.param(report(A, DOWNLOADING, 0), before(FAILED, 40), id="bytes-back-after-failed"),
    pytest.param(report(A, DOWNLOADING, 0), before(READY, 100), id="bytes-back-after-ready"),
    pytest.param(report(A, READY, 100), before(READY, 100), id="same-state-again"),
    *(
        pytest.param(report(A, b, *_bytes(b)), before(a, *_bytes(a)), id=f"transition-{a.value}-to-{b.value}")
        for a, b in NODE_MODEL_STATE_TRANSITIONS
    ),
]


@pytest.mark.parametrize(("new", "previous"), ACCEPTED)
def test_check_report_accepts(new, previous):
    record = check(3, new, previous)
    error = new.error if isinstance(new.error, str) else None
    assert record == NodeModelRecord("n1", A, new.state, new.bytes_done, new.bytes_total, error, NOW)


ILLEGAL = [
    pytest.param(report(A, b, *_bytes(b)), before(a, *_bytes(a)), id=f"{a.value}-to-{b.value}")
    for a in NodeModelState
    for b in NodeModelState
    if a != b and (a, b) not in NODE_MODEL_STATE_TRANSITIONS
]

REJECTED = [
    # (report, previous, error class, code, field)
    pytest.param(report(UNKNOWN, PENDING), None, ModelNotSupported, "model_not_supported", "model_id", id="unknown"),
    pytest.param(report(B, PENDING), None, NotRegistered, "not_registered", "model_id", id="unregistered"),
    pytest.param(
        report(UNKNOWN, READY, 5, 1), None, ModelNotSupported, "model_not_supported", "model_id", id="unknown-first"
    ),
    pytest.param(
        report(B, READY, 5, 1), None, NotRegistered, "not_registered", "model_id", id="unregistered-before-bytes"
    ),
    pytest.param(
        report(A, DOWNLOADING, 101), None, ValidationFailed, "validation_error", "bytes_done", id="done-over-total"
    ),
    pytest.param(report(A, FAILED, 1, 0), None, ValidationFailed, "validation_error", "bytes_done", id="failed-over"),
    pytest.param(
        report(A, READY, 99), None, ValidationFailed, "validation_error", "bytes_done", id="ready-but-incomplete"
    ),
    pytest.param(
        report(A, DOWNLOADING, 39),
        before(DOWNLOADING, 40),
        InvalidTransition,
        "invalid_transition",
        "bytes_done",
        id="bytes-going-back",
    ),
    pytest.param(
        report(A, PENDING),
        before(DOWNLOADING, 40),
        InvalidTransition,
        "invalid_transition",
        "state",
        id="downloading-to-pending",
    ),
    pytest.param(
        report(A, READY, 99),
        before(DOWNLOADING, 40),
        ValidationFailed,
        "validation_error",
        "bytes_done",
        id="bytes-before-transition",
    ),
    *(
        pytest.param(p.values[0], p.values[1], InvalidTransition, "invalid_transition", "state", id=p.id)
        for p in ILLEGAL
    ),
]


@pytest.mark.parametrize(("new", "previous", "error", "code", "field"), REJECTED)
@pytest.mark.parametrize("index", [0, 4])
def test_check_report_rejects(new, previous, error, code, field, index):
    with pytest.raises(AppClientError) as raised:
        check(index, new, previous)
    assert type(raised.value) is error
    assert raised.value.code == code
    assert raised.value.pointer == f"/models/{index}/{field}"
    assert raised.value.message.startswith(f"/models/{index}/{field}: ")


def test_an_error_on_a_report_not_failed_is_kept_as_given():
    assert check(0, report(A, DOWNLOADING, 5, error="retrying"), None).error == "retrying"


def test_a_null_error_is_stored_as_none():
    new = HeartbeatModelReport(model_id=A, state=FAILED, bytes_done=0, bytes_total=1, error=None)
    assert check(0, new, None).error is None


def test_check_report_is_pure():
    new, previous = report(A, DOWNLOADING, 50), before(DOWNLOADING, 40)
    assert check(0, new, previous) == check(0, new, previous)
    assert previous == before(DOWNLOADING, 40)
