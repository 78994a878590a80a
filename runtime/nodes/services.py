"""The lifecycle service: the one component through which every state change flows.

Registrations, node registration and approval, heartbeats, deletions and the offline timeout all
go through here. Each command validates against the current state, writes what must be durable,
then updates the in-memory state and tells the listeners what changed (the hub cache, the metrics,
and the event stream of a later issue). No HTTP handler writes state on its own.

Concurrency: commands run one at a time under an asyncio lock, first come first served; a command
that conflicts with one that ran before it fails with 409. Registrations, node registration,
approval and deletions are committed to the store before they are acknowledged. Heartbeat reports
are written behind, in one batch per ``heartbeat_flush_interval``: each is superseded by the next
one a few seconds later, and a node re-reports everything on its next heartbeat after a restart.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import msgspec

from generated.catalog import CATALOG_BY_ID
from generated.lifecycle import NODE_MODEL_STATE_TRANSITIONS
from generated.types import ModelStatus, Node, NodeMetrics, NodeModelState, NodeStatus
from runtime.db import AlreadyStored, NodeModelRecord, NodeRecord, RegistrationRecord
from runtime.errors import (
    AlreadyRegistered,
    Forbidden,
    InvalidTransition,
    ModelNotSupported,
    NodeNotFound,
    NotRegistered,
    ValidationFailed,
)
from runtime.nodes.derive import AVAILABLE, ModelView, node_has_all, node_progress
from runtime.nodes.tally import Tally

if TYPE_CHECKING:
    from collections.abc import Awaitable, Iterable

    from generated.types import Heartbeat, HeartbeatModelReport, NodeRegistration, SupportedModel
    from runtime.db import Store

logger = logging.getLogger(__name__)


def utc_now() -> datetime:
    """The current time, timezone-aware."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class Change:
    """What one command changed, for listeners."""

    models: frozenset[str] = frozenset()
    """Models whose status, progress or per-node state changed; ``LifecycleService.view`` has the new view."""
    nodes: Mapping[str, tuple[NodeStatus | None, NodeStatus | None]] = field(default_factory=dict)
    """(previous, new) status of nodes that changed; None means absent (added or removed)."""
    metrics: frozenset[str] = frozenset()
    """Nodes whose metrics were reported or went stale."""
    registrations: bool = False
    """Whether the set of registered models changed."""


Listener = Callable[[Change], None]


