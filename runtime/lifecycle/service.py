"""The lifecycle service: the one component through which every state change flows.

Registrations, node registration and approval, heartbeats, deletions, the offline timer and stall
detection all go through here. Each command validates against the current state, writes what must
be durable, updates the in-memory state and tells the listeners what changed (``Change``). No HTTP
handler writes state on its own.

The rules (schema/lifecycle.schema.json): a node is ``online`` while it heartbeats and ``offline``
after ``offline_after`` seconds of silence; whether it holds every registered model is its
``synced`` flag, never its status. A command about model X changes only X's aggregates: no other
model's, and no node's status. Per-model aggregates are kept in a ``Tally`` each, so a heartbeat
costs the same with 10 nodes or 1,000.

Concurrency: commands run one at a time under an asyncio lock, first come first served; a command
that conflicts with one that ran before it fails with 409. Registrations, node registration,
approval and deletions are committed before they are acknowledged; heartbeat reports are written
behind (``WriteBehind``).

Replicas (``replica`` set; runtime/lifecycle/replication.py): the database decides between
conflicting commands of different replicas — a registration is an INSERT on the primary key, an
approval an UPDATE conditional on ``pending``, a deletion a DELETE that counts its rows — so exactly
one wins and the others get the same 409 (or 404) as on one replica. Each command tells the other
replicas in its own transaction; heartbeats and timers tell them in batches (``announce``); what
they tell is applied here by ``apply``.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import msgspec

from generated.catalog import CATALOG_BY_ID
from generated.types import ModelStatus, Node, NodeDetail, NodeMetrics, NodeModelDetail, NodeModelState, NodeStatus
from runtime.catalog.resolve import resolve
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
from runtime.lifecycle.derive import AVAILABLE, Aggregate
from runtime.lifecycle.download_health import DownloadHealth
from runtime.lifecycle.replication import NodeState, Outbox, ReportState, StateUpdate, encode, pack
from runtime.lifecycle.reports import check_report
from runtime.lifecycle.tally import Tally
from runtime.lifecycle.write_behind import WriteBehind

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from generated.types import Heartbeat, HeartbeatModelReport, NodeRegistration, SupportedModel
    from runtime.db import Store

logger = logging.getLogger(__name__)

Pair = tuple[str, str]
"""(model id, runtime id): one node's report on one model."""


def utc_now() -> datetime:
    """The current time, timezone-aware."""
    return datetime.now(UTC)


@functools.lru_cache(maxsize=64)
def rfc3339(moment: datetime) -> str:
    """A UTC time as RFC 3339 with a Z, as every time on the wire.

    Cached: the events of one heartbeat, and the coalesced events sent together, share their times.
    """
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


class Change(msgspec.Struct, frozen=True):
    """What one command changed, for listeners (a struct: one is made per heartbeat, and builds 10x faster)."""

    models: frozenset[str] = frozenset()
    """Models whose aggregates changed; ``LifecycleService.aggregate`` has the new ones."""
    node_models: frozenset[Pair] = frozenset()
    """(model, node) reports that changed or went away; ``LifecycleService.row`` has the new row or None."""
    progressed_models: frozenset[str] = frozenset()
    """Those of ``models`` whose byte counts alone moved: their status and node counts are as before."""
    progressed_rows: frozenset[Pair] = frozenset()
    """Those of ``node_models`` whose ``bytes_done`` alone moved: state, total, stall and error are as before."""
    nodes: Mapping[str, tuple[NodeStatus | None, NodeStatus | None]] = msgspec.field(default_factory=dict)
    """(previous, new) status of nodes whose status or ``synced`` changed; None means absent (added or removed)."""
    metrics: frozenset[str] = frozenset()
    """Nodes whose metrics were reported or went stale."""
    removed_names: Mapping[str, str] = msgspec.field(default_factory=dict)
    """Machine names of nodes this change deleted (they can no longer be looked up)."""
    registrations: bool = False
    """Whether the set of registered models changed."""
    local: bool = True
    """False for a change learned from another replica, which published its events."""


Listener = Callable[[Change], None]

_NO_REPORTS: Mapping[str, NodeModelRecord] = {}


