"""LifecycleService on a MemoryStore with a fake clock: every command, its rejections and its effects."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest
import pytest_asyncio

from generated.catalog import CATALOG_BY_ID
from generated.lifecycle import NODE_MODEL_STATE_TRANSITIONS
from generated.types import (
    Heartbeat,
    HeartbeatModelReport,
    ModelStatus,
    NodeCounts,
    NodeMetrics,
    NodeModelState,
    NodeRegistration,
    NodeStatus,
)
from runtime.catalog.services import openai_model, openai_models
from runtime.db import NodeModelRecord, NodeRecord, RegistrationRecord
from runtime.errors import (
    AlreadyRegistered,
    Forbidden,
    InvalidTransition,
    ModelNotSupported,
    NodeNotFound,
    NotRegistered,
    ValidationFailed,
)
from runtime.lifecycle.derive import AVAILABLE, Aggregate
from runtime.lifecycle.service import Change, LifecycleService
from tests.runtime.fakes import FakeClock, MemoryStore

A, B, C = "qwen3-0.6b", "llama-3.2-1b-instruct", "gemma-2-2b-it"
UNKNOWN_MODEL = "no-such-model"
OFFLINE_AFTER = 30.0
T0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
PENDING, DOWNLOADING, READY, FAILED = (
    NodeModelState.pending,
    NodeModelState.downloading,
    NodeModelState.ready,
    NodeModelState.failed,
)


class RecordingStore(MemoryStore):
    """A MemoryStore that remembers every save_reports batch (runtime ids, (runtime id, model id) pairs)."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[tuple[list[str], list[tuple[str, str]]]] = []

    async def save_reports(self, nodes: list[NodeRecord], node_models: list[NodeModelRecord]) -> None:
        self.batches.append(
            (sorted(n.runtime_id for n in nodes), sorted((r.runtime_id, r.model_id) for r in node_models))
        )
        await super().save_reports(nodes, node_models)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def store() -> RecordingStore:
    return RecordingStore()


@pytest.fixture
def changes() -> list[Change]:
    return []


async def started(store: MemoryStore, clock: FakeClock, *, auto_approve: bool = False) -> LifecycleService:
    service = LifecycleService(store, offline_after=OFFLINE_AFTER, auto_approve=auto_approve, clock=clock)
    await service.start()
    return service


@pytest_asyncio.fixture
async def service(store: RecordingStore, clock: FakeClock, changes: list[Change]) -> LifecycleService:
    """A started service; ``changes`` collects what it publishes from here on."""
    started_service = await started(store, clock)
    started_service.listeners.append(changes.append)
    return started_service


def report(
    model_id: str, state: NodeModelState, done: int = 0, total: int = 100, error: str | None = None
) -> HeartbeatModelReport:
    if error is None:
        return HeartbeatModelReport(model_id=model_id, state=state, bytes_done=done, bytes_total=total)
    return HeartbeatModelReport(model_id=model_id, state=state, bytes_done=done, bytes_total=total, error=error)


def ready(model_id: str, total: int = 100) -> HeartbeatModelReport:
    return report(model_id, READY, total, total)


def beat(*reports: HeartbeatModelReport, cpu: float = 0.5) -> Heartbeat:
    return Heartbeat(metrics=NodeMetrics(cpu_usage=cpu), models=list(reports))


def node_registration(runtime_id: str = "n1", machine_name: str = "box-1", gpu: int | None = None) -> NodeRegistration:
    if gpu is None:
        return NodeRegistration(runtime_id=runtime_id, machine_name=machine_name)
    return NodeRegistration(runtime_id=runtime_id, machine_name=machine_name, gpu_memory_bytes=gpu)


async def approved(service: LifecycleService, runtime_id: str = "n1") -> None:
    """Add a node and approve it: registering."""
    node, _ = await service.add_node(node_registration(runtime_id))
    if node.status == NodeStatus.pending:
        await service.approve(runtime_id)


async def online(service: LifecycleService, runtime_id: str = "n1", *model_ids: str) -> None:
    """Add, approve and heartbeat a node with ``model_ids`` ready (every registered one by default)."""
    await approved(service, runtime_id)
    ids = model_ids or tuple(service.registered_ids())
    assert await service.heartbeat(runtime_id, beat(*(ready(m) for m in ids))) == NodeStatus.online


def snapshot(service: LifecycleService) -> tuple[object, ...]:
    """Everything a reader can see."""
    return (
        service.version,
        {model_id: service.aggregate(model_id) for model_id in CATALOG_BY_ID},
        {model_id: service.model_rows(model_id) for model_id in CATALOG_BY_ID},
        service.nodes(),
        service.registered_ids(),
    )


def progress(runtime_id: str, state: NodeModelState, done: int, total: int = 100) -> tuple[object, ...]:
    """A row's report fields: (runtime id, state, bytes done, bytes total, error)."""
    return (runtime_id, state, done, total, None)


def rows(service: LifecycleService, model_id: str) -> list[tuple[object, ...]]:
    """The report fields of every row of a model."""
    return [(r.runtime_id, r.state, r.bytes_done, r.bytes_total, r.error) for r in service.model_rows(model_id)]


def counts(pending=0, downloading=0, ready=0, failed=0, stalled=0, offline=0) -> NodeCounts:
    return NodeCounts(
        pending=pending, downloading=downloading, ready=ready, failed=failed, stalled=stalled, offline=offline
    )


REGISTERED = Aggregate(ModelStatus.registered, None, counts(), 0, 0)


# ========================================================================================== resolve


@pytest.mark.parametrize(
    ("model_id", "repo", "filename", "expected"),
    [
        (A, None, None, A),
        (None, "bartowski/Qwen_Qwen3-0.6B-GGUF", None, A),
        (None, "BARTOWSKI/qwen_qwen3-0.6b-gguf", None, A),
        (None, "bartowski/SmolLM2-1.7B-Instruct-GGUF", "SmolLM2-1.7B-Instruct-Q8_0.gguf", "smollm2-1.7b-instruct-q8_0"),
        (
            None,
            "Bartowski/smollm2-1.7b-instruct-gguf",
            "SmolLM2-1.7B-Instruct-Q4_K_S.gguf",
            "smollm2-1.7b-instruct-q4_k_s",
        ),
        (None, "bartowski/Qwen_Qwen3-0.6B-GGUF", "Qwen_Qwen3-0.6B-Q4_K_M.gguf", A),
    ],
    ids=["by-id", "by-repo", "by-repo-any-case", "by-repo-and-filename", "by-repo-any-case-and-filename", "one-file"],
)
def test_resolve_finds_the_catalog_id(store, clock, model_id, repo, filename, expected):
    service = LifecycleService(store, offline_after=OFFLINE_AFTER, clock=clock)
    assert service.resolve(model_id, repo, filename) == expected


