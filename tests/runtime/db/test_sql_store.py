"""SqlStore against real databases: a SQLite file, and PostgreSQL when one is reachable.

PostgreSQL: ``MODELHUB_TEST_POSTGRES_URL`` (default ``postgresql+asyncpg://postgres@127.0.0.1:5432/test``)
must name a database kept for tests: each test drops the store's tables there before and after.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec
import pytest
import pytest_asyncio
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.exc import DBAPIError, IntegrityError, StatementError

from generated.types import NodeModelState, NodeStatus
from runtime.db import AlreadyStored, HfStatsRecord, NodeModelRecord, NodeRecord, RegistrationRecord, StoredState
from runtime.db.sql import SqlStore, make_engine
from runtime.db.tables import Base

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from sqlalchemy import Connection

ROOT = Path(__file__).resolve().parents[3]
POSTGRES_URL = os.environ.get("MODELHUB_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
TABLES = {"alembic_version", "hf_stats", "node_models", "nodes", "registrations"}
HEAD = "0002"

T0 = datetime(2025, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
CEST = timezone(timedelta(hours=2))

_postgres_unreachable: list[str] = []


async def _drop_tables(url: str) -> None:
    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            tables = "hf_stats, node_models, nodes, registrations, alembic_version"
            await conn.execute(text(f"DROP TABLE IF EXISTS {tables}"))
    finally:
        await engine.dispose()


async def _postgres_url() -> str:
    """The test database, emptied of the store's tables; skip if the server cannot be reached."""
    if not _postgres_unreachable:
        try:
            await asyncio.wait_for(_drop_tables(POSTGRES_URL), timeout=5)
        except (OSError, TimeoutError, DBAPIError) as error:
            _postgres_unreachable.append(f"PostgreSQL not reachable at {POSTGRES_URL}: {error!r}")
    if _postgres_unreachable:
        pytest.skip(f"{_postgres_unreachable[0]} (set MODELHUB_TEST_POSTGRES_URL)")
    return POSTGRES_URL


@pytest_asyncio.fixture(params=["sqlite", "postgresql"])
async def url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """An empty database; the SQLite file is in a directory that does not exist yet."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path}/data/modelhub.db"
        return
    postgres = await _postgres_url()
    yield postgres
    await _drop_tables(postgres)


@pytest_asyncio.fixture
async def store(url: str) -> AsyncIterator[SqlStore]:
    store = SqlStore(url)
    await store.open()
    yield store
    await store.close()


def node(runtime_id: str, **changes: Any) -> NodeRecord:
    record = NodeRecord(
        runtime_id=runtime_id,
        machine_name=f"{runtime_id}.cluster.local",
        gpu_memory_bytes=80 * 2**30,
        status=NodeStatus.online,
        registered_at=T0,
        last_heartbeat_at=T0 + timedelta(seconds=5),
        metrics={"gpu_utilization": 0.75, "gpu_memory_used_bytes": 12 * 2**30},
    )
    return msgspec.structs.replace(record, **changes)


async def insert_nodes(store: SqlStore, nodes: list[NodeRecord], **changes: Any) -> None:
    """Create nodes as registration does (heartbeat batches only update them)."""
    for record in nodes:
        await store.insert_node(msgspec.structs.replace(record, **changes))


def report(runtime_id: str, model_id: str, **changes: Any) -> NodeModelRecord:
    record = NodeModelRecord(
        runtime_id=runtime_id,
        model_id=model_id,
        state=NodeModelState.downloading,
        bytes_done=2**33,
        bytes_total=2**34,
        error=None,
        updated_at=T0 + timedelta(seconds=6),
    )
    return msgspec.structs.replace(record, **changes)


def schema(connection: Connection) -> tuple[set[str], list[str], list[Any]]:
    """Table names, node_models' index names, and the differences between the migrations and tables.py."""
    inspector = inspect(connection)
    indexes = [index["name"] for index in inspector.get_indexes("node_models") if index["name"]]
    differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    return set(inspector.get_table_names()), indexes, differences


async def read_schema(url: str) -> tuple[set[str], list[str], list[Any], str]:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            tables, indexes, differences = await conn.run_sync(schema)
            version = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar_one()
    finally:
        await engine.dispose()
    return tables, indexes, differences, version


