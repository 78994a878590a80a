"""Three `modelhub serve` replicas started at the same instant on an empty PostgreSQL: one migration, all serve.

`SqlStore.open` migrates under a transaction-level advisory lock, so the replicas migrate one at a
time and the later ones find the schema at head. Python's start-up takes a few hundred milliseconds
and varies, enough for the first replica to finish migrating before the next begins; so the test
holds that lock itself until all three replicas wait on it, then lets them go together. A private
cluster (``initdb`` on its own port), never the machine's shared PostgreSQL.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg
import httpx
from alembic.script import ScriptDirectory

from generated.catalog import CATALOG
from runtime.db.sql import _MIGRATION_LOCK_KEY, alembic_config
from tests.runtime.conftest import (
    ADMIN,
    ADMIN_TOKEN,
    HF_ENDPOINT,
    NODE_TOKEN,
    READ,
    READ_TOKEN,
    spawn_server,
    stop_server,
)

if TYPE_CHECKING:
    import subprocess

REPLICAS = ("a", "b", "c")
MODEL = CATALOG[0].id


def start(tmp_path: Path, replica: str, database_url: str) -> tuple[str, subprocess.Popen[str]]:
    """`modelhub serve` as replica ``replica`` on a free port; returns its base URL and process (not waited for)."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("MODELHUB_")}
    environment |= {
        "MODELHUB_DATABASE_URL": database_url,
        "MODELHUB_ADMIN_TOKEN": ADMIN_TOKEN,
        "MODELHUB_NODE_TOKEN": NODE_TOKEN,
        "MODELHUB_READ_TOKEN": READ_TOKEN,
        "MODELHUB_REPLICA_ID": replica,
        "HF_ENDPOINT": HF_ENDPOINT,
        "HF_HUB_OFFLINE": "1",
    }
    return spawn_server(tmp_path, environment)


def wait_ready(replica: str, base: str, process: subprocess.Popen[str]) -> httpx.Response:
    deadline = time.monotonic() + 30
    while True:
        try:
            response = httpx.get(f"{base}/readyz", timeout=2)
            if response.status_code == 200:
                return response
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            log = Path(process.log_path).read_text()  # type: ignore[attr-defined]
            raise AssertionError(f"replica {replica} is not ready (exit {process.poll()}):\n{log}")
        time.sleep(0.1)


async def connect(url: str) -> asyncpg.Connection:
    return await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))


async def query(url: str, sql: str) -> list[tuple[object, ...]]:
    connection = await connect(url)
    try:
        return [tuple(row) for row in await connection.fetch(sql)]
    finally:
        await connection.close()


WAITING = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"


def test_replicas_started_together_on_an_empty_database_migrate_once_and_all_serve(tmp_path, postgres):
    assert asyncio.run(query(postgres.url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")) == []
    loop = asyncio.new_event_loop()
    holder = loop.run_until_complete(connect(postgres.url))
    loop.run_until_complete(holder.execute("SELECT pg_advisory_lock($1)", _MIGRATION_LOCK_KEY))
    servers = {replica: start(tmp_path, replica, postgres.url) for replica in REPLICAS}  # all at once
    try:
        deadline = time.monotonic() + 20
        while loop.run_until_complete(holder.fetchval(WAITING)) < len(REPLICAS):
            assert time.monotonic() < deadline, "the replicas did not all wait on the migration lock"
            assert all(process.poll() is None for _, process in servers.values())
            time.sleep(0.05)
        loop.run_until_complete(holder.execute("SELECT pg_advisory_unlock($1)", _MIGRATION_LOCK_KEY))
        loop.run_until_complete(holder.close())
        loop.close()
        for replica, (base, process) in servers.items():
            ready = wait_ready(replica, base, process)
            assert ready.json()["checks"]["database"] == "ok"
            assert ready.json()["details"]["replica"] == replica
            assert f'replica="{replica}"' in httpx.get(f"{base}/metrics").text
        for replica, (_, process) in servers.items():
            assert process.poll() is None, (tmp_path / f"replica-{replica}.log").read_text()

        head = ScriptDirectory.from_config(alembic_config()).get_current_head()
        assert asyncio.run(query(postgres.url, "SELECT version_num FROM alembic_version")) == [(head,)]

        base_a = servers["a"][0]
        registered = httpx.post(f"{base_a}/v0/models/register", json={"model_id": MODEL}, headers=ADMIN, timeout=10)
        assert registered.status_code == 201, registered.text
        assert asyncio.run(query(postgres.url, "SELECT model_id FROM registrations")) == [(MODEL,)]
    finally:
        for _, process in servers.values():
            stop_server(process)

    # a replica started afterwards finds the schema at head (no migration to run) and the registration made on A
    base, process = start(tmp_path, "d", postgres.url)
    try:
        assert wait_ready("d", base, process).json()["details"]["replica"] == "d"
        hub = {item["id"]: item["status"] for item in httpx.get(f"{base}/v0/models/hub", headers=READ).json()}
        assert hub[MODEL] == "registered"
    finally:
        stop_server(process)
