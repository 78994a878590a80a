"""A model-based test of LifecycleService: random command sequences against a shadow of what was accepted.

The machine keeps its own record of the registrations, the accepted reports, the approved nodes and
their last heartbeats. Every command is checked for the right acceptance or rejection (a rejection
must change nothing), for telling the listeners exactly what changed, and for legal node status
transitions; the invariants check every model's aggregates (kept by a ``Tally``) against
``derive.model_aggregate`` over the shadow, every node's ``synced`` against ``derive.node_synced``,
and that a command about one model changes no other model's status and no node's status.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import msgspec
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from generated.catalog import CATALOG_BY_ID
from generated.lifecycle import NODE_MODEL_STATE_TRANSITIONS, NODE_STATUS_TRANSITIONS, NodeStatusTrigger
from generated.types import (
    Heartbeat,
    HeartbeatModelReport,
    ModelStatus,
    NodeMetrics,
    NodeModelState,
    NodeRegistration,
    NodeStatus,
)
from runtime.db import NodeModelRecord
from runtime.errors import (
    AlreadyRegistered,
    AppClientError,
    Forbidden,
    InvalidTransition,
    ModelNotSupported,
    NodeNotFound,
    NotRegistered,
    ValidationFailed,
)
from runtime.lifecycle.derive import AVAILABLE, model_aggregate, node_synced
from runtime.lifecycle.service import LifecycleService
from tests.runtime.fakes import FakeClock, MemoryStore

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine

    from runtime.lifecycle.service import Change

MODELS = ("qwen3-0.6b", "llama-3.2-1b-instruct", "gemma-2-2b-it")
UNKNOWN_MODEL = "no-such-model"
NODES = ("n1", "n2", "n3")
OFFLINE_AFTER = 30.0
STALL_AFTER = 20.0
T0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
CATALOG_ORDER = list(CATALOG_BY_ID)

model_ids = st.sampled_from((*MODELS, UNKNOWN_MODEL))
runtime_ids = st.sampled_from(NODES)


@st.composite
def model_reports(draw: st.DrawFn, registered: tuple[str, ...] = ()) -> HeartbeatModelReport:
    """Mostly plausible reports on registered models (so that nodes get somewhere), sometimes anything."""
    model_id = draw(st.sampled_from((*registered * 10, *MODELS, UNKNOWN_MODEL)))
    state = draw(st.sampled_from((*NodeModelState, NodeModelState.downloading, NodeModelState.ready)))
    total = draw(st.sampled_from((100, 100, 100, 0, 7)))
    kind = draw(st.sampled_from(("plausible",) * 6 + ("arbitrary",)))
    if kind == "arbitrary":
        done = draw(st.integers(0, 250))
    elif state == NodeModelState.ready:
        done = total
    else:
        done = draw(st.integers(0, total))
    if state == NodeModelState.failed and draw(st.booleans()):
        return HeartbeatModelReport(
            model_id=model_id, state=state, bytes_done=done, bytes_total=total, error="disk full"
        )
    return HeartbeatModelReport(model_id=model_id, state=state, bytes_done=done, bytes_total=total)


def heartbeat_errors(
    reports: list[HeartbeatModelReport],
    registered: set[str],
    previous: Callable[[str], NodeModelRecord | None],
) -> set[type[AppClientError]]:
    """Every reason the contract gives to reject these reports (empty: they must be accepted)."""
    errors: set[type[AppClientError]] = set()
    for report in reports:
        if report.model_id not in CATALOG_BY_ID:
            errors.add(ModelNotSupported)
            continue
        if report.model_id not in registered:
            errors.add(NotRegistered)
            continue
        if report.bytes_done > report.bytes_total:
            errors.add(ValidationFailed)
        if report.state == NodeModelState.ready and report.bytes_done != report.bytes_total:
            errors.add(ValidationFailed)
        before = previous(report.model_id)
        if before is not None:
            if before.state != report.state and (before.state, report.state) not in NODE_MODEL_STATE_TRANSITIONS:
                errors.add(InvalidTransition)
            if (
                before.state == report.state == NodeModelState.downloading
                and before.bytes_total == report.bytes_total
                and report.bytes_done < before.bytes_done
            ):
                errors.add(InvalidTransition)
    if len({report.model_id for report in reports}) != len(reports):
        errors.add(ValidationFailed)
    return errors


class LifecycleMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.runner = asyncio.Runner()
        self.clock = FakeClock(T0)
        self.store = MemoryStore()
        self.auto_approve = False
        self.service: LifecycleService | None = None
        self.changes: list[Change] = []
        # The shadow: what the service has accepted.
        self.registered: set[str] = set()
        self.reports: dict[str, dict[str, NodeModelRecord]] = {model_id: {} for model_id in MODELS}
        self.known: set[str] = set()
        self.approved: set[str] = set()
        self.last_beat: dict[str, datetime | None] = {}
        # Approved nodes that never sent a heartbeat: when their silence began (approval, or a restart).
        self.silent_since: dict[str, datetime] = {}
        # (runtime id, model id) -> (bytes_total, bytes_done) of the current run of downloading reports.
        self.download_floor: dict[tuple[str, str], tuple[int, int]] = {}
        # (model id, runtime id) of downloading reports -> when bytes_done last grew (or the run began).
        self.grew_at: dict[tuple[str, str], datetime] = {}
        # (model id, runtime id) flagged stalled at the last check (a heartbeat of the node, or expire).
        self.stalled: set[tuple[str, str]] = set()

    def teardown(self) -> None:
        self.runner.close()

    # ------------------------------------------------------------------------------------------ helpers

    @property
    def svc(self) -> LifecycleService:
        assert self.service is not None
        return self.service

    def _start_service(self) -> None:
        service = LifecycleService(
            self.store,
            offline_after=OFFLINE_AFTER,
            stall_after=STALL_AFTER,
            auto_approve=self.auto_approve,
            clock=self.clock,
        )
        self.runner.run(service.start())
        service.listeners.append(self.changes.append)
        self.service = service

    def snapshot(self) -> tuple[Any, ...]:
        """What readers see: version, aggregates, rows (without the time-dependent rate), nodes, registrations."""
        service = self.svc
        return (
            service.version,
            {model_id: service.aggregate(model_id) for model_id in MODELS},
            {
                (row.model_id, row.runtime_id): (
                    row.state,
                    row.bytes_done,
                    row.bytes_total,
                    row.error,
                    row.stalled,
                    row.updated_at,
                )
                for model_id in MODELS
                for row in service.model_rows(model_id)
            },
            {node.runtime_id: node for node in service.nodes()},
            service.registered_ids(),
        )

    def command(
        self,
        make: Callable[[], Coroutine[Any, Any, Any]],
        trigger: NodeStatusTrigger | None,
        expected: set[type[AppClientError]],
    ) -> Any:
        """Run one command; check that it was accepted or rejected as expected and told what it changed.

        ``expected`` holds the errors the command may legally fail with; empty means it must succeed.
        Returns the command's result, or the error it was rejected with.
        """
        before = self.snapshot()
        told = len(self.changes)
        rejection: AppClientError | None = None
        try:
            result = self.runner.run(make())
        except AppClientError as error:
            rejection = error
        if rejection is not None:
            event(f"rejected: {type(rejection).__name__}")
            assert type(rejection) in expected, f"rejected with {rejection!r}, expected {expected or 'no error'}"
            assert self.snapshot() == before, f"rejected with {rejection!r} but the state changed"
            assert len(self.changes) == told, "a rejected command told the listeners"
            return rejection
        assert not expected, f"accepted, expected one of {expected}"
        self._check_told(before, self.snapshot(), self.changes[told:], trigger)
        return result

    def _check_told(self, before: tuple[Any, ...], after: tuple[Any, ...], new: list[Change], trigger: str | None):
        (version0, aggregates0, rows0, nodes0, registered0) = before
        (version1, aggregates1, rows1, nodes1, registered1) = after
        assert len(new) <= 1, "one command publishes at most one change"
        assert version1 - version0 == len(new), "the version counts the changes published"
        change = new[0] if new else None

        changed_models = {m for m in MODELS if aggregates0[m] != aggregates1[m]}
        told_models = set(change.models) if change else set()
        assert told_models == changed_models, "listeners hear of exactly the models whose aggregates changed"

        def without_time(rows: dict[Any, tuple[Any, ...]]) -> dict[Any, tuple[Any, ...]]:
            return {pair: fields[:-1] for pair, fields in rows.items()}

        plain0, plain1 = without_time(rows0), without_time(rows1)
        changed_rows = {pair for pair in plain0.keys() | plain1.keys() if plain0.get(pair) != plain1.get(pair)}
        told_rows = set(change.node_models) if change else set()
        assert told_rows == changed_rows, "listeners hear of exactly the rows that changed or went away"

        state0 = {rid: (node.status, node.synced) for rid, node in nodes0.items()}
        state1 = {rid: (node.status, node.synced) for rid, node in nodes1.items()}
        touched = {rid for rid in state0.keys() | state1.keys() if state0.get(rid) != state1.get(rid)}
        expected_nodes = {
            rid: (nodes0[rid].status if rid in nodes0 else None, nodes1[rid].status if rid in nodes1 else None)
            for rid in touched
        }
        told_nodes = dict(change.nodes if change else {})
        assert told_nodes == expected_nodes, "listeners hear of exactly the node status and synced changes"
        moved = {rid: statuses for rid, statuses in expected_nodes.items() if statuses[0] != statuses[1]}
        for rid, (old, new_status) in moved.items():
            if old is None or new_status is None:
                continue  # added or deleted
            assert trigger is not None, f"{rid}: {old} -> {new_status} on a command that changes no node status"
            assert NODE_STATUS_TRANSITIONS.get((old, new_status)) == trigger, (
                f"{rid}: {old} -> {new_status} is not a {trigger} transition"
            )

        metrics_moved = {
            rid
            for rid in nodes0.keys() & nodes1.keys()
            if (nodes0[rid].metrics, nodes0[rid].metrics_stale) != (nodes1[rid].metrics, nodes1[rid].metrics_stale)
        }
        assert metrics_moved <= (change.metrics if change else frozenset()), "listeners hear of metrics changes"
        if registered0 != registered1:
            assert change is not None
            assert change.registrations

    def previous_report(self, runtime_id: str) -> Callable[[str], NodeModelRecord | None]:
        return lambda model_id: self.reports.get(model_id, {}).get(runtime_id)

    def stale(self, runtime_id: str) -> bool:
        """Whether a node's metrics are stale: none yet, or older than ``offline_after``."""
        last = self.last_beat.get(runtime_id)
        return last is None or (self.clock.now - last).total_seconds() >= OFFLINE_AFTER

    def only_about(self, model_id: str, before: tuple[Any, ...], *, full: bool) -> None:
        """A command about ``model_id`` alone changed no other model's status (``full``: aggregates and rows
        too) and no node's status."""
        after = self.snapshot()
        (_, aggregates0, rows0, nodes0, _), (_, aggregates1, rows1, nodes1, _) = before, after
        for other in MODELS:
            if other == model_id:
                continue
            assert aggregates1[other].status == aggregates0[other].status, f"{other} changed with {model_id}"
            if full:
                assert aggregates1[other] == aggregates0[other], f"{other}'s aggregates changed with {model_id}"
                assert {p: r for p, r in rows1.items() if p[0] == other} == {
                    p: r for p, r in rows0.items() if p[0] == other
                }, f"{other}'s rows changed with {model_id}"
        assert {rid: n.status for rid, n in nodes1.items()} == {rid: n.status for rid, n in nodes0.items()}, (
            f"a command about {model_id} changed a node's status"
        )

    def check_stalls(self, runtime_id: str | None = None) -> None:
        """The shadow of the service's stall check: one node's downloads (a heartbeat), or all (expire)."""
        for pair, grew in self.grew_at.items():
            if runtime_id is None or pair[1] == runtime_id:
                if (self.clock.now - grew).total_seconds() >= STALL_AFTER:
                    self.stalled.add(pair)
                else:
                    self.stalled.discard(pair)
        self.stalled &= self.grew_at.keys()
        if self.stalled:
            event("a download is stalled")

    def forget_downloads(self, keep: Callable[[tuple[str, str]], bool]) -> None:
        self.grew_at = {pair: at for pair, at in self.grew_at.items() if keep(pair)}
        self.stalled = {pair for pair in self.stalled if keep(pair)}

    def silent(self, runtime_id: str) -> bool:
        """Whether an approved node has been quiet for ``offline_after`` (since its last heartbeat, else approval)."""
        since = self.last_beat.get(runtime_id) or self.silent_since[runtime_id]
        return (self.clock.now - since).total_seconds() >= OFFLINE_AFTER

    # ------------------------------------------------------------------------------------------ rules

    @initialize(auto_approve=st.booleans(), models=st.sets(st.sampled_from(MODELS)), nodes=st.sets(runtime_ids))
    def start(self, auto_approve: bool, models: set[str], nodes: set[str]) -> None:
        """A started service, with some models registered and some nodes joined (so that runs get far)."""
        self.auto_approve = auto_approve
        self._start_service()
        for model_id in sorted(models):
            self.register(model_id)
        for runtime_id in sorted(nodes):
            self.join(runtime_id)

    @rule(model_id=model_ids)
    def register(self, model_id: str) -> None:
        expected: set[type[AppClientError]] = set()
        if model_id not in CATALOG_BY_ID:
            expected = {ModelNotSupported}
        elif model_id in self.registered:
            expected = {AlreadyRegistered}
        before = self.snapshot()
        result = self.command(lambda: self.svc.register(model_id), None, expected)
        if not expected:
            assert result.status == ModelStatus.registered
            self.registered.add(model_id)
            self.only_about(model_id, before, full=True)

    @rule(model_id=model_ids)
    def unregister(self, model_id: str) -> None:
        expected: set[type[AppClientError]] = set()
        if model_id not in CATALOG_BY_ID:
            expected = {ModelNotSupported}
        elif model_id not in self.registered:
            expected = {NotRegistered}
        before = self.snapshot()
        self.command(lambda: self.svc.unregister(model_id), None, expected)
        if not expected:
            self.registered.discard(model_id)
            self.reports[model_id] = {}
            self.forget_downloads(lambda pair: pair[0] != model_id)
            assert self.svc.aggregate(model_id) == AVAILABLE
            assert self.svc.model_rows(model_id) == []
            self.only_about(model_id, before, full=True)

    @rule(runtime_id=runtime_ids, machine_name=st.sampled_from(("box-a", "box-b")), gpu=st.none() | st.just(8 << 30))
    def add_node(self, runtime_id: str, machine_name: str, gpu: int | None) -> None:
        registration = (
            NodeRegistration(runtime_id=runtime_id, machine_name=machine_name)
            if gpu is None
            else NodeRegistration(runtime_id=runtime_id, machine_name=machine_name, gpu_memory_bytes=gpu)
        )
        existed = runtime_id in self.known
        status_before = self.svc.node(runtime_id).status if existed else None
        node, created = self.command(lambda: self.svc.add_node(registration), None, set())
        assert created is not existed
        assert (node.machine_name, node.gpu_memory_bytes) == (machine_name, gpu)
        if existed:
            assert node.status == status_before
        else:
            assert node.status == (NodeStatus.registering if self.auto_approve else NodeStatus.pending)
            self.known.add(runtime_id)
            self.last_beat[runtime_id] = None
            if self.auto_approve:
                self.approved.add(runtime_id)
                self.silent_since[runtime_id] = self.clock.now

    @rule(runtime_id=runtime_ids)
    def join(self, runtime_id: str) -> None:
        """A node registers and an operator approves it at once (the short way to a working node)."""
        self.add_node(runtime_id, f"box-{runtime_id}", None)
        if runtime_id not in self.approved:
            self.approve(runtime_id)

    @rule(runtime_id=runtime_ids)
    def approve(self, runtime_id: str) -> None:
        expected: set[type[AppClientError]] = set()
        if runtime_id not in self.known:
            expected = {NodeNotFound}
        elif runtime_id in self.approved:
            expected = {InvalidTransition}
        result = self.command(lambda: self.svc.approve(runtime_id), "approve", expected)
        if not expected:
            assert result.status == NodeStatus.registering
            self.approved.add(runtime_id)
            self.silent_since[runtime_id] = self.clock.now

    def _heartbeat(self, runtime_id: str, reports: list[HeartbeatModelReport]) -> None:
        if runtime_id not in self.known:
            expected: set[type[AppClientError]] = {NodeNotFound}
        elif runtime_id not in self.approved:
            expected = {Forbidden}
        else:
            expected = heartbeat_errors(reports, self.registered, self.previous_report(runtime_id))
        status_before = self.svc.node(runtime_id).status if runtime_id in self.known else None
        heartbeat = Heartbeat(metrics=NodeMetrics(cpu_usage=0.5, active_requests=len(reports)), models=reports)
        before = self.snapshot()
        result = self.command(lambda: self.svc.heartbeat(runtime_id, heartbeat), "heartbeat", expected)
        if expected:
            return
        for report in reports:
            error = report.error if isinstance(report.error, str) else None
            pair = (report.model_id, runtime_id)
            previous = self.reports[report.model_id].get(runtime_id)
            if report.state != NodeModelState.downloading:
                self.grew_at.pop(pair, None)
            elif (
                previous is None
                or previous.state != NodeModelState.downloading
                or pair not in self.grew_at
                or report.bytes_total != previous.bytes_total
                or report.bytes_done != previous.bytes_done
            ):
                self.grew_at[pair] = self.clock.now
            self.reports[report.model_id][runtime_id] = NodeModelRecord(
                runtime_id,
                report.model_id,
                report.state,
                report.bytes_done,
                report.bytes_total,
                error,
                self.clock.now,
            )
        self.last_beat[runtime_id] = self.clock.now
        self.check_stalls(runtime_id)
        has_all = all(
            (record := self.reports[model_id].get(runtime_id)) is not None and record.state == NodeModelState.ready
            for model_id in self.registered
        )
        event(f"heartbeat: {status_before} -> {result} (synced: {has_all})")
        assert result == NodeStatus.online, "an accepted heartbeat makes a node online, synced or not"
        node = self.svc.node(runtime_id)
        assert (node.status, node.metrics_stale, node.synced) == (result, False, has_all)
        assert node.metrics == heartbeat.metrics
        about = {report.model_id for report in reports}
        if status_before == NodeStatus.online and len(about) == 1:
            self.only_about(about.pop(), before, full=False)

    @rule(runtime_id=runtime_ids, data=st.data())
    def heartbeat(self, runtime_id: str, data: st.DataObject) -> None:
        registered = tuple(sorted(self.registered))
        one_each = st.lists(model_reports(registered), max_size=3, unique_by=lambda report: report.model_id)
        anything = st.lists(model_reports(registered), max_size=4)
        self._heartbeat(runtime_id, data.draw(one_each | one_each | one_each | anything, label="reports"))

    @rule(runtime_id=runtime_ids)
    def heartbeat_everything_ready(self, runtime_id: str) -> None:
        """The heartbeat of a node that has fetched every registered model (to reach online often)."""
        reports = [
            HeartbeatModelReport(model_id=model_id, state=NodeModelState.ready, bytes_done=100, bytes_total=100)
            for model_id in sorted(self.registered)
        ]
        self._heartbeat(runtime_id, reports)

    @rule(
        runtime_id=runtime_ids,
        bad=st.sampled_from(("unknown", "unregistered", "over", "incomplete", "duplicate")),
        data=st.data(),
    )
    def heartbeat_spoiled(self, runtime_id: str, bad: str, data: st.DataObject) -> None:
        """An otherwise good heartbeat with one bad report somewhere: it must change nothing at all."""
        reports = [
            HeartbeatModelReport(model_id=model_id, state=NodeModelState.ready, bytes_done=100, bytes_total=100)
            for model_id in sorted(self.registered)
        ]
        unregistered = [model_id for model_id in MODELS if model_id not in self.registered]
        some_model = data.draw(st.sampled_from(MODELS), label="model_id")
        if bad == "unknown" or (bad == "unregistered" and not unregistered):
            spoiler = HeartbeatModelReport(
                model_id=UNKNOWN_MODEL, state=NodeModelState.pending, bytes_done=0, bytes_total=0
            )
        elif bad == "unregistered":
            model_id = data.draw(st.sampled_from(unregistered), label="unregistered")
            spoiler = HeartbeatModelReport(model_id=model_id, state=NodeModelState.pending, bytes_done=0, bytes_total=0)
        elif bad == "over":
            spoiler = HeartbeatModelReport(
                model_id=some_model, state=NodeModelState.downloading, bytes_done=101, bytes_total=100
            )
        elif bad == "incomplete":
            spoiler = HeartbeatModelReport(
                model_id=some_model, state=NodeModelState.ready, bytes_done=99, bytes_total=100
            )
        else:
            spoiler = (
                reports[0]
                if reports
                else HeartbeatModelReport(
                    model_id=UNKNOWN_MODEL, state=NodeModelState.pending, bytes_done=0, bytes_total=0
                )
            )
        reports.insert(data.draw(st.integers(0, len(reports)), label="position"), spoiler)
        self._heartbeat(runtime_id, reports)

    @rule(runtime_id=runtime_ids, state=st.sampled_from((*NodeModelState, NodeModelState.downloading)), data=st.data())
    def heartbeat_one(self, runtime_id: str, state: NodeModelState, data: st.DataObject) -> None:
        """One plausible report on one registered model: walks the per-node state machine, legal or not."""
        if not self.registered:
            return
        model_id = data.draw(st.sampled_from(sorted(self.registered)), label="model_id")
        done = 100 if state == NodeModelState.ready else data.draw(st.integers(0, 100), label="bytes_done")
        report = HeartbeatModelReport(model_id=model_id, state=state, bytes_done=done, bytes_total=100)
        self._heartbeat(runtime_id, [report])

    @rule(seconds=st.sampled_from((0, 1, 10, 29, 29, 30, 30, 31, 90)))
    def advance_and_expire(self, seconds: int) -> None:
        self.clock.now += timedelta(seconds=seconds)
        before = {node.runtime_id: node.status for node in self.svc.nodes()}
        self.command(self.svc.expire, "timeout", set())
        self.check_stalls()
        for node in self.svc.nodes():
            rid, old = node.runtime_id, before[node.runtime_id]
            assert node.metrics_stale == self.stale(rid)
            if old in (NodeStatus.registering, NodeStatus.online) and self.silent(rid):
                assert node.status == NodeStatus.offline, f"{rid} is silent but {node.status}"
            else:
                assert node.status == old, f"{rid} went from {old} to {node.status}"

    @rule(runtime_id=runtime_ids)
    def delete_node(self, runtime_id: str) -> None:
        expected: set[type[AppClientError]] = set() if runtime_id in self.known else {NodeNotFound}
        self.command(lambda: self.svc.delete_node(runtime_id), None, expected)
        if not expected:
            self.known.discard(runtime_id)
            self.approved.discard(runtime_id)
            self.last_beat.pop(runtime_id, None)
            self.silent_since.pop(runtime_id, None)
            for reports in self.reports.values():
                reports.pop(runtime_id, None)
            self.forget_downloads(lambda pair: pair[1] != runtime_id)

    @rule()
    def flush(self) -> None:
        version = self.svc.version
        self.runner.run(self.svc.flush())
        assert self.svc.version == version

    @rule()
    def failing_flush(self) -> None:
        before, stored = self.snapshot(), (dict(self.store.nodes), dict(self.store.node_models))
        self.store.fail = RuntimeError("database down")
        try:
            self.runner.run(self.svc.flush())
        except RuntimeError:
            pass
        finally:
            self.store.fail = None
        assert self.snapshot() == before
        assert (self.store.nodes, self.store.node_models) == stored

    @rule()
    def restart(self) -> None:
        """Flush everything (as at shutdown), then a new service on the same store: it shows what the old one showed."""
        self.runner.run(self.svc.flush(everything=True))
        before = self.snapshot()
        self._start_service()
        # Download health lives in memory: a restart forgets the stall flags and starts every download's clock.
        self.stalled = set()
        self.grew_at = dict.fromkeys(self.grew_at, self.clock.now)
        after = self.snapshot()
        assert after[3:] == before[3:]
        assert {pair: fields[:-2] for pair, fields in after[2].items()} == {
            pair: fields[:-2] for pair, fields in before[2].items()
        }
        for model_id in MODELS:
            old, new = before[1][model_id], after[1][model_id]
            assert (new.status, new.progress, new.bytes_done, new.bytes_total) == (
                old.status,
                old.progress,
                old.bytes_done,
                old.bytes_total,
            )
            assert msgspec.structs.replace(new.node_counts, stalled=0) == msgspec.structs.replace(
                old.node_counts, stalled=0
            )
        for runtime_id in self.known:  # a restart gives nodes that never reported a fresh offline clock
            if self.last_beat[runtime_id] is None:
                self.silent_since[runtime_id] = self.clock.now

    # ------------------------------------------------------------------------------------------ invariants

    @invariant()
    def the_tally_agrees_with_derive_for_every_model(self) -> None:
        statuses = {node.runtime_id: node.status for node in self.svc.nodes()}
        for model_id in MODELS:
            stalled = {runtime_id for m, runtime_id in self.stalled if m == model_id}
            expected = model_aggregate(model_id in self.registered, self.reports[model_id].values(), statuses, stalled)
            assert self.svc.aggregate(model_id) == expected, model_id
            assert self.svc.status(model_id) == expected.status
            # and from the service's own rows and stall flags
            rows = self.svc.model_rows(model_id)
            records = [self.reports[model_id][row.runtime_id] for row in rows]
            flagged = {row.runtime_id for row in rows if row.stalled}
            assert model_aggregate(model_id in self.registered, records, statuses, flagged) == expected

    @invariant()
    def rows_are_the_accepted_reports_with_their_stall_flags(self) -> None:
        for model_id in MODELS:
            rows = self.svc.model_rows(model_id)
            assert [row.runtime_id for row in rows] == sorted(self.reports[model_id])
            for row in rows:
                record = self.reports[model_id][row.runtime_id]
                assert (row.state, row.bytes_done, row.bytes_total, row.error) == (
                    record.state,
                    record.bytes_done,
                    record.bytes_total,
                    record.error,
                )
                assert row.stalled == ((model_id, row.runtime_id) in self.stalled)
                assert not row.stalled or row.state == NodeModelState.downloading
                if row.state != NodeModelState.downloading:
                    assert (row.bytes_per_second, row.eta_seconds) == (None, None)
                assert row.bytes_per_second is None or row.bytes_per_second >= 0
                assert row.eta_seconds is None or row.eta_seconds >= 0
                assert self.svc.row(model_id, row.runtime_id) == row

    @invariant()
    def synced_is_derived_from_the_accepted_reports(self) -> None:
        registered = sorted(self.registered)
        for node in self.svc.nodes():
            rid = node.runtime_id
            expected = node_synced(registered, {m: r[rid] for m, r in self.reports.items() if rid in r})
            assert node.synced is expected, rid
            assert self.svc.synced(rid) is expected, rid
            assert self.svc.node_detail(rid).synced is expected

    @invariant()
    def stalled_count_sums_the_non_offline_stalls(self) -> None:
        statuses = {node.runtime_id: node.status for node in self.svc.nodes()}
        live = {pair for pair in self.stalled if statuses.get(pair[1]) != NodeStatus.offline}
        assert self.svc.stalled_count() == len(live)

    @invariant()
    def progress_is_a_fraction_exactly_while_downloading(self) -> None:
        for model_id in MODELS:
            aggregate = self.svc.aggregate(model_id)
            assert aggregate.progress is None or 0.0 <= aggregate.progress <= 1.0
            assert (aggregate.progress is not None) == (aggregate.status == ModelStatus.downloading)

    @invariant()
    def ready_means_ready_on_an_online_node(self) -> None:
        statuses = {node.runtime_id: node.status for node in self.svc.nodes()}
        for model_id in MODELS:
            ready_online = any(
                row.state == NodeModelState.ready and statuses.get(row.runtime_id) == NodeStatus.online
                for row in self.svc.model_rows(model_id)
            )
            assert (self.svc.status(model_id) == ModelStatus.ready) == ready_online

    @invariant()
    def unregistered_models_are_available(self) -> None:
        for model_id in MODELS:
            if model_id not in self.registered:
                assert self.svc.aggregate(model_id) == AVAILABLE
        assert self.svc.registered_ids() == sorted(self.registered, key=CATALOG_ORDER.index)

    @invariant()
    def pending_nodes_have_no_reports(self) -> None:
        pending = {node.runtime_id for node in self.svc.nodes() if node.status == NodeStatus.pending}
        for model_id in MODELS:
            assert not pending & {row.runtime_id for row in self.svc.model_rows(model_id)}

    @invariant()
    def nodes_are_pending_exactly_until_approved_and_online_exactly_once_heard(self) -> None:
        nodes = self.svc.nodes()
        assert {node.runtime_id for node in nodes} == self.known
        for node in nodes:
            assert node.status in set(NodeStatus)
            assert (node.status == NodeStatus.pending) == (node.runtime_id not in self.approved)
            if node.status == NodeStatus.registering:
                assert self.last_beat[node.runtime_id] is None, "a node that heartbeated is never registering"

    @invariant()
    def downloads_do_not_go_back(self) -> None:
        """Per (node, model), while reports stay downloading with the same bytes_total, bytes_done never drops."""
        seen = set()
        for model_id in MODELS:
            for n in self.svc.model_rows(model_id):
                key = (n.runtime_id, model_id)
                seen.add(key)
                if n.state != NodeModelState.downloading:
                    self.download_floor.pop(key, None)
                    continue
                floor = self.download_floor.get(key)
                if floor is not None and floor[0] == n.bytes_total:
                    assert n.bytes_done >= floor[1], f"{key}: bytes_done went from {floor[1]} to {n.bytes_done}"
                self.download_floor[key] = (n.bytes_total, n.bytes_done)
        for key in self.download_floor.keys() - seen:
            del self.download_floor[key]


LifecycleMachine.TestCase.settings = settings(
    max_examples=100,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestLifecycle = LifecycleMachine.TestCase