@pytest.mark.parametrize(
    ("model_id", "repo", "filename", "error"),
    [
        (UNKNOWN_MODEL, None, None, ModelNotSupported),
        (None, "nobody/nothing-GGUF", None, ModelNotSupported),
        (None, "bartowski/Qwen_Qwen3-0.6B-GGUF", "other.gguf", ModelNotSupported),
        (None, "bartowski/SmolLM2-1.7B-Instruct-GGUF", None, ValidationFailed),
        (A, "bartowski/Qwen_Qwen3-0.6B-GGUF", None, ValidationFailed),
        (A, None, "Qwen_Qwen3-0.6B-Q4_K_M.gguf", ValidationFailed),
        (None, None, None, ValidationFailed),
        (None, None, "Qwen_Qwen3-0.6B-Q4_K_M.gguf", ValidationFailed),
    ],
    ids=[
        "unknown-id",
        "unknown-repo",
        "unknown-file",
        "ambiguous-repo",
        "id-and-repo",
        "id-and-filename",
        "nothing",
        "filename-alone",
    ],
)
def test_resolve_rejects(store, clock, model_id, repo, filename, error):
    service = LifecycleService(store, offline_after=OFFLINE_AFTER, clock=clock)
    with pytest.raises(error):
        service.resolve(model_id, repo, filename)


def test_resolve_of_an_ambiguous_repo_names_its_files(store, clock):
    service = LifecycleService(store, offline_after=OFFLINE_AFTER, clock=clock)
    with pytest.raises(ValidationFailed) as raised:
        service.resolve(None, "bartowski/SmolLM2-1.7B-Instruct-GGUF", None)
    assert "SmolLM2-1.7B-Instruct-Q4_K_S.gguf" in raised.value.message
    assert "SmolLM2-1.7B-Instruct-Q8_0.gguf" in raised.value.message
    assert "filename" in raised.value.message


# ========================================================================================= register


@pytest.mark.asyncio
async def test_register_makes_the_model_registered(service):
    view = await service.register(A)
    assert view == REGISTERED
    assert service.aggregate(A) == view
    assert service.registered_ids() == [A]


@pytest.mark.asyncio
async def test_register_is_stored_with_the_clock_time(service, store):
    await service.register(A)
    assert store.registrations == {A: RegistrationRecord(A, T0)}
    assert service.registration(A) == RegistrationRecord(A, T0)


@pytest.mark.asyncio
async def test_register_is_durable_before_anyone_hears_of_it(service, store):
    stored_when_told = []
    service.listeners.append(lambda change: stored_when_told.append(A in store.registrations))
    await service.register(A)
    assert stored_when_told == [True]


@pytest.mark.asyncio
async def test_register_with_a_failing_store_changes_nothing(service, store, changes):
    before = snapshot(service)
    store.fail = RuntimeError("database down")
    with pytest.raises(RuntimeError):
        await service.register(A)
    assert snapshot(service) == before
    assert changes == []


@pytest.mark.asyncio
async def test_register_twice_raises_already_registered(service):
    await service.register(A)
    with pytest.raises(AlreadyRegistered):
        await service.register(A)


@pytest.mark.asyncio
async def test_register_of_an_unknown_id_raises_model_not_supported(service, store):
    with pytest.raises(ModelNotSupported):
        await service.register(UNKNOWN_MODEL)
    assert store.registrations == {}


@pytest.mark.asyncio
async def test_registered_ids_follow_catalog_order(service):
    for model_id in (C, A, B):
        await service.register(model_id)
    order = list(CATALOG_BY_ID)
    assert service.registered_ids() == sorted((A, B, C), key=order.index)


# ======================================================================================= unregister


@pytest.mark.asyncio
async def test_unregister_makes_a_ready_model_available(service):
    await service.register(A)
    await online(service, "n1")
    await service.unregister(A)
    assert service.aggregate(A) == AVAILABLE
    assert service.registration(A) is None


@pytest.mark.asyncio
async def test_unregister_is_durable(service, store):
    await service.register(A)
    await service.unregister(A)
    assert store.registrations == {}


@pytest.mark.asyncio
async def test_unregister_drops_the_nodes_reports(service):
    await service.register(A)
    await online(service, "n1")
    await service.unregister(A)
    assert await service.register(A) == REGISTERED


@pytest.mark.asyncio
async def test_unregister_drops_reports_not_yet_flushed(service, store):
    await service.register(A)
    await service.register(B)
    await online(service, "n1")
    await service.unregister(A)
    await service.flush()
    assert set(store.node_models) == {("n1", B)}


@pytest.mark.asyncio
async def test_a_report_after_unregister_and_register_starts_afresh(service):
    await service.register(A)
    await approved(service, "n1")
    await service.heartbeat("n1", beat(ready(A)))
    await service.unregister(A)
    await service.register(A)
    await service.heartbeat("n1", beat(report(A, PENDING)))  # ready -> pending is illegal, but the old report is gone
    assert rows(service, A) == [progress("n1", PENDING, 0)]


@pytest.mark.asyncio
async def test_unregister_of_a_model_not_registered_raises_not_registered(service):
    with pytest.raises(NotRegistered):
        await service.unregister(A)


@pytest.mark.asyncio
async def test_unregister_of_an_unknown_id_raises_model_not_supported(service):
    with pytest.raises(ModelNotSupported):
        await service.unregister(UNKNOWN_MODEL)


# =============================================================================== add_node / approve


@pytest.mark.asyncio
async def test_add_node_without_auto_approve_is_pending(service):
    node, created = await service.add_node(node_registration("n1", "box-1", gpu=8 << 30))
    assert created is True
    assert (node.runtime_id, node.machine_name, node.gpu_memory_bytes) == ("n1", "box-1", 8 << 30)
    assert node.status == NodeStatus.pending
    assert (node.last_heartbeat_at, node.metrics_stale, node.metrics) == (None, True, NodeMetrics())


@pytest.mark.asyncio
async def test_add_node_with_auto_approve_is_registering(store, clock):
    service = await started(store, clock, auto_approve=True)
    node, created = await service.add_node(node_registration("n1"))
    assert (node.status, created) == (NodeStatus.registering, True)


@pytest.mark.asyncio
async def test_add_node_is_durable(service, store):
    await service.add_node(node_registration("n1", "box-1"))
    assert store.nodes["n1"] == NodeRecord("n1", "box-1", None, NodeStatus.pending, T0)