class LifecycleService:
    """Owns the registrations, the nodes and their reports, and every change to them."""

    def __init__(
        self,
        store: Store,
        *,
        offline_after: float,
        auto_approve: bool = False,
        catalog: Mapping[str, SupportedModel] = CATALOG_BY_ID,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        """Wire the service; ``start`` loads the stored state."""
        self.store = store
        self.catalog = catalog
        self.offline_after = offline_after
        self.auto_approve = auto_approve
        self.clock = clock
        self.listeners: list[Listener] = []
        self.version = 0
        """Increases with every change; caches compare it to know when to rebuild."""
        self._lock = asyncio.Lock()
        self._store_lock = asyncio.Lock()
        self._registrations: dict[str, RegistrationRecord] = {}
        self._nodes: dict[str, NodeRecord] = {}
        self._reports: dict[str, dict[str, NodeModelRecord]] = defaultdict(dict)  # model id -> runtime id -> report
        self._tallies: dict[str, Tally] = {}  # per registered model
        self._summaries: dict[str, tuple[ModelStatus, float | None]] = {}  # per registered model
        self._stale_metrics: set[str] = set()
        self._silent_since: dict[str, datetime] = {}
        """For approved nodes that have not sent a heartbeat yet: when the offline clock started."""
        self._dirty_nodes: set[str] = set()
        self._dirty_reports: set[tuple[str, str]] = set()

    # ----------------------------------------------------------------- start and stop

    async def start(self) -> None:
        """Load everything from the store and derive every model's view."""
        state = await self.store.load()
        self._registrations = {r.model_id: r for r in state.registrations if r.model_id in self.catalog}
        self._nodes = {n.runtime_id: n for n in state.nodes}
        for report in state.node_models:
            if report.model_id in self._registrations and report.runtime_id in self._nodes:
                self._reports[report.model_id][report.runtime_id] = report
        self._tallies = {model_id: Tally() for model_id in self._registrations}
        for model_id, reports in self._reports.items():
            for runtime_id in reports:
                self._recount(model_id, runtime_id)
        self._summaries = {model_id: tally.summary() for model_id, tally in self._tallies.items()}
        self._stale_metrics = {runtime_id for runtime_id, node in self._nodes.items() if self._is_stale(node)}
        started = self.clock()
        self._silent_since = {
            runtime_id: started for runtime_id, node in self._nodes.items() if node.last_heartbeat_at is None
        }
        self._publish(Change(models=frozenset(self.catalog), registrations=True))

    async def flush(self) -> None:
        """Write the heartbeat reports accumulated since the last flush, in one transaction."""
        async with self._store_lock:
            nodes = [self._nodes[runtime_id] for runtime_id in self._dirty_nodes if runtime_id in self._nodes]
            reports = [
                report
                for runtime_id, model_id in self._dirty_reports
                if (report := self._reports.get(model_id, {}).get(runtime_id)) is not None
            ]
            taken_nodes, taken_reports = self._dirty_nodes, self._dirty_reports
            self._dirty_nodes, self._dirty_reports = set(), set()
            if not nodes and not reports:
                return
            try:
                await self.store.save_reports(nodes, reports)
            except BaseException:
                self._dirty_nodes |= taken_nodes
                self._dirty_reports |= taken_reports
                raise

    # ----------------------------------------------------------------- reads

    def view(self, model_id: str) -> ModelView:
        """The derived status, progress and per-node state of a catalog model."""
        summary = self._summaries.get(model_id)
        if summary is None:
            return AVAILABLE
        return ModelView(*summary, node_progress(self._reports.get(model_id, {})))

    def status(self, model_id: str) -> ModelStatus:
        """A catalog model's status (cheaper than ``view``: no per-node list)."""
        summary = self._summaries.get(model_id)
        return summary[0] if summary is not None else ModelStatus.available

    def registration(self, model_id: str) -> RegistrationRecord | None:
        """The registration of a model, if it is registered."""
        return self._registrations.get(model_id)

    def registered_ids(self) -> list[str]:
        """Registered model ids, in catalog order."""
        return [model_id for model_id in self.catalog if model_id in self._registrations]

    def node(self, runtime_id: str) -> Node:
        """A node as the API shows it."""
        record = self._nodes.get(runtime_id)
        if record is None:
            raise NodeNotFound(f"No node has runtime id {runtime_id!r}.")
        return self._node_view(record)

    def nodes(self) -> list[Node]:
        """Every node, by runtime id."""
        return [self._node_view(self._nodes[runtime_id]) for runtime_id in sorted(self._nodes)]

    def node_status_counts(self) -> Counter[NodeStatus]:
        """How many nodes are in each status."""
        return Counter(node.status for node in self._nodes.values())

    def model_status_counts(self) -> Counter[str]:
        """How many catalog models are in each status."""
        return Counter(self.status(model_id).value for model_id in self.catalog)

    # ----------------------------------------------------------------- model commands

    def resolve(self, model_id: str | None, repo: str | None, filename: str | None) -> str:
        """The catalog id that a register request names: by id, or by repository (case-insensitive)."""
        if model_id is not None:
            if repo is not None or filename is not None:
                raise ValidationFailed("Give either model_id, or repo (with an optional filename), not both.")
            if model_id not in self.catalog:
                raise ModelNotSupported(f"{model_id!r} is not in the catalog.")
            return model_id
        if repo is None:
            raise ValidationFailed("The body needs model_id, or repo with an optional filename.")
        matches = [m for m in self.catalog.values() if m.repo.casefold() == repo.casefold()]
        if filename is not None:
            matches = [m for m in matches if m.recommended_filename == filename]
        if not matches:
            what = f"{repo}" + (f" with file {filename}" if filename else "")
            raise ModelNotSupported(f"No catalog model comes from {what}.")
        if len(matches) > 1:
            files = ", ".join(m.recommended_filename for m in matches)
            raise ValidationFailed(f"{repo} holds several catalog models; give filename (one of: {files}).")
        return matches[0].id

    async def register(self, model_id: str) -> ModelView:
        """Register a catalog model: available -> registered. Durable when this returns."""
        async with self._lock:
            if model_id not in self.catalog:
                raise ModelNotSupported(f"{model_id!r} is not in the catalog.")
            if model_id in self._registrations:
                raise AlreadyRegistered(f"{model_id} is already registered.")
            record = RegistrationRecord(model_id, self.clock())
            async with self._store_lock:
                try:
                    await self.store.insert_registration(record)
                except AlreadyStored:
                    raise AlreadyRegistered(f"{model_id} is already registered.") from None
                self._registrations[model_id] = record
                self._tallies[model_id] = Tally()
            self._publish(Change(models=self._refresh([model_id]), registrations=True))
            return self.view(model_id)

    async def unregister(self, model_id: str) -> None:
        """Unregister a model (registered, downloading or ready -> available); nodes drop its files."""
        async with self._lock:
            if model_id not in self._registrations:
                if model_id not in self.catalog:
                    raise ModelNotSupported(f"{model_id!r} is not in the catalog.")
                raise NotRegistered(f"{model_id} is not registered.")
            async with self._store_lock:
                await self.store.delete_registration(model_id)
                del self._registrations[model_id]
                del self._tallies[model_id]
                self._reports.pop(model_id, None)
                self._dirty_reports = {key for key in self._dirty_reports if key[1] != model_id}
            self._publish(Change(models=self._refresh([model_id]), registrations=True))

    # ----------------------------------------------------------------- node commands

    async def add_node(self, registration: NodeRegistration) -> tuple[Node, bool]:
        """Register a node (pending, or registering with auto-approve); a known node updates its details.

        Returns the node and whether it was created.
        """
        async with self._lock:
            previous = self._nodes.get(registration.runtime_id)
            gpu = registration.gpu_memory_bytes if isinstance(registration.gpu_memory_bytes, int) else None
            if previous is None:
                status = NodeStatus.registering if self.auto_approve else NodeStatus.pending
                record = NodeRecord(registration.runtime_id, registration.machine_name, gpu, status, self.clock())
            else:
                record = replace(previous, machine_name=registration.machine_name, gpu_memory_bytes=gpu)
            async with self._store_lock:
                await self.store.save_node(record)
                self._nodes[record.runtime_id] = record
                self._dirty_nodes.discard(record.runtime_id)
            if previous is None:
                self._stale_metrics.add(record.runtime_id)
                self._silent_since[record.runtime_id] = record.registered_at
                self._publish(Change(nodes={record.runtime_id: (None, record.status)}))
            return self._node_view(record), previous is None

    async def approve(self, runtime_id: str) -> Node:
        """Approve a pending node: pending -> registering."""
        async with self._lock:
            record = self._require_node(runtime_id)
            if record.status != NodeStatus.pending:
                raise InvalidTransition(f"Node {runtime_id} is {record.status.value}, not pending; nothing to approve.")
            record = replace(record, status=NodeStatus.registering)
            async with self._store_lock:
                await self.store.save_node(record)
                self._nodes[runtime_id] = record
                self._dirty_nodes.discard(runtime_id)
            self._silent_since[runtime_id] = self.clock()  # waiting for approval is not silence
            self._publish(Change(nodes={runtime_id: (NodeStatus.pending, NodeStatus.registering)}))
            return self._node_view(record)

    async def delete_node(self, runtime_id: str) -> None:
        """Forget a node and its reports."""
        async with self._lock:
            record = self._require_node(runtime_id)
            async with self._store_lock:
                await self.store.delete_node(runtime_id)
                del self._nodes[runtime_id]
                touched = [model_id for model_id, reports in self._reports.items() if reports.pop(runtime_id, None)]
                for model_id in touched:
                    self._tallies[model_id].forget(runtime_id)
                self._dirty_nodes.discard(runtime_id)
                self._dirty_reports = {key for key in self._dirty_reports if key[0] != runtime_id}
                self._stale_metrics.discard(runtime_id)
                self._silent_since.pop(runtime_id, None)
            self._publish(Change(models=self._refresh(touched, touched), nodes={runtime_id: (record.status, None)}))

    async def heartbeat(self, runtime_id: str, heartbeat: Heartbeat) -> NodeStatus:
        """Take a node's metrics and reports; return its status afterwards.

        Every report is checked before anything is applied: one bad report rejects the heartbeat
        and changes nothing.
        """
        async with self._lock:
            record = self._require_node(runtime_id)
            if record.status == NodeStatus.pending:
                raise Forbidden(f"Node {runtime_id} is waiting for approval; heartbeats start after approve.")
            if len({report.model_id for report in heartbeat.models}) != len(heartbeat.models):
                raise ValidationFailed("models lists the same model_id more than once.")
            now = self.clock()
            reports = [
                self._checked_report(runtime_id, index, report, now) for index, report in enumerate(heartbeat.models)
            ]

            touched = []
            for report in reports:
                previous = self._reports[report.model_id].get(runtime_id)
                if previous is None or _differs(previous, report):
                    touched.append(report.model_id)
                self._reports[report.model_id][runtime_id] = report
                self._dirty_reports.add((runtime_id, report.model_id))

            own = {
                model_id: reports_[runtime_id] for model_id, reports_ in self._reports.items() if runtime_id in reports_
            }
            if record.status == NodeStatus.offline:
                status = NodeStatus.registering
            elif node_has_all(self._registrations, own):
                status = NodeStatus.online
            else:
                status = NodeStatus.registering
            metrics = msgspec.structs.asdict(heartbeat.metrics)
            metrics = {key: value for key, value in metrics.items() if value is not msgspec.UNSET}
            self._nodes[runtime_id] = replace(record, status=status, last_heartbeat_at=now, metrics=metrics)
            self._dirty_nodes.add(runtime_id)
            self._stale_metrics.discard(runtime_id)

            nodes_changed = {runtime_id: (record.status, status)} if status != record.status else {}
            recount = list(own) if nodes_changed else touched  # a new status changes how all its reports count
            for model_id in recount:
                self._recount(model_id, runtime_id)
            models = self._refresh(recount, touched)
            self._publish(Change(models=models, nodes=nodes_changed, metrics=frozenset({runtime_id})))
            return status

    async def expire(self) -> None:
        """Mark nodes offline that have not sent a heartbeat for ``offline_after`` seconds."""
        async with self._lock:
            nodes_changed: dict[str, tuple[NodeStatus | None, NodeStatus | None]] = {}
            newly_stale = set()
            for runtime_id, record in list(self._nodes.items()):
                if runtime_id not in self._stale_metrics and self._is_stale(record):
                    self._stale_metrics.add(runtime_id)
                    newly_stale.add(runtime_id)
                if record.status in (NodeStatus.registering, NodeStatus.online) and self._is_silent(record):
                    self._nodes[runtime_id] = replace(record, status=NodeStatus.offline)
                    self._dirty_nodes.add(runtime_id)
                    nodes_changed[runtime_id] = (record.status, NodeStatus.offline)
            if not nodes_changed and not newly_stale:
                return
            recount = [
                (model_id, runtime_id)
                for model_id, reports in self._reports.items()
                for runtime_id in nodes_changed.keys() & reports.keys()
            ]
            for model_id, runtime_id in recount:
                self._recount(model_id, runtime_id)
            models = self._refresh([model_id for model_id, _ in recount])
            self._publish(Change(models=models, nodes=nodes_changed, metrics=frozenset(newly_stale)))

    # ----------------------------------------------------------------- internals

    def _require_node(self, runtime_id: str) -> NodeRecord:
        record = self._nodes.get(runtime_id)
        if record is None:
            raise NodeNotFound(f"No node has runtime id {runtime_id!r}; register it with POST /v0/nodes.")
        return record

    def _checked_report(
        self, runtime_id: str, index: int, report: HeartbeatModelReport, now: datetime
    ) -> NodeModelRecord:
        where = f"models[{index}]"
        if report.model_id not in self.catalog:
            raise ModelNotSupported(f"{where}: {report.model_id!r} is not in the catalog.")
        if report.model_id not in self._registrations:
            raise NotRegistered(
                f"{where}: {report.model_id} is not registered; the heartbeat answer lists the registered models."
            )
        if report.bytes_done > report.bytes_total:
            raise ValidationFailed(
                f"{where}.bytes_done ({report.bytes_done}) exceeds bytes_total ({report.bytes_total})."
            )
        if report.state == NodeModelState.ready and report.bytes_done != report.bytes_total:
            raise ValidationFailed(f"{where}: a ready model has bytes_done equal to bytes_total.")
        previous = self._reports.get(report.model_id, {}).get(runtime_id)
        if previous is not None:
            if previous.state != report.state and (previous.state, report.state) not in NODE_MODEL_STATE_TRANSITIONS:
                raise InvalidTransition(
                    f"{where}: {report.model_id} cannot go from {previous.state.value} to {report.state.value}."
                )
            if (
                previous.state == report.state == NodeModelState.downloading
                and previous.bytes_total == report.bytes_total
                and report.bytes_done < previous.bytes_done
            ):
                raise InvalidTransition(
                    f"{where}: bytes_done of {report.model_id} went back from "
                    f"{previous.bytes_done} to {report.bytes_done}; report failed first to "
                    "restart a download."
                )
        error = report.error if isinstance(report.error, str) else None
        return NodeModelRecord(
            runtime_id, report.model_id, report.state, report.bytes_done, report.bytes_total, error, now
        )

    def _is_stale(self, record: NodeRecord) -> bool:
        """Whether a node's metrics are stale: none yet, or older than ``offline_after``."""
        last = record.last_heartbeat_at
        return last is None or (self.clock() - last).total_seconds() >= self.offline_after

    def _is_silent(self, record: NodeRecord) -> bool:
        """Whether a node has been quiet for ``offline_after``: since its last heartbeat, else since approval."""
        since = record.last_heartbeat_at or self._silent_since.get(record.runtime_id) or self.clock()
        return (self.clock() - since).total_seconds() >= self.offline_after

    def _node_view(self, record: NodeRecord) -> Node:
        last = record.last_heartbeat_at
        return Node(
            runtime_id=record.runtime_id,
            machine_name=record.machine_name,
            gpu_memory_bytes=record.gpu_memory_bytes,
            status=record.status,
            metrics=NodeMetrics(**record.metrics),  # type: ignore[arg-type]
            metrics_stale=record.runtime_id in self._stale_metrics,
            last_heartbeat_at=last.isoformat().replace("+00:00", "Z") if last else None,
        )

    def _recount(self, model_id: str, runtime_id: str) -> None:
        """Bring a model's tally up to date with one node's report and status."""
        tally = self._tallies[model_id]
        tally.forget(runtime_id)
        report = self._reports[model_id].get(runtime_id)
        if report is not None:
            tally.count(report, self._nodes[runtime_id].status)

    def _refresh(self, model_ids: Iterable[str], touched: Iterable[str] = ()) -> frozenset[str]:
        """Update the summaries of ``model_ids``; return them if changed, plus ``touched`` (new reports)."""
        changed = set(touched)
        for model_id in model_ids:
            tally = self._tallies.get(model_id)
            summary = tally.summary() if tally is not None else None
            if summary != self._summaries.get(model_id):
                if summary is None:
                    del self._summaries[model_id]
                else:
                    self._summaries[model_id] = summary
                changed.add(model_id)
        return frozenset(changed)

    def _publish(self, change: Change) -> None:
        if not (change.models or change.nodes or change.metrics or change.registrations):
            return
        self.version += 1
        for listener in self.listeners:
            try:
                listener(change)
            except Exception:
                logger.exception("a lifecycle listener failed")


def _differs(previous: NodeModelRecord, report: NodeModelRecord) -> bool:
    return (previous.state, previous.bytes_done, previous.bytes_total, previous.error) != (
        report.state,
        report.bytes_done,
        report.bytes_total,
        report.error,
    )


async def run_periodically(interval: float, action: Callable[[], Awaitable[object]]) -> None:
    """Await ``action()`` every ``interval`` seconds until cancelled; log a failure and go on."""
    while True:
        await asyncio.sleep(interval)
        try:
            await action()
        except Exception:
            logger.exception("periodic task failed")