# ----------------------------------------------------------------- migrations


@pytest.mark.asyncio
async def test_open_migrates_an_empty_database_to_head(url: str) -> None:
    store = SqlStore(url)
    await store.open()
    await store.close()

    tables, indexes, differences, version = await read_schema(url)
    assert tables == TABLES
    assert indexes == ["ix_node_models_model_id"]
    assert differences == []  # migrations and tables.py describe the same schema
    assert version == HEAD


@pytest.mark.asyncio
async def test_open_is_idempotent_and_keeps_the_data(url: str) -> None:
    first = SqlStore(url)
    await first.open()
    await first.insert_registration(RegistrationRecord("org/model", T0))
    await first.open()
    await first.close()

    second = SqlStore(url)
    await second.open()
    state = await second.load()
    await second.close()

    assert state.registrations == [RegistrationRecord("org/model", T0)]
    assert (await read_schema(url))[3] == HEAD


# ----------------------------------------------------------------- round trips


@pytest.mark.asyncio
async def test_every_record_round_trips(store: SqlStore) -> None:
    registrations = [RegistrationRecord("org/a", T0), RegistrationRecord("org/b", T0.astimezone(CEST))]
    nodes = [
        node("node-1"),
        node(
            "node-2",
            gpu_memory_bytes=None,
            status=NodeStatus.pending,
            last_heartbeat_at=None,
            metrics={},
            registered_at=datetime(2025, 3, 1, 14, 0, tzinfo=CEST),
        ),
    ]
    reports = [
        report("node-1", "org/a", state=NodeModelState.ready, bytes_done=2**34),
        report("node-1", "org/b", state=NodeModelState.failed, error="disk full: 0 bytes left"),
        report("node-2", "org/a", state=NodeModelState.pending, bytes_done=0, bytes_total=0),
    ]
    for registration in registrations:
        await store.insert_registration(registration)
    await store.save_node(nodes[0])
    await insert_nodes(store, nodes[1:], status=NodeStatus.pending)  # the batch updates them
    await store.save_reports(nodes[1:], reports)

    state = await store.load()

    assert state == StoredState(registrations, nodes, reports)
    stamps = [r.registered_at for r in state.registrations] + [n.registered_at for n in state.nodes]
    stamps += [n.last_heartbeat_at for n in state.nodes if n.last_heartbeat_at is not None]
    stamps += [r.updated_at for r in state.node_models]
    assert all(stamp.tzinfo is UTC for stamp in stamps)
    assert state.nodes[1].registered_at == datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
    assert state.nodes[0].metrics == {"gpu_utilization": 0.75, "gpu_memory_used_bytes": 12 * 2**30}
    assert isinstance(state.nodes[0].metrics["gpu_memory_used_bytes"], int)
    assert isinstance(state.nodes[0].status, NodeStatus)
    assert isinstance(state.node_models[0].state, NodeModelState)


@pytest.mark.asyncio
async def test_naive_datetimes_are_refused(store: SqlStore) -> None:
    with pytest.raises(StatementError, match="naive datetime"):
        await store.insert_registration(RegistrationRecord("org/a", datetime(2025, 3, 1, 12, 0)))

    assert (await store.load()).registrations == []


@pytest.mark.asyncio
async def test_ping(store: SqlStore) -> None:
    await store.ping()


# ----------------------------------------------------------------- registrations


@pytest.mark.asyncio
async def test_a_duplicate_registration_raises_already_stored(store: SqlStore) -> None:
    await store.insert_registration(RegistrationRecord("org/a", T0))

    with pytest.raises(AlreadyStored):
        await store.insert_registration(RegistrationRecord("org/a", T0 + timedelta(hours=1)))

    assert (await store.load()).registrations == [RegistrationRecord("org/a", T0)]


@pytest.mark.asyncio
async def test_concurrent_inserts_of_one_registration_exactly_one_wins(url: str) -> None:
    stores = [SqlStore(url), SqlStore(url)]
    for store in stores:
        await store.open()
    ids = [f"org/model-{i}" for i in range(10)]
    try:
        results = await asyncio.gather(
            *(
                store.insert_registration(RegistrationRecord(model_id, T0))
                for model_id in ids
                for store in (*stores, stores[0])  # two engines, and two connections of one engine
            ),
            return_exceptions=True,
        )
        state = await stores[1].load()
    finally:
        for store in stores:
            await store.close()

    assert [type(result) for result in results].count(type(None)) == len(ids)
    assert all(result is None or isinstance(result, AlreadyStored) for result in results)
    assert [r.model_id for r in state.registrations] == sorted(ids)