@pytest.mark.asyncio
async def test_add_node_again_updates_the_details_and_is_not_created(service, store):
    await service.add_node(node_registration("n1", "box-1"))
    node, created = await service.add_node(node_registration("n1", "box-2", gpu=4 << 30))
    assert created is False
    assert (node.machine_name, node.gpu_memory_bytes, node.status) == ("box-2", 4 << 30, NodeStatus.pending)
    assert service.node("n1") == node
    assert (store.nodes["n1"].machine_name, store.nodes["n1"].gpu_memory_bytes) == ("box-2", 4 << 30)


@pytest.mark.asyncio
async def test_add_node_again_keeps_an_online_nodes_status_and_heartbeat(service):
    await service.register(A)
    await online(service, "n1")
    before = service.node("n1")
    node, _ = await service.add_node(node_registration("n1", "renamed"))
    assert node.status == NodeStatus.online
    assert (node.last_heartbeat_at, node.metrics) == (before.last_heartbeat_at, before.metrics)


@pytest.mark.asyncio
async def test_add_node_again_with_the_same_details_changes_no_version(service, changes):
    await service.add_node(node_registration("n1"))
    version = service.version
    await service.add_node(node_registration("n1"))
    assert service.version == version
    assert len(changes) == 1


@pytest.mark.asyncio
async def test_approve_makes_a_pending_node_registering(service, store):
    await service.add_node(node_registration("n1"))
    node = await service.approve("n1")
    assert node.status == NodeStatus.registering
    assert service.node("n1").status == NodeStatus.registering
    assert store.nodes["n1"].status == NodeStatus.registering


@pytest.mark.asyncio
async def test_approve_twice_raises_invalid_transition(service):
    await service.add_node(node_registration("n1"))
    await service.approve("n1")
    with pytest.raises(InvalidTransition):
        await service.approve("n1")


@pytest.mark.asyncio
async def test_approve_of_an_auto_approved_node_raises_invalid_transition(store, clock):
    service = await started(store, clock, auto_approve=True)
    await service.add_node(node_registration("n1"))
    with pytest.raises(InvalidTransition):
        await service.approve("n1")


@pytest.mark.parametrize(
    "command",
    [
        lambda service: service.approve("ghost"),
        lambda service: service.delete_node("ghost"),
        lambda service: service.heartbeat("ghost", beat()),
    ],
    ids=["approve", "delete_node", "heartbeat"],
)
@pytest.mark.asyncio
async def test_commands_on_an_unknown_node_raise_node_not_found(service, command):
    with pytest.raises(NodeNotFound):
        await command(service)


def test_node_of_an_unknown_runtime_id_raises_node_not_found(store, clock):
    service = LifecycleService(store, offline_after=OFFLINE_AFTER, clock=clock)
    with pytest.raises(NodeNotFound):
        service.node("ghost")


@pytest.mark.asyncio
async def test_nodes_are_listed_by_runtime_id(service):
    for runtime_id in ("n3", "n1", "n2"):
        await service.add_node(node_registration(runtime_id))
    assert [node.runtime_id for node in service.nodes()] == ["n1", "n2", "n3"]


# ================================================================================ heartbeat: status


@pytest.mark.asyncio
async def test_heartbeat_from_a_pending_node_raises_forbidden(service):
    await service.register(A)
    await service.add_node(node_registration("n1"))
    with pytest.raises(Forbidden):
        await service.heartbeat("n1", beat(ready(A)))
    assert service.node("n1").status == NodeStatus.pending


@pytest.mark.asyncio
async def test_heartbeat_with_every_registered_model_ready_makes_the_node_online_and_synced(service):
    await service.register(A)
    await service.register(B)
    await approved(service, "n1")
    assert await service.heartbeat("n1", beat(ready(A), ready(B))) == NodeStatus.online
    node = service.node("n1")
    assert (node.status, node.synced) == (NodeStatus.online, True)
    assert service.synced("n1") is True


@pytest.mark.asyncio
async def test_heartbeat_with_nothing_registered_makes_the_node_online(service):
    await approved(service, "n1")
    assert await service.heartbeat("n1", beat()) == NodeStatus.online
    assert service.synced("n1") is True


@pytest.mark.parametrize(
    "reports",
    [
        [],
        [ready(A)],
        [ready(A), report(B, DOWNLOADING, 50)],
        [ready(A), report(B, PENDING)],
        [ready(A), report(B, FAILED, 50, error="disk full")],
    ],
    ids=["no-reports", "one-missing", "one-downloading", "one-pending", "one-failed"],
)
@pytest.mark.asyncio
async def test_the_first_heartbeat_makes_the_node_online_even_when_not_synced(service, reports):
    await service.register(A)
    await service.register(B)
    await approved(service, "n1")
    assert await service.heartbeat("n1", beat(*reports)) == NodeStatus.online
    node = service.node("n1")
    assert (node.status, node.synced) == (NodeStatus.online, False)


@pytest.mark.asyncio
async def test_synced_counts_ready_reports_from_earlier_heartbeats(service):
    await service.register(A)
    await service.register(B)
    await approved(service, "n1")
    await service.heartbeat("n1", beat(ready(A), report(B, DOWNLOADING, 50)))
    assert service.synced("n1") is False
    await service.heartbeat("n1", beat(ready(B)))
    assert service.synced("n1") is True


@pytest.mark.asyncio
async def test_registering_a_new_model_keeps_an_online_node_online_but_not_synced(service, changes):
    await service.register(A)
    await online(service, "n1")
    await service.register(B)
    node = service.node("n1")
    assert (node.status, node.synced) == (NodeStatus.online, False)
    assert changes[-1].nodes == {"n1": (NodeStatus.online, NodeStatus.online)}
    assert await service.heartbeat("n1", beat(ready(A))) == NodeStatus.online
    assert service.status(A) == ModelStatus.ready


@pytest.mark.asyncio
async def test_unregistering_the_missing_model_makes_a_node_synced_again(service, changes):
    await service.register(A)
    await service.register(B)
    await online(service, "n1", A)
    assert service.synced("n1") is False
    await service.unregister(B)
    assert service.synced("n1") is True
    assert changes[-1].nodes == {"n1": (NodeStatus.online, NodeStatus.online)}
    assert service.node("n1").status == NodeStatus.online


