"""The database schema as SQLAlchemy declarative tables (portable: SQLite and PostgreSQL).

Enums are stored as their string values in ``VARCHAR(16)`` columns, so a new enum member needs
no migration. Every timestamp goes through `UtcDateTime`: timezone-aware UTC in, timezone-aware
UTC out, on both databases. The migrations in ``runtime/db/migrations/`` create these tables;
this module is what the queries and Alembic's autogenerate compare against.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, ForeignKey, MetaData, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from runtime.db.records import Metrics  # noqa: TC001 - as above

#: Deterministic constraint and index names, identical on every database (Alembic needs names).
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_name)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[datetime]):
    """A ``timestamptz`` that only takes aware datetimes and always returns them in UTC.

    PostgreSQL keeps the instant (``timestamp with time zone``). SQLite has no time zones: the
    value is converted to UTC before it is written, and the naive value read back is marked UTC.
    A naive datetime is refused (`ValueError`) rather than guessed at.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        """Convert an aware datetime to UTC; refuse a naive one."""
        if value is None:
            return None
        if value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()!r}: the store takes timezone-aware datetimes only")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        """Return the stored instant as an aware UTC datetime."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    """The declarative base; its metadata is the migrations' target."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Registration(Base):
    """A catalog model that an operator registered (`RegistrationRecord`)."""

    __tablename__ = "registrations"

    model_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    registered_at: Mapped[datetime] = mapped_column(UtcDateTime())


class Node(Base):
    """A worker node (`NodeRecord`); ``status`` holds a `NodeStatus` value."""

    __tablename__ = "nodes"

    runtime_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    machine_name: Mapped[str] = mapped_column(String(255))
    gpu_memory_bytes: Mapped[int | None] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))
    metrics: Mapped[Metrics] = mapped_column(JSON)
    last_heartbeat_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    registered_at: Mapped[datetime] = mapped_column(UtcDateTime())


class NodeModel(Base):
    """One node's last report on one model (`NodeModelRecord`); ``state`` holds a `NodeModelState` value.

    Deleting the node deletes its rows (``ON DELETE CASCADE``). ``model_id`` has no foreign key:
    the store deletes a model's rows itself when the registration goes.
    """

    __tablename__ = "node_models"

    runtime_id: Mapped[str] = mapped_column(
        String(128), ForeignKey(Node.runtime_id, ondelete="CASCADE"), primary_key=True
    )
    model_id: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)
    state: Mapped[str] = mapped_column(String(16))
    bytes_done: Mapped[int] = mapped_column(BigInteger)
    bytes_total: Mapped[int] = mapped_column(BigInteger)
    error: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class HfStat(Base):
    """The last good Hugging Face stats per repository, so a restart while the Hub is down still shows them."""

    __tablename__ = "hf_stats"

    repo: Mapped[str] = mapped_column(String(96), primary_key=True)
    revision: Mapped[str] = mapped_column(String(40), primary_key=True)
    downloads: Mapped[int | None] = mapped_column(BigInteger)
    likes: Mapped[int | None] = mapped_column(BigInteger)
    last_modified: Mapped[str | None] = mapped_column(String(40))
    gated: Mapped[str | None] = mapped_column(String(8))
    fetched_at: Mapped[datetime] = mapped_column(UtcDateTime())