@pytest.mark.asyncio
async def test_delete_registration_removes_the_models_node_rows(store: SqlStore) -> None:
    for model_id in ("org/a", "org/b"):
        await store.insert_registration(RegistrationRecord(model_id, T0))
    await insert_nodes(store, [node("node-1"), node("node-2")])
    await store.save_reports(
        [node("node-1"), node("node-2")],
        [report("node-1", "org/a"), report("node-2", "org/a"), report("node-1", "org/b")],
    )

    assert await store.delete_registration("org/a") is True
    assert await store.delete_registration("org/a") is False

    state = await store.load()
    assert state.registrations == [RegistrationRecord("org/b", T0)]
    assert state.node_models == [report("node-1", "org/b")]
    assert [n.runtime_id for n in state.nodes] == ["node-1", "node-2"]


# ----------------------------------------------------------------- nodes


@pytest.mark.asyncio
async def test_delete_node_cascades_to_its_model_rows(store: SqlStore) -> None:
    await insert_nodes(store, [node("node-1"), node("node-2")])
    await store.save_reports(
        [node("node-1"), node("node-2")],
        [report("node-1", "org/a"), report("node-1", "org/b"), report("node-2", "org/a")],
    )

    assert await store.delete_node("node-1") is True
    assert await store.delete_node("node-1") is False

    state = await store.load()
    assert state.nodes == [node("node-2")]
    assert state.node_models == [report("node-2", "org/a")]


@pytest.mark.asyncio
async def test_save_node_updates_in_place_and_keeps_the_model_rows(store: SqlStore) -> None:
    await store.insert_node(node("node-1"))
    await store.save_reports([node("node-1")], [report("node-1", "org/a")])

    await store.save_node(node("node-1", status=NodeStatus.offline, machine_name="renamed", metrics={"x": 1}))

    state = await store.load()
    assert state.nodes == [node("node-1", status=NodeStatus.offline, machine_name="renamed", metrics={"x": 1})]
    assert state.node_models == [report("node-1", "org/a")]


# ----------------------------------------------------------------- heartbeat batches


@pytest.mark.asyncio
async def test_save_reports_inserts_then_updates_the_same_keys(store: SqlStore) -> None:
    nodes = [node(f"node-{i}") for i in range(3)]
    reports = [report(n.runtime_id, f"org/m{j}") for n in nodes for j in range(4)]
    await insert_nodes(store, nodes)
    await store.save_reports(nodes, reports)
    assert await store.load() == StoredState([], nodes, reports)

    later = T0 + timedelta(minutes=1)
    nodes = [msgspec.structs.replace(n, last_heartbeat_at=later, metrics={"gpu_utilization": 0.5}) for n in nodes]
    reports = [
        msgspec.structs.replace(r, state=NodeModelState.ready, bytes_done=r.bytes_total, updated_at=later)
        for r in reports
    ]
    await store.save_reports(nodes, reports)

    assert await store.load() == StoredState([], nodes, reports)


@pytest.mark.asyncio
async def test_save_reports_keeps_the_last_record_of_a_key(store: SqlStore) -> None:
    await store.insert_node(node("node-1"))
    await store.save_reports(
        [node("node-1"), node("node-1", machine_name="second")],
        [report("node-1", "org/a"), report("node-1", "org/a", bytes_done=7)],
    )

    state = await store.load()
    assert state.nodes == [node("node-1", machine_name="second")]
    assert state.node_models == [report("node-1", "org/a", bytes_done=7)]


@pytest.mark.asyncio
async def test_save_reports_is_one_transaction(store: SqlStore) -> None:
    await store.insert_node(node("node-1", status=NodeStatus.pending))
    with pytest.raises(IntegrityError):  # node-2 is not stored
        await store.save_reports([node("node-1")], [report("node-1", "org/a"), report("node-2", "org/a")])

    assert await store.load() == StoredState([], [node("node-1", status=NodeStatus.pending)], [])


