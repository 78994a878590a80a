"""Can the server use its database and its Redis? Asked once at start-up: a wrong URL is one line, not a traceback.

A misspelt driver (``sqlite+aiosqlit://``), a malformed URL, a PostgreSQL that refuses the connection or
the role: ``modelhub serve`` exits 2 naming ``MODELHUB_DATABASE_URL`` with the URL (its password hidden)
and the reason, before it prints tokens or binds its port.
"""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from runtime.db.sql import create_parent_directory, make_engine

__all__ = ["database_problem", "redis_problem"]

TIMEOUT = 10.0
"""Seconds to wait for the first connection."""


def _shown(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return repr(url)


async def database_problem(url: str) -> str | None:
    """Why the database at ``url`` cannot be used, in one sentence; None when a ``SELECT 1`` works."""
    try:
        engine = make_engine(url)
    except (ArgumentError, NoSuchModuleError, ValueError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        return (
            f"MODELHUB_DATABASE_URL={_shown(url)} is not a database URL this server can use ({reason}); "
            "use sqlite+aiosqlite:///path/to/file.db or postgresql+asyncpg://user@host:5432/database"
        )
    try:
        create_parent_directory(url)
        async with asyncio.timeout(TIMEOUT), engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except Exception as error:  # whatever the driver raises: the sentence names it
        detail = str(error).splitlines()[0] if str(error) else ""
        return f"cannot reach the database at MODELHUB_DATABASE_URL={_shown(url)} ({type(error).__name__}: {detail})"
    finally:
        await engine.dispose()
    return None


def redis_problem(url: str | None) -> str | None:
    """Why the Redis at ``url`` cannot carry events, in one sentence; None when it answers PING (or no URL is set)."""
    if url is None:
        return None
    import redis  # only when events go through Redis

    parts = urlsplit(url)
    shown = url
    if parts.password:
        shown = urlunsplit(parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@", 1)))
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=TIMEOUT, socket_timeout=TIMEOUT)
        try:
            client.ping()
        finally:
            client.close()
    except (redis.RedisError, ValueError, OSError) as error:
        detail = str(error).splitlines()[0] if str(error) else ""
        return f"cannot reach Redis at MODELHUB_REDIS_URL={shown} ({type(error).__name__}: {detail})"
    return None
