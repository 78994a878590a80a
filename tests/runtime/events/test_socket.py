"""GET /ws and /ws/models through Litestar's test client: the protocol end to end, in one process."""

from __future__ import annotations

import json
import time

import pytest
from litestar.exceptions import WebSocketDisconnect
from litestar.testing import TestClient

from runtime.app import create_app
from tests.runtime.conftest import ADMIN, ADMIN_TOKEN, NODE, NODE_TOKEN, READ, READ_TOKEN, make_settings
from tests.runtime.events.schemas import errors as schema_errors

A, B, C = "qwen3-0.6b", "llama-3.2-1b-instruct", "gemma-2-2b-it"


def make_client(tmp_path, **overrides) -> TestClient:
    return TestClient(create_app(make_settings(tmp_path, auto_approve_nodes=True, **overrides)))


@pytest.fixture
def client(tmp_path):
    with make_client(tmp_path) as test_client:
        yield test_client


def frames(socket, count: int) -> list[dict]:
    return [json.loads(socket.receive_text(timeout=5)) for _ in range(count)]


def until(socket, frame_type: str, limit: int = 50) -> dict:
    """The next frame of ``frame_type``, skipping others."""
    for _ in range(limit):
        frame = json.loads(socket.receive_text(timeout=5))
        if frame["type"] == frame_type:
            return frame
    raise AssertionError(f"no {frame_type} frame")


def connect(client, path="/ws", token=READ_TOKEN):
    return client.websocket_connect(f"{path}?token={token}")


def subscribe(socket, *topics: str, since: int | None = None) -> list[dict]:
    op = {"op": "subscribe", "topics": list(topics)} | ({"since": since} if since is not None else {})
    socket.send_json(op)
    return frames(socket, 1 + (0 if since is not None else len(set(topics))))


def heartbeat(client, runtime_id, *reports, **metrics):
    models = [
        {"model_id": model_id, "state": state, "bytes_done": done, "bytes_total": 100}
        for model_id, state, done in reports
    ]
    response = client.post(
        f"/v0/nodes/{runtime_id}/heartbeat", json={"metrics": metrics, "models": models}, headers=NODE
    )
    assert response.status_code == 200, response.text
    return response


def add_node(client, runtime_id="n1"):
    assert (
        client.post("/v0/nodes", json={"runtime_id": runtime_id, "machine_name": "m"}, headers=NODE).status_code == 201
    )


# ----------------------------------------------------------------- auth


@pytest.mark.parametrize("path", ["/ws", "/ws/models"])
@pytest.mark.parametrize(
    ("query", "headers", "cookies", "code"),
    [
        ("", {}, {}, 4401),
        ("?token=wrong", {}, {}, 4401),
        ("", {"Authorization": "Bearer wrong"}, {}, 4401),
        ("", {}, {"modelhub_token": "wrong"}, 4401),
        (f"?token={NODE_TOKEN}", {}, {}, 4403),
        ("", {"Authorization": f"Bearer {NODE_TOKEN}"}, {}, 4403),
        ("", {}, {"modelhub_token": NODE_TOKEN}, 4403),
    ],
)
def test_a_refused_socket_is_closed_before_any_frame(client, path, query, headers, cookies, code):
    client.cookies.clear()
    client.cookies.update(cookies)
    with (
        pytest.raises(WebSocketDisconnect) as closed,
        client.websocket_connect(path + query, headers=headers) as socket,
    ):
        socket.receive_text(timeout=5)
    assert closed.value.code == code
    assert closed.value.detail.startswith("unauthorized: " if code == 4401 else "forbidden: ")


@pytest.mark.parametrize(
    ("query", "headers", "cookies"),
    [
        (f"?token={READ_TOKEN}", {}, {}),
        (f"?token={ADMIN_TOKEN}", {}, {}),
        ("", READ, {}),
        ("", ADMIN, {}),
        ("", {}, {"modelhub_token": READ_TOKEN}),
        ("", {}, {"modelhub_token": ADMIN_TOKEN}),
    ],
)
def test_read_and_admin_tokens_are_accepted_by_header_query_or_cookie(client, query, headers, cookies):
    client.cookies.clear()
    client.cookies.update(cookies)
    with client.websocket_connect("/ws" + query, headers=headers) as socket:
        socket.send_json({"op": "ping"})
        assert frames(socket, 1) == [{"type": "Pong"}]


# ----------------------------------------------------------------- snapshot, order, seq