@pytest.mark.asyncio
async def test_save_reports_never_creates_a_node(store: SqlStore) -> None:
    """A replica writing behind for a node another replica just deleted must not bring it back."""
    await store.save_reports([node("node-1")], [])
    assert await store.load() == StoredState([], [], [])


@pytest.mark.asyncio
async def test_save_reports_with_nothing_writes_nothing(store: SqlStore) -> None:
    await store.save_reports([], [])

    assert await store.load() == StoredState([], [], [])


# ----------------------------------------------------------------- durability


@pytest.mark.asyncio
async def test_a_new_store_loads_what_a_closed_one_wrote(url: str) -> None:
    expected = StoredState(
        [RegistrationRecord("org/a", T0)],
        [node("node-1"), node("node-2", status=NodeStatus.registering)],
        [report("node-1", "org/a"), report("node-2", "org/a", state=NodeModelState.ready)],
    )
    writer = SqlStore(url)
    await writer.open()
    await writer.insert_registration(expected.registrations[0])
    await insert_nodes(writer, expected.nodes)
    await writer.save_reports(expected.nodes, expected.node_models)
    await writer.close()

    reader = SqlStore(url)
    await reader.open()
    state = await reader.load()
    await reader.close()

    assert state == expected


CHILD = """
import asyncio, sys
from datetime import UTC, datetime
from runtime.db import RegistrationRecord
from runtime.db.sql import SqlStore

async def main() -> None:
    store = SqlStore(sys.argv[1])
    await store.open()
    await store.insert_registration(RegistrationRecord("org/killed", datetime(2025, 3, 1, tzinfo=UTC)))
    print("done", flush=True)
    await asyncio.sleep(60)

asyncio.run(main())
"""


@pytest.mark.asyncio
async def test_a_registration_survives_sigkill_right_after_it_returns(url: str) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CHILD, url, cwd=ROOT, env=env, stdout=subprocess.PIPE
    )
    assert child.stdout is not None
    try:
        line = await asyncio.wait_for(child.stdout.readline(), timeout=60)
    finally:
        child.kill()  # SIGKILL: no close(), no clean shutdown of the driver or the database file
        await child.wait()
    assert line == b"done\n"
    assert child.returncode == -9

    store = SqlStore(url)
    await store.open()
    state = await store.load()
    await store.close()
    assert state.registrations == [RegistrationRecord("org/killed", datetime(2025, 3, 1, tzinfo=UTC))]


# ----------------------------------------------------------------- SQLite only


@pytest.mark.asyncio
async def test_sqlite_connections_get_the_pragmas(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path}/pragmas.db")
    try:
        async with engine.connect() as conn:
            values = [
                (await conn.exec_driver_sql(f"PRAGMA {name}")).scalar_one()
                for name in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")
            ]
    finally:
        await engine.dispose()

    assert values == ["wal", 2, 1, 5000]  # synchronous 2 = FULL


@pytest.mark.parametrize("memory_url", ["sqlite+aiosqlite://", "sqlite+aiosqlite:///:memory:"])
@pytest.mark.asyncio
async def test_an_in_memory_store_works_and_serialises_concurrent_calls(memory_url: str) -> None:
    store = SqlStore(memory_url)
    await store.open()
    await store.insert_node(node("node-1"))
    results = await asyncio.gather(
        *(store.insert_registration(RegistrationRecord(f"org/{i % 5}", T0)) for i in range(10)),
        store.save_reports([node("node-1")], [report("node-1", "org/0")]),
        return_exceptions=True,
    )
    state = await store.load()
    await store.close()

    assert [isinstance(result, AlreadyStored) for result in results] == [False] * 5 + [True] * 5 + [False]
    assert len(state.registrations) == 5
    assert state.node_models == [report("node-1", "org/0")]


def test_other_databases_are_refused() -> None:
    with pytest.raises(ValueError, match="unsupported database 'mysql'"):
        SqlStore("mysql+aiomysql://localhost/modelhub")


