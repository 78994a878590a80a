"""The runtime under uvicorn on loopback: restarts, kill -9, the official openai client, the CLI."""

from __future__ import annotations

import asyncio
import signal
import socket
from pathlib import Path

import httpx
import openai
import pytest
from litestar.testing import TestClient

from runtime.app import create_app
from tests.runtime.conftest import ADMIN, NODE, READ, READ_TOKEN, live_server, make_settings, run_modelhub

QWEN = "qwen3-0.6b"


def test_state_survives_a_restart_on_the_same_database(tmp_path):
    settings = make_settings(tmp_path)
    with TestClient(create_app(settings)) as first:
        first.post("/v0/models/register", json={"model_id": QWEN}, headers=ADMIN)
        first.post("/v0/nodes", json={"runtime_id": "n1", "machine_name": "m"}, headers=NODE)
        first.post("/v0/nodes/n1/approve", headers=ADMIN)
        first.post(
            "/v0/nodes/n1/heartbeat",
            headers=NODE,
            json={
                "metrics": {"memory_usage": 0.25},
                "models": [{"model_id": QWEN, "state": "downloading", "bytes_done": 10, "bytes_total": 40}],
            },
        )
        before_hub = first.get("/v0/models/hub", headers=READ).json()
        before_nodes = first.get("/v0/nodes", headers=READ).json()
    with TestClient(create_app(settings)) as second:
        assert second.get("/v0/models/hub", headers=READ).json() == before_hub
        nodes = second.get("/v0/nodes", headers=READ).json()
        assert [(n["runtime_id"], n["status"], n["metrics"]) for n in nodes] == [
            (n["runtime_id"], n["status"], n["metrics"]) for n in before_nodes
        ]


def test_an_acknowledged_registration_survives_kill_9(tmp_path):
    with live_server(tmp_path) as (base, process):
        response = httpx.post(f"{base}/v0/models/register", json={"model_id": QWEN}, headers=ADMIN)
        assert response.status_code == 201
        process.send_signal(signal.SIGKILL)  # no shutdown, no flush: only what was committed survives
        process.wait(timeout=10)
    with live_server(tmp_path) as (base, _):
        hub = httpx.get(f"{base}/v0/models/hub", headers=READ).json()
        assert next(item for item in hub if item["id"] == QWEN)["status"] == "registered"


def test_the_official_openai_client_lists_and_retrieves_ready_models(tmp_path):
    with live_server(tmp_path) as (base, _):
        httpx.post(f"{base}/v0/models/register", json={"model_id": QWEN}, headers=ADMIN)
        httpx.post(f"{base}/v0/nodes", json={"runtime_id": "n1", "machine_name": "m"}, headers=NODE)
        httpx.post(f"{base}/v0/nodes/n1/approve", headers=ADMIN)
        client = openai.OpenAI(base_url=f"{base}/v1", api_key=READ_TOKEN, max_retries=0)
        assert [model.id for model in client.models.list()] == []
        with pytest.raises(openai.NotFoundError):
            client.models.retrieve(QWEN)

        httpx.post(
            f"{base}/v0/nodes/n1/heartbeat",
            headers=NODE,
            json={"metrics": {}, "models": [{"model_id": QWEN, "state": "ready", "bytes_done": 9, "bytes_total": 9}]},
        )

        assert [model.id for model in client.models.list()] == [QWEN]
        model = client.models.retrieve(QWEN)
        assert (model.id, model.object, model.owned_by) == (QWEN, "model", "bartowski")
        assert model.created > 0
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(base_url=f"{base}/v1", api_key="wrong", max_retries=0).models.list()


def test_serve_refuses_to_start_without_tokens():
    result = run_modelhub("serve", "--port", "1")
    assert result.returncode == 2
    assert "MODELHUB_ADMIN_TOKEN and MODELHUB_NODE_TOKEN must be set" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_reports_bad_settings_in_one_line_each():
    result = run_modelhub(
        "serve", MODELHUB_NODE_OFFLINE_AFTER="soon", MODELHUB_ADMIN_TOKEN="a", MODELHUB_NODE_TOKEN="n"
    )
    assert result.returncode == 2
    assert result.stderr.startswith("modelhub: MODELHUB_NODE_OFFLINE_AFTER='soon':")
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("value", ["", "0", "yes", "maybe"])
def test_no_value_of_hf_hub_offline_is_a_settings_error_and_empty_means_unset(value):
    tokens = {"MODELHUB_ADMIN_TOKEN": "a" * 16, "MODELHUB_NODE_TOKEN": "n" * 16}
    result = run_modelhub("serve", HF_HUB_OFFLINE=value, MODELHUB_NODE_OFFLINE_AFTER="soon", **tokens)
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1, result.stderr  # only the bad MODELHUB_NODE_OFFLINE_AFTER
    assert result.stderr.startswith("modelhub: MODELHUB_NODE_OFFLINE_AFTER='soon':"), result.stderr