def test_subscribe_sends_snapshots_equal_to_the_http_answers(client):
    client.post("/v0/models/register", json={"model_id": A}, headers=ADMIN)
    add_node(client)
    heartbeat(client, "n1", (A, "downloading", 40), cpu_usage=0.5)
    with connect(client) as socket:
        confirmed, models, nodes, metrics = subscribe(socket, "models", "nodes", "metrics")
    assert confirmed["type"] == "Subscribed"
    assert confirmed["topics"] == ["metrics", "models", "nodes"]
    assert models == {"type": "Snapshot", "topic": "models", "items": client.get("/v0/models/hub", headers=READ).json()}
    assert nodes == {"type": "Snapshot", "topic": "nodes", "items": client.get("/v0/nodes", headers=READ).json()}
    assert metrics == {
        "type": "Snapshot",
        "topic": "metrics",
        "items": [{"runtime_id": "n1", "metrics": {"cpu_usage": 0.5}, "stale": False}],
    }


def test_single_model_and_node_topics(client):
    add_node(client)
    with connect(client) as socket:
        _, model, node, unknown_node = subscribe(socket, f"model:{A}", "node:n1", "metrics:n2")
    assert [item["id"] for item in model["items"]] == [A]
    assert [item["runtime_id"] for item in node["items"]] == ["n1"]
    assert unknown_node["items"] == []


def test_one_model_and_one_node_snapshots_are_their_details(client):
    client.post("/v0/models/register", json={"model_id": A}, headers=ADMIN)
    add_node(client)
    heartbeat(client, "n1", (A, "downloading", 40))
    with connect(client) as socket:
        _, model, node, ghost = subscribe(socket, f"model:{A}", "node:n1", "node:ghost")
    assert model["items"] == [client.get(f"/v0/models/{A}", headers=READ).json()]
    assert [row["runtime_id"] for row in model["items"][0]["nodes"]] == ["n1"]
    assert node["items"] == [client.get("/v0/nodes/n1", headers=READ).json()]
    assert [row["model_id"] for row in node["items"][0]["models"]] == [A]
    assert ghost == {"type": "Snapshot", "topic": "node:ghost", "items": []}


def test_events_arrive_in_order_with_increasing_seq(client):
    with connect(client) as socket:
        (confirmed, _) = subscribe(socket, "models")
        for model_id in (A, B, C):
            assert client.post("/v0/models/register", json={"model_id": model_id}, headers=ADMIN).status_code == 201
        assert client.delete(f"/v0/models/{B}", headers=ADMIN).status_code == 204
        events = frames(socket, 4)
    assert [(event["model_id"], event["status"]) for event in events] == [
        (A, "registered"),
        (B, "registered"),
        (C, "registered"),
        (B, "available"),
    ]
    seqs = [confirmed["seq"]] + [event["seq"] for event in events]
    assert seqs == sorted(set(seqs))
    assert all(event["ts"].endswith("Z") for event in events)


def test_only_subscribed_topics_arrive(client):
    with connect(client) as socket:
        subscribe(socket, f"model:{B}")
        client.post("/v0/models/register", json={"model_id": A}, headers=ADMIN)
        add_node(client)
        client.post("/v0/models/register", json={"model_id": B}, headers=ADMIN)
        event = frames(socket, 1)[0]
    assert (event["type"], event["model_id"]) == ("ModelStatusChanged", B)


def test_a_change_between_fetch_and_subscribe_is_in_the_snapshot(client):
    """The dashboard's race: it fetched the hub, a model was registered, then it subscribed."""
    before = client.get("/v0/models/hub", headers=READ).json()
    client.post("/v0/models/register", json={"model_id": A}, headers=ADMIN)
    with connect(client) as socket:
        _, snapshot = subscribe(socket, "models")
    status = {item["id"]: item["status"] for item in snapshot["items"]}
    assert status[A] == "registered"
    assert {item["id"]: item["status"] for item in before}[A] == "available"


