"""Alembic environment for the Model Hub database (SQLite or PostgreSQL, async drivers).

Two ways in:

* `runtime.db.sql.SqlStore.open` runs ``upgrade head`` on its own connection, passed in
  ``config.attributes["connection"]``; the caller's transaction commits the migration.
* Developers run the ``alembic`` command from the repository root (alembic.ini); the URL is read
  from ``MODELHUB_DATABASE_URL``, default ``sqlite+aiosqlite:///./data/modelhub.db``. ``--sql``
  (offline mode) prints the SQL instead.
"""

from __future__ import annotations

import asyncio
import os
from logging.config import fileConfig

from alembic import context
from sqlalchemy import Connection

from runtime.db.sql import create_parent_directory, make_engine
from runtime.db.tables import Base

DEFAULT_URL = "sqlite+aiosqlite:///./data/modelhub.db"


def _migrate(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite cannot ALTER most things
    )
    with context.begin_transaction():
        context.run_migrations()


async def _migrate_url(url: str) -> None:
    create_parent_directory(url)
    engine = make_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(_migrate)
    finally:
        await engine.dispose()


def main() -> None:
    """Run the migrations on the given connection, else on ``MODELHUB_DATABASE_URL``."""
    connection = context.config.attributes.get("connection")
    if isinstance(connection, Connection):
        _migrate(connection)
        return
    if context.config.config_file_name is not None:
        fileConfig(context.config.config_file_name, disable_existing_loggers=False)
    url = os.environ.get("MODELHUB_DATABASE_URL", DEFAULT_URL)
    if context.is_offline_mode():
        context.configure(url=url, target_metadata=Base.metadata, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
    else:
        asyncio.run(_migrate_url(url))


main()