@pytest.mark.asyncio
async def test_a_heartbeat_from_an_offline_node_makes_it_online(service, clock):
    await service.register(A)
    await online(service, "n1")
    clock.advance(OFFLINE_AFTER)
    await service.expire()
    assert service.node("n1").status == NodeStatus.offline
    assert service.status(A) == ModelStatus.registered
    assert await service.heartbeat("n1", beat(ready(A))) == NodeStatus.online
    assert service.status(A) == ModelStatus.ready


@pytest.mark.asyncio
async def test_a_heartbeat_from_an_offline_node_that_is_not_synced_makes_it_online(service, clock):
    await service.register(A)
    await approved(service, "n1")
    await service.heartbeat("n1", beat(report(A, DOWNLOADING, 10)))
    clock.advance(OFFLINE_AFTER)
    await service.expire()
    assert await service.heartbeat("n1", beat(report(A, DOWNLOADING, 20))) == NodeStatus.online
    assert service.synced("n1") is False


@pytest.mark.asyncio
async def test_heartbeat_records_metrics_and_time(service, clock):
    await approved(service, "n1")
    clock.advance(5)
    await service.heartbeat("n1", Heartbeat(metrics=NodeMetrics(cpu_usage=0.25, active_requests=3), models=[]))
    node = service.node("n1")
    assert node.metrics == NodeMetrics(cpu_usage=0.25, active_requests=3)
    assert node.last_heartbeat_at == "2025-01-01T12:00:05Z"
    assert node.metrics_stale is False


# =========================================================================== heartbeat: model views


@pytest.mark.asyncio
async def test_a_downloading_report_makes_the_model_downloading_with_progress(service):
    await service.register(A)
    await approved(service, "n1")
    await service.heartbeat("n1", beat(report(A, DOWNLOADING, 25)))
    assert service.aggregate(A) == Aggregate(ModelStatus.downloading, 0.25, counts(downloading=1), 25, 100)
    assert rows(service, A) == [progress("n1", DOWNLOADING, 25)]


@pytest.mark.asyncio
async def test_a_model_is_ready_once_its_node_is_online(service):
    await service.register(A)
    await online(service, "n1")
    assert service.aggregate(A) == Aggregate(ModelStatus.ready, None, counts(ready=1), 0, 0)
    assert rows(service, A) == [progress("n1", READY, 100)]


@pytest.mark.asyncio
async def test_a_model_ready_on_an_online_node_that_is_not_synced_is_ready(service):
    await service.register(A)
    await service.register(B)
    await approved(service, "n1")
    await service.heartbeat("n1", beat(ready(A)))
    assert service.synced("n1") is False
    assert service.status(A) == ModelStatus.ready
    assert service.status(B) == ModelStatus.registered


@pytest.mark.asyncio
async def test_a_model_ready_on_a_registering_node_only_is_not_ready(service, store, clock):
    await service.register(A)
    store.nodes["n1"] = NodeRecord("n1", "box-1", None, NodeStatus.registering, T0)
    store.node_models[("n1", A)] = NodeModelRecord("n1", A, READY, 100, 100, None, T0)
    restarted = await started(store, clock)
    assert restarted.status(A) == ModelStatus.registered
    assert restarted.aggregate(A).node_counts == counts(ready=1)


@pytest.mark.asyncio
async def test_a_failed_report_keeps_its_error(service):
    await service.register(A)
    await approved(service, "n1")
    await service.heartbeat("n1", beat(report(A, FAILED, 10, error="disk full")))
    assert service.model_rows(A)[0].error == "disk full"
    assert service.status(A) == ModelStatus.registered


# ============================================================================ heartbeat: rejections


@pytest_asyncio.fixture
async def reporting(service: LifecycleService) -> LifecycleService:
    """A and B registered, C not; n1 approved and reporting A downloading 10/100."""
    await service.register(A)
    await service.register(B)
    await approved(service, "n1")
    await service.heartbeat("n1", beat(report(A, DOWNLOADING, 10)))
    return service


REJECTED_HEARTBEATS = [
    pytest.param([report(UNKNOWN_MODEL, DOWNLOADING, 1)], ModelNotSupported, id="unknown-model"),
    pytest.param([report(C, DOWNLOADING, 1)], NotRegistered, id="unregistered-model"),
    pytest.param([report(B, DOWNLOADING, 101, 100)], ValidationFailed, id="bytes-done-over-total"),
    pytest.param([report(B, READY, 99, 100)], ValidationFailed, id="ready-but-incomplete"),
    pytest.param([report(B, DOWNLOADING, 1), report(B, DOWNLOADING, 2)], ValidationFailed, id="duplicate-model"),
    pytest.param([report(A, DOWNLOADING, 5)], InvalidTransition, id="bytes-going-back"),
    pytest.param([report(A, PENDING)], InvalidTransition, id="downloading-to-pending"),
    pytest.param([ready(B), report(A, DOWNLOADING, 5)], InvalidTransition, id="good-then-bad"),
    pytest.param([report(UNKNOWN_MODEL, READY), ready(B), ready(A)], ModelNotSupported, id="bad-then-good"),
]


@pytest.mark.parametrize(("reports", "error"), REJECTED_HEARTBEATS)
@pytest.mark.asyncio
async def test_heartbeat_rejects(reporting, reports, error):
    with pytest.raises(error):
        await reporting.heartbeat("n1", beat(*reports))


@pytest.mark.parametrize(("reports", "error"), REJECTED_HEARTBEATS)
@pytest.mark.asyncio
async def test_a_rejected_heartbeat_changes_nothing(reporting, changes, store, clock, reports, error):
    before, told = snapshot(reporting), len(changes)
    clock.advance(1)
    with pytest.raises(error):
        await reporting.heartbeat("n1", beat(*reports, cpu=0.9))
    assert snapshot(reporting) == before  # incl. version, views, node status, metrics and last_heartbeat_at
    assert len(changes) == told
    await reporting.flush()
    assert set(store.node_models) == {("n1", A)}
    assert store.node_models[("n1", A)].bytes_done == 10
    assert store.nodes["n1"].metrics == {"cpu_usage": 0.5}


@pytest.mark.asyncio
async def test_a_rejection_names_the_report(reporting):
    with pytest.raises(ValidationFailed, match=r"/models/1/bytes_done") as raised:
        await reporting.heartbeat("n1", beat(ready(B), report(A, DOWNLOADING, 17, 16)))
    assert raised.value.pointer == "/models/1/bytes_done"


@pytest.mark.asyncio
async def test_a_duplicate_report_is_named_by_its_second_index(reporting):
    with pytest.raises(ValidationFailed) as raised:
        await reporting.heartbeat("n1", beat(ready(B), report(A, DOWNLOADING, 17), report(B, READY, 100, 100)))
    assert raised.value.pointer == "/models/2/model_id"


