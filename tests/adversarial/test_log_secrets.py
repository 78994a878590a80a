"""No token reaches a log line, whatever the route, the level or the logger: a live server's whole log is grepped."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
from websockets.asyncio.client import connect

from runtime.log_redaction import REDACTED, redact
from tests.runtime.conftest import ADMIN, ADMIN_TOKEN, NODE, NODE_TOKEN, READ_TOKEN, live_server


def test_redact_removes_the_secrets_the_query_values_and_bearer_credentials():
    line = 'GET /ws?topics=models&token=abc123 "Authorization: Bearer xyz789" secret-value'
    assert redact(line, ["secret-value"]) == (
        f'GET /ws?topics=models&token={REDACTED} "Authorization: Bearer {REDACTED}" {REDACTED}'
    )


async def test_a_full_run_logs_no_token(tmp_path: Path):
    with live_server(tmp_path) as (base, process):
        ws = base.replace("http://", "ws://")
        for token in (READ_TOKEN, NODE_TOKEN, ADMIN_TOKEN, "not-a-token-at-all"):
            try:
                async with connect(f"{ws}/ws?token={token}") as websocket:
                    await websocket.send(json.dumps({"op": "subscribe", "topics": ["models"]}))
                    await asyncio.wait_for(websocket.recv(), 5)
            except Exception:  # refused sockets are part of the run
                pass
        async with httpx.AsyncClient(base_url=base) as client:
            await client.get(f"/v0/models/hub?token={ADMIN_TOKEN}")
            await client.post("/v0/models/register", json={"model_id": "qwen3-0.6b"}, headers=ADMIN)
            await client.post("/v0/nodes", json={"runtime_id": "n1", "machine_name": "m"}, headers=NODE)
            await client.post(
                "/v0/nodes/n1/heartbeat", content=b"{bad", headers={**NODE, "Content-Type": "application/json"}
            )
            await client.get("/v0/nodes", headers={"Authorization": f"Bearer {NODE_TOKEN}x"})
        log = Path(process.log_path)  # type: ignore[attr-defined]
    text = log.read_text(encoding="utf-8")
    assert "WebSocket /ws" in text  # the handshakes were logged, without their tokens
    for token in (READ_TOKEN, NODE_TOKEN, ADMIN_TOKEN, "not-a-token-at-all"):
        assert token not in text, [line for line in text.splitlines() if token in line]