def test_a_heartbeat_publishes_status_model_and_metrics(client):
    client.post("/v0/models/register", json={"model_id": A}, headers=ADMIN)
    add_node(client)
    with connect(client) as socket:
        subscribe(socket, "models", "nodes", "metrics")
        heartbeat(client, "n1", (A, "ready", 100), gpu_usage=0.75)
        node, model, metrics = frames(socket, 3)
        socket.send_json({"op": "ping"})
        assert frames(socket, 1) == [{"type": "Pong"}]  # no NodeModelChanged: it is not on these topics
    assert (node["type"], node["runtime_id"], node["previous"], node["status"]) == (
        "NodeStatusChanged",
        "n1",
        "registering",
        "online",
    )
    assert (node["machine_name"], node["synced"]) == ("m", True)
    assert (model["type"], model["status"], model["node_counts"]["ready"]) == ("ModelStatusChanged", "ready", 1)
    assert "nodes" not in model
    assert (metrics["type"], metrics["metrics"], metrics["stale"]) == ("MetricsUpdated", {"gpu_usage": 0.75}, False)


def test_a_deleted_node_has_status_null(client):
    add_node(client)
    with connect(client) as socket:
        subscribe(socket, "node:n1")
        assert client.delete("/v0/nodes/n1", headers=ADMIN).status_code == 204
        event = frames(socket, 1)[0]
    assert (event["status"], event["previous"]) == (None, "registering")


def test_the_offline_timer_publishes_without_any_request(tmp_path):
    with make_client(tmp_path, node_offline_after=0.3) as client:
        add_node(client)
        heartbeat(client, "n1")
        with connect(client) as socket:
            subscribe(socket, "nodes", "metrics")
            started = time.monotonic()
            node = until(socket, "NodeStatusChanged")
            metrics = until(socket, "MetricsUpdated")
    assert (node["previous"], node["status"]) == ("online", "offline")
    assert metrics["stale"] is True
    assert time.monotonic() - started < 3


def test_progress_is_coalesced_on_the_wire(tmp_path):
    with make_client(tmp_path, ws_progress_interval=0.3, ws_node_progress_interval=0.3) as client:
        client.post("/v0/models/register", json={"model_id": A}, headers=ADMIN)
        add_node(client)
        with connect(client) as socket:
            subscribe(socket, f"model:{A}")
            for done in range(10, 60, 5):
                heartbeat(client, "n1", (A, "downloading", done))
            received = frames(socket, 4)
            socket.send_json({"op": "ping"})
            assert frames(socket, 1) == [{"type": "Pong"}]  # nothing else was queued before the ping's answer
    models = [frame for frame in received if frame["type"] == "ModelStatusChanged"]
    rows = [frame for frame in received if frame["type"] == "NodeModelChanged"]
    assert [(frame["status"], frame["progress"]) for frame in models] == [("downloading", 0.1), ("downloading", 0.55)]
    assert [(frame["state"], frame["bytes_done"]) for frame in rows] == [("downloading", 10), ("downloading", 55)]


# ----------------------------------------------------------------- resume


def test_resume_with_since_replays_what_was_missed_and_no_snapshot(client):
    with connect(client) as socket:
        (confirmed, _) = subscribe(socket, "models")
        client.post("/v0/models/register", json={"model_id": A}, headers=ADMIN)
        last = frames(socket, 1)[0]["seq"]
    client.post("/v0/models/register", json={"model_id": B}, headers=ADMIN)
    add_node(client)  # a nodes event, not replayed to a models subscriber
    client.post("/v0/models/register", json={"model_id": C}, headers=ADMIN)
    with connect(client) as socket:
        resumed = subscribe(socket, "models", since=last)
        replayed = frames(socket, 2)
        socket.send_json({"op": "ping"})
        assert frames(socket, 1) == [{"type": "Pong"}]
    assert resumed[0]["type"] == "Subscribed"
    assert resumed[0]["seq"] > last > confirmed["seq"]
    assert [(event["model_id"], event["status"]) for event in replayed] == [(B, "registered"), (C, "registered")]


def test_a_since_older_than_the_buffer_gets_resync_required_and_a_snapshot(tmp_path):
    with make_client(tmp_path, ws_replay_size=2) as client:
        with connect(client) as socket:
            (confirmed, _) = subscribe(socket, "models")
        for model_id in (A, B, C):
            client.post("/v0/models/register", json={"model_id": model_id}, headers=ADMIN)
        time.sleep(0.1)
        with connect(client) as socket:
            confirmed_again, resync, snapshot = subscribe(socket, "models", since=confirmed["seq"]) + frames(socket, 2)
    assert [confirmed_again["type"], resync, snapshot["type"]] == ["Subscribed", {"type": "ResyncRequired"}, "Snapshot"]
    assert {item["id"]: item["status"] for item in snapshot["items"]}[C] == "registered"


