"""Replicas on one store: what one tells, the other applies (runtime/lifecycle/replication.py).

Two LifecycleServices share a MemoryStore; ``pump`` delivers the store's notes to both, as the
PostgreSQL feed does (each ignores its own). The real feed is tested in tests/adversarial.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import msgspec
import pytest
from litestar.testing import TestClient

from generated.types import Heartbeat, HeartbeatModelReport, NodeMetrics, NodeModelState, NodeRegistration, NodeStatus
from runtime.app import create_app
from runtime.db import NodeModelRecord, NodeRecord, RegistrationRecord
from runtime.errors import AlreadyRegistered, InvalidTransition
from runtime.lifecycle.replication import (
    NOTE_LIMIT,
    HeldEvents,
    NodeState,
    ReportState,
    StateUpdate,
    decode,
    encode,
    pack,
)
from runtime.lifecycle.service import Change, LifecycleService
from tests.runtime.conftest import ADMIN, NODE, READ, make_settings
from tests.runtime.fakes import FakeClock, MemoryStore

if TYPE_CHECKING:
    from pathlib import Path

A, B = "qwen3-0.6b", "llama-3.2-1b-instruct"
T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def beat(state: NodeModelState, done: int, model_id: str = A) -> Heartbeat:
    report = HeartbeatModelReport(model_id=model_id, state=state, bytes_done=done, bytes_total=100)
    return Heartbeat(metrics=NodeMetrics(cpu_usage=0.5), models=[report])


class Pair:
    def __init__(self) -> None:
        self.store = MemoryStore()
        self.clock = FakeClock(T0)
        self.a = self.service("a")
        self.b = self.service("b")
        self.changes: dict[str, list[Change]] = {"a": [], "b": []}
        self.a.listeners.append(self.changes["a"].append)
        self.b.listeners.append(self.changes["b"].append)

    def service(self, replica: str) -> LifecycleService:
        return LifecycleService(self.store, offline_after=30, auto_approve=True, clock=self.clock, replica=replica)

    async def pump(self) -> None:
        """Announce what heartbeats changed, then deliver every note to both replicas."""
        await self.a.announce()
        await self.b.announce()
        notes, self.store.notes = self.store.notes, []
        for note in notes:
            update = decode(note)
            await self.a.apply(update)
            await self.b.apply(update)


@pytest.fixture
async def pair() -> Pair:
    replicas = Pair()
    await replicas.a.start()
    await replicas.b.start()
    for changes in replicas.changes.values():
        changes.clear()  # what start() told
    return replicas


def record(runtime_id: str = "n1", **changes: object) -> NodeModelRecord:
    report = NodeModelRecord(runtime_id, A, NodeModelState.downloading, 10, 100, None, T0)
    return msgspec.structs.replace(report, **changes)


def test_pack_splits_below_the_notify_limit_and_keeps_the_order() -> None:
    node = NodeRecord("n1", "m" * 200, None, NodeStatus.online, T0, T0, {"cpu_usage": 0.5})
    nodes = [NodeState(msgspec.structs.replace(node, runtime_id=f"n{i}"), False) for i in range(60)]
    reports = [ReportState(record(f"n{i}"), i % 2 == 0) for i in range(200)]
    notes = pack("replica-1", nodes, reports)
    assert len(notes) > 2
    assert all(len(note.encode()) <= NOTE_LIMIT for note in notes)
    updates = [decode(note) for note in notes]
    assert {update.origin for update in updates} == {"replica-1"}
    assert [state for update in updates for state in update.nodes] == nodes
    assert [state for update in updates for state in update.reports] == reports


def test_an_update_round_trips_and_a_foreign_one_is_refused() -> None:
    update = StateUpdate(origin="a", unregistered=(A,), deleted_nodes=("n1",), hf_stats=True)
    assert decode(encode(update)) == update
    with pytest.raises(msgspec.ValidationError):
        decode('{"origin": "a", "registered": "everything"}')


async def test_a_command_on_one_replica_is_applied_on_the_other_as_a_remote_change(pair: Pair) -> None:
    await pair.a.register(A)
    await pair.pump()
    assert pair.b.registered_ids() == [A]
    [change] = pair.changes["b"]
    assert change.local is False
    assert change.registrations
    assert change.models == {A}
    assert [c.local for c in pair.changes["a"]] == [True]  # a's own note is not applied twice
    with pytest.raises(AlreadyRegistered):
        await pair.b.register(A)


async def test_the_database_picks_one_winner_when_both_replicas_have_not_heard_yet(pair: Pair) -> None:
    await pair.a.register(A)
    with pytest.raises(AlreadyRegistered):  # b has not applied a's note: the store's primary key decides
        await pair.b.register(A)
    pending = LifecycleService(pair.store, offline_after=30, clock=pair.clock, replica="c")
    await pending.start()
    await pending.add_node(NodeRegistration(runtime_id="n9", machine_name="m"))
    other = LifecycleService(pair.store, offline_after=30, clock=pair.clock, replica="d")
    await other.start()  # both know n9 as pending
    await pending.approve("n9")
    with pytest.raises(InvalidTransition):
        await other.approve("n9")


async def test_heartbeats_on_alternate_replicas_build_one_state(pair: Pair) -> None:
    await pair.a.register(A)
    await pair.pump()
    await pair.b.add_node(NodeRegistration(runtime_id="n1", machine_name="m"))
    await pair.pump()
    for index, done in enumerate((10, 40, 70)):
        pair.clock.advance(2)
        await (pair.a, pair.b)[index % 2].heartbeat("n1", beat(NodeModelState.downloading, done))
        await pair.pump()
    pair.clock.advance(2)
    await pair.a.heartbeat("n1", beat(NodeModelState.ready, 100))
    await pair.pump()
    for service in (pair.a, pair.b):
        assert service.status(A).value == "ready"
        assert service.node("n1").status == NodeStatus.online
        assert service.node("n1").synced is True
        [row] = service.model_rows(A)
        assert (row.state, row.bytes_done) == (NodeModelState.ready, 100)


async def test_a_late_or_crossing_update_never_brings_back_or_replaces_newer_state(pair: Pair) -> None:
    await pair.a.register(A)
    await pair.a.add_node(NodeRegistration(runtime_id="n1", machine_name="m"))
    await pair.pump()
    pair.clock.advance(5)
    await pair.a.heartbeat("n1", beat(NodeModelState.downloading, 50))
    await pair.pump()
    older = ReportState(record(bytes_done=5, updated_at=T0), None)
    await pair.b.apply(StateUpdate(origin="a", reports=(older,)))
    assert pair.b.model_rows(A)[0].bytes_done == 50  # the older report lost
    await pair.b.delete_node("n1")
    await pair.pump()
    late = NodeRecord("n1", "m", None, NodeStatus.online, T0, T0 + timedelta(seconds=60))
    await pair.a.apply(StateUpdate(origin="x", nodes=(NodeState(late, False),), reports=(older,)))
    for service in (pair.a, pair.b):
        assert service.nodes() == []  # a node update never creates a node
        assert service.model_rows(A) == []


async def test_resync_takes_what_was_missed_and_drops_what_is_gone(pair: Pair) -> None:
    await pair.a.register(A)
    await pair.a.add_node(NodeRegistration(runtime_id="n1", machine_name="m"))
    await pair.pump()
    await pair.a.register(B)
    await pair.a.delete_node("n1")
    pair.store.notes.clear()  # b's feed was down: it heard none of this
    assert pair.b.registered_ids() == [A]
    assert [n.runtime_id for n in pair.b.nodes()] == ["n1"]
    await pair.b.resync()
    assert pair.b.registered_ids() == [A, B]
    assert pair.b.nodes() == []
    assert pair.changes["b"][-1].local is False


async def test_the_timers_changes_reach_the_other_replica(pair: Pair) -> None:
    await pair.a.register(A)
    await pair.a.add_node(NodeRegistration(runtime_id="n1", machine_name="m"))
    await pair.a.heartbeat("n1", beat(NodeModelState.downloading, 10))
    await pair.pump()
    pair.clock.advance(31)
    await pair.a.expire()  # a leads
    await pair.pump()
    node = pair.b.node("n1")
    assert (node.status, node.metrics_stale) == (NodeStatus.offline, True)
    assert pair.b.aggregate(A).node_counts.offline == 1


async def test_a_registration_missing_from_this_catalog_is_kept_as_orphaned_until_an_admin_deletes_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = MemoryStore()
    store.registrations["retired-model"] = RegistrationRecord("retired-model", T0)  # a newer or older catalog's
    service = LifecycleService(store, offline_after=30, auto_approve=True, clock=FakeClock(T0), replica="a")
    await service.start()
    assert service.orphaned_ids() == ["retired-model"]
    assert service.registered_ids() == []
    assert [r.getMessage() for r in caplog.records if "retired-model" in r.getMessage()] != []
    await service.add_node(NodeRegistration(runtime_id="n1", machine_name="m"))
    report = HeartbeatModelReport(model_id="retired-model", state=NodeModelState.ready, bytes_done=1, bytes_total=1)
    await service.heartbeat("n1", Heartbeat(metrics=NodeMetrics(), models=[report]))  # ignored, not refused
    assert service.node_detail("n1").models == []
    assert "retired-model" in store.registrations  # kept
    await service.unregister("retired-model")
    assert service.orphaned_ids() == []
    assert store.registrations == {}


def test_readyz_lists_the_orphaned_registrations(tmp_path: Path) -> None:
    store = MemoryStore()
    store.registrations["retired-model"] = RegistrationRecord("retired-model", T0)
    with TestClient(create_app(make_settings(tmp_path), store=store)) as client:
        assert client.get("/readyz").json()["details"]["orphaned_registrations"] == ["retired-model"]
        listed = client.get("/v0/models/orphaned", headers=READ).json()
        assert listed == [{"model_id": "retired-model", "registered_at": "2026-01-01T12:00:00Z"}]
        assert client.delete("/v0/models/retired-model", headers=ADMIN).status_code == 204
        assert client.get("/readyz").json()["details"]["orphaned_registrations"] == []
        assert client.get("/v0/models/orphaned", headers=READ).json() == []


def test_the_heartbeat_answer_tells_nodes_to_keep_an_orphaned_models_files(tmp_path: Path) -> None:
    store = MemoryStore()
    store.registrations["retired-model"] = RegistrationRecord("retired-model", T0)
    store.registrations[A] = RegistrationRecord(A, T0)
    settings = make_settings(tmp_path, auto_approve_nodes=True)
    with TestClient(create_app(settings, store=store)) as client:
        node = {"runtime_id": "n1", "machine_name": "m"}
        assert client.post("/v0/nodes", json=node, headers=NODE).status_code == 201
        answer = client.post("/v0/nodes/n1/heartbeat", json={"metrics": {}, "models": []}, headers=NODE).json()
        assert [manifest["model_id"] for manifest in answer["models"]] == [A]
        assert answer["retained"] == ["retired-model"]
        assert client.delete("/v0/models/retired-model", headers=ADMIN).status_code == 204
        answer = client.post("/v0/nodes/n1/heartbeat", json={"metrics": {}, "models": []}, headers=NODE).json()
        assert answer["retained"] == []  # now the nodes drop its files


def test_held_events_wait_for_the_announcement_only_when_something_is_unannounced() -> None:
    sent: list[bytes] = []
    waiting = [False]
    held = HeldEvents(sent.append, lambda: waiting[0])
    held.publish(b"command")  # nothing unannounced: at once
    waiting[0] = True
    held.publish(b"heartbeat")
    waiting[0] = False
    held.publish(b"after")  # still behind the held one: order is kept
    assert sent == [b"command"]
    held.release()
    assert sent == [b"command", b"heartbeat", b"after"]


async def test_a_heartbeat_leaves_a_change_unannounced_until_announce(pair: Pair) -> None:
    await pair.a.register(A)
    await pair.a.add_node(NodeRegistration(runtime_id="n1", machine_name="m"))
    assert pair.a.unannounced() is False
    await pair.a.heartbeat("n1", beat(NodeModelState.downloading, 10))
    assert pair.a.unannounced() is True
    await pair.a.announce()
    assert pair.a.unannounced() is False
    pair.clock.advance(1)
    await pair.a.heartbeat("n1", beat(NodeModelState.downloading, 20))  # progress only
    assert pair.a.unannounced() is False
