"""EventPublisher on a real LifecycleService: one event per change, in order, and progress coalesced per model."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import msgspec
import pytest
import pytest_asyncio

from generated.types import Heartbeat, HeartbeatModelReport, NodeMetrics, NodeModelState, NodeRegistration
from runtime.events.publisher import EventPublisher
from runtime.nodes.services import LifecycleService
from tests.runtime.fakes import MemoryStore

A, B = "qwen3-0.6b", "llama-3.2-1b-instruct"
T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
INTERVAL = 0.2


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def published() -> list[tuple[str, dict]]:
    """(route line, event) of each message published."""
    return []


@pytest_asyncio.fixture
async def lifecycle(clock: Clock, published: list[tuple[str, dict]]) -> LifecycleService:
    service = LifecycleService(MemoryStore(), offline_after=30, auto_approve=True, clock=clock)
    await service.start()

    def publish(message: bytes) -> None:
        route, _, body = message.partition(b"\n")
        published.append((route.decode(), msgspec.json.decode(body)))

    publisher = EventPublisher(service, publish, progress_interval=INTERVAL)
    publisher.attach()
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
            f"model {A}",
            {
                "type": "ModelStatusChanged",
                "seq": 0,
                "ts": "2026-01-01T12:00:00Z",
                "model_id": A,
                "status": "registered",
                "progress": None,
                "nodes": [],
            },
        )
    ]


async def test_a_new_node_and_its_deletion(lifecycle, published):
    await lifecycle.add_node(NodeRegistration(runtime_id="n1", machine_name="m"))
    await lifecycle.delete_node("n1")
    assert [(route, event["status"], event["previous"]) for route, event in published] == [
        ("node n1", "registering", None),
        ("node n1", None, "registering"),
    ]


async def test_a_heartbeat_publishes_node_then_model_then_metrics(lifecycle, published):
    await lifecycle.register(A)
    await lifecycle.add_node(NodeRegistration(runtime_id="n1", machine_name="m"))
    published.clear()
    await lifecycle.heartbeat("n1", beat((A, NodeModelState.ready, 100), cpu_usage=0.5))
    assert [(route, event["type"]) for route, event in published] == [
        ("node n1", "NodeStatusChanged"),
        (f"model {A}", "ModelStatusChanged"),
        ("metrics n1", "MetricsUpdated"),
    ]
    node, model, metrics = (event for _, event in published)
    assert (node["previous"], node["status"]) == ("registering", "online")
    assert (model["status"], model["progress"]) == ("ready", None)
    assert model["nodes"] == [
        {"runtime_id": "n1", "state": "ready", "bytes_done": 100, "bytes_total": 100, "error": None}
    ]
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
    assert "ModelStatusChanged" not in types(published)  # waiting: the last one went out less than INTERVAL ago
    await asyncio.sleep(INTERVAL * 1.5)
    models = [event for route, event in published if route == f"model {A}"]
    assert [(event["progress"], event["ts"]) for event in models] == [(0.4, "2026-01-01T12:00:00.030000Z")]


async def test_progress_after_the_interval_goes_out_at_once(lifecycle, published):
    await lifecycle.register(A)
    await lifecycle.add_node(NodeRegistration(runtime_id="n1", machine_name="m"))
    await lifecycle.heartbeat("n1", beat((A, NodeModelState.downloading, 10)))
    await asyncio.sleep(INTERVAL * 1.1)
    published.clear()
    await lifecycle.heartbeat("n1", beat((A, NodeModelState.downloading, 50)))
    assert [event["progress"] for route, event in published if route.startswith("model")] == [0.5]


async def test_a_status_change_is_never_held_back_and_replaces_waiting_progress(lifecycle, published):
    await lifecycle.register(A)
    await lifecycle.add_node(NodeRegistration(runtime_id="n1", machine_name="m"))
    await lifecycle.heartbeat("n1", beat((A, NodeModelState.downloading, 10)))
    await lifecycle.heartbeat("n1", beat((A, NodeModelState.downloading, 60)))  # waits
    await lifecycle.heartbeat("n1", beat((A, NodeModelState.ready, 100)))  # goes out now
    await asyncio.sleep(INTERVAL * 1.5)
    models = [(event["status"], event["progress"]) for route, event in published if route == f"model {A}"]
    assert models == [("registered", None), ("downloading", 0.1), ("ready", None)]


async def test_progress_of_two_models_is_coalesced_separately(lifecycle, published):
    await lifecycle.register(A)
    await lifecycle.register(B)
    await lifecycle.add_node(NodeRegistration(runtime_id="n1", machine_name="m"))
    await lifecycle.heartbeat("n1", beat((A, NodeModelState.downloading, 10), (B, NodeModelState.downloading, 10)))
    published.clear()
    await lifecycle.heartbeat("n1", beat((A, NodeModelState.downloading, 20), (B, NodeModelState.downloading, 30)))
    await lifecycle.heartbeat("n1", beat((A, NodeModelState.downloading, 25), (B, NodeModelState.downloading, 35)))
    await asyncio.sleep(INTERVAL * 1.5)
    models = sorted((event["model_id"], event["progress"]) for route, event in published if route.startswith("model"))
    assert models == [(B, 0.35), (A, 0.25)]


async def test_the_offline_timer_publishes_offline_and_stale_metrics_without_a_request(lifecycle, published, clock):
    await lifecycle.add_node(NodeRegistration(runtime_id="n1", machine_name="m"))
    await lifecycle.heartbeat("n1", beat(cpu_usage=0.25))
    published.clear()
    clock.now += timedelta(seconds=31)
    await lifecycle.expire()
    assert [(route, event["type"]) for route, event in published] == [
        ("node n1", "NodeStatusChanged"),
        ("metrics n1", "MetricsUpdated"),
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
    await asyncio.sleep(INTERVAL * 1.5)
    await lifecycle.register(B)
    assert len(published) == count