def test_an_unusual_hf_hub_offline_value_is_online_with_a_one_line_warning():
    tokens = {"MODELHUB_ADMIN_TOKEN": "a" * 16, "MODELHUB_NODE_TOKEN": "n" * 16}
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        result = run_modelhub("serve", "--port", port, HF_HUB_OFFLINE="maybe", **tokens)
    assert result.returncode == 2  # the port in use: the warning did not stop it
    warning, port_problem = result.stderr.splitlines()
    assert warning.startswith("modelhub: warning: HF_HUB_OFFLINE='maybe' is not 1/ON/YES/TRUE"), warning
    assert "already in use" in port_problem


def test_serve_dev_generates_tokens_prints_them_once_and_uses_them(tmp_path):
    blank = {"MODELHUB_ADMIN_TOKEN": "", "MODELHUB_NODE_TOKEN": "", "MODELHUB_READ_TOKEN": ""}
    with live_server(tmp_path, "--dev", **blank) as (base, process):
        printed = {}
        for line in Path(process.log_path).read_text().splitlines():
            name, _, value = line.strip().partition("=")
            if name.startswith("MODELHUB_") and name.endswith("_TOKEN"):
                printed[name] = value
        assert set(printed) == {"MODELHUB_ADMIN_TOKEN", "MODELHUB_NODE_TOKEN", "MODELHUB_READ_TOKEN"}
        admin = {"Authorization": f"Bearer {printed['MODELHUB_ADMIN_TOKEN']}"}
        assert httpx.post(f"{base}/v0/models/register", json={"model_id": QWEN}, headers=admin).status_code == 201
        assert httpx.get(f"{base}/v0/models/hub", headers={"Authorization": "Bearer x"}).status_code == 401


def test_concurrent_conflicting_registrations_have_exactly_one_winner(tmp_path):
    async def race(base: str) -> list[int]:
        async with httpx.AsyncClient(base_url=base, headers=ADMIN) as client:
            responses = await asyncio.gather(
                *(client.post("/v0/models/register", json={"model_id": QWEN}) for _ in range(20))
            )
            deletes = await asyncio.gather(*(client.delete(f"/v0/models/{QWEN}") for _ in range(5)))
        return sorted(r.status_code for r in responses) + sorted(r.status_code for r in deletes)

    with live_server(tmp_path) as (base, _):
        statuses = asyncio.run(race(base))
        assert statuses == [201] + [409] * 19 + [204] + [404] * 4
        hub = httpx.get(f"{base}/v0/models/hub", headers=READ).json()
        assert next(item for item in hub if item["id"] == QWEN)["status"] == "available"


def test_generated_tokens_never_start_with_a_dash(tmp_path):
    from runtime.dev_tokens import new_token, with_dev_tokens
    from runtime.settings import Settings

    assert all(new_token()[0].isalnum() for _ in range(300))  # token_urlsafe starts with "-" about once in 64
    settings = Settings(admin_token=None, node_token=None, read_token=None)
    _, generated = with_dev_tokens(settings, tmp_path / "dev-tokens.json")
    assert all(token[0].isalnum() for token in generated.values()), generated


def test_dev_tokens_are_kept_owner_only_and_reused_and_the_environment_wins(tmp_path):
    from runtime.dev_tokens import with_dev_tokens
    from runtime.settings import Settings

    path = tmp_path / "data" / "dev-tokens.json"
    _, first = with_dev_tokens(Settings(admin_token=None, node_token=None, read_token=None), path)
    assert path.stat().st_mode & 0o777 == 0o600
    _, second = with_dev_tokens(Settings(admin_token=None, node_token=None, read_token=None), path)
    assert second == first  # a restart keeps the tokens nodes were started with
    settings, third = with_dev_tokens(
        Settings(admin_token="from-the-env-token", node_token=None, read_token=None), path
    )
    assert "MODELHUB_ADMIN_TOKEN" not in third
    assert settings.admin_token is not None
    assert settings.admin_token.get_secret_value() == "from-the-env-token"


def test_serve_on_a_port_in_use_says_so_before_anything_else(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        database = tmp_path / "never.db"
        result = run_modelhub(
            "serve", "--dev", "--port", str(port), MODELHUB_DATABASE_URL=f"sqlite+aiosqlite:///{database}"
        )
    assert result.returncode == 2
    assert result.stderr.strip() == f"modelhub serve: port {port} on 127.0.0.1 is already in use " + (
        "(another modelhub serve?); choose one with --port"
    )
    assert "TOKEN" not in result.stdout  # no tokens printed
    assert not database.exists()  # and no database touched