def test_a_since_from_the_future_gets_resync_required(client):
    with connect(client) as socket:
        socket.send_json({"op": "subscribe", "topics": ["nodes"], "since": 2**52})
        assert [frame["type"] for frame in frames(socket, 3)] == ["Subscribed", "ResyncRequired", "Snapshot"]


def test_the_models_alias_is_subscribed_from_the_start_and_resumes_with_since(client):
    with connect(client, "/ws/models") as socket:
        confirmed, snapshot = frames(socket, 2)
        client.post("/v0/models/register", json={"model_id": A}, headers=ADMIN)
        event = frames(socket, 1)[0]
    assert (confirmed["topics"], snapshot["topic"]) == (["models"], "models")
    assert event["model_id"] == A  # the seed's snippet filters on data.model_id
    client.post("/v0/models/register", json={"model_id": B}, headers=ADMIN)
    with client.websocket_connect(f"/ws/models?token={READ_TOKEN}&since={event['seq']}") as socket:
        confirmed, replayed = frames(socket, 2)
    assert (confirmed["type"], replayed["model_id"]) == ("Subscribed", B)


# ----------------------------------------------------------------- heartbeats and bad input


def test_heartbeat_frames_come_on_schedule(tmp_path):
    with make_client(tmp_path, ws_heartbeat_interval=0.1) as client, connect(client) as socket:
        started = time.monotonic()
        assert frames(socket, 2) == [{"type": "Heartbeat"}, {"type": "Heartbeat"}]
    assert time.monotonic() - started < 2


@pytest.mark.parametrize(
    ("sent", "code"),
    [
        ("{not json", "invalid_json"),
        ('{"op":"nope"}', "unknown_op"),
        ('{"topics":["models"]}', "unknown_op"),
        ('{"op":"subscribe","topics":["everything"]}', "unknown_topic"),
        ('{"op":"subscribe","topics":["model:not-in-catalog"]}', "unknown_topic"),
        ('{"op":"subscribe","topics":"models"}', "validation_error"),
        ('{"op":"subscribe","topics":["models"],"since":-3}', "validation_error"),
        ("[]", "validation_error"),
        ("x" * 65536, "invalid_json"),  # exactly 64 KiB is still read
    ],
)
def test_malformed_input_gets_an_error_frame_and_the_connection_stays_open(client, sent, code):
    with connect(client) as socket:
        socket.send_text(sent)
        error = frames(socket, 1)[0]
        socket.send_json({"op": "ping"})
        assert frames(socket, 1) == [{"type": "Pong"}]
    assert error["type"] == "Error"
    assert error["code"] == code
    assert error["message"]


def test_a_binary_frame_gets_an_error_frame(client):
    with connect(client) as socket:
        socket.send_bytes(b'{"op":"ping"}')
        assert frames(socket, 1)[0]["code"] == "invalid_frame"


@pytest.mark.parametrize("frame", ["x" * 65537, "é" * 32769])
def test_a_frame_over_64_kib_closes_with_1009(client, frame):
    with connect(client) as socket:
        socket.send_text(frame)
        with pytest.raises(WebSocketDisconnect) as closed:
            socket.receive_text(timeout=5)
    assert closed.value.code == 1009


def test_unsubscribe_stops_events(client):
    with connect(client) as socket:
        subscribe(socket, "models", "nodes")
        socket.send_json({"op": "unsubscribe", "topics": ["models"]})
        confirmed = frames(socket, 1)[0]
        assert (confirmed["type"], confirmed["topics"]) == ("Subscribed", ["nodes"])
        client.post("/v0/models/register", json={"model_id": A}, headers=ADMIN)
        add_node(client)
        event = frames(socket, 1)[0]
    assert event["type"] == "NodeStatusChanged"


# ----------------------------------------------------------------- health


def metric(client, name: str) -> float:
    """The value of an unlabelled metric, which carries only the replica label."""
    sample = f'{name}{{replica="{client.app.state.settings.replica_id}"}} '
    lines = [line for line in client.get("/metrics").text.splitlines() if line.startswith(sample)]
    return float(lines[0].split()[1])


def test_metrics_count_connections_frames_and_resyncs(client):
    with connect(client) as socket:
        subscribe(socket, "models")
        subscribe(socket, "nodes", since=0)  # out of reach: ResyncRequired
        frames(socket, 2)
        client.post("/v0/models/register", json={"model_id": A}, headers=ADMIN)
        frames(socket, 1)
        assert metric(client, "modelhub_ws_connections") == 1
        assert metric(client, "modelhub_ws_frames_total") == 1
    assert metric(client, "modelhub_ws_connections") == 0


