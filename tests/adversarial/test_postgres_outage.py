"""PostgreSQL stopped under a running server and started again: 503 with a code while it is away, no lost write after.

A private cluster (``initdb`` on its own port), never the machine's shared PostgreSQL.
"""

from __future__ import annotations

import time

import httpx
import pytest

from tests.adversarial.services import PrivatePostgres
from tests.runtime.conftest import ADMIN, NODE, READ, live_server

A, B = "qwen3-0.6b", "llama-3.2-1b-instruct"


@pytest.fixture
def postgres():
    cluster = PrivatePostgres()
    cluster.start()
    yield cluster
    cluster.close()


def until(check, within: float = 20) -> None:
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.2)


def test_writes_answer_503_while_postgres_is_away_and_work_once_it_is_back(tmp_path, postgres):
    (tmp_path / "server").mkdir()
    with (
        live_server(tmp_path / "server", MODELHUB_DATABASE_URL=postgres.url) as (base, _),
        httpx.Client(base_url=base, timeout=10) as client,
    ):
        assert client.post("/v0/models/register", json={"model_id": A}, headers=ADMIN).status_code == 201
        node = {"runtime_id": "n1", "machine_name": "box"}
        assert client.post("/v0/nodes", json=node, headers=NODE).status_code == 201

        postgres.stop()
        refused = client.post("/v0/models/register", json={"model_id": B}, headers=ADMIN)
        assert refused.status_code == 503, refused.text
        assert refused.json()["error"]["code"] == "database_unavailable"
        assert "password" not in refused.text
        assert client.get("/readyz").status_code == 503
        assert client.get("/v0/models/hub", headers=READ).status_code == 200  # reads are served from memory

        postgres.start()
        until(lambda: client.get("/readyz").status_code == 200)
        assert client.post("/v0/models/register", json={"model_id": B}, headers=ADMIN).status_code == 201
        hub = {item["id"]: item["status"] for item in client.get("/v0/models/hub", headers=READ).json()}
        assert (hub[A], hub[B]) == ("registered", "registered")
    # every acknowledged write is in the database: a new server on it sees both registrations and the node
    with live_server(tmp_path / "server", MODELHUB_DATABASE_URL=postgres.url) as (base, _):
        hub = {item["id"]: item["status"] for item in httpx.get(f"{base}/v0/models/hub", headers=READ).json()}
        assert (hub[A], hub[B]) == ("registered", "registered")
        assert [n["runtime_id"] for n in httpx.get(f"{base}/v0/nodes", headers=READ).json()] == ["n1"]
