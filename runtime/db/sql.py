"""`SqlStore`: the `Store` port on SQLAlchemy asyncio, for SQLite (aiosqlite) and PostgreSQL (asyncpg).

Every method runs in one transaction that is committed before the method returns. Writes never
read first: a duplicate registration is the database's primary-key error, and nodes and reports
are upserts (``INSERT ... ON CONFLICT DO UPDATE``; never SQLite's ``INSERT OR REPLACE``, which
deletes the row and so would cascade to the node's model rows).

SQLite specifics, all set per connection:

* PRAGMAs ``busy_timeout=5000``, ``journal_mode=WAL``, ``synchronous=FULL`` (a commit is fsynced
  before it returns), ``foreign_keys=ON`` (the node -> node_models cascade).
* Python's sqlite3 does not begin a transaction before a SELECT or DDL, so it is told not to manage
  transactions, and SQLAlchemy emits ``BEGIN IMMEDIATE`` for writes (the write lock is taken up
  front, waiting up to busy_timeout, so two writers can never deadlock on a lock upgrade) and
  ``BEGIN`` for reads (one snapshot for the whole of `SqlStore.load`). Migrations are one
  transaction too.
* An in-memory database (``sqlite+aiosqlite://`` or ``:memory:``) lives in one shared connection
  (`StaticPool`); its transactions are serialised by an asyncio lock. Unit tests only.

PostgreSQL specifics: `SqlStore.load` reads in one ``REPEATABLE READ`` snapshot; `SqlStore.open`
holds a transaction-level advisory lock while it migrates, so that replicas starting together
migrate one at a time; pooled connections are pinged before use (``pool_pre_ping``).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alembic import command
from alembic.config import Config
from sqlalchemy import bindparam, delete, event, func, insert, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import StaticPool

from generated.types import NodeModelState, NodeStatus
from runtime.db.records import (
    AlreadyStored,
    HfStatsRecord,
    NodeModelRecord,
    NodeRecord,
    RegistrationRecord,
    StoredState,
)
from runtime.db.tables import HfStat, Node, NodeModel, Registration
from runtime.errors import DatabaseUnavailable

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator
    from datetime import datetime

    from sqlalchemy import Connection
    from sqlalchemy.engine import URL
    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
    from sqlalchemy.sql.dml import Insert, Update

    from runtime.db.tables import Base

__all__ = [
    "FEED_CHANNEL",
    "MIGRATIONS",
    "SqlStore",
    "alembic_config",
    "create_parent_directory",
    "make_engine",
    "sqlite_file_of",
]

#: The Alembic environment (env.py and versions/).
MIGRATIONS = Path(__file__).resolve().with_name("migrations")

_PRAGMAS = (
    "PRAGMA busy_timeout=5000",
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=FULL",
    "PRAGMA foreign_keys=ON",
)
#: Execution option read by `_sqlite_begin`: the statement that opens a SQLite transaction.
_SQLITE_BEGIN = "modelhub_sqlite_begin"
#: pg_advisory_xact_lock key held while migrating ("modelhub" in ASCII).
_MIGRATION_LOCK_KEY = 0x6D6F64656C687562
#: The PostgreSQL NOTIFY channel that carries replication messages between replicas (runtime/db/feed.py listens).
FEED_CHANNEL = "modelhub_state"


def make_engine(url: str) -> AsyncEngine:
    """Create the async engine for a database URL, with the SQLite settings described above.

    Args:
        url: A ``sqlite+aiosqlite://`` or ``postgresql+asyncpg://`` SQLAlchemy URL.

    Raises:
        ValueError: The URL names another database.
    """
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        return create_async_engine(parsed, pool_pre_ping=True)  # survive a server restart without a failed call
    if backend != "sqlite":
        raise ValueError(f"unsupported database {backend!r}: use sqlite+aiosqlite:// or postgresql+asyncpg://")
    if _sqlite_file(parsed) is None:
        engine = create_async_engine(parsed, poolclass=StaticPool)
    else:
        engine = create_async_engine(parsed)
    event.listen(engine.sync_engine, "connect", _sqlite_connect)
    event.listen(engine.sync_engine, "begin", _sqlite_begin)
    return engine


def is_postgres(url: str) -> bool:
    """Whether a database URL names PostgreSQL (where replicas may share the database)."""
    try:
        return make_url(url).get_backend_name() == "postgresql"
    except ArgumentError:
        return False


def sqlite_file_of(url: str) -> Path | None:
    """The file of a SQLite database URL; None for an in-memory one, another database or no URL at all."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return None
    return _sqlite_file(parsed) if parsed.get_backend_name() == "sqlite" else None


