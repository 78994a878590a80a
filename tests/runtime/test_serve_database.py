"""`modelhub serve` with a database or Redis it cannot use: one line naming the variable, exit 2, no traceback."""

from __future__ import annotations

import pytest

from tests.runtime.conftest import ADMIN_TOKEN, NODE_TOKEN, free_port, run_modelhub

TOKENS = {"MODELHUB_ADMIN_TOKEN": ADMIN_TOKEN, "MODELHUB_NODE_TOKEN": NODE_TOKEN, "HF_HUB_OFFLINE": "1"}


def refused_in_one_line(**env: str) -> str:
    """The one stderr line of a `serve` that exits 2."""
    completed = run_modelhub("serve", "--port", str(free_port()), **TOKENS, **env)
    assert completed.returncode == 2, completed.stderr
    lines = completed.stderr.strip().splitlines()
    assert len(lines) == 1, completed.stderr
    assert "s3cret-pw" not in completed.stderr
    return lines[0]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite+aiosqlit:///{tmp}/x.db", "is not a database URL this server can use"),
        ("not a url at all", "is not a database URL this server can use"),
        ("mysql+aiomysql://root@127.0.0.1/test", "is not a database URL this server can use"),
        ("postgresql+asyncpg://bob:s3cret-pw@127.0.0.1:{port}/db", "cannot reach the database"),
    ],
    ids=["driver-typo", "not-a-url", "other-database", "postgres-refused"],
)
def test_serve_refuses_a_database_it_cannot_use_in_one_line(tmp_path, url, expected):
    line = refused_in_one_line(MODELHUB_DATABASE_URL=url.format(tmp=tmp_path, port=free_port()))
    assert expected in line
    assert "MODELHUB_DATABASE_URL" in line


def test_serve_refuses_a_redis_it_cannot_reach_in_one_line(tmp_path):
    line = refused_in_one_line(
        MODELHUB_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'x.db'}",
        MODELHUB_REDIS_URL=f"redis://:s3cret-pw@127.0.0.1:{free_port()}/0",
    )
    assert "cannot reach Redis at MODELHUB_REDIS_URL=" in line