def test_readyz_fails_while_the_events_backend_is_unhealthy(client):
    backend = client.app.state.services.events.backend
    backend.healthy = False
    response = client.get("/readyz")
    backend.healthy = True
    assert response.status_code == 503
    assert response.json()["checks"]["events"].startswith("unreachable")
    assert client.get("/readyz").status_code == 200


def test_the_models_alias_refuses_a_since_that_is_not_a_number_and_sends_the_snapshot(client):
    with client.websocket_connect(f"/ws/models?token={READ_TOKEN}&since=yesterday") as socket:
        error, confirmed, snapshot = frames(socket, 3)
    assert (error["type"], error["code"]) == ("Error", "validation_error")
    assert "since" in error["message"]
    assert (confirmed["type"], snapshot["type"]) == ("Subscribed", "Snapshot")


def test_the_models_snapshot_follows_the_hub(client):
    with connect(client) as socket:
        first = subscribe(socket, "models")[1]
        client.post("/v0/models/register", json={"model_id": A}, headers=ADMIN)
        frames(socket, 1)
        second = subscribe(socket, "models")[1]
    assert first != second
    assert second["items"] == client.get("/v0/models/hub", headers=READ).json()


# ----------------------------------------------------------------- the new contract: rows, aggregates, stalls


def test_node_model_changed_goes_to_the_model_and_node_topics_not_to_models(client):
    client.post("/v0/models/register", json={"model_id": A}, headers=ADMIN)
    add_node(client)
    with connect(client) as models, connect(client) as one_model, connect(client) as one_node:
        subscribe(models, "models")
        subscribe(one_model, f"model:{A}")
        subscribe(one_node, "node:n1")
        heartbeat(client, "n1", (A, "downloading", 30))
        on_model = [until(one_model, "NodeModelChanged")]
        on_node = [until(one_node, "NodeModelChanged")]
        on_models = frames(models, 1)
        for socket in (models, one_model, one_node):
            socket.send_json({"op": "ping"})
        assert until(models, "Pong") == {"type": "Pong"}
    assert on_model == on_node
    [row] = on_model
    assert (row["model_id"], row["runtime_id"], row["state"], row["bytes_done"], row["bytes_total"]) == (
        A,
        "n1",
        "downloading",
        30,
        100,
    )
    assert [frame["type"] for frame in on_models] == ["ModelStatusChanged"]


def test_models_frames_carry_no_node_list_and_validate_against_the_schema(client):
    client.post("/v0/models/register", json={"model_id": A}, headers=ADMIN)
    add_node(client)
    heartbeat(client, "n1", (A, "downloading", 10))
    with connect(client) as socket:
        received = subscribe(socket, "models")
        client.post("/v0/models/register", json={"model_id": B}, headers=ADMIN)
        heartbeat(client, "n1", (A, "ready", 100), (B, "failed", 0))
        client.delete(f"/v0/models/{B}", headers=ADMIN)
        received += frames(socket, 4)
        socket.send_json({"op": "ping"})
        assert frames(socket, 1) == [{"type": "Pong"}]
    assert [frame["type"] for frame in received] == ["Subscribed", "Snapshot"] + ["ModelStatusChanged"] * 4
    for frame in received:
        assert schema_errors("events.schema.json", "ServerFrame", frame) == [], frame
    for item in received[1]["items"]:
        assert "nodes" not in item
        assert schema_errors("hub.schema.json", "HubItem", item) == []
    for event in received[2:]:
        assert "nodes" not in event
        assert set(event["node_counts"]) == {"pending", "downloading", "ready", "failed", "stalled", "offline"}
    assert [(event["model_id"], event["status"], event["node_counts"]["failed"]) for event in received[2:]] == [
        (B, "registered", 0),
        (B, "registered", 1),  # one change's models go out by model id
        (A, "ready", 0),
        (B, "available", 0),
    ]