@pytest.mark.asyncio
async def test_bytes_may_go_back_when_bytes_total_changes(reporting):
    await reporting.heartbeat("n1", beat(report(A, DOWNLOADING, 5, 200)))
    assert rows(reporting, A) == [progress("n1", DOWNLOADING, 5, 200)]


@pytest.mark.asyncio
async def test_bytes_may_go_back_after_a_failure(reporting):
    await reporting.heartbeat("n1", beat(report(A, FAILED, 10, error="reset")))
    await reporting.heartbeat("n1", beat(report(A, DOWNLOADING, 0)))
    assert rows(reporting, A) == [progress("n1", DOWNLOADING, 0)]


def _bytes_for(state: NodeModelState) -> tuple[int, int]:
    return (100, 100) if state == READY else (10, 100)


LEGAL_CHANGES = [pytest.param(a, b, id=f"{a.value}-to-{b.value}") for a, b in NODE_MODEL_STATE_TRANSITIONS]
ILLEGAL_CHANGES = [
    pytest.param(a, b, id=f"{a.value}-to-{b.value}")
    for a in NodeModelState
    for b in NodeModelState
    if a != b and (a, b) not in NODE_MODEL_STATE_TRANSITIONS
]


@pytest.mark.parametrize(("first", "then"), LEGAL_CHANGES)
@pytest.mark.asyncio
async def test_heartbeat_accepts_a_state_change_in_the_transition_table(service, first, then):
    await service.register(A)
    await approved(service, "n1")
    await service.heartbeat("n1", beat(report(A, first, *_bytes_for(first))))
    await service.heartbeat("n1", beat(report(A, then, *_bytes_for(then))))
    assert service.model_rows(A)[0].state == then


@pytest.mark.parametrize(("first", "then"), ILLEGAL_CHANGES)
@pytest.mark.asyncio
async def test_heartbeat_rejects_a_state_change_not_in_the_transition_table(service, first, then):
    await service.register(A)
    await approved(service, "n1")
    await service.heartbeat("n1", beat(report(A, first, *_bytes_for(first))))
    with pytest.raises(InvalidTransition):
        await service.heartbeat("n1", beat(report(A, then, *_bytes_for(then))))
    assert service.model_rows(A)[0].state == first


@pytest.mark.parametrize("state", list(NodeModelState), ids=[s.value for s in NodeModelState])
@pytest.mark.asyncio
async def test_heartbeat_accepts_the_same_state_again(service, state):
    await service.register(A)
    await approved(service, "n1")
    await service.heartbeat("n1", beat(report(A, state, *_bytes_for(state))))
    await service.heartbeat("n1", beat(report(A, state, *_bytes_for(state))))
    assert service.model_rows(A)[0].state == state


@pytest.mark.parametrize("state", list(NodeModelState), ids=[s.value for s in NodeModelState])
@pytest.mark.asyncio
async def test_a_first_report_may_be_in_any_state(service, state):
    await service.register(A)
    await approved(service, "n1")
    await service.heartbeat("n1", beat(report(A, state, *_bytes_for(state))))
    assert service.model_rows(A)[0].state == state


# =========================================================================================== expire


@pytest.mark.parametrize(
    ("elapsed", "status", "stale"),
    [
        (0, NodeStatus.online, False),
        (OFFLINE_AFTER - 1, NodeStatus.online, False),
        (OFFLINE_AFTER, NodeStatus.offline, True),
    ],
    ids=["at-once", "just-before", "after-offline-after"],
)
@pytest.mark.asyncio
async def test_expire_makes_a_silent_node_offline_and_its_metrics_stale(service, clock, elapsed, status, stale):
    await service.register(A)
    await online(service, "n1")
    clock.advance(elapsed)
    await service.expire()
    node = service.node("n1")
    assert (node.status, node.metrics_stale) == (status, stale)


@pytest.mark.asyncio
async def test_expire_makes_a_silent_registering_node_offline(service, clock):
    await service.register(A)
    await approved(service, "n1")
    await service.heartbeat("n1", beat(report(A, DOWNLOADING, 10)))
    clock.advance(OFFLINE_AFTER)
    await service.expire()
    assert service.node("n1").status == NodeStatus.offline


@pytest.mark.asyncio
async def test_expire_leaves_a_pending_node_pending(service, clock):
    await service.add_node(node_registration("n1"))
    clock.advance(OFFLINE_AFTER * 10)
    await service.expire()
    assert service.node("n1").status == NodeStatus.pending


@pytest.mark.asyncio
async def test_a_heartbeat_keeps_a_node_from_expiring(service, clock):
    await service.register(A)
    await online(service, "n1")
    clock.advance(OFFLINE_AFTER - 1)
    await service.heartbeat("n1", beat(ready(A)))
    clock.advance(OFFLINE_AFTER - 1)
    await service.expire()
    assert service.node("n1").status == NodeStatus.online


@pytest.mark.asyncio
async def test_a_node_approved_less_than_offline_after_ago_stays_registering(service, clock):
    await service.add_node(node_registration("n1"))
    await service.approve("n1")
    clock.advance(1)
    await service.expire()
    assert service.node("n1").status == NodeStatus.registering


@pytest.mark.asyncio
async def test_a_node_approved_but_silent_for_offline_after_goes_offline(service, clock):
    await service.add_node(node_registration("n1"))
    clock.advance(OFFLINE_AFTER * 5)  # waiting for approval does not count
    await service.approve("n1")
    clock.advance(OFFLINE_AFTER - 1)
    await service.expire()
    assert service.node("n1").status == NodeStatus.registering
    clock.advance(1)
    await service.expire()
    assert service.node("n1").status == NodeStatus.offline


@pytest.mark.asyncio
async def test_a_model_whose_only_online_node_goes_offline_is_no_longer_ready(service, clock):
    await service.register(A)
    await online(service, "n1")
    clock.advance(OFFLINE_AFTER)
    await service.expire()
    assert service.aggregate(A) == Aggregate(ModelStatus.registered, None, counts(offline=1), 0, 0)
    assert rows(service, A) == [progress("n1", READY, 100)]


@pytest.mark.asyncio
async def test_a_model_stays_ready_while_another_online_node_has_it(service, clock):
    await service.register(A)
    await online(service, "n1")
    await online(service, "n2")
    clock.advance(OFFLINE_AFTER - 10)
    await service.heartbeat("n2", beat(ready(A)))
    clock.advance(10)
    await service.expire()
    assert [node.status for node in service.nodes()] == [NodeStatus.offline, NodeStatus.online]
    assert service.status(A) == ModelStatus.ready


