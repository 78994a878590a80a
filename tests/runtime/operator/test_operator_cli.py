"""``modelhub models …`` and ``modelhub nodes …`` as subprocesses against a live server on loopback."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from typing import TYPE_CHECKING

import httpx
import pytest

from tests.runtime.conftest import ADMIN, ADMIN_TOKEN, NODE, READ, READ_TOKEN, free_port, live_server

if TYPE_CHECKING:
    from collections.abc import Iterator

QWEN = "qwen3-0.6b"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One auto-approving server for the module; each test uses models and nodes of its own."""
    with live_server(tmp_path_factory.mktemp("operator"), MODELHUB_AUTO_APPROVE_NODES="true") as (base, _):
        yield base


def _environment(server: str | None, token: str | None) -> dict[str, str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("MODELHUB_")}
    if server is not None:
        environment["MODELHUB_SERVER"] = server
    if token is not None:
        environment["MODELHUB_TOKEN"] = token
    return environment


def cli(*args: str, server: str | None, token: str | None = ADMIN_TOKEN) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "runtime", *args],
        env=_environment(server, token),
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )


def start(*args: str, server: str, token: str = ADMIN_TOKEN) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "runtime", *args],
        env=_environment(server, token),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def assert_one_clean_line(stderr: str) -> None:
    assert "Traceback" not in stderr
    assert len(stderr.strip().splitlines()) == 1, stderr


def hub_status(server: str, model_id: str) -> str:
    hub = httpx.get(f"{server}/v0/models/hub", headers=READ).json()
    return str(next(item for item in hub if item["id"] == model_id)["status"])


def wait_for_status(server: str, model_id: str, status: str) -> None:
    deadline = time.monotonic() + 10
    while hub_status(server, model_id) != status:
        assert time.monotonic() < deadline, f"{model_id} never became {status}"
        time.sleep(0.05)


def report(server: str, node: str, model_id: str, state: str, done: int, total: int, error: str | None = None) -> None:
    entry: dict[str, object] = {"model_id": model_id, "state": state, "bytes_done": done, "bytes_total": total}
    if error is not None:
        entry["error"] = error
    response = httpx.post(
        f"{server}/v0/nodes/{node}/heartbeat", headers=NODE, json={"metrics": {"cpu_usage": 0.25}, "models": [entry]}
    )
    assert response.status_code == 200, response.text


def join_node(server: str, node: str) -> None:
    response = httpx.post(f"{server}/v0/nodes", json={"runtime_id": node, "machine_name": f"{node}-host"}, headers=NODE)
    assert response.status_code in (200, 201), response.text


def test_models_list_prints_a_table_and_json(server):
    table = cli("models", "list", server=server, token=READ_TOKEN)
    assert table.returncode == 0, table.stderr
    header, *rows = table.stdout.splitlines()
    assert header.split()[:3] == ["ID", "NAME", "STATUS"]
    assert any(row.startswith(QWEN + " ") for row in rows)

    as_json = cli("models", "list", "--json", server=server, token=READ_TOKEN)
    assert as_json.returncode == 0, as_json.stderr
    items = json.loads(as_json.stdout)
    assert items == httpx.get(f"{server}/v0/models/hub", headers=READ).json()
    assert {"id", "status", "progress", "node_counts", "bytes_done", "bytes_total"} <= set(items[0])


def test_models_show_prints_the_detail(server):
    shown = cli("models", "show", QWEN, server=server)
    assert shown.returncode == 0, shown.stderr
    assert f"id:        {QWEN}" in shown.stdout
    assert "status:" in shown.stdout
    detail = json.loads(cli("models", "--json", "show", QWEN, server=server).stdout)
    assert detail["id"] == QWEN
    assert "nodes" in detail


def test_register_then_delete(server):
    model = "llama-3.2-1b-instruct"
    registered = cli("models", "register", model, server=server)
    assert (registered.returncode, registered.stdout.strip()) == (0, f"registered {model}")
    assert hub_status(server, model) == "registered"

    again = cli("models", "register", model, server=server)
    assert again.returncode == 1
    assert "already registered" in again.stderr
    assert_one_clean_line(again.stderr)

    deleted = cli("models", "delete", model, server=server)
    assert deleted.returncode == 0, deleted.stderr
    assert hub_status(server, model) == "available"


def test_an_unknown_id_exits_1_with_the_servers_message(server):
    for args in (("models", "show", "no-such-model"), ("models", "register", "no-such-model"), ("nodes", "show", "x")):
        result = cli(*args, server=server)
        assert result.returncode == 1, args
        assert_one_clean_line(result.stderr)
    assert "'no-such-model' is not in the catalog" in cli("models", "show", "no-such-model", server=server).stderr
    assert "node_not_found" in cli("nodes", "show", "x", server=server).stderr


def test_a_refused_token_exits_4(server):
    wrong = cli("models", "list", server=server, token="wrong-token")
    assert wrong.returncode == 4
    assert_one_clean_line(wrong.stderr)
    read_only = cli("models", "register", QWEN, server=server, token=READ_TOKEN)  # 403: not an admin token
    assert read_only.returncode == 4
    assert_one_clean_line(read_only.stderr)


def test_token_and_server_options_override_the_environment(server):
    result = cli("models", "list", f"--server={server}", f"--token={READ_TOKEN}", server=None, token="wrong")
    assert result.returncode == 0, result.stderr
    spaced = cli("nodes", "--server", server, "--token", READ_TOKEN, "list", server="http://127.0.0.1:1", token=None)
    assert spaced.returncode == 0, spaced.stderr