def create_parent_directory(url: str) -> None:
    """Create the directory of a SQLite database file if it is missing (other URLs: nothing)."""
    path = sqlite_file_of(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)


def alembic_config() -> Config:
    """An Alembic configuration for `MIGRATIONS`, built in code (no alembic.ini needed).

    Pass a connection in ``config.attributes["connection"]`` before running a command.
    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))
    return config


class SqlStore:
    """The `Store` on a SQLite or PostgreSQL database.

    Args:
        url: A ``sqlite+aiosqlite:///path/to/file.db``, ``sqlite+aiosqlite://`` (in memory) or
            ``postgresql+asyncpg://user@host:port/database`` URL.

    Raises:
        ValueError: The URL names another database.
    """

    def __init__(self, url: str) -> None:
        self._url = url
        self._engine = make_engine(url)
        backend = self._engine.dialect.name
        self._postgres = backend == "postgresql"
        if self._postgres:
            self._reader = self._engine.execution_options(isolation_level="REPEATABLE READ")
        else:
            self._reader = self._engine.execution_options(**{_SQLITE_BEGIN: "BEGIN"})
        in_memory = backend == "sqlite" and _sqlite_file(self._engine.url) is None
        self._serial: contextlib.AbstractAsyncContextManager[Any] = (
            asyncio.Lock() if in_memory else contextlib.nullcontext()
        )
        self._upsert_nodes = _upsert(backend, Node)
        # Heartbeat batches: replicas write behind on their own, so an older record never replaces a newer one.
        self._update_heartbeat_nodes = _update_newer_node()
        self._upsert_node_models = _upsert(backend, NodeModel, newer=(None, "updated_at"))
        self._upsert_hf_stats = _upsert(backend, HfStat)

    def __repr__(self) -> str:
        return f"SqlStore({self._engine.url.render_as_string(hide_password=True)!r})"

    async def open(self) -> None:
        """Create a SQLite file's directory, connect and migrate the schema to the latest revision."""
        create_parent_directory(self._url)
        async with self._write() as conn:
            if self._postgres:
                await conn.execute(select(func.pg_advisory_xact_lock(_MIGRATION_LOCK_KEY)))
            await conn.run_sync(_upgrade_to_head)

    async def close(self) -> None:
        """Close every connection (an in-memory database is gone afterwards)."""
        await self._engine.dispose()

    async def ping(self) -> None:
        """Run ``SELECT 1``; raise if the database cannot be reached."""
        async with self._read() as conn:
            await conn.execute(text("SELECT 1"))

    async def load(self) -> StoredState:
        """Read every row, in one snapshot, ordered by primary key."""
        async with self._read() as conn:
            registrations = await conn.execute(
                select(Registration.model_id, Registration.registered_at).order_by(Registration.model_id)
            )
            nodes = await conn.execute(select(*_NODE_COLUMNS).order_by(Node.runtime_id))
            node_models = await conn.execute(
                select(
                    NodeModel.runtime_id,
                    NodeModel.model_id,
                    NodeModel.state,
                    NodeModel.bytes_done,
                    NodeModel.bytes_total,
                    NodeModel.error,
                    NodeModel.updated_at,
                ).order_by(NodeModel.runtime_id, NodeModel.model_id)
            )
            return StoredState(
                registrations=[RegistrationRecord(*row) for row in registrations],
                nodes=[_node_record(*row) for row in nodes],
                node_models=[
                    NodeModelRecord(runtime_id, model_id, NodeModelState(state), done, total, error, updated)
                    for runtime_id, model_id, state, done, total, error, updated in node_models
                ],
            )

    async def load_node(self, runtime_id: str) -> NodeRecord | None:
        """One node as stored, or None."""
        async with self._read() as conn:
            row = (await conn.execute(select(*_NODE_COLUMNS).where(Node.runtime_id == runtime_id))).first()
        return None if row is None else _node_record(*row)

    async def insert_registration(self, record: RegistrationRecord, *, note: str | None = None) -> None:
        """Add a registration (a new one: no node has reported on it yet).

        Raises:
            AlreadyStored: The model is registered already (the insert hit the primary key).
        """
        try:
            async with self._write(note) as conn:
                await conn.execute(
                    insert(Registration).values(model_id=record.model_id, registered_at=record.registered_at)
                )
                # Rows of an earlier registration that a replica wrote behind as it was being deleted.
                await conn.execute(delete(NodeModel).where(NodeModel.model_id == record.model_id))
        except IntegrityError as error:
            raise AlreadyStored(f"registration {record.model_id!r}") from error

    async def delete_registration(self, model_id: str, *, note: str | None = None) -> bool:
        """Remove a registration and every node's row for that model; False if there was none."""
        async with self._write(note) as conn:
            await conn.execute(delete(NodeModel).where(NodeModel.model_id == model_id))
            result = await conn.execute(delete(Registration).where(Registration.model_id == model_id))
            return result.rowcount > 0

    async def insert_node(self, record: NodeRecord, *, note: str | None = None) -> None:
        """Add a node.

        Raises:
            AlreadyStored: A node has this runtime id already (a concurrent registration got there first).
        """
        try:
            async with self._write(note) as conn:
                await conn.execute(insert(Node).values(_node_row(record)))
        except IntegrityError as error:
            raise AlreadyStored(f"node {record.runtime_id!r}") from error

    async def save_node(self, record: NodeRecord, *, note: str | None = None) -> None:
        """Insert or update a node (its model rows are kept)."""
        async with self._write(note) as conn:
            await conn.execute(self._upsert_nodes, [_node_row(record)])

    async def replace_node_if(self, record: NodeRecord, status: NodeStatus, *, note: str | None = None) -> bool:
        """Update a node only while its stored status is ``status`` (one atomic UPDATE); False if it was not."""
        row = _node_row(record)
        del row["runtime_id"]
        async with self._write(note) as conn:
            result = await conn.execute(
                update(Node).where(Node.runtime_id == record.runtime_id, Node.status == status.value).values(row)
            )
            if result.rowcount == 0:
                await conn.rollback()  # nothing changed: the note must not go out either
                return False
            return True

    async def delete_node(self, runtime_id: str, *, note: str | None = None) -> bool:
        """Remove a node; the database cascades to its model rows. False if there was none."""
        async with self._write(note) as conn:
            result = await conn.execute(delete(Node).where(Node.runtime_id == runtime_id))
            return result.rowcount > 0

    async def save_reports(self, nodes: list[NodeRecord], node_models: list[NodeModelRecord]) -> None:
        """Update nodes, then upsert node model rows, in one transaction (two executemany statements).

        Nodes are only updated, never inserted (``insert_node`` creates them): a replica writing
        behind for a node that another replica deleted a moment ago must not bring it back. An older
        record leaves the newer stored one alone. A key given twice keeps its last record. A row
        whose node is not stored violates the foreign key: the transaction rolls back and
        `IntegrityError` propagates.
        """
        node_rows = {node.runtime_id: _node_row(node) for node in nodes}
        model_rows = {(report.runtime_id, report.model_id): _node_model_row(report) for report in node_models}
        if not node_rows and not model_rows:
            return
        async with self._write() as conn:
            if node_rows:
                await conn.execute(
                    self._update_heartbeat_nodes, [{f"b_{k}": v for k, v in row.items()} for row in node_rows.values()]
                )
            if model_rows:
                await conn.execute(self._upsert_node_models, list(model_rows.values()))

    async def load_hf_stats(self) -> list[HfStatsRecord]:
        """Every repository's last good Hugging Face stats."""
        async with self._read() as conn:
            rows = (await conn.execute(select(HfStat.__table__))).all()
        return [HfStatsRecord(*row) for row in rows]

    async def save_hf_stats(self, records: list[HfStatsRecord], *, note: str | None = None) -> None:
        """Upsert Hugging Face stats in one transaction."""
        rows = {(r.repo, r.revision): dataclasses.asdict(r) for r in records}
        if rows:
            async with self._write(note) as conn:
                await conn.execute(self._upsert_hf_stats, list(rows.values()))

    async def announce(self, notes: list[str]) -> None:
        """NOTIFY every note on `FEED_CHANNEL` in one transaction (PostgreSQL; SQLite has no replicas)."""
        if self._postgres and notes:
            async with self._write() as conn:
                for note in notes:
                    await conn.execute(select(func.pg_notify(FEED_CHANNEL, note)))

    @contextlib.asynccontextmanager
    async def _write(self, note: str | None = None) -> AsyncIterator[AsyncConnection]:
        with _unavailable_as_503(self):
            async with self._serial, self._engine.begin() as conn:
                yield conn
                if note is not None and self._postgres and conn.in_transaction():
                    await conn.execute(select(func.pg_notify(FEED_CHANNEL, note)))  # delivered at commit

    @contextlib.asynccontextmanager
    async def _read(self) -> AsyncIterator[AsyncConnection]:
        with _unavailable_as_503(self):
            async with self._serial, self._reader.begin() as conn:
                yield conn