@pytest.mark.asyncio
async def test_a_download_on_a_node_that_goes_offline_stops_counting(service, clock):
    await service.register(A)
    await approved(service, "n1")
    await service.heartbeat("n1", beat(report(A, DOWNLOADING, 40)))
    clock.advance(OFFLINE_AFTER)
    await service.expire()
    assert (service.status(A), service.aggregate(A).progress) == (ModelStatus.registered, None)


@pytest.mark.asyncio
async def test_expire_with_nothing_stale_changes_nothing(service, clock, changes):
    await service.register(A)
    await online(service, "n1")
    before, told = snapshot(service), len(changes)
    clock.advance(OFFLINE_AFTER - 1)
    await service.expire()
    assert snapshot(service) == before
    assert len(changes) == told


@pytest.mark.asyncio
async def test_expire_reports_a_node_only_once(service, clock, changes):
    await service.register(A)
    await online(service, "n1")
    clock.advance(OFFLINE_AFTER)
    await service.expire()
    version, told = service.version, len(changes)
    clock.advance(OFFLINE_AFTER)
    await service.expire()
    assert (service.version, len(changes)) == (version, told)


# ====================================================================================== delete_node


@pytest.mark.asyncio
async def test_delete_node_forgets_the_node(service, store):
    await service.add_node(node_registration("n1"))
    await service.delete_node("n1")
    assert service.nodes() == []
    assert store.nodes == {}


@pytest.mark.asyncio
async def test_delete_node_recomputes_the_views_of_its_models(service):
    await service.register(A)
    await online(service, "n1")
    await service.delete_node("n1")
    assert service.aggregate(A) == REGISTERED


@pytest.mark.asyncio
async def test_delete_node_keeps_other_nodes_reports(service):
    await service.register(A)
    await online(service, "n1")
    await online(service, "n2")
    await service.delete_node("n1")
    assert service.aggregate(A) == Aggregate(ModelStatus.ready, None, counts(ready=1), 0, 0)
    assert rows(service, A) == [progress("n2", READY, 100)]


@pytest.mark.asyncio
async def test_a_deleted_node_that_registers_again_is_pending_with_no_reports(service):
    await service.register(A)
    await online(service, "n1")
    await service.delete_node("n1")
    node, created = await service.add_node(node_registration("n1"))
    assert (node.status, created) == (NodeStatus.pending, True)
    assert rows(service, A) == []


@pytest.mark.asyncio
async def test_delete_node_drops_its_unflushed_reports(service, store):
    await service.register(A)
    await online(service, "n1")
    await online(service, "n2")
    await service.delete_node("n1")
    await service.flush()
    assert store.batches[-1] == (["n2"], [("n2", A)])
    assert set(store.node_models) == {("n2", A)}


# ======================================================================================== listeners


@pytest.mark.asyncio
async def test_register_tells_listeners_the_model_and_the_registrations(service, changes):
    view = await service.register(A)
    assert changes == [Change(models=frozenset({A}), registrations=True)]
    assert service.aggregate(A) == view


@pytest.mark.asyncio
async def test_unregister_tells_listeners_the_model_is_available(service, changes):
    await service.register(A)
    await service.unregister(A)
    assert changes[-1] == Change(models=frozenset({A}), registrations=True)
    assert service.aggregate(A) == AVAILABLE


@pytest.mark.asyncio
async def test_add_node_tells_listeners_the_new_node(service, changes):
    await service.add_node(node_registration("n1"))
    assert changes == [Change(nodes={"n1": (None, NodeStatus.pending)})]


@pytest.mark.asyncio
async def test_approve_tells_listeners_the_status_change(service, changes):
    await service.add_node(node_registration("n1"))
    await service.approve("n1")
    assert changes[-1] == Change(nodes={"n1": (NodeStatus.pending, NodeStatus.registering)})


@pytest.mark.asyncio
async def test_a_heartbeat_that_makes_a_node_online_tells_the_node_its_models_and_metrics(service, changes):
    await service.register(A)
    await service.register(B)
    await approved(service, "n1")
    await service.heartbeat("n1", beat(ready(A), report(B, DOWNLOADING, 10)))
    assert changes[-1] == Change(
        models=frozenset({A, B}),
        node_models=frozenset({(A, "n1"), (B, "n1")}),
        nodes={"n1": (NodeStatus.registering, NodeStatus.online)},
        metrics=frozenset({"n1"}),
    )
    assert (service.status(A), service.status(B)) == (ModelStatus.ready, ModelStatus.downloading)


@pytest.mark.asyncio
async def test_a_heartbeat_that_makes_a_node_synced_tells_the_node_with_its_status_unchanged(service, changes):
    await service.register(A)
    await service.register(B)
    await approved(service, "n1")
    await service.heartbeat("n1", beat(ready(A), report(B, DOWNLOADING, 10)))
    await service.heartbeat("n1", beat(ready(A), ready(B)))
    assert changes[-1] == Change(
        models=frozenset({B}),
        node_models=frozenset({(B, "n1")}),
        nodes={"n1": (NodeStatus.online, NodeStatus.online)},
        metrics=frozenset({"n1"}),
    )
    assert service.synced("n1") is True


@pytest.mark.asyncio
async def test_a_heartbeat_with_new_progress_tells_that_model_and_the_metrics(service, changes):
    await service.register(A)
    await service.register(B)
    await approved(service, "n1")
    await service.heartbeat("n1", beat(report(A, DOWNLOADING, 10), report(B, DOWNLOADING, 10)))
    await service.heartbeat("n1", beat(report(A, DOWNLOADING, 20), report(B, DOWNLOADING, 10)))
    assert changes[-1] == Change(
        models=frozenset({A}),
        node_models=frozenset({(A, "n1")}),
        progressed_models=frozenset({A}),  # bytes alone moved: the publisher need not compare shapes
        progressed_rows=frozenset({(A, "n1")}),
        metrics=frozenset({"n1"}),
    )


@pytest.mark.asyncio
async def test_a_heartbeat_that_repeats_itself_tells_only_the_metrics(service, changes):
    await service.register(A)
    await online(service, "n1")
    await service.heartbeat("n1", beat(ready(A)))
    assert changes[-1] == Change(metrics=frozenset({"n1"}))


@pytest.mark.asyncio
async def test_expire_tells_the_node_its_models_and_stale_metrics(service, clock, changes):
    await service.register(A)
    await online(service, "n1")
    clock.advance(OFFLINE_AFTER)
    await service.expire()
    assert changes[-1] == Change(
        models=frozenset({A}),
        nodes={"n1": (NodeStatus.online, NodeStatus.offline)},
        metrics=frozenset({"n1"}),
    )


