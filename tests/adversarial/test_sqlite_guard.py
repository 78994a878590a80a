"""A second `modelhub serve` on a running one's SQLite file exits 2 naming the holder; once it ends, one may start."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:
    import subprocess

from tests.runtime.conftest import ADMIN_TOKEN, NODE_TOKEN, READ_TOKEN, free_port, live_server, run_modelhub


def second_server(tmp_path) -> subprocess.CompletedProcess[str]:
    return run_modelhub(
        "serve",
        "--port",
        str(free_port()),
        MODELHUB_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'live.db'}",
        MODELHUB_ADMIN_TOKEN=ADMIN_TOKEN,
        MODELHUB_NODE_TOKEN=NODE_TOKEN,
        MODELHUB_READ_TOKEN=READ_TOKEN,
        HF_HUB_OFFLINE="1",
    )


def test_a_second_server_on_the_same_sqlite_file_exits_2_naming_the_first(tmp_path):
    with live_server(tmp_path) as (base, first):
        second = second_server(tmp_path)
        assert second.returncode == 2, second.stderr
        assert f"process {first.pid}" in second.stderr
        assert "PostgreSQL" in second.stderr
        assert "Traceback" not in second.stderr
        assert httpx.get(f"{base}/readyz").status_code == 200  # the first one is untouched
    # the first has exited: its claim is gone with it
    with live_server(tmp_path) as (base, _):
        assert httpx.get(f"{base}/healthz").status_code == 200