@contextlib.contextmanager
def _unavailable_as_503(store: SqlStore) -> Iterator[None]:
    """Turn "the database cannot be reached" into ``DatabaseUnavailable`` (503), whatever the driver says.

    Connection refused or reset, a timeout, a connection that died under a transaction, SQLite's
    "database is locked": the request can be retried once the database is back, and nothing was
    written. Constraint violations and other errors about the data pass through unchanged.
    """
    try:
        yield
    except (OSError, TimeoutError, OperationalError, InterfaceError) as error:
        raise DatabaseUnavailable(f"The database cannot be reached ({store!r}); try again shortly.") from error
    except DBAPIError as error:
        if not error.connection_invalidated:
            raise
        raise DatabaseUnavailable(f"The database connection was lost ({store!r}); try again shortly.") from error


def _sqlite_file(url: URL) -> Path | None:
    """The database file of a SQLite URL, or None for an in-memory database."""
    database = url.database
    if not database or database == ":memory:":
        return None
    return Path(database)


def _sqlite_connect(dbapi_connection: Any, connection_record: Any) -> None:
    """Set the PRAGMAs and leave BEGIN to `_sqlite_begin` (see the module docstring)."""
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        for pragma in _PRAGMAS:
            cursor.execute(pragma)
    finally:
        cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    conn.exec_driver_sql(conn.get_execution_options().get(_SQLITE_BEGIN, "BEGIN IMMEDIATE"))


