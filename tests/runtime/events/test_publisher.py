"""EventPublisher on a real LifecycleService: one event per change, in order, progress coalesced per model and per
(model, node) row."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import msgspec
import pytest
import pytest_asyncio

from generated.types import Heartbeat, HeartbeatModelReport, NodeMetrics, NodeModelState, NodeRegistration
from runtime.events.publisher import EventPublisher
from runtime.lifecycle.service import LifecycleService
from tests.runtime.events.schemas import errors as schema_errors
from tests.runtime.fakes import FakeClock, MemoryStore

if TYPE_CHECKING:
    from collections.abc import Callable

A, B = "qwen3-0.6b", "llama-3.2-1b-instruct"
T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
INTERVAL = 0.2
STALL_AFTER = 5
ZERO_COUNTS = {"pending": 0, "downloading": 0, "ready": 0, "failed": 0, "stalled": 0, "offline": 0}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def published() -> list[tuple[str, dict]]:
    """(route line, event) of each message published."""
    return []


def recorder(published: list[tuple[str, dict]]) -> Callable[[bytes], None]:
    """A ``publish`` that appends (route, event) to ``published``."""

    def publish(message: bytes) -> None:
        route, _, body = message.partition(b"\n")
        published.append((route.decode(), msgspec.json.decode(body)))

    return publish


@pytest_asyncio.fixture
async def lifecycle(clock: FakeClock, published: list[tuple[str, dict]]) -> LifecycleService:
    service = LifecycleService(MemoryStore(), offline_after=30, stall_after=STALL_AFTER, auto_approve=True, clock=clock)
    await service.start()
    publisher = EventPublisher(service, recorder(published), progress_interval=INTERVAL)
    publisher.attach()
    service.publisher = publisher  # type: ignore[attr-defined]  # for the tests that call it directly
    yield service
    publisher.close()


def beat(*reports: tuple[str, NodeModelState, int], total: int = 100, **metrics: float) -> Heartbeat:
    return Heartbeat(
        metrics=NodeMetrics(**metrics),
        models=[
            HeartbeatModelReport(model_id=model_id, state=state, bytes_done=done, bytes_total=total)
            for model_id, state, done in reports
        ],
    )


def types(published):
    return [event["type"] for _, event in published]


async def test_attach_publishes_nothing_for_the_state_loaded_at_start(lifecycle, published):
    assert published == []


async def test_register_publishes_one_model_event(lifecycle, published):
    await lifecycle.register(A)
    assert published == [
        (
            f"models model:{A}",
            {
                "type": "ModelStatusChanged",
                "seq": 0,
                "ts": "2026-01-01T12:00:00Z",
                "model_id": A,
                "status": "registered",
                "progress": None,
                "node_counts": ZERO_COUNTS,
                "bytes_done": 0,
                "bytes_total": 0,
            },
        )
    ]


async def test_a_new_node_and_its_deletion(lifecycle, published):
    await lifecycle.add_node(NodeRegistration(runtime_id="n1", machine_name="m"))
    await lifecycle.delete_node("n1")
    assert [(route, event["status"], event["previous"]) for route, event in published] == [
        ("nodes node:n1", "registering", None),
        ("nodes node:n1", None, "registering"),
    ]
    assert (published[0][1]["machine_name"], published[0][1]["synced"]) == ("m", True)  # nothing registered
    assert (published[1][1]["machine_name"], published[1][1]["synced"]) == ("m", False)  # the name it had


async def test_a_heartbeat_publishes_node_then_row_then_model_then_metrics(lifecycle, published):
    await lifecycle.register(A)
    await lifecycle.add_node(NodeRegistration(runtime_id="n1", machine_name="m"))
    published.clear()
    await lifecycle.heartbeat("n1", beat((A, NodeModelState.ready, 100), cpu_usage=0.5))
    assert [(route, event["type"]) for route, event in published] == [
        ("nodes node:n1", "NodeStatusChanged"),
        (f"model:{A} node:n1", "NodeModelChanged"),
        (f"models model:{A}", "ModelStatusChanged"),
        ("metrics metrics:n1", "MetricsUpdated"),
    ]
    node, row, model, metrics = (event for _, event in published)
    assert (node["previous"], node["status"], node["machine_name"], node["synced"]) == (
        "registering",
        "online",
        "m",
        True,
    )
    assert row == {
        "type": "NodeModelChanged",
        "seq": 0,
        "ts": "2026-01-01T12:00:00Z",
        "model_id": A,
        "runtime_id": "n1",
        "state": "ready",
        "bytes_done": 100,
        "bytes_total": 100,
        "bytes_per_second": None,
        "eta_seconds": None,
        "stalled": False,
        "error": None,
    }
    assert (model["status"], model["progress"]) == ("ready", None)
    assert model["node_counts"] == {**ZERO_COUNTS, "ready": 1}
    assert "nodes" not in model
    assert metrics == {
        "type": "MetricsUpdated",
        "seq": 0,
        "ts": "2026-01-01T12:00:00Z",
        "runtime_id": "n1",
        "metrics": {"cpu_usage": 0.5},
        "stale": False,
    }


async def test_progress_is_coalesced_to_the_latest_within_the_interval(lifecycle, published, clock):
    await lifecycle.register(A)
    await lifecycle.add_node(NodeRegistration(runtime_id="n1", machine_name="m"))
    await lifecycle.heartbeat("n1", beat((A, NodeModelState.downloading, 10)))
    published.clear()
    for done in (20, 30, 40):
        clock.now += timedelta(seconds=0.01)
        await lifecycle.heartbeat("n1", beat((A, NodeModelState.downloading, done)))
    assert types(published) == []  # waiting: the last model and row events went out less than INTERVAL ago
    await asyncio.sleep(INTERVAL * 2)  # a held event is due within 1.25 intervals (its timer bucket)
    models = [event for route, event in published if route == f"models model:{A}"]
    assert [(event["progress"], event["ts"]) for event in models] == [(0.4, "2026-01-01T12:00:00.030000Z")]
    rows = [event for route, event in published if route == f"model:{A} node:n1"]
    assert [(event["bytes_done"], event["ts"]) for event in rows] == [(40, "2026-01-01T12:00:00.030000Z")]


async def test_progress_after_the_interval_goes_out_at_once(lifecycle, published):
    await lifecycle.register(A)
    await lifecycle.add_node(NodeRegistration(runtime_id="n1", machine_name="m"))
    await lifecycle.heartbeat("n1", beat((A, NodeModelState.downloading, 10)))
    await asyncio.sleep(INTERVAL * 1.1)
    published.clear()
    await lifecycle.heartbeat("n1", beat((A, NodeModelState.downloading, 50)))
    assert [event["progress"] for route, event in published if route.startswith("models ")] == [0.5]
    assert [event["bytes_done"] for _, event in published if event["type"] == "NodeModelChanged"] == [50]


async def test_a_status_change_is_never_held_back_and_replaces_waiting_progress(lifecycle, published):
    await lifecycle.register(A)
    await lifecycle.add_node(NodeRegistration(runtime_id="n1", machine_name="m"))
    await lifecycle.heartbeat("n1", beat((A, NodeModelState.downloading, 10)))
    await lifecycle.heartbeat("n1", beat((A, NodeModelState.downloading, 60)))  # waits
    await lifecycle.heartbeat("n1", beat((A, NodeModelState.ready, 100)))  # goes out now
    await asyncio.sleep(INTERVAL * 2)  # a held event is due within 1.25 intervals (its timer bucket)
    models = [(event["status"], event["progress"]) for route, event in published if route == f"models model:{A}"]
    assert models == [("registered", None), ("downloading", 0.1), ("ready", None)]
    rows = [(event["state"], event["bytes_done"]) for _, event in published if event["type"] == "NodeModelChanged"]
    assert rows == [("downloading", 10), ("ready", 100)]


async def test_progress_of_two_models_is_coalesced_separately(lifecycle, published):
    await lifecycle.register(A)
    await lifecycle.register(B)
    await lifecycle.add_node(NodeRegistration(runtime_id="n1", machine_name="m"))
    await lifecycle.heartbeat("n1", beat((A, NodeModelState.downloading, 10), (B, NodeModelState.downloading, 10)))
    published.clear()
    await lifecycle.heartbeat("n1", beat((A, NodeModelState.downloading, 20), (B, NodeModelState.downloading, 30)))
    await lifecycle.heartbeat("n1", beat((A, NodeModelState.downloading, 25), (B, NodeModelState.downloading, 35)))
    await asyncio.sleep(INTERVAL * 2)  # a held event is due within 1.25 intervals (its timer bucket)
    models = sorted((event["model_id"], event["progress"]) for route, event in published if route.startswith("models "))
    assert models == [(B, 0.35), (A, 0.25)]


async def test_the_offline_timer_publishes_offline_and_stale_metrics_without_a_request(lifecycle, published, clock):
    await lifecycle.add_node(NodeRegistration(runtime_id="n1", machine_name="m"))
    await lifecycle.heartbeat("n1", beat(cpu_usage=0.25))
    published.clear()
    clock.now += timedelta(seconds=31)
    await lifecycle.expire()
    assert [(route, event["type"]) for route, event in published] == [
        ("nodes node:n1", "NodeStatusChanged"),
        ("metrics metrics:n1", "MetricsUpdated"),
    ]
    assert (published[0][1]["previous"], published[0][1]["status"]) == ("online", "offline")
    assert published[1][1]["stale"] is True
    assert published[1][1]["ts"] == "2026-01-01T12:00:00Z"  # when the metrics were reported


async def test_close_stops_publishing_and_drops_waiting_progress(lifecycle, published):
    await lifecycle.register(A)
    await lifecycle.add_node(NodeRegistration(runtime_id="n1", machine_name="m"))
    await lifecycle.heartbeat("n1", beat((A, NodeModelState.downloading, 10)))
    await lifecycle.heartbeat("n1", beat((A, NodeModelState.downloading, 60)))  # waits
    count = len(published)
    lifecycle.listeners[-1].__self__.close()
    await asyncio.sleep(INTERVAL * 2)  # a held event is due within 1.25 intervals (its timer bucket)
    await lifecycle.register(B)
    assert len(published) == count


async def test_row_events_go_to_the_model_and_node_topics_never_to_models(lifecycle, published):
    await lifecycle.register(A)
    for runtime_id in ("n1", "n2"):
        await lifecycle.add_node(NodeRegistration(runtime_id=runtime_id, machine_name=runtime_id))
    await lifecycle.heartbeat("n1", beat((A, NodeModelState.downloading, 10)))
    await lifecycle.heartbeat("n2", beat((A, NodeModelState.pending, 0)))
    await lifecycle.delete_node("n2")
    rows = [(route, event) for route, event in published if event["type"] == "NodeModelChanged"]
    assert [(route, event["state"]) for route, event in rows] == [
        (f"model:{A} node:n1", "downloading"),
        (f"model:{A} node:n2", "pending"),
        (f"model:{A} node:n2", None),  # the report is gone with the node
    ]
    assert all("models" not in route.split(" ") for route, _ in rows)
    assert all(route.split(" ")[0] == "models" for route, event in published if event["type"] == "ModelStatusChanged")


async def test_rows_of_two_nodes_are_coalesced_separately(lifecycle, published, clock):
    await lifecycle.register(A)
    for runtime_id in ("n1", "n2"):
        await lifecycle.add_node(NodeRegistration(runtime_id=runtime_id, machine_name=runtime_id))
        await lifecycle.heartbeat(runtime_id, beat((A, NodeModelState.downloading, 10)))
    published.clear()
    for done in (20, 30):
        clock.now += timedelta(seconds=0.01)
        await lifecycle.heartbeat("n1", beat((A, NodeModelState.downloading, done)))
        await lifecycle.heartbeat("n2", beat((A, NodeModelState.downloading, done + 5)))
    assert types(published) == []
    await asyncio.sleep(INTERVAL * 2)  # a held event is due within 1.25 intervals (its timer bucket)
    rows = sorted(
        (event["runtime_id"], event["bytes_done"]) for _, event in published if event["type"] == "NodeModelChanged"
    )
    assert rows == [("n1", 30), ("n2", 35)]
    [model] = [event for _, event in published if event["type"] == "ModelStatusChanged"]
    assert (model["bytes_done"], model["bytes_total"], model["progress"]) == (65, 200, 0.325)


async def test_a_download_without_progress_stalls_on_the_timer_and_recovers(lifecycle, published, clock):
    await lifecycle.register(A)
    await lifecycle.add_node(NodeRegistration(runtime_id="n1", machine_name="m"))
    await lifecycle.heartbeat("n1", beat((A, NodeModelState.downloading, 10)))
    published.clear()
    clock.now += timedelta(seconds=STALL_AFTER - 1)
    await lifecycle.expire()
    assert published == []
    clock.now += timedelta(seconds=2)
    await lifecycle.expire()  # no heartbeat came: the timer notices
    assert [(route, event["type"]) for route, event in published] == [
        (f"model:{A} node:n1", "NodeModelChanged"),
        (f"models model:{A}", "ModelStatusChanged"),
    ]
    row, model = (event for _, event in published)
    assert (row["state"], row["stalled"], row["bytes_done"]) == ("downloading", True, 10)
    assert model["node_counts"] == {**ZERO_COUNTS, "downloading": 1, "stalled": 1}
    assert model["status"] == "downloading"
    assert lifecycle.row(A, "n1").stalled is True
    published.clear()
    await asyncio.sleep(INTERVAL * 1.1)
    await lifecycle.heartbeat("n1", beat((A, NodeModelState.downloading, 20)))
    rows = [event for _, event in published if event["type"] == "NodeModelChanged"]
    assert [(event["stalled"], event["bytes_done"]) for event in rows] == [(False, 20)]
    [model] = [event for _, event in published if event["type"] == "ModelStatusChanged"]
    assert model["node_counts"] == {**ZERO_COUNTS, "downloading": 1}


async def test_registering_a_model_leaves_the_ready_model_alone_and_flips_synced(lifecycle, published):
    await lifecycle.register(A)
    await lifecycle.add_node(NodeRegistration(runtime_id="n1", machine_name="m"))
    await lifecycle.heartbeat("n1", beat((A, NodeModelState.ready, 100)))
    published.clear()
    await lifecycle.register(B)
    assert [(route, event["type"]) for route, event in published] == [
        ("nodes node:n1", "NodeStatusChanged"),
        (f"models model:{B}", "ModelStatusChanged"),
    ]
    node = published[0][1]
    assert (node["previous"], node["status"], node["synced"], node["machine_name"]) == ("online", "online", False, "m")
    assert lifecycle.status(A) == "ready"
    assert lifecycle.node("n1").status == "online"


async def test_hf_info_goes_to_models_and_the_model_topic(lifecycle, published, clock):
    lifecycle.publisher.on_hf_info(A, None, clock.now)
    assert published == [
        (
            f"models model:{A}",
            {"type": "HfStatsUpdated", "seq": 0, "ts": "2026-01-01T12:00:00Z", "model_id": A, "hf_info": None},
        )
    ]


async def test_every_event_is_a_valid_server_frame_and_models_frames_carry_no_node_list(lifecycle, published, clock):
    await lifecycle.register(A)
    await lifecycle.register(B)
    await lifecycle.add_node(NodeRegistration(runtime_id="n1", machine_name="m"))
    await lifecycle.heartbeat("n1", beat((A, NodeModelState.downloading, 10), (B, NodeModelState.ready, 100)))
    await lifecycle.heartbeat("n1", beat((A, NodeModelState.failed, 10), (B, NodeModelState.ready, 100)))
    clock.now += timedelta(seconds=31)
    await lifecycle.expire()
    lifecycle.publisher.on_hf_info(A, None, clock.now)
    await lifecycle.unregister(B)
    await lifecycle.delete_node("n1")
    assert {event["type"] for _, event in published} == {
        "ModelStatusChanged",
        "NodeModelChanged",
        "NodeStatusChanged",
        "MetricsUpdated",
        "HfStatsUpdated",
    }
    for route, event in published:
        numbered = {**event, "seq": 1}
        assert schema_errors("events.schema.json", "ServerFrame", numbered) == [], (route, event)
        if "models" in route.split(" "):
            assert event["type"] in ("ModelStatusChanged", "HfStatsUpdated")
            assert not any(isinstance(value, list) for value in event.values())


async def test_unregistering_a_model_drops_its_rows_and_flips_synced_back(lifecycle, published):
    await lifecycle.register(A)
    await lifecycle.register(B)
    await lifecycle.add_node(NodeRegistration(runtime_id="n1", machine_name="m"))
    await lifecycle.heartbeat("n1", beat((A, NodeModelState.ready, 100), (B, NodeModelState.downloading, 10)))
    published.clear()
    await lifecycle.unregister(B)
    assert [(route, event["type"]) for route, event in published] == [
        ("nodes node:n1", "NodeStatusChanged"),
        (f"model:{B} node:n1", "NodeModelChanged"),
        (f"models model:{B}", "ModelStatusChanged"),
    ]
    node, row, model = (event for _, event in published)
    assert (node["previous"], node["status"], node["synced"]) == ("online", "online", True)
    assert (row["state"], row["bytes_done"], row["bytes_total"], row["stalled"]) == (None, 0, 0, False)
    assert (model["status"], model["node_counts"]) == ("available", ZERO_COUNTS)


async def test_rows_and_metrics_wait_their_own_longer_interval(clock, published):
    """node_progress_interval holds a pair's progress and a node's metrics longer than the model's aggregates."""
    service = LifecycleService(MemoryStore(), offline_after=30, stall_after=STALL_AFTER, auto_approve=True, clock=clock)
    await service.start()
    publisher = EventPublisher(
        service, recorder(published), progress_interval=INTERVAL, node_progress_interval=INTERVAL * 3
    )
    publisher.attach()
    try:
        await service.register(A)
        await service.add_node(NodeRegistration(runtime_id="n1", machine_name="m"))
        await service.heartbeat("n1", beat((A, NodeModelState.downloading, 10), cpu_usage=0.1))
        published.clear()
        await service.heartbeat("n1", beat((A, NodeModelState.downloading, 40), cpu_usage=0.2))
        await asyncio.sleep(INTERVAL * 2)  # a held event is due within 1.25 intervals (its timer bucket)
        assert types(published) == ["ModelStatusChanged"]  # the model's interval passed; the row's and metrics' not
        # a held event goes out up to a quarter interval late (its timer bucket): wait for it, not a fixed time
        for _ in range(100):
            if len(published) == 3:
                break
            await asyncio.sleep(INTERVAL / 4)
        assert sorted(types(published)) == ["MetricsUpdated", "ModelStatusChanged", "NodeModelChanged"]
        rows = [event["bytes_done"] for _, event in published if event["type"] == "NodeModelChanged"]
        assert rows == [40]
    finally:
        publisher.close()
