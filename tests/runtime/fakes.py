"""A store in memory, for unit tests of the lifecycle service (integration tests use SqlStore)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from runtime.db import AlreadyStored, HfStatsRecord, NodeModelRecord, NodeRecord, RegistrationRecord, StoredState

if TYPE_CHECKING:
    from generated.types import NodeStatus


class MemoryStore:
    """Implements runtime.db.Store with dictionaries; ``fail`` makes the next writes raise."""

    def __init__(self) -> None:
        self.registrations: dict[str, RegistrationRecord] = {}
        self.nodes: dict[str, NodeRecord] = {}
        self.node_models: dict[tuple[str, str], NodeModelRecord] = {}
        self.hf_stats: dict[tuple[str, str], HfStatsRecord] = {}
        self.fail: Exception | None = None
        self.writes = 0
        self.notes: list[str] = []
        """Replication messages announced, in order (with their writes or alone)."""

    def _write(self) -> None:
        if self.fail is not None:
            raise self.fail
        self.writes += 1

    async def open(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def ping(self) -> None:
        if self.fail is not None:
            raise self.fail

    async def load(self) -> StoredState:
        return StoredState(
            list(self.registrations.values()), list(self.nodes.values()), list(self.node_models.values())
        )

    async def load_node(self, runtime_id: str) -> NodeRecord | None:
        return self.nodes.get(runtime_id)

    async def insert_registration(self, record: RegistrationRecord, *, note: str | None = None) -> None:
        self._write()
        if record.model_id in self.registrations:
            raise AlreadyStored(record.model_id)
        self.registrations[record.model_id] = record
        self._note(note)

    async def delete_registration(self, model_id: str, *, note: str | None = None) -> bool:
        self._write()
        self.node_models = {key: value for key, value in self.node_models.items() if key[1] != model_id}
        found = self.registrations.pop(model_id, None) is not None
        self._note(note)
        return found

    async def insert_node(self, record: NodeRecord, *, note: str | None = None) -> None:
        self._write()
        if record.runtime_id in self.nodes:
            raise AlreadyStored(record.runtime_id)
        self.nodes[record.runtime_id] = record
        self._note(note)

    async def save_node(self, record: NodeRecord, *, note: str | None = None) -> None:
        self._write()
        self.nodes[record.runtime_id] = record
        self._note(note)

    async def replace_node_if(self, record: NodeRecord, status: NodeStatus, *, note: str | None = None) -> bool:
        self._write()
        stored = self.nodes.get(record.runtime_id)
        if stored is None or stored.status != status:
            return False
        self.nodes[record.runtime_id] = record
        self._note(note)
        return True

    async def delete_node(self, runtime_id: str, *, note: str | None = None) -> bool:
        self._write()
        self.node_models = {key: value for key, value in self.node_models.items() if key[0] != runtime_id}
        found = self.nodes.pop(runtime_id, None) is not None
        self._note(note)
        return found

    async def save_reports(self, nodes: list[NodeRecord], node_models: list[NodeModelRecord]) -> None:
        self._write()
        for node in nodes:
            if node.runtime_id in self.nodes:  # updates only, as SqlStore: nodes are created by insert_node
                self.nodes[node.runtime_id] = node
        for report in node_models:
            assert report.runtime_id in self.nodes, "foreign key: the node must exist"
            self.node_models[(report.runtime_id, report.model_id)] = report

    async def announce(self, notes: list[str]) -> None:
        self._write()
        self.notes += notes

    async def load_hf_stats(self) -> list[HfStatsRecord]:
        return list(self.hf_stats.values())

    async def save_hf_stats(self, records: list[HfStatsRecord], *, note: str | None = None) -> None:
        self._write()
        for record in records:
            self.hf_stats[(record.repo, record.revision)] = record
        self._note(note)

    def _note(self, note: str | None) -> None:
        if note is not None:
            self.notes.append(note)


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)
