"""`Leadership` against a real private PostgreSQL: one leader among replicas, and a handover when it goes.

A private cluster (``initdb`` on its own port), never the machine's shared PostgreSQL. Every test uses
its own lock key, so that a session left over by one test cannot make another one fail.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import signal
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from runtime.db.leader import DEFAULT_KEY, Leadership
from tests.adversarial.services import PrivatePostgres
from tests.runtime.conftest import free_port

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Iterator

ROOT = Path(__file__).resolve().parents[3]
INTERVAL = 0.2
_keys = itertools.count(DEFAULT_KEY - 1000)

# A replica in its own process: prints "leader" when it leads, then runs until killed.
REPLICA = """
import asyncio, sys
from runtime.db.leader import Leadership

async def main():
    leadership = Leadership(sys.argv[1], retry_interval=float(sys.argv[3]), key=int(sys.argv[2]))
    leadership.listeners.append(lambda leader: print("leader" if leader else "follower", flush=True))
    await leadership.run()

asyncio.run(main())
"""


@pytest.fixture(scope="module")
def shared_postgres() -> Iterator[PrivatePostgres]:
    """One cluster for the tests that do not stop it."""
    cluster = PrivatePostgres()
    cluster.start()
    yield cluster
    cluster.close()


@pytest.fixture
def key() -> int:
    return next(_keys)


async def until(check: Callable[[], bool], within: float) -> float:
    """Poll ``check`` until it holds; the seconds it took. AssertionError after ``within`` seconds."""
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > within:
            raise AssertionError(f"condition not met within {within} s")
        await asyncio.sleep(0.02)
    return time.monotonic() - start


def recorded(leadership: Leadership) -> list[bool]:
    """The values the listeners of ``leadership`` are called with, in order."""
    calls: list[bool] = []
    leadership.listeners.append(calls.append)
    return calls


@contextlib.asynccontextmanager
async def running(*leaderships: Leadership) -> AsyncIterator[list[asyncio.Task[None]]]:
    """``run()`` each as a task; cancel them all at the end (none may have failed)."""
    tasks = [asyncio.create_task(leadership.run()) for leadership in leaderships]
    try:
        yield tasks
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for leadership in leaderships:
            await leadership.close()


async def test_of_two_replicas_exactly_one_leads_and_the_other_stays_a_follower(shared_postgres, key):
    first = Leadership(shared_postgres.url, retry_interval=INTERVAL, key=key)
    second = Leadership(shared_postgres.url, retry_interval=INTERVAL, key=key)

    def broken(leader: bool) -> None:
        raise RuntimeError("a listener that fails")

    first.listeners.append(broken)  # must not keep the next listener from hearing, nor break the loop
    second.listeners.append(broken)
    calls = {id(first): recorded(first), id(second): recorded(second)}
    async with running(first, second) as tasks:
        await until(lambda: first.is_leader or second.is_leader, within=5)
        leader = first if first.is_leader else second
        follower = second if leader is first else first
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:  # 7 tries of the follower
            assert leader.is_leader
            assert not follower.is_leader
            await asyncio.sleep(0.05)
        assert calls[id(leader)] == [True]
        assert calls[id(follower)] == []
        assert not any(task.done() for task in tasks)
        details = leader.details()
        assert details["leader"] is True
        assert isinstance(details["since"], str)
        assert datetime.fromisoformat(details["since"]).utcoffset() is not None
        assert follower.details() == {"leader": False, "since": None}


@pytest.mark.parametrize("how", ["cancel", "close"])
async def test_when_the_leader_stops_the_follower_takes_over(shared_postgres, key, how):
    leader = Leadership(shared_postgres.url, retry_interval=INTERVAL, key=key)
    left = recorded(leader)
    leader_task = asyncio.create_task(leader.run())
    try:
        await until(lambda: leader.is_leader, within=5)
        follower = Leadership(shared_postgres.url, retry_interval=INTERVAL, key=key)
        took_over = recorded(follower)
        async with running(follower):
            await until(lambda: follower._connection is not None, within=5)  # connected, so it tries for the lock
            await asyncio.sleep(3 * INTERVAL)
            assert not follower.is_leader
            if how == "cancel":
                leader_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await leader_task
            else:
                await leader.close()
            assert not leader.is_leader
            assert left == [True, False]
            took = await until(lambda: follower.is_leader, within=INTERVAL + 1)
            assert took_over == [True]
            assert follower.became_leader_at is not None
        print(f"handover after {how}: {took:.2f} s")
    finally:
        leader_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await leader_task
        await leader.close()


async def test_a_leader_killed_with_sigkill_is_replaced_within_seconds(shared_postgres, key):
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        REPLICA,
        shared_postgres.url,
        str(key),
        str(INTERVAL),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert child.stdout is not None
        line = await asyncio.wait_for(child.stdout.readline(), timeout=30)
        assert line.strip() == b"leader"
        survivor = Leadership(shared_postgres.url, retry_interval=INTERVAL, key=key)
        calls = recorded(survivor)
        async with running(survivor):
            await until(lambda: survivor._connection is not None, within=5)
            await asyncio.sleep(3 * INTERVAL)
            assert not survivor.is_leader  # the other process holds the lock
            child.send_signal(signal.SIGKILL)
            await child.wait()
            took = await until(lambda: survivor.is_leader, within=5)
            assert calls == [True]
        print(f"handover after kill -9: {took:.2f} s")
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()


async def test_a_leader_steps_down_when_postgres_goes_and_leads_again_when_it_is_back(postgres, key, caplog):
    caplog.set_level(logging.INFO, logger="runtime.db.leader")
    leadership = Leadership(postgres.url, retry_interval=INTERVAL, key=key)
    calls = recorded(leadership)
    async with running(leadership) as (task,):
        await until(lambda: leadership.is_leader, within=5)
        await asyncio.to_thread(postgres.stop)
        took = await until(lambda: not leadership.is_leader, within=2)
        assert calls == [True, False]
        assert leadership.became_leader_at is None
        assert any("lost the leadership" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
        await asyncio.sleep(5 * INTERVAL)  # tries to connect meanwhile, refused
        assert not leadership.is_leader
        assert not task.done()
        await asyncio.to_thread(postgres.start)
        back = await until(lambda: leadership.is_leader, within=10)
        assert calls == [True, False, True]
        assert not task.done()
    print(f"stepped down {took:.2f} s after the stop, led again {back:.2f} s after the start")


async def test_with_sqlite_the_instance_is_always_the_leader(tmp_path):
    leadership = Leadership(f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}", retry_interval=INTERVAL)
    calls = recorded(leadership)
    leadership.start()
    assert leadership.is_leader
    assert leadership.details()["leader"] is True
    assert leadership._connection is None
    await asyncio.sleep(2 * INTERVAL)
    assert leadership.is_leader
    await leadership.close()
    await leadership.close()  # idempotent
    assert calls == [True, False]

    in_memory = Leadership("sqlite+aiosqlite://")
    async with running(in_memory):
        await until(lambda: in_memory.is_leader, within=1)
        assert in_memory.details()["leader"] is True


async def test_an_unreachable_postgres_is_warned_about_once_and_never_raises(caplog):
    caplog.set_level(logging.WARNING, logger="runtime.db.leader")
    url = f"postgresql+asyncpg://postgres:secret@127.0.0.1:{free_port()}/postgres"  # nothing listens there
    leadership = Leadership(url, retry_interval=INTERVAL)
    attempts = 0
    connect = leadership._connect

    async def counted():
        nonlocal attempts
        attempts += 1
        return await connect()

    leadership._connect = counted  # type: ignore[method-assign]
    async with running(leadership) as (task,):
        await until(lambda: attempts >= 5, within=10)
        assert not task.done()
        assert not leadership.is_leader
    warnings = [r for r in caplog.records if r.name == "runtime.db.leader" and r.levelno == logging.WARNING]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert "cannot connect to PostgreSQL" in warnings[0].getMessage()
    assert "secret" not in warnings[0].getMessage()


async def test_a_leader_whose_backend_stops_answering_steps_down_and_its_lock_is_released(shared_postgres, key):
    """A ``SELECT 1`` that times out (a hung server, a cut network) ends the leadership and the session."""
    import asyncpg  # type: ignore[import-untyped]

    leadership = Leadership(shared_postgres.url, retry_interval=INTERVAL, key=key)
    calls = recorded(leadership)
    observer = await asyncpg.connect(host="127.0.0.1", port=shared_postgres.port, user="postgres", database="postgres")
    backend = None
    try:
        async with running(leadership):
            await until(lambda: leadership.is_leader, within=5)
            backend = await observer.fetchval(
                "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1"
                " AND ((classid::bigint << 32) | objid::bigint) = $1",
                key,
            )
            assert backend is not None
            os.kill(backend, signal.SIGSTOP)  # the backend holds the lock but answers nothing
            took = await until(lambda: not leadership.is_leader, within=3)
            assert calls == [True, False]
            os.kill(backend, signal.SIGCONT)  # it finds its client gone, ends, and the lock goes with it
            backend = None
            back = await until(lambda: leadership.is_leader, within=5)
            assert calls == [True, False, True]
        print(f"stepped down {took:.2f} s after the backend hung, led again {back:.2f} s after it resumed")
    finally:
        if backend is not None:
            os.kill(backend, signal.SIGCONT)
        await observer.close()
