"""What the database stores, as plain frozen records (the persistence port's vocabulary).

These are internal rows, not wire types: the lifecycle service turns them into the generated
types that cross the wire. The two a heartbeat makes (``NodeRecord``, one per heartbeat, and
``NodeModelRecord``, one per report) are frozen msgspec structs: a frozen dataclass sets each field
through ``object.__setattr__`` and cost ~1 us to build here, a struct ~0.1 us.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime  # noqa: TC003 - dataclass fields are read at run time
from typing import Protocol

import msgspec

from generated.types import NodeModelState, NodeStatus  # noqa: TC001 - as above

#: Node metrics as stored: the fields of NodeMetrics that the node sent.
Metrics = dict[str, float | int]


@dataclass(frozen=True, slots=True)
class RegistrationRecord:
    """A catalog model that an operator registered."""

    model_id: str
    registered_at: datetime


class NodeRecord(msgspec.Struct, frozen=True):
    """A worker node."""

    runtime_id: str
    machine_name: str
    gpu_memory_bytes: int | None
    status: NodeStatus
    registered_at: datetime
    last_heartbeat_at: datetime | None = None
    metrics: Metrics = msgspec.field(default_factory=dict)


class NodeModelRecord(msgspec.Struct, frozen=True):
    """One node's last report on one registered model."""

    runtime_id: str
    model_id: str
    state: NodeModelState
    bytes_done: int
    bytes_total: int
    error: str | None
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class HfStatsRecord:
    """The last good Hugging Face stats of a repository (at a revision; "" means main)."""

    repo: str
    revision: str
    downloads: int | None
    likes: int | None
    last_modified: str | None
    gated: str | None
    fetched_at: datetime


@dataclass(frozen=True, slots=True)
class StoredState:
    """Everything the store holds, as loaded at start-up."""

    registrations: list[RegistrationRecord]
    nodes: list[NodeRecord]
    node_models: list[NodeModelRecord]


class AlreadyStored(Exception):
    """The record's key is already in the store (a concurrent writer got there first)."""


class Store(Protocol):
    """Durable storage of registrations, nodes and per-node model states.

    Every method commits before it returns: once it has returned, the change survives a crash.
    ``note`` (a replication message, ``runtime.lifecycle.replication``) is announced to the other
    replicas in the same transaction as the write, so they learn of a change exactly when it is
    committed, never of one that rolled back; a store without replicas ignores it.
    """

    async def open(self) -> None:
        """Connect and bring the schema to the latest migration."""

    async def close(self) -> None:
        """Release connections."""

    async def ping(self) -> None:
        """Raise if the database cannot be reached."""

    async def load(self) -> StoredState:
        """Read everything."""

    async def load_node(self, runtime_id: str) -> NodeRecord | None:
        """One node as stored, or None."""

    async def insert_registration(self, record: RegistrationRecord, *, note: str | None = None) -> None:
        """Add a registration; raise AlreadyStored if the model is registered already."""

    async def delete_registration(self, model_id: str, *, note: str | None = None) -> bool:
        """Remove a registration and every node's state for that model; False if there was none."""

    async def insert_node(self, record: NodeRecord, *, note: str | None = None) -> None:
        """Add a node; raise AlreadyStored if its runtime id is taken."""

    async def save_node(self, record: NodeRecord, *, note: str | None = None) -> None:
        """Insert or replace a node."""

    async def replace_node_if(self, record: NodeRecord, status: NodeStatus, *, note: str | None = None) -> bool:
        """Replace a node only while its stored status is ``status``; False if it is not (or is gone)."""

    async def delete_node(self, runtime_id: str, *, note: str | None = None) -> bool:
        """Remove a node and its model states; False if there was none."""

    async def save_reports(self, nodes: list[NodeRecord], node_models: list[NodeModelRecord]) -> None:
        """Update nodes and upsert node model states in one transaction (heartbeat batches).

        A record older than the stored one (by heartbeat or report time) leaves the stored one as
        it is: replicas write behind independently, and the newest report wins.
        """

    async def announce(self, notes: list[str]) -> None:
        """Announce replication messages to the other replicas without writing anything."""

    async def load_hf_stats(self) -> list[HfStatsRecord]:
        """Every repository's last good Hugging Face stats."""

    async def save_hf_stats(self, records: list[HfStatsRecord], *, note: str | None = None) -> None:
        """Insert or replace Hugging Face stats in one transaction."""
