"""model_aggregate and node_synced: the pure rules behind every model's aggregates and a node's synced flag."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from generated.types import ModelStatus, NodeCounts, NodeModelState, NodeStatus
from runtime.db import NodeModelRecord
from runtime.lifecycle.derive import AVAILABLE, Aggregate, model_aggregate, node_synced
from runtime.lifecycle.tally import Tally

AT = datetime(2025, 1, 1, tzinfo=UTC)
PENDING, DOWNLOADING, READY, FAILED = (
    NodeModelState.pending,
    NodeModelState.downloading,
    NodeModelState.ready,
    NodeModelState.failed,
)
REGISTERING, ONLINE, OFFLINE = NodeStatus.registering, NodeStatus.online, NodeStatus.offline


def rec(
    runtime_id: str, state: NodeModelState, done: int = 0, total: int = 100, *, model_id: str = "m", error=None
) -> NodeModelRecord:
    if state == READY:
        done = total
    return NodeModelRecord(runtime_id, model_id, state, done, total, error, AT)


def counts(pending=0, downloading=0, ready=0, failed=0, stalled=0, offline=0) -> NodeCounts:
    return NodeCounts(
        pending=pending, downloading=downloading, ready=ready, failed=failed, stalled=stalled, offline=offline
    )


def derive(
    reports: list[NodeModelRecord],
    statuses: dict[str, NodeStatus],
    *,
    registered: bool = True,
    stalled: tuple[str, ...] = (),
) -> Aggregate:
    return model_aggregate(registered, reports, statuses, stalled)


def tallied(reports: list[NodeModelRecord], statuses: dict[str, NodeStatus], stalled: tuple[str, ...] = ()):
    tally = Tally()
    for report in reports:
        tally.count(report, statuses.get(report.runtime_id, OFFLINE), stalled=report.runtime_id in stalled)
    return tally.summary()


# --------------------------------------------------------------------------------------- model_aggregate


@pytest.mark.parametrize(
    ("reports", "statuses"),
    [
        ([], {}),
        ([rec("n1", READY)], {"n1": ONLINE}),
        ([rec("n1", DOWNLOADING, 5)], {"n1": ONLINE}),
    ],
    ids=["no-reports", "ready-on-online", "downloading"],
)
def test_an_unregistered_model_is_available_whatever_the_reports(reports, statuses):
    assert derive(reports, statuses, registered=False) == AVAILABLE


def test_available_has_no_progress_no_nodes_and_no_bytes():
    assert Aggregate(ModelStatus.available, None, counts(), 0, 0) == AVAILABLE


@pytest.mark.parametrize(
    ("reports", "statuses"),
    [
        ([], {}),
        ([rec("n1", PENDING, 0)], {"n1": ONLINE}),
        ([rec("n1", FAILED, 40)], {"n1": ONLINE}),
        ([rec("n1", FAILED, 40), rec("n2", PENDING, 0)], {"n1": ONLINE, "n2": ONLINE}),
        ([rec("n1", DOWNLOADING, 40)], {"n1": OFFLINE}),
        ([rec("n1", READY)], {"n1": REGISTERING}),
        ([rec("n1", READY)], {"n1": OFFLINE}),
        ([rec("n1", DOWNLOADING, 40)], {}),
    ],
    ids=[
        "no-reports",
        "pending",
        "failed-is-not-fetching",
        "failed-and-pending",
        "downloading-on-offline-node",
        "ready-on-registering-node",
        "ready-on-offline-node",
        "report-of-unknown-node-counts-as-offline",
    ],
)
def test_registered_when_no_live_node_has_begun(reports, statuses):
    aggregate = derive(reports, statuses)
    assert (aggregate.status, aggregate.progress) == (ModelStatus.registered, None)


@pytest.mark.parametrize(
    ("reports", "statuses", "progress"),
    [
        ([rec("n1", DOWNLOADING, 25)], {"n1": ONLINE}, 0.25),
        ([rec("n1", DOWNLOADING, 25)], {"n1": REGISTERING}, 0.25),
        ([rec("n1", DOWNLOADING, 10), rec("n2", DOWNLOADING, 30)], {"n1": ONLINE, "n2": ONLINE}, 0.2),
        ([rec("n1", DOWNLOADING, 10, 100), rec("n2", DOWNLOADING, 290, 300)], {"n1": ONLINE, "n2": ONLINE}, 0.75),
        ([rec("n1", DOWNLOADING, 10), rec("n2", DOWNLOADING, 90)], {"n1": ONLINE, "n2": OFFLINE}, 0.1),
        ([rec("n1", DOWNLOADING, 10), rec("n2", FAILED, 90)], {"n1": ONLINE, "n2": ONLINE}, 0.1),
        ([rec("n1", DOWNLOADING, 10), rec("n2", PENDING, 0)], {"n1": ONLINE, "n2": ONLINE}, 0.1),
        ([rec("n1", DOWNLOADING, 50), rec("n2", READY)], {"n1": ONLINE, "n2": REGISTERING}, 0.5),
        ([rec("n1", DOWNLOADING, 50), rec("n2", READY)], {"n1": ONLINE, "n2": OFFLINE}, 0.5),
        ([rec("n1", DOWNLOADING, 0, 0)], {"n1": ONLINE}, 0.0),
    ],
    ids=[
        "one-node",
        "on-registering-node",
        "summed-over-nodes",
        "weighted-by-bytes",
        "offline-node-ignored",
        "failed-node-ignored",
        "pending-node-ignored",
        "ready-on-registering-node-ignored",
        "ready-on-offline-node-ignored",
        "nothing-to-fetch-yet",
    ],
)
def test_downloading_progress_is_bytes_done_over_bytes_total_of_live_fetching_nodes(reports, statuses, progress):
    aggregate = derive(reports, statuses)
    assert aggregate.status == ModelStatus.downloading
    assert aggregate.progress == pytest.approx(progress)
    assert tallied(reports, statuses) == aggregate


@pytest.mark.parametrize(
    ("reports", "statuses"),
    [
        ([rec("n1", READY)], {"n1": ONLINE}),
        ([rec("n1", READY), rec("n2", DOWNLOADING, 10)], {"n1": ONLINE, "n2": ONLINE}),
        ([rec("n1", READY), rec("n2", READY)], {"n1": OFFLINE, "n2": ONLINE}),
        ([rec("n1", READY), rec("n2", FAILED, 3)], {"n1": ONLINE, "n2": ONLINE}),
    ],
    ids=["one-online-node", "another-node-downloading", "one-of-two-online", "another-node-failed"],
)
def test_ready_when_ready_on_an_online_node_and_progress_is_null(reports, statuses):
    aggregate = derive(reports, statuses)
    assert (aggregate.status, aggregate.progress) == (ModelStatus.ready, None)
    assert tallied(reports, statuses) == aggregate


@pytest.mark.parametrize("node_status", [REGISTERING, OFFLINE, NodeStatus.pending])
def test_ready_on_a_node_that_is_not_online_does_not_count(node_status):
    assert derive([rec("n1", READY)], {"n1": node_status}).status != ModelStatus.ready


def test_node_counts_count_reports_by_state_and_offline_nodes_apart():
    reports = [
        rec("n1", PENDING),
        rec("n2", DOWNLOADING, 10),
        rec("n3", DOWNLOADING, 20),
        rec("n4", READY),
        rec("n5", FAILED, 5),
        rec("n6", READY),
        rec("n7", DOWNLOADING, 90),
    ]
    statuses = dict.fromkeys(("n1", "n2", "n3", "n4", "n5"), ONLINE) | {"n6": OFFLINE, "n7": OFFLINE}
    aggregate = derive(reports, statuses, stalled=("n3", "n7"))
    assert aggregate.node_counts == counts(pending=1, downloading=2, ready=1, failed=1, stalled=1, offline=2)
    assert (aggregate.bytes_done, aggregate.bytes_total) == (30, 200)
    assert aggregate.status == ModelStatus.ready
    assert tallied(reports, statuses, ("n3", "n7")) == aggregate


def test_stalled_downloads_count_under_downloading_too():
    aggregate = derive([rec("n1", DOWNLOADING, 10)], {"n1": ONLINE}, stalled=("n1",))
    assert aggregate.node_counts == counts(downloading=1, stalled=1)
    assert aggregate.status == ModelStatus.downloading


def test_stalled_ids_of_reports_not_downloading_are_ignored():
    aggregate = derive([rec("n1", READY), rec("n2", FAILED, 3)], {"n1": ONLINE, "n2": ONLINE}, stalled=("n1", "n2"))
    assert aggregate.node_counts.stalled == 0


def test_bytes_are_summed_over_live_downloading_nodes_only():
    reports = [rec("n1", DOWNLOADING, 10, 50), rec("n2", READY, total=70), rec("n3", DOWNLOADING, 40, 80)]
    aggregate = derive(reports, {"n1": ONLINE, "n2": ONLINE, "n3": OFFLINE})
    assert (aggregate.bytes_done, aggregate.bytes_total) == (10, 50)


def test_the_tally_forgets_a_node_exactly():
    tally = Tally()
    report = rec("n1", DOWNLOADING, 10)
    tally.count(report, ONLINE, stalled=True)
    tally.forget("n1")
    tally.forget("n1")  # forgetting twice is harmless
    assert tally.summary() == derive([], {})


# ------------------------------------------------------------------------------------- node_synced


@pytest.mark.parametrize(
    ("registered", "reports", "expected"),
    [
        ([], {}, True),
        (["a"], {}, False),
        (["a"], {"a": rec("n", READY, model_id="a")}, True),
        (["a", "b"], {"a": rec("n", READY, model_id="a"), "b": rec("n", READY, model_id="b")}, True),
        (["a", "b"], {"a": rec("n", READY, model_id="a")}, False),
        (["a", "b"], {"a": rec("n", READY, model_id="a"), "b": rec("n", DOWNLOADING, 5, model_id="b")}, False),
        (["a"], {"a": rec("n", PENDING, model_id="a")}, False),
        (["a"], {"a": rec("n", FAILED, 5, model_id="a")}, False),
        (["a"], {"a": rec("n", READY, model_id="a"), "z": rec("n", FAILED, model_id="z")}, True),
    ],
    ids=[
        "nothing-registered",
        "no-report",
        "one-ready",
        "all-ready",
        "one-missing",
        "one-downloading",
        "one-pending",
        "one-failed",
        "reports-of-unregistered-models-ignored",
    ],
)
def test_node_synced_means_every_registered_model_is_ready(registered, reports, expected):
    assert node_synced(registered, reports) is expected


# ------------------------------------------------------------------------------ the tally agrees


_ids = st.sampled_from(("n1", "n2", "n3", "n4"))
_updates = st.tuples(
    _ids,
    st.sampled_from(tuple(NodeModelState)),
    st.integers(0, 120),
    st.sampled_from((0, 50, 100)),
    st.sampled_from((NodeStatus.registering, ONLINE, ONLINE, OFFLINE)),
    st.booleans(),
)
_steps = st.lists(st.one_of(_updates, _ids), max_size=30)


@given(steps=_steps)
def test_a_tally_updated_one_node_at_a_time_agrees_with_model_aggregate(steps):
    tally = Tally()
    current: dict[str, tuple[NodeModelRecord, NodeStatus, bool]] = {}
    for step in steps:
        if isinstance(step, str):
            tally.forget(step)
            current.pop(step, None)
        else:
            runtime_id, state, done, total, status, stalled = step
            report = rec(runtime_id, state, done, total)  # bytes_done over bytes_total: both clamp it
            tally.forget(runtime_id)
            tally.count(report, status, stalled=stalled)
            current[runtime_id] = (report, status, stalled)
        expected = model_aggregate(
            True,
            [report for report, _, _ in current.values()],
            {runtime_id: status for runtime_id, (_, status, _) in current.items()},
            {runtime_id for runtime_id, (_, _, stalled) in current.items() if stalled},
        )
        assert tally.summary() == expected