async def test_hf_stats_round_trip_and_upsert(store):
    first = HfStatsRecord("org/a", "", 10, 2, "2025-03-12T00:00:00.000Z", "open", datetime(2026, 1, 1, tzinfo=UTC))
    other = HfStatsRecord("org/b", "0" * 40, None, None, None, None, datetime(2026, 1, 2, tzinfo=UTC))
    await store.save_hf_stats([first, other])
    updated = HfStatsRecord("org/a", "", 11, 3, None, "manual", datetime(2026, 1, 3, tzinfo=UTC))
    await store.save_hf_stats([updated])
    assert sorted(await store.load_hf_stats(), key=lambda r: r.repo) == [updated, other]


# ----------------------------------------------------------------- what replicas rely on


@pytest.mark.asyncio
async def test_insert_node_refuses_a_taken_runtime_id(store: SqlStore) -> None:
    await store.insert_node(node("node-1"))
    with pytest.raises(AlreadyStored):
        await store.insert_node(node("node-1", machine_name="other"))
    assert await store.load_node("node-1") == node("node-1")
    assert await store.load_node("node-2") is None


@pytest.mark.asyncio
async def test_replace_node_if_changes_only_a_node_in_the_expected_status(store: SqlStore) -> None:
    await store.insert_node(node("node-1", status=NodeStatus.pending))
    approved = node("node-1", status=NodeStatus.registering)
    assert await store.replace_node_if(approved, NodeStatus.pending) is True
    assert await store.replace_node_if(approved, NodeStatus.pending) is False  # a second approval loses
    assert await store.replace_node_if(node("node-9"), NodeStatus.pending) is False  # no such node
    assert await store.load_node("node-1") == approved


@pytest.mark.asyncio
async def test_an_older_heartbeat_record_never_replaces_a_newer_one(store: SqlStore) -> None:
    newer = node("node-1", last_heartbeat_at=T0 + timedelta(seconds=10))
    older = node("node-1", last_heartbeat_at=T0 + timedelta(seconds=4), metrics={})
    await store.insert_node(node("node-1", last_heartbeat_at=None))
    await store.save_reports([newer], [report("node-1", "org/a", bytes_done=9, updated_at=T0 + timedelta(seconds=10))])
    await store.save_reports([older], [report("node-1", "org/a", bytes_done=1, updated_at=T0 + timedelta(seconds=4))])
    state = await store.load()
    assert state.nodes == [newer]
    assert [r.bytes_done for r in state.node_models] == [9]
    offline = msgspec.structs.replace(newer, status=NodeStatus.offline)  # the same heartbeat time: applied
    await store.save_reports([offline], [])
    assert (await store.load()).nodes == [offline]


@pytest.mark.asyncio
async def test_notes_go_out_with_their_commit_and_never_with_a_rollback(url: str, store: SqlStore) -> None:
    if not url.startswith("postgresql"):
        await store.announce(["ignored"])  # SQLite has no replicas: nothing to announce, nothing raised
        return
    import asyncpg

    from runtime.db.feed import connect_args
    from runtime.db.sql import FEED_CHANNEL

    heard: list[str] = []
    listener = await asyncpg.connect(**connect_args(url))
    await listener.add_listener(FEED_CHANNEL, lambda *args: heard.append(args[-1]))
    try:
        await store.insert_registration(RegistrationRecord("org/a", T0), note="registered")
        with pytest.raises(AlreadyStored):
            await store.insert_registration(RegistrationRecord("org/a", T0), note="refused")
        await store.insert_node(node("node-1", status=NodeStatus.pending), note="added")
        assert await store.replace_node_if(node("node-1"), NodeStatus.online, note="not pending") is False
        await store.announce(["one", "two"])
        for _ in range(100):
            if len(heard) >= 4:
                break
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.1)
        assert heard == ["registered", "added", "one", "two"]
    finally:
        await listener.close()


@pytest.mark.asyncio
async def test_a_new_registration_starts_without_the_rows_of_an_earlier_one(store: SqlStore) -> None:
    await store.insert_node(node("node-1"))
    await store.insert_registration(RegistrationRecord("org/a", T0))
    await store.delete_registration("org/a")
    await store.save_reports([], [report("node-1", "org/a")])  # written behind by a replica that had not heard yet
    await store.insert_registration(RegistrationRecord("org/a", T0 + timedelta(hours=1)))
    assert (await store.load()).node_models == []