def _upgrade_to_head(connection: Connection) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


def _upsert(backend: str, entity: type[Base], newer: tuple[Any, str] | None = None) -> Insert:
    """``INSERT ... ON CONFLICT (primary key) DO UPDATE SET`` every other column.

    ``newer`` = (an extra condition or None, a time column): update only when the incoming row's
    time is at least the stored one's (or the extra condition holds).
    """
    statement = sqlite.insert(entity) if backend == "sqlite" else postgresql.insert(entity)
    table = statement.table
    where = None
    if newer is not None:
        condition, column = newer
        where = statement.excluded[column] >= table.c[column]
        if condition is not None:
            where = condition | where
    return statement.on_conflict_do_update(
        index_elements=[column for column in table.c if column.primary_key],
        set_={column.name: statement.excluded[column.name] for column in table.c if not column.primary_key},
        where=where,
    )


def _update_newer_node() -> Update:
    """``UPDATE nodes SET ... WHERE runtime_id = :b_runtime_id`` unless the stored heartbeat is newer."""
    columns = [column.name for column in Node.__table__.c if column.name != "runtime_id"]
    incoming = bindparam("b_last_heartbeat_at", type_=Node.__table__.c.last_heartbeat_at.type)
    return (
        update(Node)
        .where(
            Node.runtime_id == bindparam("b_runtime_id"),
            or_(Node.last_heartbeat_at.is_(None), Node.last_heartbeat_at <= incoming),
        )
        .values({name: bindparam(f"b_{name}") for name in columns})
    )


_NODE_COLUMNS = (
    Node.runtime_id,
    Node.machine_name,
    Node.gpu_memory_bytes,
    Node.status,
    Node.registered_at,
    Node.last_heartbeat_at,
    Node.metrics,
)


def _node_record(
    runtime_id: str,
    machine: str,
    gpu: int | None,
    status: str,
    registered: datetime,
    heartbeat: datetime | None,
    metrics: dict[str, float | int],
) -> NodeRecord:
    return NodeRecord(runtime_id, machine, gpu, NodeStatus(status), registered, heartbeat, metrics)


def _node_row(node: NodeRecord) -> dict[str, Any]:
    return {
        "runtime_id": node.runtime_id,
        "machine_name": node.machine_name,
        "gpu_memory_bytes": node.gpu_memory_bytes,
        "status": node.status.value,
        "metrics": node.metrics,
        "last_heartbeat_at": node.last_heartbeat_at,
        "registered_at": node.registered_at,
    }


def _node_model_row(report: NodeModelRecord) -> dict[str, Any]:
    return {
        "runtime_id": report.runtime_id,
        "model_id": report.model_id,
        "state": report.state.value,
        "bytes_done": report.bytes_done,
        "bytes_total": report.bytes_total,
        "error": report.error,
        "updated_at": report.updated_at,
    }
