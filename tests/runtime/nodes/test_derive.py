"""model_view and node_has_all: the pure rules behind every model's status and progress."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from generated.types import ModelStatus, NodeModelProgress, NodeModelState, NodeStatus
from runtime.db import NodeModelRecord
from runtime.nodes.derive import AVAILABLE, ModelView, model_view, node_has_all

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


def derive(reports: list[NodeModelRecord], statuses: dict[str, NodeStatus], *, registered: bool = True) -> ModelView:
    return model_view(registered, {r.runtime_id: r for r in reports}, statuses)


# --------------------------------------------------------------------------------------- model_view


@pytest.mark.parametrize(
    ("reports", "statuses"),
    [
        ([], {}),
        ([rec("n1", READY)], {"n1": ONLINE}),
        ([rec("n1", DOWNLOADING, 5)], {"n1": REGISTERING}),
    ],
    ids=["no-reports", "ready-on-online", "downloading"],
)
def test_an_unregistered_model_is_available_whatever_the_reports(reports, statuses):
    assert derive(reports, statuses, registered=False) == AVAILABLE


def test_available_has_no_progress_and_no_nodes():
    assert ModelView(ModelStatus.available, None, ()) == AVAILABLE


@pytest.mark.parametrize(
    ("reports", "statuses"),
    [
        ([], {}),
        ([rec("n1", PENDING, 0)], {"n1": REGISTERING}),
        ([rec("n1", FAILED, 40)], {"n1": REGISTERING}),
        ([rec("n1", FAILED, 40), rec("n2", PENDING, 0)], {"n1": ONLINE, "n2": REGISTERING}),
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
    view = derive(reports, statuses)
    assert (view.status, view.progress) == (ModelStatus.registered, None)


@pytest.mark.parametrize(
    ("reports", "statuses", "progress"),
    [
        ([rec("n1", DOWNLOADING, 25)], {"n1": REGISTERING}, 0.25),
        ([rec("n1", DOWNLOADING, 25)], {"n1": ONLINE}, 0.25),
        ([rec("n1", DOWNLOADING, 10), rec("n2", DOWNLOADING, 30)], {"n1": REGISTERING, "n2": ONLINE}, 0.2),
        (
            [rec("n1", DOWNLOADING, 10, 100), rec("n2", DOWNLOADING, 290, 300)],
            {"n1": REGISTERING, "n2": REGISTERING},
            0.75,
        ),
        ([rec("n1", DOWNLOADING, 10), rec("n2", DOWNLOADING, 90)], {"n1": REGISTERING, "n2": OFFLINE}, 0.1),
        ([rec("n1", DOWNLOADING, 10), rec("n2", FAILED, 90)], {"n1": REGISTERING, "n2": REGISTERING}, 0.1),
        ([rec("n1", DOWNLOADING, 10), rec("n2", PENDING, 0)], {"n1": REGISTERING, "n2": REGISTERING}, 0.1),
        ([rec("n1", DOWNLOADING, 50), rec("n2", READY)], {"n1": REGISTERING, "n2": REGISTERING}, 0.5),
        ([rec("n1", DOWNLOADING, 50), rec("n2", READY)], {"n1": REGISTERING, "n2": OFFLINE}, 0.5),
        ([rec("n1", DOWNLOADING, 0, 0)], {"n1": REGISTERING}, 0.0),
    ],
    ids=[
        "one-node",
        "on-online-node",
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
    view = derive(reports, statuses)
    assert view.status == ModelStatus.downloading
    assert view.progress == pytest.approx(progress)


@pytest.mark.parametrize(
    ("reports", "statuses"),
    [
        ([rec("n1", READY)], {"n1": ONLINE}),
        ([rec("n1", READY), rec("n2", DOWNLOADING, 10)], {"n1": ONLINE, "n2": REGISTERING}),
        ([rec("n1", READY), rec("n2", READY)], {"n1": OFFLINE, "n2": ONLINE}),
        ([rec("n1", READY), rec("n2", FAILED, 3)], {"n1": ONLINE, "n2": REGISTERING}),
    ],
    ids=["one-online-node", "another-node-downloading", "one-of-two-online", "another-node-failed"],
)
def test_ready_when_ready_on_an_online_node_and_progress_is_null(reports, statuses):
    view = derive(reports, statuses)
    assert (view.status, view.progress) == (ModelStatus.ready, None)


@pytest.mark.parametrize("node_status", [REGISTERING, OFFLINE, NodeStatus.pending])
def test_ready_on_a_node_that_is_not_online_does_not_count(node_status):
    assert derive([rec("n1", READY)], {"n1": node_status}).status != ModelStatus.ready


def test_offline_nodes_reports_are_listed():
    view = derive([rec("n1", DOWNLOADING, 40), rec("n2", READY)], {"n1": OFFLINE, "n2": OFFLINE})
    assert [(n.runtime_id, n.state) for n in view.nodes] == [("n1", DOWNLOADING), ("n2", READY)]


def test_nodes_are_listed_by_runtime_id():
    reports = [rec("node-c", PENDING), rec("node-a", READY), rec("node-b", DOWNLOADING, 5)]
    view = derive(reports, dict.fromkeys(("node-a", "node-b", "node-c"), REGISTERING))
    assert [n.runtime_id for n in view.nodes] == ["node-a", "node-b", "node-c"]


def test_nodes_carry_each_reports_state_bytes_and_error():
    view = derive([rec("n1", FAILED, 7, 9, error="disk full")], {"n1": REGISTERING})
    assert view.nodes == (
        NodeModelProgress(runtime_id="n1", state=FAILED, bytes_done=7, bytes_total=9, error="disk full"),
    )


# ------------------------------------------------------------------------------------- node_has_all


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
def test_node_has_all_means_every_registered_model_is_ready(registered, reports, expected):
    assert node_has_all(registered, reports) is expected
