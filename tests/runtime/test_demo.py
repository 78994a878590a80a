"""``just demo`` (``runtime/demo.py``): the summary is the last thing on screen, and models are counted per model."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections import Counter

import httpx

from runtime.demo import EXAMPLE_MODEL, model_counts, status_line, summary
from tests.conftest import ROOT
from tests.runtime.conftest import free_port

TOKENS = {"ADMIN": "admin-token", "READ": "read-token", "NODE": "node-token"}


def test_a_model_ready_on_three_nodes_counts_once():
    hub = [
        {"id": "a", "status": "ready", "node_counts": {"ready": 3}},
        {"id": "b", "status": "downloading", "node_counts": {"downloading": 2, "ready": 0}},
        {"id": "c", "status": "available", "node_counts": {}},
    ]
    counts = model_counts(hub)
    assert counts == Counter({"ready": 1, "downloading": 1, "available": 1})
    assert status_line(counts) == "1 model ready, 1 downloading, 0 registered (of 3 in the catalog)"
    assert status_line(Counter(ready=2, registered=1)).startswith("2 models ready, 0 downloading, 1 registered")


def test_the_summary_names_the_dashboard_the_tokens_and_the_commands_to_try(tmp_path):
    text = summary("http://127.0.0.1:8000", "http://127.0.0.1:9999", TOKENS, tmp_path, 3, Counter(available=21))
    assert "http://127.0.0.1:8000/" in text
    assert all(token in text for token in TOKENS.values())
    assert f"models register {EXAMPLE_MODEL} --wait" in text
    assert "--server" not in text  # the CLI's default server needs no flag
    assert "0 models ready, 0 downloading, 0 registered (of 21 in the catalog)" in text
    other = summary("http://127.0.0.1:8001", "http://127.0.0.1:9999", TOKENS, tmp_path, 3, Counter())
    assert "models list --server http://127.0.0.1:8001" in other


def _lines(stream, into: queue.Queue[str]) -> None:
    for line in stream:
        into.put(line.rstrip("\n"))


def _next_line(lines: queue.Queue[str], timeout: float) -> str | None:
    try:
        return lines.get(timeout=timeout)
    except queue.Empty:
        return None


def test_the_demo_prints_its_summary_last_then_one_line_per_model_change(tmp_path):
    port = free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("MODELHUB_", "HF_"))}
    process = subprocess.Popen(
        [sys.executable, "-m", "runtime.demo", "--port", str(port), "--data", str(tmp_path / "demo")],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=_lines, args=(process.stdout, lines), daemon=True).start()
    try:
        seen: list[str] = []
        deadline = time.monotonic() + 60
        while not (seen and seen[-1].startswith("Ctrl-C stops everything")):
            line = _next_line(lines, max(0.1, deadline - time.monotonic()))
            assert line is not None, "\n".join(seen)
            seen.append(line)
        text = "\n".join(seen)
        assert "INFO" not in text  # the server's log goes to a file
        assert "heartbeats/s" not in text  # and so does the simulator's
        admin = next(line.split()[-1] for line in seen if line.strip().startswith("admin token"))
        assert _next_line(lines, 3) is None  # nothing happens, so nothing is printed after the summary
        register = httpx.post(
            f"http://127.0.0.1:{port}/v0/models/register",
            json={"model_id": EXAMPLE_MODEL},
            headers={"Authorization": f"Bearer {admin}"},
        )
        assert register.status_code == 201
        changes: list[str] = []
        while not (changes and "1 model ready" in changes[-1]):
            line = _next_line(lines, max(0.1, deadline - time.monotonic()))
            assert line is not None, "\n".join(changes)
            changes.append(line)
        assert not any("3 models ready" in line for line in changes)  # 3 nodes, one model
        assert (tmp_path / "demo" / "server.log").stat().st_size > 0
    finally:
        process.send_signal(signal.SIGINT)
        try:
            assert process.wait(timeout=30) == 0
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            if process.stdout is not None:
                process.stdout.close()