@pytest.mark.asyncio
async def test_delete_node_tells_the_node_and_its_models(service, changes):
    await service.register(A)
    await online(service, "n1")
    await service.delete_node("n1")
    assert changes[-1] == Change(
        models=frozenset({A}),
        node_models=frozenset({(A, "n1")}),
        nodes={"n1": (NodeStatus.online, None)},
        removed_names={"n1": "box-1"},
    )


@pytest.mark.asyncio
async def test_a_failing_listener_neither_fails_the_command_nor_silences_the_others(service, changes, caplog):
    def broken(change: Change) -> None:
        raise RuntimeError("listener bug")

    service.listeners.insert(0, broken)
    with caplog.at_level(logging.ERROR, logger="runtime.lifecycle.service"):
        await service.register(A)
    assert service.status(A) == ModelStatus.registered
    assert len(changes) == 1
    assert "a lifecycle listener failed" in caplog.text


# ========================================================================================== version


@pytest.mark.asyncio
async def test_version_increases_with_every_change(service, clock):
    versions = [service.version]
    await service.register(A)
    versions.append(service.version)
    await service.add_node(node_registration("n1"))
    versions.append(service.version)
    await service.approve("n1")
    versions.append(service.version)
    await service.heartbeat("n1", beat(ready(A)))
    versions.append(service.version)
    await service.heartbeat("n1", beat(ready(A)))
    versions.append(service.version)
    clock.advance(OFFLINE_AFTER)
    await service.expire()
    versions.append(service.version)
    await service.delete_node("n1")
    versions.append(service.version)
    await service.unregister(A)
    versions.append(service.version)
    assert versions == sorted(set(versions))
    assert len(versions) == 9


@pytest.mark.asyncio
async def test_version_counts_one_per_change_published(service, changes):
    start = service.version
    await service.register(A)
    await online(service, "n1")
    assert service.version - start == len(changes)


@pytest.mark.asyncio
async def test_flush_changes_no_version(service):
    await service.register(A)
    await online(service, "n1")
    version = service.version
    await service.flush()
    assert service.version == version


# ============================================================================================ flush


@pytest.mark.asyncio
async def test_heartbeats_are_written_behind(service, store):
    await service.register(A)
    await online(service, "n1")
    assert store.node_models == {}
    assert store.nodes["n1"].last_heartbeat_at is None


@pytest.mark.asyncio
async def test_flush_writes_dirty_nodes_and_reports_in_one_batch(service, store):
    await service.register(A)
    await service.register(B)
    await online(service, "n1")
    await approved(service, "n2")
    await service.heartbeat("n2", beat(report(A, DOWNLOADING, 5)))
    await service.flush()
    assert store.batches == [(["n1", "n2"], sorted([("n1", A), ("n1", B), ("n2", A)]))]
    assert store.node_models[("n2", A)].bytes_done == 5
    assert store.nodes["n1"].status == NodeStatus.online
    assert store.nodes["n1"].last_heartbeat_at == T0


@pytest.mark.asyncio
async def test_flush_with_nothing_dirty_writes_nothing(service, store):
    await service.register(A)
    await service.add_node(node_registration("n1"))
    await service.flush()
    assert store.batches == []


@pytest.mark.asyncio
async def test_a_second_flush_writes_nothing(service, store):
    await service.register(A)
    await online(service, "n1")
    await service.flush()
    await service.flush()
    assert len(store.batches) == 1


@pytest.mark.asyncio
async def test_flush_writes_an_expired_node(service, store, clock):
    await service.register(A)
    await online(service, "n1")
    await service.flush()
    clock.advance(OFFLINE_AFTER)
    await service.expire()
    await service.flush()
    assert store.batches[-1] == (["n1"], [])
    assert store.nodes["n1"].status == NodeStatus.offline


@pytest.mark.asyncio
async def test_a_failed_flush_raises_and_keeps_everything_dirty(service, store):
    await service.register(A)
    await online(service, "n1")
    store.fail = RuntimeError("database down")
    with pytest.raises(RuntimeError, match="database down"):
        await service.flush()
    assert store.node_models == {}
    store.fail = None
    await service.flush()
    assert store.batches[-1] == (["n1"], [("n1", A)])
    assert store.node_models[("n1", A)].state == READY


@pytest.mark.asyncio
async def test_reports_after_a_failed_flush_are_written_with_the_retried_ones(service, store):
    await service.register(A)
    await service.register(B)
    await approved(service, "n1")
    await approved(service, "n2")
    await service.heartbeat("n1", beat(report(A, DOWNLOADING, 5)))
    store.fail = RuntimeError("database down")
    with pytest.raises(RuntimeError):
        await service.flush()
    store.fail = None
    await service.heartbeat("n2", beat(report(B, DOWNLOADING, 7)))
    await service.heartbeat("n1", beat(report(A, DOWNLOADING, 9)))
    await service.flush()
    assert store.batches[-1] == (["n1", "n2"], [("n1", A), ("n2", B)])
    assert store.node_models[("n1", A)].bytes_done == 9


# ================================================================================== start (restart)


@pytest.mark.asyncio
async def test_start_reloads_what_a_previous_service_wrote(service, store, clock):
    await service.register(A)
    await service.register(B)
    await online(service, "n1")
    await approved(service, "n2")
    await service.heartbeat("n2", beat(report(A, DOWNLOADING, 30), report(B, FAILED, 3, error="disk full")))
    await service.add_node(node_registration("n3"))
    await service.flush()
    restarted = await started(store, clock)
    assert snapshot(restarted)[1:] == snapshot(service)[1:]
    assert restarted.registration(A) == service.registration(A)


@pytest.mark.asyncio
async def test_registrations_and_nodes_survive_a_restart_without_flush(service, store, clock):
    await service.register(A)
    await service.add_node(node_registration("n1"))
    await service.approve("n1")
    await service.add_node(node_registration("n2"))
    restarted = await started(store, clock)
    assert restarted.registered_ids() == [A]
    assert [(n.runtime_id, n.status) for n in restarted.nodes()] == [
        ("n1", NodeStatus.registering),
        ("n2", NodeStatus.pending),
    ]


@pytest.mark.asyncio
async def test_start_publishes_every_model_and_the_registrations(store, clock):
    await (await started(store, clock)).register(A)
    restarted = LifecycleService(store, offline_after=OFFLINE_AFTER, clock=clock)
    told: list[Change] = []
    restarted.listeners.append(told.append)
    await restarted.start()
    assert told == [Change(models=frozenset(CATALOG_BY_ID), registrations=True)]
    assert restarted.version == 1