def test_a_silent_download_stalls_on_the_timer(tmp_path):
    with make_client(tmp_path, download_stall_after=0.3, node_offline_after=4) as client:
        client.post("/v0/models/register", json={"model_id": A}, headers=ADMIN)
        add_node(client)
        with connect(client) as socket:
            subscribe(socket, f"model:{A}")
            started = time.monotonic()
            heartbeat(client, "n1", (A, "downloading", 10))
            fresh = until(socket, "NodeModelChanged")
            stalled = until(socket, "NodeModelChanged")  # no heartbeat in between: the timer found it
            model = until(socket, "ModelStatusChanged")
            while model["node_counts"]["stalled"] == 0:
                model = until(socket, "ModelStatusChanged")
        detail = client.get(f"/v0/models/{A}", headers=READ).json()
    assert (fresh["stalled"], stalled["stalled"], stalled["state"], stalled["bytes_done"]) == (
        False,
        True,
        "downloading",
        10,
    )
    assert model["node_counts"] == {"pending": 0, "downloading": 1, "ready": 0, "failed": 0, "stalled": 1, "offline": 0}
    assert model["status"] == "downloading"
    assert detail["node_counts"]["stalled"] == 1
    assert detail["nodes"][0]["stalled"] is True
    assert time.monotonic() - started < 3.5  # before the node could go offline


def test_registering_a_model_publishes_synced_false_and_keeps_the_node_online(client):
    client.post("/v0/models/register", json={"model_id": A}, headers=ADMIN)
    add_node(client)
    heartbeat(client, "n1", (A, "ready", 100))
    with connect(client) as socket:
        subscribe(socket, "node:n1", f"model:{A}")
        client.post("/v0/models/register", json={"model_id": B}, headers=ADMIN)
        node = frames(socket, 1)[0]
        socket.send_json({"op": "ping"})
        assert frames(socket, 1) == [{"type": "Pong"}]  # nothing about A
    assert (node["type"], node["previous"], node["status"], node["synced"]) == (
        "NodeStatusChanged",
        "online",
        "online",
        False,
    )
    assert [m["id"] for m in client.get("/v1/models", headers=READ).json()["data"]] == [A]


def test_a_subscribe_beyond_the_topic_limit_is_refused_whole(tmp_path):
    with make_client(tmp_path, ws_max_topics=3) as client, connect(client) as socket:
        subscribe(socket, "models", "nodes")
        socket.send_json({"op": "subscribe", "topics": ["metrics", "metrics:a", "metrics:b"]})
        error = json.loads(socket.receive_text(timeout=5))
        assert (error["type"], error["code"]) == ("Error", "too_many_topics")
        assert "at most 3" in error["message"]
        socket.send_json({"op": "subscribe", "topics": ["models", "metrics"]})  # one new topic: within the limit
        subscribed = json.loads(socket.receive_text(timeout=5))
        assert subscribed["topics"] == ["metrics", "models", "nodes"]


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        ("http://evil.example", False),
        ("null", False),
        ("http://testserver.local.evil", False),
        ("http://testserver.local", True),  # the server's own origin (the test client's Host)
        ("https://ops.example.com", True),  # listed in MODELHUB_ALLOWED_ORIGINS
        (None, True),  # not a browser page: the token decides
    ],
)
def test_only_the_servers_own_and_listed_origins_may_open_the_socket(tmp_path, origin, allowed):
    headers = {"Origin": origin} if origin else {}
    with (
        make_client(tmp_path, allowed_origins="https://ops.example.com, https://other.example") as client,
        client.websocket_connect(f"/ws?token={ADMIN_TOKEN}", headers=headers) as socket,
    ):
        if allowed:
            assert subscribe(socket, "models")[0]["type"] == "Subscribed"
        else:
            with pytest.raises(WebSocketDisconnect) as closed:
                socket.receive_text(timeout=5)
            assert closed.value.code == 4403


def test_sign_in_sets_an_httponly_cookie_for_the_socket_and_sign_out_clears_it(client):
    response = client.post("/v0/session", headers={"Authorization": f"Bearer {READ_TOKEN}"})
    assert response.status_code == 200
    assert response.json()["role"] == "read"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"modelhub_token={READ_TOKEN};")
    for attribute in ("HttpOnly", "Path=/ws", "SameSite=Strict"):
        assert attribute.lower() in cookie.lower(), cookie
    assert "secure" not in cookie.lower()  # plain HTTP here
    with client.websocket_connect("/ws", headers={"Cookie": f"modelhub_token={READ_TOKEN}"}) as socket:
        assert subscribe(socket, "models")[0]["type"] == "Subscribed"
    cleared = client.delete("/v0/session")
    assert cleared.status_code == 204
    assert "max-age=0" in cleared.headers["set-cookie"].lower()
    assert "path=/ws" in cleared.headers["set-cookie"].lower()