class LifecycleService:
    """Owns the registrations, the nodes and their reports, and every change to them."""

    def __init__(
        self,
        store: Store,
        *,
        offline_after: float,
        stall_after: float = 60.0,
        auto_approve: bool = False,
        catalog: Mapping[str, SupportedModel] = CATALOG_BY_ID,
        clock: Callable[[], datetime] = utc_now,
        replica: str | None = None,
        progress_announce_interval: float = 1.0,
    ) -> None:
        """Wire the service; ``start`` loads the stored state.

        ``replica``: this replica's id when several share the database (changes are told to the
        others, ``replication``); None for a single process.
        """
        self.store = store
        self.replica = replica
        self._outbox = Outbox() if replica is not None else None
        self.progress_announce_interval = progress_announce_interval
        self._progress_announced_at = time.monotonic()
        self._announcing = False
        self.catalog = catalog
        self.offline_after = offline_after
        self.stall_after = stall_after
        self.auto_approve = auto_approve
        self.clock = clock
        self.listeners: list[Listener] = []
        self.version = 0
        """Increases with every change; caches compare it to know when to rebuild."""
        self._lock = asyncio.Lock()
        self._writes = WriteBehind(store, checkpoint=min(10.0, offline_after / 3))
        self._registrations: dict[str, RegistrationRecord] = {}
        self._orphaned: dict[str, RegistrationRecord] = {}
        """Registrations of models this release's catalog does not have (kept until an admin deletes them)."""
        self._nodes: dict[str, NodeRecord] = {}
        self._reports: dict[str, dict[str, NodeModelRecord]] = defaultdict(dict)  # model id -> runtime id -> report
        self._by_node: dict[str, set[str]] = defaultdict(set)  # runtime id -> model ids it reported
        self._ready: dict[str, set[str]] = defaultdict(set)  # runtime id -> registered models it reports ready
        self._tallies: dict[str, Tally] = {}  # per registered model
        self._aggregates: dict[str, Aggregate] = {}  # per registered model, as the last recount saw it
        self._health: dict[Pair, DownloadHealth] = {}  # per downloading report
        self._stalled: set[Pair] = set()
        self._stale_metrics: set[str] = set()
        self._silent_since: dict[str, datetime] = {}
        """For approved nodes that have not sent a heartbeat yet: when the offline clock started."""

    # ----------------------------------------------------------------- start and stop

    async def start(self) -> None:
        """Load everything from the store and derive every model's aggregates."""
        state = await self.store.load()
        self._registrations = {r.model_id: r for r in state.registrations if r.model_id in self.catalog}
        self._orphaned = {r.model_id: r for r in state.registrations if r.model_id not in self.catalog}
        if self._orphaned:
            logger.warning(
                "registered models missing from this release's catalog (kept; an admin may delete them): %s",
                ", ".join(sorted(self._orphaned)),
            )
        self._nodes = {n.runtime_id: n for n in state.nodes}
        started = self.clock()
        for report in state.node_models:
            if report.model_id in self._registrations and report.runtime_id in self._nodes:
                self._remember(report, None, started.timestamp())
        self._tallies = {model_id: Tally() for model_id in self._registrations}
        for model_id, reports in self._reports.items():
            for runtime_id in reports:
                self._recount(model_id, runtime_id)
        self._aggregates = {model_id: tally.summary() for model_id, tally in self._tallies.items()}
        self._stale_metrics = {runtime_id for runtime_id, node in self._nodes.items() if self._is_stale(node)}
        self._silent_since = {
            runtime_id: started for runtime_id, node in self._nodes.items() if node.last_heartbeat_at is None
        }
        self._publish(Change(models=frozenset(self.catalog), registrations=True))

    async def flush(self, *, everything: bool = False) -> None:
        """Write the heartbeat changes due (``WriteBehind``), in one transaction; ``everything`` at shutdown."""
        await self._writes.flush(
            self._nodes.get,
            lambda runtime_id, model_id: self._reports.get(model_id, {}).get(runtime_id),
            everything=everything,
        )

    # ----------------------------------------------------------------- reads

    def aggregate(self, model_id: str) -> Aggregate:
        """A catalog model's status, progress, node counts and byte sums."""
        tally = self._tallies.get(model_id)
        return AVAILABLE if tally is None else tally.summary()

    def status(self, model_id: str) -> ModelStatus:
        """A catalog model's status."""
        return self.aggregate(model_id).status

    def row(self, model_id: str, runtime_id: str) -> NodeModelDetail | None:
        """One node's report on one model with its download health, or None if there is none."""
        report = self._reports.get(model_id, {}).get(runtime_id)
        return None if report is None else self._row(report, self.clock().timestamp())

    def row_shape(self, model_id: str, runtime_id: str) -> tuple[object, ...] | None:
        """What of a row is more than progress (state, total, stall, error), or None if there is no row.

        Cheaper than ``row``: the publisher asks on every change to decide whether to wait.
        """
        report = self._reports.get(model_id, {}).get(runtime_id)
        if report is None:
            return None
        return report.state, report.bytes_total, (model_id, runtime_id) in self._stalled, report.error

    def model_rows(self, model_id: str) -> list[NodeModelDetail]:
        """Every node's report on a model, by runtime id."""
        reports = self._reports.get(model_id, {})
        moment = self.clock().timestamp()
        return [self._row(reports[runtime_id], moment) for runtime_id in sorted(reports)]

    def registration(self, model_id: str) -> RegistrationRecord | None:
        """The registration of a model, if it is registered."""
        return self._registrations.get(model_id)

    def orphaned_ids(self) -> list[str]:
        """Registered models that this release's catalog does not have, by id."""
        return sorted(self._orphaned)

    def orphaned(self) -> list[RegistrationRecord]:
        """The registrations of those models, by id."""
        return [self._orphaned[model_id] for model_id in sorted(self._orphaned)]

    def registered_ids(self) -> list[str]:
        """Registered model ids, in catalog order."""
        return [model_id for model_id in self.catalog if model_id in self._registrations]

    def node(self, runtime_id: str) -> Node:
        """A node as the API shows it."""
        return self._node_view(self._find_node(runtime_id))

    def node_detail(self, runtime_id: str) -> NodeDetail:
        """A node with its report on each model, by model id."""
        record = self._find_node(runtime_id)
        moment = self.clock().timestamp()
        rows = [
            self._row(self._reports[model_id][runtime_id], moment)
            for model_id in sorted(self._by_node.get(runtime_id, ()))
        ]
        return NodeDetail(**msgspec.structs.asdict(self._node_view(record)), models=rows)

    def nodes(self) -> list[Node]:
        """Every node, by runtime id."""
        return [self._node_view(self._nodes[runtime_id]) for runtime_id in sorted(self._nodes)]

    def metrics_stale(self, runtime_id: str) -> bool:
        """Whether a node's metrics are stale (none yet, or older than ``offline_after``)."""
        return runtime_id in self._stale_metrics

    def synced(self, runtime_id: str) -> bool:
        """Whether a node reports every registered model ready."""
        return len(self._ready.get(runtime_id, ())) == len(self._registrations)

    def node_status_counts(self) -> Counter[NodeStatus]:
        """How many nodes are in each status."""
        return Counter(node.status for node in self._nodes.values())

    def model_status_counts(self) -> Counter[str]:
        """How many catalog models are in each status."""
        return Counter(self.status(model_id).value for model_id in self.catalog)

    def stalled_count(self) -> int:
        """Downloads (node, model) that stalled, on nodes that are not offline."""
        return sum(tally.summary().node_counts.stalled for tally in self._tallies.values())

    def download_rates(self) -> dict[str, float]:
        """Per registered model: the estimated download rates of its non-offline nodes, summed."""
        moment = self.clock().timestamp()
        rates = dict.fromkeys(self._registrations, 0.0)
        for (model_id, runtime_id), health in self._health.items():
            if self._nodes[runtime_id].status != NodeStatus.offline:
                rates[model_id] += health.rate(moment) or 0.0
        return rates

    # ----------------------------------------------------------------- model commands

    def resolve(self, model_id: str | None, repo: str | None, filename: str | None) -> str:
        """The catalog id that a register request names: by id, or by repository (case-insensitive)."""
        return resolve(self.catalog, model_id, repo, filename)

    async def register(self, model_id: str) -> Aggregate:
        """Register a catalog model: available -> registered. Durable when this returns."""
        async with self._lock:
            if model_id not in self.catalog:
                raise ModelNotSupported(f"{model_id!r} is not in the catalog.")
            if model_id in self._registrations:
                raise AlreadyRegistered(f"{model_id} is already registered.")
            record = RegistrationRecord(model_id, self.clock())
            async with self._writes.lock:
                try:
                    await self.store.insert_registration(record, note=self._note(registered=(record,)))
                except AlreadyStored:
                    raise AlreadyRegistered(f"{model_id} is already registered.") from None
                synced_before = self._synced_nodes()
                self._add_registration(record)
            self._publish(
                Change(
                    models=self._refresh([model_id]),
                    nodes=self._synced_changes(synced_before),
                    registrations=True,
                )
            )
            return self.aggregate(model_id)

    def _add_registration(self, record: RegistrationRecord) -> None:
        if record.model_id not in self.catalog:
            self._orphaned[record.model_id] = record
            return
        self._registrations[record.model_id] = record
        self._tallies[record.model_id] = Tally()

    async def unregister(self, model_id: str) -> None:
        """Unregister a model (registered, downloading or ready -> available); nodes drop its files."""
        async with self._lock:
            if model_id not in self._registrations and model_id not in self._orphaned:
                if model_id not in self.catalog:
                    raise ModelNotSupported(f"{model_id!r} is not in the catalog.")
                raise NotRegistered(f"{model_id} is not registered.")
            async with self._writes.lock:
                if not await self.store.delete_registration(model_id, note=self._note(unregistered=(model_id,))):
                    raise NotRegistered(f"{model_id} is not registered.")  # another replica deleted it just now
                synced_before = self._synced_nodes()
                gone = self._drop_registration(model_id)
            self._publish(
                Change(
                    models=self._refresh([model_id]),
                    node_models=frozenset((model_id, runtime_id) for runtime_id in gone),
                    nodes=self._synced_changes(synced_before),
                    registrations=True,
                )
            )

    def _drop_registration(self, model_id: str) -> list[str]:
        """Forget a registration and its reports; return the nodes that had one."""
        if self._orphaned.pop(model_id, None) is not None or model_id not in self._registrations:
            return []
        del self._registrations[model_id]
        del self._tallies[model_id]
        gone = list(self._reports.pop(model_id, {}))
        for runtime_id in gone:
            self._forget_pair(model_id, runtime_id)
        self._writes.drop_model(model_id)
        if self._outbox is not None:
            self._outbox.drop_model(model_id)
        return gone

    # ----------------------------------------------------------------- node commands

    async def add_node(self, registration: NodeRegistration) -> tuple[Node, bool]:
        """Register a node (pending, or registering with auto-approve); a known node updates its details.

        Returns the node and whether it was created. Two replicas registering the same new node at
        once: the database's primary key makes one the creator; the other updates what it created.
        """
        async with self._lock:
            previous = self._nodes.get(registration.runtime_id)
            gpu = registration.gpu_memory_bytes if isinstance(registration.gpu_memory_bytes, int) else None
            async with self._writes.lock:
                created = False
                if previous is None:
                    status = NodeStatus.registering if self.auto_approve else NodeStatus.pending
                    record = NodeRecord(registration.runtime_id, registration.machine_name, gpu, status, self.clock())
                    try:
                        await self.store.insert_node(record, note=self._note(added_nodes=(NodeState(record, True),)))
                        created = True
                    except AlreadyStored:
                        previous = await self.store.load_node(registration.runtime_id)
                        if previous is None:  # created and deleted elsewhere meanwhile: as good as new
                            raise NodeNotFound(
                                f"Node {registration.runtime_id} was deleted meanwhile; retry."
                            ) from None
                if not created:
                    assert previous is not None
                    record = msgspec.structs.replace(
                        previous, machine_name=registration.machine_name, gpu_memory_bytes=gpu
                    )
                    stale = registration.runtime_id not in self._nodes or self._is_stale(record)
                    await self.store.save_node(record, note=self._note(added_nodes=(NodeState(record, stale),)))
                known = registration.runtime_id in self._nodes
                self._nodes[record.runtime_id] = record
                self._writes.stored_node(record.runtime_id)
            if not known:
                self._stale_metrics.add(record.runtime_id)
                self._silent_since[record.runtime_id] = record.registered_at
                self._publish(Change(nodes={record.runtime_id: (None, record.status)}))
            return self._node_view(record), created

    async def approve(self, runtime_id: str) -> Node:
        """Approve a pending node: pending -> registering."""
        async with self._lock:
            record = self._require_node(runtime_id)
            if record.status != NodeStatus.pending:
                raise InvalidTransition(f"Node {runtime_id} is {record.status.value}, not pending; nothing to approve.")
            record = msgspec.structs.replace(record, status=NodeStatus.registering)
            async with self._writes.lock:
                note = self._note(nodes=(NodeState(record, runtime_id in self._stale_metrics),))
                if not await self.store.replace_node_if(record, NodeStatus.pending, note=note):
                    raise InvalidTransition(f"Node {runtime_id} is not pending any more; nothing to approve.")
                self._nodes[runtime_id] = record
                self._writes.stored_node(runtime_id)
            self._silent_since[runtime_id] = self.clock()  # waiting for approval is not silence
            self._publish(Change(nodes={runtime_id: (NodeStatus.pending, NodeStatus.registering)}))
            return self._node_view(record)

    async def delete_node(self, runtime_id: str) -> None:
        """Forget a node and its reports."""
        async with self._lock:
            self._require_node(runtime_id)
            async with self._writes.lock:
                if not await self.store.delete_node(runtime_id, note=self._note(deleted_nodes=(runtime_id,))):
                    raise NodeNotFound(f"No node has runtime id {runtime_id!r}.")  # deleted elsewhere just now
                change = self._drop_node(runtime_id)
            self._publish(change)

    def _drop_node(self, runtime_id: str) -> Change:
        """Forget a node and what follows its reports; the change, for listeners."""
        record = self._nodes.pop(runtime_id)
        touched = sorted(self._by_node.get(runtime_id, ()))
        for model_id in touched:
            del self._reports[model_id][runtime_id]
            self._tallies[model_id].forget(runtime_id)
            self._forget_pair(model_id, runtime_id)
        self._by_node.pop(runtime_id, None)
        self._ready.pop(runtime_id, None)
        self._writes.drop_node(runtime_id)
        if self._outbox is not None:
            self._outbox.drop_node(runtime_id)
        self._stale_metrics.discard(runtime_id)
        self._silent_since.pop(runtime_id, None)
        return Change(
            models=self._refresh(touched),
            node_models=frozenset((model_id, runtime_id) for model_id in touched),
            nodes={runtime_id: (record.status, None)},
            removed_names={runtime_id: record.machine_name},
        )

    async def heartbeat(self, runtime_id: str, heartbeat: Heartbeat) -> NodeStatus:
        """Take a node's metrics and reports; return its status afterwards (online).

        Every report is checked before anything is applied: one bad report rejects the heartbeat
        and changes nothing. The hot path (every node, every few seconds; bench/runtime_http.py):
        each report is looked up once and compared once.
        """
        async with self._lock:
            record = self._require_node(runtime_id)
            if record.status == NodeStatus.pending:
                raise Forbidden(f"Node {runtime_id} is waiting for approval; heartbeats start after approve.")
            reports = heartbeat.models
            if len({report.model_id for report in reports}) != len(reports):
                _reject_repeated(reports)
            now = self.clock()
            moment = now.timestamp()
            stored = self._reports
            orphaned = self._orphaned
            checked = []
            for index, report in enumerate(reports):
                if orphaned and report.model_id in orphaned:
                    continue  # a node of the previous release still reports it; kept, not served
                previous = stored.get(report.model_id, _NO_REPORTS).get(runtime_id)
                new = check_report(
                    runtime_id,
                    index,
                    report,
                    previous,
                    catalog=self.catalog,
                    registered=self._registrations,
                    now=now,
                )
                checked.append((new, previous))

            was_synced = self.synced(runtime_id)
            outbox = self._outbox
            rows: set[Pair] = set()
            moved: dict[Pair, int] = {}  # rows whose bytes_done alone moved, to where
            for new, previous in checked:
                model_id = new.model_id
                progress_only = (
                    previous is not None
                    and previous.state == new.state
                    and previous.bytes_total == new.bytes_total
                    and previous.error == new.error
                )
                health = self._health.get((model_id, runtime_id)) if progress_only else None
                if health is not None and new.state == NodeModelState.downloading:
                    # the common case: a download moved on; only the report and its samples change
                    stored[model_id][runtime_id] = new
                    health.add(moment, new.bytes_done, new.bytes_total)
                else:
                    self._remember(new, previous, moment)
                if not progress_only:
                    rows.add((model_id, runtime_id))
                elif previous.bytes_done != new.bytes_done:  # type: ignore[union-attr]
                    rows.add((model_id, runtime_id))
                    moved[model_id, runtime_id] = new.bytes_done
                self._writes.report(runtime_id, model_id, progress_only=progress_only)
                if outbox is not None:
                    outbox.report(runtime_id, model_id, progress_only=progress_only)
            flipped = self._check_stalls(now, runtime_id)
            rows |= flipped
            if outbox is not None:
                for model_id, _ in flipped:
                    outbox.report(runtime_id, model_id)
            for pair in flipped:
                moved.pop(pair, None)

            status = NodeStatus.online
            self._nodes[runtime_id] = NodeRecord(
                runtime_id,
                record.machine_name,
                record.gpu_memory_bytes,
                status,
                record.registered_at,
                now,
                msgspec.to_builtins(heartbeat.metrics),  # the fields the node sent: UNSET ones are left out
            )
            self._writes.node(runtime_id, progress_only=record.status == status)
            if outbox is not None:
                outbox.node(runtime_id, progress_only=record.status == status and runtime_id not in self._stale_metrics)
            self._stale_metrics.discard(runtime_id)

            came_online = record.status != status
            progressed: set[str] = set()
            if came_online:  # every report of the node counts anew
                recount = set(self._by_node[runtime_id])
            else:
                recount = {model_id for model_id, _ in rows if (model_id, runtime_id) not in moved}
                for (model_id, _), bytes_done in moved.items():
                    tally = self._tallies.get(model_id)
                    if tally is not None and tally.progress(runtime_id, bytes_done):
                        progressed.add(model_id)
                    else:
                        recount.add(model_id)
            for model_id in recount:
                self._recount(model_id, runtime_id)
            nodes_changed = (
                {runtime_id: (record.status, status)} if came_online or was_synced != self.synced(runtime_id) else {}
            )
            self._publish(
                Change(
                    models=self._refresh(recount) | progressed if recount else frozenset(progressed),
                    node_models=frozenset(rows),
                    progressed_models=frozenset(progressed),
                    progressed_rows=frozenset(moved),
                    nodes=nodes_changed,
                    metrics=frozenset((runtime_id,)),
                )
            )
            return status

    async def expire(self) -> None:
        """The timers: nodes silent for ``offline_after`` go offline, metrics go stale, downloads stall."""
        async with self._lock:
            now = self.clock()
            nodes_changed: dict[str, tuple[NodeStatus | None, NodeStatus | None]] = {}
            newly_stale = set()
            for runtime_id, record in list(self._nodes.items()):
                if runtime_id not in self._stale_metrics and self._is_stale(record):
                    self._stale_metrics.add(runtime_id)
                    newly_stale.add(runtime_id)
                if record.status in (NodeStatus.registering, NodeStatus.online) and self._is_silent(record):
                    self._nodes[runtime_id] = msgspec.structs.replace(record, status=NodeStatus.offline)
                    self._writes.node(runtime_id)
                    nodes_changed[runtime_id] = (record.status, NodeStatus.offline)
            rows = self._check_stalls(now)
            if self._outbox is not None:
                for runtime_id in newly_stale | nodes_changed.keys():
                    self._outbox.node(runtime_id)
                for model_id, runtime_id in rows:
                    self._outbox.report(runtime_id, model_id)
            recount = rows | {
                (model_id, runtime_id) for runtime_id in nodes_changed for model_id in self._by_node.get(runtime_id, ())
            }
            if not nodes_changed and not newly_stale and not recount:
                return
            for model_id, runtime_id in recount:
                self._recount(model_id, runtime_id)
            self._publish(
                Change(
                    models=self._refresh(model_id for model_id, _ in recount),
                    node_models=frozenset(rows),
                    nodes=nodes_changed,
                    metrics=frozenset(newly_stale),
                )
            )

    # ----------------------------------------------------------------- replicas

    async def announce(self) -> None:
        """Tell the other replicas what heartbeats and timers changed since the last call (one round trip).

        Byte counts, heartbeat times and metrics alone go every ``progress_announce_interval``; the
        rest every call. If the database is away, they wait for the next call.
        """
        outbox = self._outbox
        if outbox is None or not outbox or self.replica is None:
            return
        now = time.monotonic()
        with_progress = now - self._progress_announced_at >= self.progress_announce_interval
        if with_progress:
            self._progress_announced_at = now
        node_ids, pairs = outbox.take(with_progress=with_progress)
        nodes = [
            NodeState(record, runtime_id in self._stale_metrics)
            for runtime_id in node_ids
            if (record := self._nodes.get(runtime_id)) is not None
        ]
        reports = [
            ReportState(report, (model_id, runtime_id) in self._stalled)
            for runtime_id, model_id in pairs
            if (report := self._reports.get(model_id, _NO_REPORTS).get(runtime_id)) is not None
        ]
        self._announcing = True
        try:
            await self.store.announce(pack(self.replica, nodes, reports))
        except BaseException:
            outbox.put_back(node_ids, pairs)
            raise
        finally:
            self._announcing = False

    def unannounced(self) -> bool:
        """Whether heartbeat or timer changes of meaning wait to be told to the other replicas (or are being told)."""
        return self._announcing or (self._outbox is not None and self._outbox.changes_of_meaning())

    async def apply(self, update: StateUpdate) -> None:
        """Take what another replica changed (it published the events; listeners here are told ``local=False``)."""
        if update.origin == self.replica:
            return
        async with self._lock:
            self._apply(update)

    async def resync(self) -> None:
        """Bring the state up to the database's, after missing updates.

        Takes what the database has that this replica lacks or holds older, and drops what it no
        longer has. Reports not stored yet (written behind) are kept.
        """
        async with self._lock:
            state = await self.store.load()
            stored_models = {record.model_id for record in state.registrations}
            stored_nodes = {record.runtime_id for record in state.nodes}
            self._apply(
                StateUpdate(
                    origin="",
                    registered=tuple(state.registrations),
                    unregistered=tuple((self._registrations.keys() | self._orphaned.keys()) - stored_models),
                    added_nodes=tuple(
                        NodeState(record, self._is_stale(record))
                        for record in state.nodes
                        if record.runtime_id not in self._nodes
                    ),
                    deleted_nodes=tuple(sorted(self._nodes.keys() - stored_nodes)),
                    nodes=tuple(
                        NodeState(record, self._is_stale(record))
                        for record in state.nodes
                        if record.runtime_id in self._nodes
                    ),
                    reports=tuple(ReportState(record, None) for record in state.node_models),
                )
            )

    def _note(self, **fields: object) -> str | None:
        """A command's update for the other replicas (None for a single process)."""
        if self.replica is None:
            return None
        return encode(StateUpdate(origin=self.replica, **fields))  # type: ignore[arg-type]

    def _apply(self, update: StateUpdate) -> None:
        synced_before = self._synced_nodes()
        models: set[str] = set()
        refreshed: set[str] = set()  # models whose aggregates a node deletion already compared
        rows: set[Pair] = set()
        nodes: dict[str, tuple[NodeStatus | None, NodeStatus | None]] = {}
        metrics: set[str] = set()
        removed_names: dict[str, str] = {}
        registrations = False
        for registration in update.registered:
            if registration.model_id not in self._registrations and registration.model_id not in self._orphaned:
                self._add_registration(registration)
                models.add(registration.model_id)
                registrations = True
        for model_id in update.unregistered:
            if model_id in self._registrations or model_id in self._orphaned:
                rows |= {(model_id, runtime_id) for runtime_id in self._drop_registration(model_id)}
                models.add(model_id)
                registrations = True
        for state in update.added_nodes:
            record, known = state.record, self._nodes.get(state.record.runtime_id)
            if known is None:
                self._nodes[record.runtime_id] = record
                if state.stale:
                    self._stale_metrics.add(record.runtime_id)
                if record.last_heartbeat_at is None:
                    self._silent_since[record.runtime_id] = self.clock()
                nodes[record.runtime_id] = (None, record.status)
            else:  # re-registered: new details, nothing else
                self._nodes[record.runtime_id] = msgspec.structs.replace(
                    known, machine_name=record.machine_name, gpu_memory_bytes=record.gpu_memory_bytes
                )
        for runtime_id in update.deleted_nodes:
            if runtime_id in self._nodes:
                change = self._drop_node(runtime_id)
                refreshed |= change.models
                rows |= change.node_models
                nodes.update(change.nodes)
                removed_names.update(change.removed_names)
        for state in update.nodes:
            record, known = state.record, self._nodes.get(state.record.runtime_id)
            if known is None or _older(record.last_heartbeat_at, known.last_heartbeat_at):
                continue
            runtime_id = record.runtime_id
            self._nodes[runtime_id] = record
            if record.status != known.status:
                nodes[runtime_id] = (known.status, record.status)
                if known.status == NodeStatus.pending:
                    self._silent_since[runtime_id] = self.clock()  # approved: waiting was not silence
                for model_id in self._by_node.get(runtime_id, ()):
                    self._recount(model_id, runtime_id)
                    models.add(model_id)
            was_stale = runtime_id in self._stale_metrics
            if state.stale:
                self._stale_metrics.add(runtime_id)
            else:
                self._stale_metrics.discard(runtime_id)
            if record.last_heartbeat_at != known.last_heartbeat_at or state.stale != was_stale:
                metrics.add(runtime_id)
        for report_state in update.reports:
            report = report_state.record
            model_id, runtime_id = report.model_id, report.runtime_id
            if model_id not in self._registrations or runtime_id not in self._nodes:
                continue
            previous = self._reports.get(model_id, _NO_REPORTS).get(runtime_id)
            if previous is not None and report.updated_at < previous.updated_at:
                continue
            self._remember(report, previous, report.updated_at.timestamp())
            pair = (model_id, runtime_id)
            if report_state.stalled is True:
                self._stalled.add(pair)
            elif report_state.stalled is False or report.state != NodeModelState.downloading:
                self._stalled.discard(pair)
            self._recount(model_id, runtime_id)
            models.add(model_id)
            rows.add(pair)
        for runtime_id, flipped in self._synced_changes(synced_before).items():
            nodes.setdefault(runtime_id, flipped)
        self._publish(
            Change(
                models=self._refresh(models) | refreshed,
                node_models=frozenset(rows),
                nodes=nodes,
                metrics=frozenset(metrics),
                removed_names=removed_names,
                registrations=registrations,
                local=False,
            )
        )

    # ----------------------------------------------------------------- internals

    def _find_node(self, runtime_id: str) -> NodeRecord:
        record = self._nodes.get(runtime_id)
        if record is None:
            raise NodeNotFound(f"No node has runtime id {runtime_id!r}.")
        return record

    def _require_node(self, runtime_id: str) -> NodeRecord:
        record = self._nodes.get(runtime_id)
        if record is None:
            raise NodeNotFound(f"No node has runtime id {runtime_id!r}; register it with POST /v0/nodes.")
        return record

    def _remember(self, report: NodeModelRecord, previous: NodeModelRecord | None, moment: float) -> None:
        """Store a checked report and follow its download (``moment``: the report's time, as a timestamp)."""
        model_id, runtime_id = report.model_id, report.runtime_id
        pair = (model_id, runtime_id)
        self._reports[model_id][runtime_id] = report
        self._by_node[runtime_id].add(model_id)
        if report.state == NodeModelState.ready:
            self._ready[runtime_id].add(model_id)
        else:
            self._ready[runtime_id].discard(model_id)
        if report.state == NodeModelState.downloading:
            health = self._health.get(pair)
            if health is None or previous is None or previous.state != NodeModelState.downloading:
                self._health[pair] = DownloadHealth(moment, report.bytes_done, report.bytes_total)
            else:
                health.add(moment, report.bytes_done, report.bytes_total)
        else:
            self._health.pop(pair, None)

    def _forget_pair(self, model_id: str, runtime_id: str) -> None:
        """Drop what follows one report (the report itself is removed by the caller)."""
        pair = (model_id, runtime_id)
        self._health.pop(pair, None)
        self._stalled.discard(pair)
        self._ready.get(runtime_id, set()).discard(model_id)
        by_node = self._by_node.get(runtime_id)
        if by_node is not None:
            by_node.discard(model_id)

    def _check_stalls(self, now: datetime, runtime_id: str | None = None) -> set[Pair]:
        """Update the stalled flags (of one node's downloads, or all); return the pairs that flipped.

        All downloads are scanned once per timer tick: a comparison each, a millisecond for 10,000; a
        heartbeat visits its own node's pairs only.
        """
        moment = now.timestamp()
        flipped = set()
        pairs = (
            [(model_id, runtime_id) for model_id in self._by_node.get(runtime_id, ())]
            if runtime_id is not None
            else list(self._health)
        )
        for pair in pairs:
            health = self._health.get(pair)
            stalled = health is not None and health.stalled(moment, self.stall_after)
            if stalled != (pair in self._stalled):
                flipped.add(pair)
                if stalled:
                    self._stalled.add(pair)
                else:
                    self._stalled.discard(pair)
        if runtime_id is None:  # a node's own pairs were all visited above; the timer also sweeps the rest
            for pair in self._stalled - self._health.keys():
                self._stalled.discard(pair)
                flipped.add(pair)
        return flipped

    def _is_stale(self, record: NodeRecord) -> bool:
        """Whether a node's metrics are stale: none yet, or older than ``offline_after``."""
        last = record.last_heartbeat_at
        return last is None or (self.clock() - last).total_seconds() >= self.offline_after

    def _is_silent(self, record: NodeRecord) -> bool:
        """Whether a node has been quiet for ``offline_after``: since its last heartbeat, else since approval."""
        since = record.last_heartbeat_at or self._silent_since.get(record.runtime_id) or self.clock()
        return (self.clock() - since).total_seconds() >= self.offline_after

    def _synced_nodes(self) -> set[str]:
        return {runtime_id for runtime_id in self._nodes if self.synced(runtime_id)}

    def _synced_changes(self, before: set[str]) -> dict[str, tuple[NodeStatus | None, NodeStatus | None]]:
        """Nodes whose ``synced`` flipped since ``before`` (their status is unchanged)."""
        flipped = before ^ self._synced_nodes()
        return {runtime_id: (self._nodes[runtime_id].status,) * 2 for runtime_id in sorted(flipped)}

    def _node_view(self, record: NodeRecord) -> Node:
        last = record.last_heartbeat_at
        return Node(
            runtime_id=record.runtime_id,
            machine_name=record.machine_name,
            gpu_memory_bytes=record.gpu_memory_bytes,
            status=record.status,
            synced=self.synced(record.runtime_id),
            metrics=NodeMetrics(**record.metrics),  # type: ignore[arg-type]
            metrics_stale=record.runtime_id in self._stale_metrics,
            last_heartbeat_at=rfc3339(last) if last else None,
        )

    def _row(self, report: NodeModelRecord, moment: float) -> NodeModelDetail:
        pair = (report.model_id, report.runtime_id)
        health = self._health.get(pair)
        return NodeModelDetail(
            runtime_id=report.runtime_id,
            model_id=report.model_id,
            state=report.state,
            bytes_done=report.bytes_done,
            bytes_total=report.bytes_total,
            bytes_per_second=health.rate(moment) if health is not None else None,
            eta_seconds=health.eta(moment) if health is not None else None,
            stalled=pair in self._stalled,
            error=report.error,
            updated_at=rfc3339(report.updated_at),
        )

    def _recount(self, model_id: str, runtime_id: str) -> None:
        """Bring a model's tally up to date with one node's report and status."""
        tally = self._tallies.get(model_id)
        if tally is None:
            return
        tally.forget(runtime_id)
        report = self._reports[model_id].get(runtime_id)
        if report is not None:
            tally.count(report, self._nodes[runtime_id].status, stalled=(model_id, runtime_id) in self._stalled)

    def _refresh(self, model_ids: Iterable[str]) -> frozenset[str]:
        """Those of ``model_ids`` whose aggregates differ from what the last recount saw.

        (A heartbeat that only moves byte counts updates the tally and skips this comparison.)
        """
        changed = set()
        for model_id in set(model_ids):
            tally = self._tallies.get(model_id)
            aggregate = tally.summary() if tally is not None else None
            if aggregate != self._aggregates.get(model_id):
                if aggregate is None:
                    del self._aggregates[model_id]
                else:
                    self._aggregates[model_id] = aggregate
                changed.add(model_id)
        return frozenset(changed)

    def _publish(self, change: Change) -> None:
        if not (change.models or change.node_models or change.nodes or change.metrics or change.registrations):
            return
        self.version += 1
        for listener in self.listeners:
            try:
                listener(change)
            except Exception:
                logger.exception("a lifecycle listener failed")


def _older(moment: datetime | None, than: datetime | None) -> bool:
    """Whether a heartbeat time is older than another (no heartbeat yet is the oldest)."""
    if than is None:
        return False
    return moment is None or moment < than


def _reject_repeated(reports: Sequence[HeartbeatModelReport]) -> None:
    """Raise for the first report whose model an earlier report already listed."""
    seen: set[str] = set()
    for index, report in enumerate(reports):
        if report.model_id in seen:
            raise ValidationFailed(
                f"/models/{index}/model_id: {report.model_id} is listed more than once.",
                pointer=f"/models/{index}/model_id",
            )
        seen.add(report.model_id)