def test_a_server_that_is_down_exits_3():
    down = f"http://127.0.0.1:{free_port()}"
    result = cli("models", "list", server=down)
    assert result.returncode == 3
    assert_one_clean_line(result.stderr)
    assert down in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ("models",),
        ("models", "frob"),
        ("models", "show"),
        ("nodes", "register", QWEN),
        ("models", "register", QWEN, "--timeout", "soon"),
        ("models", "list", "--server", "ftp://example"),
    ],
)
def test_bad_usage_exits_2(args):
    result = cli(*args, server="http://127.0.0.1:1")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip()


def test_nodes_list_show_approve_delete(server):
    join_node(server, "ops-node")
    listed = cli("nodes", "list", server=server)
    assert listed.returncode == 0, listed.stderr
    assert any(line.startswith("ops-node ") for line in listed.stdout.splitlines()[1:])
    nodes = json.loads(cli("nodes", "list", "--json", server=server).stdout)
    assert "ops-node" in {node["runtime_id"] for node in nodes}
    shown = cli("nodes", "show", "ops-node", server=server)
    assert shown.returncode == 0, shown.stderr
    assert "machine:        ops-node-host" in shown.stdout

    not_pending = cli("nodes", "approve", "ops-node", server=server)  # auto-approved already: 409
    assert not_pending.returncode == 1
    assert "invalid_transition" in not_pending.stderr
    assert_one_clean_line(not_pending.stderr)

    deleted = cli("nodes", "delete", "ops-node", server=server)
    assert deleted.returncode == 0, deleted.stderr
    assert httpx.get(f"{server}/v0/nodes/ops-node", headers=READ).status_code == 404


def test_nodes_approve_a_pending_node(tmp_path):
    with live_server(tmp_path) as (base, _):
        join_node(base, "waiting")
        approved = cli("nodes", "approve", "waiting", "--json", server=base)
        assert approved.returncode == 0, approved.stderr
        assert json.loads(approved.stdout)["status"] == "registering"


def test_register_wait_follows_a_node_until_ready(server):
    model = "gemma-2-2b-it"
    join_node(server, "wait-ready")
    waiting = start("models", "register", model, "--wait", "--timeout", "20", server=server)
    try:
        wait_for_status(server, model, "registered")
        report(server, "wait-ready", model, "downloading", 1000, 4000)
        time.sleep(0.4)
        report(server, "wait-ready", model, "downloading", 3000, 4000)
        time.sleep(0.4)
        report(server, "wait-ready", model, "ready", 4000, 4000)
        stdout, stderr = waiting.communicate(timeout=15)
    finally:
        waiting.kill()
    assert waiting.returncode == 0, stderr
    assert f"{model}: downloading" in stdout
    assert "nodes: 1 downloading" in stdout
    assert stdout.strip().endswith(f"{model} is ready")
    assert "Traceback" not in stderr


def test_register_wait_exits_1_when_every_node_failed(server):
    model = "qwen2.5-1.5b-instruct"
    join_node(server, "wait-failed")
    waiting = start("models", "register", model, "--wait", "--timeout", "20", server=server)
    try:
        wait_for_status(server, model, "registered")
        report(server, "wait-failed", model, "downloading", 10, 100)
        report(server, "wait-failed", model, "failed", 10, 100, error="sha256 mismatch on model.gguf")
        stdout, stderr = waiting.communicate(timeout=15)
    finally:
        waiting.kill()
    assert waiting.returncode == 1, (stdout, stderr)
    assert_one_clean_line(stderr)
    assert "wait-failed: sha256 mismatch on model.gguf" in stderr
    assert hub_status(server, model) != "available"  # the registration stays


def test_register_wait_times_out_with_exit_1(server):
    model = "phi-3.5-mini-instruct"
    started = time.monotonic()
    result = cli("models", "register", model, "--wait", "--timeout", "1", server=server)
    assert result.returncode == 1
    assert time.monotonic() - started < 10
    assert "timed out after 1 s" in result.stderr
    assert_one_clean_line(result.stderr)
    assert hub_status(server, model) == "registered"


def test_register_wait_json_prints_the_final_detail(server):
    model = "smollm2-1.7b-instruct-q8_0"
    join_node(server, "wait-json")
    waiting = start("models", "register", model, "--wait", "--json", "--timeout", "20", server=server)
    try:
        wait_for_status(server, model, "registered")
        report(server, "wait-json", model, "ready", 50, 50)
        stdout, stderr = waiting.communicate(timeout=15)
    finally:
        waiting.kill()
    assert waiting.returncode == 0, stderr
    detail = json.loads(stdout)
    assert (detail["id"], detail["status"]) == (model, "ready")


def test_ctrl_c_during_wait_exits_130_and_keeps_the_registration(server):
    model = "smollm2-1.7b-instruct-q4_k_s"
    waiting = start("models", "register", model, "--wait", server=server)
    try:
        wait_for_status(server, model, "registered")
        time.sleep(0.5)  # let it subscribe
        waiting.send_signal(signal.SIGINT)
        _, stderr = waiting.communicate(timeout=10)
    finally:
        waiting.kill()
    assert waiting.returncode == 130
    assert "Traceback" not in stderr
    assert "stays in place" in stderr
    assert hub_status(server, model) == "registered"
    assert httpx.get(f"{server}/v0/models/{model}", headers=ADMIN).json()["status"] == "registered"
