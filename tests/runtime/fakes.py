"""A store in memory, for unit tests of the lifecycle service (integration tests use SqlStore)."""

from __future__ import annotations

from datetime import datetime, timedelta

from runtime.db import AlreadyStored, HfStatsRecord, NodeModelRecord, NodeRecord, RegistrationRecord, StoredState


class MemoryStore:
    """Implements runtime.db.Store with dictionaries; ``fail`` makes the next writes raise."""

    def __init__(self) -> None:
        self.registrations: dict[str, RegistrationRecord] = {}
        self.nodes: dict[str, NodeRecord] = {}
        self.node_models: dict[tuple[str, str], NodeModelRecord] = {}
        self.hf_stats: dict[tuple[str, str], HfStatsRecord] = {}
        self.fail: Exception | None = None
        self.writes = 0

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

    async def insert_registration(self, record: RegistrationRecord) -> None:
        self._write()
        if record.model_id in self.registrations:
            raise AlreadyStored(record.model_id)
        self.registrations[record.model_id] = record

    async def delete_registration(self, model_id: str) -> bool:
        self._write()
        self.node_models = {key: value for key, value in self.node_models.items() if key[1] != model_id}
        return self.registrations.pop(model_id, None) is not None

    async def save_node(self, record: NodeRecord) -> None:
        self._write()
        self.nodes[record.runtime_id] = record

    async def delete_node(self, runtime_id: str) -> bool:
        self._write()
        self.node_models = {key: value for key, value in self.node_models.items() if key[0] != runtime_id}
        return self.nodes.pop(runtime_id, None) is not None

    async def save_reports(self, nodes: list[NodeRecord], node_models: list[NodeModelRecord]) -> None:
        self._write()
        for node in nodes:
            self.nodes[node.runtime_id] = node
        for report in node_models:
            assert report.runtime_id in self.nodes, "foreign key: the node must exist"
            self.node_models[(report.runtime_id, report.model_id)] = report

    async def load_hf_stats(self) -> list[HfStatsRecord]:
        return list(self.hf_stats.values())

    async def save_hf_stats(self, records: list[HfStatsRecord]) -> None:
        self._write()
        for record in records:
            self.hf_stats[(record.repo, record.revision)] = record


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)