@pytest.mark.asyncio
async def test_start_ignores_registrations_of_models_no_longer_in_the_catalog(store, clock):
    store.registrations["retired-model"] = RegistrationRecord("retired-model", T0)
    store.nodes["n1"] = NodeRecord("n1", "box-1", None, NodeStatus.online, T0, T0)
    store.node_models[("n1", "retired-model")] = NodeModelRecord("n1", "retired-model", READY, 1, 1, None, T0)
    service = await started(store, clock)
    assert service.registered_ids() == []
    assert service.aggregate("retired-model") == AVAILABLE


@pytest.mark.asyncio
async def test_a_node_online_before_a_restart_goes_offline_after_offline_after(service, store, clock):
    await service.register(A)
    await online(service, "n1")
    await service.flush()
    clock.advance(OFFLINE_AFTER)
    restarted = await started(store, clock)
    assert restarted.node("n1").metrics_stale is True
    await restarted.expire()
    assert restarted.node("n1").status == NodeStatus.offline
    assert restarted.status(A) == ModelStatus.registered


@pytest.mark.asyncio
async def test_a_gpu_less_node_has_no_gpu_memory(service):
    node, _ = await service.add_node(node_registration("n1"))
    assert node.gpu_memory_bytes is None


# ============================================================================ the scenario


@pytest.mark.asyncio
async def test_registering_a_model_keeps_every_other_model_served(service, changes):
    """Three nodes hold A and B; registering C leaves A and B ready and every node online, only not synced."""
    await service.register(A)
    await service.register(B)
    for runtime_id in ("n1", "n2", "n3"):
        await online(service, runtime_id, A, B)
    assert [(n.status, n.synced) for n in service.nodes()] == [(NodeStatus.online, True)] * 3
    before = {model_id: service.aggregate(model_id) for model_id in (A, B)}
    told = len(changes)

    await service.register(C)

    assert service.status(A) == service.status(B) == ModelStatus.ready
    assert {model_id: service.aggregate(model_id) for model_id in (A, B)} == before
    assert service.status(C) == ModelStatus.registered
    assert [(n.status, n.synced) for n in service.nodes()] == [(NodeStatus.online, False)] * 3
    assert [service.synced(runtime_id) for runtime_id in ("n1", "n2", "n3")] == [False] * 3
    assert changes[told:] == [
        Change(
            models=frozenset({C}),
            nodes={runtime_id: (NodeStatus.online, NodeStatus.online) for runtime_id in ("n1", "n2", "n3")},
            registrations=True,
        )
    ]
    assert [model.id for model in openai_models(service).data] == [
        model_id for model_id in service.registered_ids() if model_id in (A, B)
    ]
    assert openai_model(service, A) is not None
    assert openai_model(service, C) is None


@pytest.mark.asyncio
async def test_the_nodes_keep_serving_while_they_fetch_the_new_model(service):
    await service.register(A)
    await service.register(B)
    for runtime_id in ("n1", "n2", "n3"):
        await online(service, runtime_id, A, B)
    await service.register(C)
    for runtime_id in ("n1", "n2", "n3"):
        assert await service.heartbeat(runtime_id, beat(ready(A), ready(B), report(C, DOWNLOADING, 40))) == (
            NodeStatus.online
        )
    assert service.status(A) == service.status(B) == ModelStatus.ready
    assert service.aggregate(C) == Aggregate(ModelStatus.downloading, 0.4, counts(downloading=3), 120, 300)
    await service.heartbeat("n2", beat(ready(A), ready(B), ready(C)))
    assert service.status(C) == ModelStatus.ready
    assert [service.synced(runtime_id) for runtime_id in ("n1", "n2", "n3")] == [False, True, False]


@pytest.mark.asyncio
async def test_unregistering_a_model_changes_no_other_model_and_no_node_status(service, changes):
    await service.register(A)
    await service.register(B)
    await online(service, "n1", A)
    await approved(service, "n2")
    await service.heartbeat("n2", beat(ready(A), report(B, DOWNLOADING, 30)))
    before_a = service.aggregate(A)
    await service.unregister(B)
    assert service.aggregate(A) == before_a
    assert [n.status for n in service.nodes()] == [NodeStatus.online, NodeStatus.online]
    assert changes[-1] == Change(
        models=frozenset({B}),
        node_models=frozenset({(B, "n2")}),
        nodes={runtime_id: (NodeStatus.online, NodeStatus.online) for runtime_id in ("n1", "n2")},
        registrations=True,
    )
    assert service.row(B, "n2") is None
    assert [n.synced for n in service.nodes()] == [True, True]


# ============================================================================================= rows


@pytest.mark.asyncio
async def test_row_shows_one_report_with_its_health(service, clock):
    await service.register(A)
    await approved(service, "n1")
    await service.heartbeat("n1", beat(report(A, FAILED, 10, error="disk full")))
    row = service.row(A, "n1")
    assert row is not None
    assert (row.runtime_id, row.model_id, row.state, row.bytes_done, row.bytes_total) == ("n1", A, FAILED, 10, 100)
    assert (row.bytes_per_second, row.eta_seconds, row.stalled, row.error) == (None, None, False, "disk full")
    assert row.updated_at == "2025-01-01T12:00:00Z"
    assert service.row(A, "n2") is None
    assert service.row(B, "n1") is None


@pytest.mark.asyncio
async def test_node_detail_lists_the_nodes_reports_by_model_id(service):
    await service.register(A)
    await service.register(B)
    await approved(service, "n1")
    await service.heartbeat("n1", beat(report(B, DOWNLOADING, 5), ready(A)))
    detail = service.node_detail("n1")
    assert (detail.runtime_id, detail.status, detail.synced) == ("n1", NodeStatus.online, False)
    assert [(r.model_id, r.state) for r in detail.models] == sorted([(A, READY), (B, DOWNLOADING)])
    with pytest.raises(NodeNotFound):
        service.node_detail("ghost")


@pytest.mark.asyncio
async def test_model_rows_list_every_nodes_report_by_runtime_id(service):
    await service.register(A)
    for runtime_id in ("n3", "n1", "n2"):
        await approved(service, runtime_id)
        await service.heartbeat(runtime_id, beat(report(A, DOWNLOADING, 10)))
    assert [r.runtime_id for r in service.model_rows(A)] == ["n1", "n2", "n3"]
    assert service.model_rows(B) == []
