"""One ``modelhub serve`` per SQLite file: a second one exits at start-up naming the first.

Two servers on one SQLite file both start and then contradict each other: each keeps the lifecycle
in memory and writes behind, so one says a model is available while the other refuses to register
it. SQLite is the embedded default for one process; replicas need PostgreSQL. The claim is an
exclusive ``flock`` on ``<database>.lock`` held for the life of the process (the kernel releases it
when the process ends, ``kill -9`` included), and the file names the holder for the next one.
"""

from __future__ import annotations

import fcntl
import os
import socket
from datetime import UTC, datetime
from typing import IO

from runtime.db.sql import create_parent_directory, sqlite_file_of

__all__ = ["SqliteInUse", "claim_sqlite_file"]


class SqliteInUse(Exception):
    """Another process serves this SQLite file; the message says which and what to do."""


def claim_sqlite_file(database_url: str) -> IO[str] | None:
    """Hold the SQLite file of ``database_url`` for this process; None for other databases and in-memory SQLite.

    Keep the returned file open as long as the server runs. Raises ``SqliteInUse`` when another
    process holds it.
    """
    path = sqlite_file_of(database_url)
    if path is None:
        return None
    create_parent_directory(database_url)
    database = os.path.abspath(path)
    lock = open(f"{database}.lock", "a+", encoding="utf-8")  # noqa: SIM115 - held until the process exits
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.seek(0)
        holder = lock.read().strip() or "another process"
        lock.close()
        raise SqliteInUse(
            f"{database} is already served by {holder}. SQLite is for one process; to run several "
            "replicas, point every one at one PostgreSQL database (MODELHUB_DATABASE_URL=postgresql+asyncpg://…)."
        ) from None
    lock.seek(0)
    lock.truncate()
    started = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    lock.write(f"process {os.getpid()} on {socket.gethostname()} (started {started})\n")
    lock.flush()
    return lock
