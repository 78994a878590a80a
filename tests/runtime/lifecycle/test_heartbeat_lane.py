"""The heartbeat lane answers exactly as the Litestar route it stands in front of.

``/v0/nodes/<id>/heartbeat/`` (a trailing slash) is not the lane's path, so Litestar routes it to
``NodesController.heartbeat``: each request below goes once to each, and both answers must match
byte for byte, for good heartbeats and for every kind of refusal.
"""

from __future__ import annotations

import pytest

from tests.runtime.conftest import ADMIN, NODE, READ

GOOD = b'{"metrics":{"cpu_usage":0.5},"models":[]}'
REPORT = b'{"metrics":{},"models":[{"model_id":"qwen3-0.6b","state":"downloading","bytes_done":%d,"bytes_total":100}]}'


def _send(client, path, body, headers):
    response = client.post(path, content=body, headers=headers)
    return response.status_code, response.headers["content-type"], response.content


def _both(client, runtime_id, body, headers):
    """The lane's answer and Litestar's, for one request (sent to the lane first)."""
    lane = _send(client, f"/v0/nodes/{runtime_id}/heartbeat", body, headers)
    litestar = _send(client, f"/v0/nodes/{runtime_id}/heartbeat/", body, headers)
    return lane, litestar


@pytest.fixture
def node(client):
    response = client.post("/v0/nodes", json={"runtime_id": "node-a", "machine_name": "a.lan"}, headers=NODE)
    assert response.status_code == 201
    assert client.post("/v0/nodes/node-a/approve", headers=ADMIN).status_code == 200
    assert client.post("/v0/models/register", json={"model_id": "qwen3-0.6b"}, headers=ADMIN).status_code == 201
    return "node-a"


JSON = {**NODE, "Content-Type": "application/json"}


@pytest.mark.parametrize(
    ("runtime_id", "body", "headers", "status"),
    [
        ("node-a", GOOD, JSON, 200),
        ("node-a", GOOD, {"Content-Type": "application/json"}, 401),
        ("node-a", GOOD, {**READ, "Content-Type": "application/json"}, 403),
        ("node-a", GOOD, {**ADMIN, "Content-Type": "application/json"}, 403),
        ("node-a", GOOD, {**NODE, "Content-Type": "text/plain"}, 415),
        ("node-a", b"{not json", JSON, 400),
        ("node-a", b'{"metrics":{},"models":[{"model_id":"qwen3-0.6b"}]}', JSON, 422),
        (
            "node-a",
            b'{"metrics":{},"models":[{"model_id":"nope","state":"ready","bytes_done":0,"bytes_total":0}]}',
            JSON,
            404,
        ),
        ("ghost", GOOD, JSON, 404),
    ],
    ids=[
        "ok",
        "no-token",
        "read-token",
        "admin-token",
        "text-plain",
        "not-json",
        "schema",
        "unknown-model",
        "unknown-node",
    ],
)
def test_the_lane_answers_as_the_litestar_route(client, node, runtime_id, body, headers, status):
    lane, litestar = _both(client, runtime_id, body, headers)
    assert lane[0] == status, lane
    assert lane == litestar


def test_a_report_going_back_is_refused_alike(client, node):
    assert _send(client, "/v0/nodes/node-a/heartbeat", REPORT % 50, JSON)[0] == 200
    lane, litestar = _both(client, "node-a", REPORT % 10, JSON)
    assert lane[0] == 409
    assert lane == litestar


def test_a_body_over_the_limit_is_413_alike(client, node, settings):
    body = b'{"metrics":{},"models":[' + b" " * settings.max_body_bytes + b"]}"
    lane, litestar = _both(client, "node-a", body, JSON)
    assert lane[0] == 413
    assert lane == litestar


def test_a_path_the_guard_refuses_is_left_to_the_guard(client, node):
    response = client.post("/v0/nodes/node%2Fa/heartbeat", content=GOOD, headers=JSON)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_other_methods_of_the_path_are_litestar_s(client, node):
    assert client.options("/v0/nodes/node-a/heartbeat", headers=NODE).status_code == 204
    assert client.get("/v0/nodes/node-a/heartbeat", headers=NODE).status_code == 405


def test_lane_requests_are_counted_under_the_route_template(client, node):
    for _ in range(3):
        assert _send(client, "/v0/nodes/node-a/heartbeat", GOOD, JSON)[0] == 200
    assert _send(client, "/v0/nodes/node-a/heartbeat", GOOD, {"Content-Type": "application/json"})[0] == 401
    text = client.get("/metrics").text
    counted = {
        line.split("} ")[0]: float(line.split("} ")[1])
        for line in text.splitlines()
        if line.startswith("modelhub_http_requests_total{") and 'route="/v0/nodes/{runtime_id}/heartbeat"' in line
    }
    assert [value for key, value in counted.items() if 'status="200"' in key] == [3.0]
    assert [value for key, value in counted.items() if 'status="401"' in key] == [1.0]


def test_the_app_hands_requests_to_the_lane_first(client):
    """The comparisons above compare two code paths only if the plain path is the lane's."""
    assert client.app.asgi_handler.__qualname__ == "heartbeat_lane.<locals>.lane"


def test_an_unexpected_failure_is_a_500_with_the_error_body_alike(client, node, monkeypatch, caplog):
    async def broken(runtime_id, heartbeat):
        raise RuntimeError("the lifecycle broke")

    monkeypatch.setattr(client.app.state.services.lifecycle, "heartbeat", broken)
    lane, litestar = _both(client, "node-a", GOOD, JSON)
    assert lane[0] == 500
    assert lane == litestar
    assert b"the lifecycle broke" not in lane[2]  # the cause is logged, not sent
    assert [record.getMessage() for record in caplog.records].count("unhandled error") == 2  # once each
