"""WriteBehind with an injected monotonic clock: meaning changes at the next flush, progress at checkpoints."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from generated.types import NodeModelState, NodeStatus
from runtime.db import NodeModelRecord, NodeRecord
from runtime.errors import DatabaseUnavailable
from runtime.lifecycle.write_behind import WriteBehind
from tests.runtime.fakes import MemoryStore

T0 = datetime(2025, 1, 1, tzinfo=UTC)


class Monotonic:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Batches(MemoryStore):
    def __init__(self) -> None:
        super().__init__()
        self.batches: list[tuple[list[str], list[tuple[str, str]]]] = []

    async def save_reports(self, nodes: list[NodeRecord], node_models: list[NodeModelRecord]) -> None:
        await super().save_reports(nodes, node_models)  # raises when told to fail: no batch then
        self.batches.append(
            (sorted(n.runtime_id for n in nodes), sorted((r.runtime_id, r.model_id) for r in node_models))
        )


NODES = {rid: NodeRecord(rid, f"box-{rid}", None, NodeStatus.online, T0) for rid in ("n1", "n2")}
REPORTS = {(rid, "m"): NodeModelRecord(rid, "m", NodeModelState.downloading, 1, 10, None, T0) for rid in ("n1", "n2")}


@pytest.fixture
def clock() -> Monotonic:
    return Monotonic()


@pytest.fixture
def store() -> Batches:
    store = Batches()
    store.nodes.update(NODES)  # the nodes' rows exist (the reports' foreign key)
    return store


@pytest.fixture
def writes(store: Batches, clock: Monotonic) -> WriteBehind:
    return WriteBehind(store, checkpoint=10.0, monotonic=clock)


async def flush(writes: WriteBehind, *, everything: bool = False) -> None:
    await writes.flush(NODES.get, lambda rid, mid: REPORTS.get((rid, mid)), everything=everything)


@pytest.mark.asyncio
async def test_meaning_changes_go_with_the_next_flush(writes, store):
    writes.node("n1")
    writes.report("n1", "m")
    await flush(writes)
    assert store.batches == [(["n1"], [("n1", "m")])]


@pytest.mark.asyncio
async def test_progress_waits_for_the_checkpoint(writes, store, clock):
    writes.node("n1", progress_only=True)
    writes.report("n1", "m", progress_only=True)
    clock.now += 9.9
    await flush(writes)
    assert store.batches == []
    clock.now += 0.1
    await flush(writes)
    assert store.batches == [(["n1"], [("n1", "m")])]


@pytest.mark.asyncio
async def test_everything_writes_progress_at_once(writes, store):
    writes.report("n1", "m", progress_only=True)
    await flush(writes, everything=True)
    assert store.batches == [([], [("n1", "m")])]


@pytest.mark.asyncio
async def test_a_row_written_for_its_meaning_is_not_written_again_for_its_progress(writes, store, clock):
    writes.report("n1", "m", progress_only=True)
    writes.report("n1", "m")
    writes.report("n2", "m", progress_only=True)
    await flush(writes)
    clock.now += 10
    await flush(writes)
    assert store.batches == [([], [("n1", "m")]), ([], [("n2", "m")])]


@pytest.mark.asyncio
async def test_a_failed_flush_keeps_everything_it_took(writes, store, clock):
    writes.report("n1", "m", progress_only=True)
    writes.node("n2")
    clock.now += 10
    store.fail = RuntimeError("database down")
    with pytest.raises(RuntimeError):
        await flush(writes)
    store.fail = None
    await flush(writes)
    assert store.batches == [(["n2"], [("n1", "m")])]


@pytest.mark.asyncio
async def test_dropped_nodes_and_models_are_not_written(writes, store):
    writes.node("n1")
    writes.report("n1", "m", progress_only=True)
    writes.report("n2", "m")
    writes.drop_node("n1")
    await flush(writes, everything=True)
    assert store.batches == [([], [("n2", "m")])]
    writes.report("n2", "m")
    writes.report("n1", "m", progress_only=True)
    writes.drop_model("m")
    await flush(writes, everything=True)
    assert len(store.batches) == 1


@pytest.mark.asyncio
async def test_a_node_stored_directly_is_not_pending(writes, store):
    writes.node("n1")
    writes.node("n2", progress_only=True)
    writes.stored_node("n1")
    writes.stored_node("n2")
    await flush(writes, everything=True)
    assert store.batches == []


@pytest.mark.asyncio
async def test_a_row_the_database_refuses_does_not_keep_the_others_from_being_stored(tmp_path, clock, caplog):
    """A real SQLite file: a value beyond its 64-bit integers fails the batch; the other rows are stored alone."""
    from runtime.db.sql import SqlStore

    store = SqlStore(f"sqlite+aiosqlite:///{tmp_path / 'rows.db'}")
    await store.open()
    try:
        for node in NODES.values():
            await store.insert_node(node)
        poisoned = {**REPORTS, ("n2", "m"): NodeModelRecord("n2", "m", NodeModelState.downloading, 1, 2**63, None, T0)}
        writes = WriteBehind(store, checkpoint=10.0, monotonic=clock)
        writes.report("n1", "m")
        writes.report("n2", "m")
        await writes.flush(NODES.get, lambda rid, mid: poisoned.get((rid, mid)))
        stored = {(row.runtime_id, row.model_id): row for row in (await store.load()).node_models}
        assert set(stored) == {("n1", "m")}
        assert "could not store the report of node n2 on m" in caplog.text
        writes.report("n1", "m")  # and the flushes after it go on as before
        await writes.flush(NODES.get, lambda rid, mid: poisoned.get((rid, mid)))
    finally:
        await store.close()


class GoesAwayMidway(Batches):
    """Refuses the batch while it still answers ping, then is unreachable for the row-by-row pass."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    async def save_reports(self, nodes: list[NodeRecord], node_models: list[NodeModelRecord]) -> None:
        self.calls += 1
        if self.calls == 1:
            raise ValueError("this batch holds something the database refuses")
        if self.calls == 2:
            await super().save_reports(nodes, node_models)  # the first row goes in
            return
        if self.calls == 3:
            raise DatabaseUnavailable("The database cannot be reached; try again shortly.")
        await super().save_reports(nodes, node_models)


@pytest.mark.asyncio
async def test_rows_refused_because_the_database_went_away_stay_dirty(clock, caplog):
    """A row refused with DatabaseUnavailable is not that row's fault: it and the rows after it wait, none dropped."""
    store = GoesAwayMidway()
    store.nodes.update(NODES)
    writes = WriteBehind(store, checkpoint=10.0, monotonic=clock)
    writes.node("n1")
    writes.report("n1", "m")
    writes.report("n2", "m")
    with pytest.raises(DatabaseUnavailable):
        await flush(writes)
    assert "dropped" not in caplog.text
    stored_first = store.batches[0]
    await flush(writes)  # the database is back: the batch of what was left
    assert store.batches[0] == stored_first
    stored = {key for _, reports in store.batches for key in reports} | {
        (rid, "node") for nodes, _ in store.batches for rid in nodes
    }
    assert stored == {("n1", "node"), ("n1", "m"), ("n2", "m")}
