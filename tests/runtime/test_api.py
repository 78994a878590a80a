"""The HTTP API through Litestar's test client, on a real SQLite file."""

from __future__ import annotations

import json
import os
import socket

import pytest
from litestar.testing import TestClient

from generated.catalog import CATALOG, CATALOG_BY_ID
from runtime.app import create_app
from tests.runtime.conftest import ADMIN, HF_ENDPOINT, NODE, READ, make_settings
from tests.runtime.events.schemas import errors as schema_errors

QWEN = "qwen3-0.6b"
ZERO_COUNTS = {"pending": 0, "downloading": 0, "ready": 0, "failed": 0, "stalled": 0, "offline": 0}


def error_of(response):
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) in ({"code", "message"}, {"code", "message", "pointer"})
    assert body["error"]["message"]
    if "pointer" in body["error"]:
        assert body["error"]["pointer"].startswith("/")
    return body["error"]["code"]


def pointer_of(response):
    return response.json()["error"].get("pointer")


def register_node(client, runtime_id="node-a", approve=True):
    response = client.post(
        "/v0/nodes", json={"runtime_id": runtime_id, "machine_name": f"{runtime_id}.lan"}, headers=NODE
    )
    assert response.status_code == 201, response.text
    if approve:
        assert client.post(f"/v0/nodes/{runtime_id}/approve", headers=ADMIN).status_code == 200
    return response.json()


def beat(client, runtime_id, *reports, metrics=None):
    return client.post(
        f"/v0/nodes/{runtime_id}/heartbeat",
        headers=NODE,
        json={"metrics": metrics or {"cpu_usage": 0.5}, "models": list(reports)},
    )


def report(model_id, state, done, total, error=None):
    return {"model_id": model_id, "state": state, "bytes_done": done, "bytes_total": total, "error": error}


def hub_item(client, model_id):
    return next(item for item in client.get("/v0/models/hub", headers=READ).json() if item["id"] == model_id)


# ---------------------------------------------------------------- hub


def test_hub_lists_every_catalog_model_in_order_with_lifecycle_fields(client):
    response = client.get("/v0/models/hub", headers=READ)
    assert response.status_code == 200
    items = response.json()
    assert [item["id"] for item in items] == [model.id for model in CATALOG]
    first = items[0]
    assert first["status"] == "available"
    assert first["progress"] is None
    assert "nodes" not in first  # aggregates only: an item does not grow with the number of nodes
    assert first["node_counts"] == ZERO_COUNTS
    assert (first["bytes_done"], first["bytes_total"]) == (0, 0)
    assert first["hf_info"] == {"downloads": None, "likes": None, "fetched_at": None, "freshness": "none"}
    assert first["size_bytes"] == CATALOG[0].size_bytes
    assert "revision" not in first  # absent optional fields stay absent


def test_hub_etag_gives_304_until_something_changes(client):
    first = client.get("/v0/models/hub", headers=READ)
    etag = first.headers["etag"]
    again = client.get("/v0/models/hub", headers={**READ, "If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    client.post("/v0/models/register", json={"model_id": QWEN}, headers=ADMIN)
    changed = client.get("/v0/models/hub", headers={**READ, "If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["etag"] != etag


def test_hub_search_matches_every_word_in_name_description_or_tags(client):
    items = client.get("/v0/models/hub", params={"q": "Llama instruct"}, headers=READ).json()
    assert items
    assert all("llama" in (i["name"] + i["description"] + " ".join(i["tags"])).lower() for i in items)
    assert client.get("/v0/models/hub", params={"q": "no-such-model-xyz"}, headers=READ).json() == []
    coding = client.get("/v0/models/hub", params={"q": "CODING"}, headers=READ).json()
    assert {i["id"] for i in coding} == {
        m.id for m in CATALOG if "coding" in m.tags or "coding" in (m.name + m.description).lower()
    }


# ---------------------------------------------------------------- register and delete


def test_register_by_id_answers_201_with_the_hub_item(client):
    response = client.post("/v0/models/register", json={"model_id": QWEN}, headers=ADMIN)
    assert response.status_code == 201
    body = response.json()
    assert body["id"] == QWEN
    assert body["status"] == "registered"
    assert hub_item(client, QWEN)["status"] == "registered"


def test_register_by_repo_is_case_insensitive(client):
    model = CATALOG_BY_ID["qwen2.5-1.5b-instruct"]
    response = client.post("/v0/models/register", json={"repo": model.repo.upper()}, headers=ADMIN)
    assert response.status_code == 201
    assert response.json()["id"] == model.id


def test_register_by_repo_and_filename_picks_one_of_several(client):
    repo = "bartowski/SmolLM2-1.7B-Instruct-GGUF"
    ambiguous = client.post("/v0/models/register", json={"repo": repo}, headers=ADMIN)
    assert ambiguous.status_code == 422
    assert error_of(ambiguous) == "validation_error"
    assert "filename" in ambiguous.json()["error"]["message"]
    chosen = client.post(
        "/v0/models/register", json={"repo": repo, "filename": "SmolLM2-1.7B-Instruct-Q8_0.gguf"}, headers=ADMIN
    )
    assert chosen.status_code == 201
    assert chosen.json()["id"] == "smollm2-1.7b-instruct-q8_0"


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"model_id": "no-such-model"}, 404, "model_not_supported"),
        ({"repo": "someone/elses-model"}, 404, "model_not_supported"),
        ({}, 422, "validation_error"),
        ({"model_id": QWEN, "repo": "x/y"}, 422, "validation_error"),
        ({"model_id": 5}, 422, "validation_error"),
        ({"model_id": QWEN, "colour": "red"}, 422, "validation_error"),  # unknown fields are refused (422)
        ([QWEN], 422, "validation_error"),
    ],
    ids=["unknown-id", "unknown-repo", "empty", "both", "wrong-type", "unknown-field", "not-an-object"],
)
def test_bad_register_requests(client, body, status, code):
    response = client.post("/v0/models/register", json=body, headers=ADMIN)
    assert response.status_code == status, response.text
    assert error_of(response) == code


def test_bad_request_messages_name_the_field(client):
    response = client.post("/v0/models/register", json={"model_id": 5}, headers=ADMIN)
    assert "model_id" in response.json()["error"]["message"]
    unknown = client.post("/v0/models/register", json={"model_id": QWEN, "colour": "red"}, headers=ADMIN)
    assert "colour" in unknown.json()["error"]["message"]


def test_non_json_body_is_a_validation_error(client):
    response = client.post(
        "/v0/models/register", content=b"{not json", headers={**ADMIN, "Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert error_of(response) == "validation_error"


def test_oversized_body_is_refused_with_413(client, settings):
    big = json.dumps({"model_id": "x" * (settings.max_body_bytes + 10)})
    response = client.post("/v0/models/register", content=big, headers={**ADMIN, "Content-Type": "application/json"})
    assert response.status_code == 413
    assert error_of(response) == "payload_too_large"


def test_register_twice_is_409(client):
    client.post("/v0/models/register", json={"model_id": QWEN}, headers=ADMIN)
    again = client.post("/v0/models/register", json={"model_id": QWEN}, headers=ADMIN)
    assert again.status_code == 409
    assert error_of(again) == "already_registered"


def test_delete_makes_the_model_available_again(client):
    client.post("/v0/models/register", json={"model_id": QWEN}, headers=ADMIN)
    assert client.delete(f"/v0/models/{QWEN}", headers=ADMIN).status_code == 204
    assert hub_item(client, QWEN)["status"] == "available"
    again = client.delete(f"/v0/models/{QWEN}", headers=ADMIN)
    assert again.status_code == 404
    assert error_of(again) == "not_registered"


def test_unknown_route_and_method_use_the_error_body(client):
    missing = client.get("/v0/nope", headers=READ)
    assert missing.status_code == 404
    assert error_of(missing) == "not_found"
    wrong = client.put("/v0/models/hub", headers=READ)
    assert wrong.status_code == 405
    assert error_of(wrong) == "method_not_allowed"


# ---------------------------------------------------------------- manifests


def test_manifests_list_registered_models_with_urls_on_hf_endpoint(client):
    client.post("/v0/models/register", json={"model_id": QWEN}, headers=ADMIN)
    manifests = client.get("/v0/models", headers=NODE).json()
    model = CATALOG_BY_ID[QWEN]
    assert manifests == [
        {
            "model_id": QWEN,
            "repo": model.repo,
            "format": "gguf",
            "files": [
                {
                    "name": model.recommended_filename,
                    "url": f"{HF_ENDPOINT}/{model.repo}/resolve/main/{model.recommended_filename}",
                    "size_bytes": model.size_bytes,
                }
            ],
        }
    ]
    assert client.get("/v0/models", headers=ADMIN).status_code == 200


# ---------------------------------------------------------------- nodes and the lifecycle


def test_node_registers_pending_and_cannot_heartbeat_until_approved(client):
    node = register_node(client, approve=False)
    assert node["status"] == "pending"
    assert node["metrics_stale"] is True
    refused = beat(client, "node-a")
    assert refused.status_code == 403
    assert error_of(refused) == "forbidden"
    approved = client.post("/v0/nodes/node-a/approve", headers=ADMIN)
    assert approved.json()["status"] == "registering"
    again = client.post("/v0/nodes/node-a/approve", headers=ADMIN)
    assert again.status_code == 409
    assert error_of(again) == "invalid_transition"


def test_registering_a_known_node_again_updates_it_with_200(client):
    register_node(client)
    again = client.post(
        "/v0/nodes", json={"runtime_id": "node-a", "machine_name": "renamed", "gpu_memory_bytes": 8}, headers=NODE
    )
    assert again.status_code == 200
    assert again.json()["machine_name"] == "renamed"
    assert again.json()["status"] == "registering"


def test_auto_approve_starts_nodes_as_registering(tmp_path):
    from litestar.testing import TestClient

    from runtime.app import create_app
    from tests.runtime.conftest import make_settings

    with TestClient(create_app(make_settings(tmp_path, auto_approve_nodes=True))) as auto:
        response = auto.post("/v0/nodes", json={"runtime_id": "n1", "machine_name": "m"}, headers=NODE)
        assert response.json()["status"] == "registering"


def test_full_lifecycle_registered_downloading_ready_and_openai_list(client):
    client.post("/v0/models/register", json={"model_id": QWEN}, headers=ADMIN)
    register_node(client)
    total = CATALOG_BY_ID[QWEN].size_bytes

    answer = beat(client, "node-a", report(QWEN, "pending", 0, total))
    assert answer.status_code == 200
    assert answer.json()["status"] == "online"  # online from the first heartbeat, synced or not
    assert [m["model_id"] for m in answer.json()["models"]] == [QWEN]
    assert hub_item(client, QWEN)["status"] == "registered"
    assert hub_item(client, QWEN)["node_counts"] == {**ZERO_COUNTS, "pending": 1}

    beat(client, "node-a", report(QWEN, "downloading", total // 4, total))
    item = hub_item(client, QWEN)
    assert item["status"] == "downloading"
    assert item["progress"] == pytest.approx(0.25, abs=1e-6)
    assert item["node_counts"] == {**ZERO_COUNTS, "downloading": 1}
    assert (item["bytes_done"], item["bytes_total"]) == (total // 4, total)
    assert "nodes" not in item
    [row] = client.get(f"/v0/models/{QWEN}", headers=READ).json()["nodes"]
    assert row["runtime_id"] == "node-a"
    assert (row["model_id"], row["state"], row["bytes_done"], row["bytes_total"]) == (
        QWEN,
        "downloading",
        total // 4,
        total,
    )
    assert (row["stalled"], row["error"]) == (False, None)
    assert client.get("/v1/models", headers=READ).json() == {"object": "list", "data": []}

    done = beat(client, "node-a", report(QWEN, "ready", total, total))
    assert done.json()["status"] == "online"
    item = hub_item(client, QWEN)
    assert item["status"] == "ready"
    assert item["progress"] is None
    assert item["node_counts"] == {**ZERO_COUNTS, "ready": 1}
    listed = client.get("/v1/models", headers=READ).json()
    assert [m["id"] for m in listed["data"]] == [QWEN]
    assert listed["data"][0]["object"] == "model"
    assert listed["data"][0]["owned_by"] == "bartowski"
    assert client.get(f"/v1/models/{QWEN}", headers=READ).json()["id"] == QWEN
    missing = client.get("/v1/models/gpt-oss-20b", headers=READ)
    assert missing.status_code == 404

    nodes = client.get("/v0/nodes", headers=READ).json()
    assert nodes[0]["status"] == "online"
    assert nodes[0]["metrics"] == {"cpu_usage": 0.5}
    assert nodes[0]["metrics_stale"] is False
    assert nodes[0]["last_heartbeat_at"].endswith("Z")


@pytest.mark.parametrize(
    ("reports", "status", "code"),
    [
        ([report("no-such-model", "pending", 0, 1)], 404, "model_not_supported"),
        ([report("gpt-oss-20b", "pending", 0, 1)], 404, "not_registered"),
        ([report(QWEN, "downloading", 5, 4)], 422, "validation_error"),
        ([report(QWEN, "downloading", -1, 4)], 422, "validation_error"),
        ([report(QWEN, "ready", 3, 4)], 422, "validation_error"),
        ([report(QWEN, "pending", 0, 4), report(QWEN, "pending", 0, 4)], 422, "validation_error"),
        ([report(QWEN, "finished", 4, 4)], 422, "validation_error"),
    ],
    ids=["unknown-model", "unregistered", "beyond-total", "negative", "ready-incomplete", "duplicate", "bad-state"],
)
def test_bad_heartbeats_are_rejected_and_change_nothing(client, reports, status, code):
    client.post("/v0/models/register", json={"model_id": QWEN}, headers=ADMIN)
    register_node(client)
    beat(client, "node-a", report(QWEN, "downloading", 2, 4))
    before = hub_item(client, QWEN)

    response = beat(client, "node-a", *reports)

    assert response.status_code == status, response.text
    assert error_of(response) == code
    assert hub_item(client, QWEN) == before


def test_progress_going_backwards_is_an_invalid_transition(client):
    client.post("/v0/models/register", json={"model_id": QWEN}, headers=ADMIN)
    register_node(client)
    beat(client, "node-a", report(QWEN, "downloading", 3, 4))
    response = beat(client, "node-a", report(QWEN, "downloading", 1, 4))
    assert response.status_code == 409
    assert error_of(response) == "invalid_transition"
    restart = beat(client, "node-a", report(QWEN, "failed", 1, 4, "checksum mismatch"))
    assert restart.status_code == 200
    assert hub_item(client, QWEN)["node_counts"]["failed"] == 1
    [row] = client.get(f"/v0/models/{QWEN}", headers=READ).json()["nodes"]
    assert (row["state"], row["error"]) == ("failed", "checksum mismatch")


@pytest.mark.parametrize(
    ("body", "content_type", "status", "pointer"),
    [
        (b'{"metrics":{},"models":[{"model_id":"\xff"}]}', "application/json", 400, None),
        (b"[" * 100_000, "application/json", 422, None),
        (
            b'{"metrics":{},"models":[{"model_id":"q","state":"x","bytes_done":0,"bytes_total":1}]}',
            "application/json",
            422,
            "/models/0/state",
        ),
        (b'{"metrics":{"cpu_usage":0.5},"models":[]}', "text/plain", 415, None),
        (b'{"metrics":{"cpu_usage":0.5},"models":[]}', "application/json; charset=utf-8", 200, None),
        (
            b'{"metrics":{},"models":[{"model_id":"qwen3-0.6b","state":"failed","bytes_done":0,'
            b'"bytes_total":9223372036854775808}]}',
            "application/json",
            422,
            "/models/0/bytes_total",
        ),
        (
            b'{"metrics":{},"models":[{"model_id":"qwen3-0.6b","state":"failed","bytes_done":0,"bytes_total":1,'
            b'"error":"bad\\u0000byte"}]}',
            "application/json",
            422,
            "/models/0/error",
        ),
        (
            b'{"metrics":{"active_requests":9223372036854775808},"models":[]}',
            "application/json",
            422,
            "/metrics/active_requests",
        ),
    ],
    ids=["not-utf8", "deep", "bad-state", "text-plain", "json-with-charset", "int64", "nul", "int64-metric"],
)
def test_heartbeat_bodies_are_read_strictly(client, body, content_type, status, pointer):
    register_node(client)
    response = client.post("/v0/nodes/node-a/heartbeat", content=body, headers={**NODE, "Content-Type": content_type})
    assert response.status_code == status, response.text
    if status != 200:
        error = response.json()["error"]
        assert error["code"] == ("unsupported_media_type" if status == 415 else "validation_error")
        assert error.get("pointer") == pointer
        if pointer:
            assert pointer in error["message"]


@pytest.mark.parametrize(
    "registration",
    [
        {"runtime_id": "node-a", "machine_name": "box\u0000evil"},
        {"runtime_id": "node-a", "machine_name": "box", "gpu_memory_bytes": 2**63},
    ],
    ids=["nul-name", "int64-gpu"],
)
def test_values_a_database_cannot_store_are_refused_at_the_door(client, registration):
    response = client.post("/v0/nodes", json=registration, headers=NODE)
    assert response.status_code == 422, response.text
    assert error_of(response) == "validation_error"
    assert client.get("/v0/nodes", headers=READ).json() == []


def test_heartbeat_body_over_the_limit_is_413(client, settings):
    register_node(client)
    body = b'{"metrics":{},"models":[' + b" " * settings.max_body_bytes + b"]}"
    response = client.post(
        "/v0/nodes/node-a/heartbeat", content=body, headers={**NODE, "Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert error_of(response) == "payload_too_large"


def test_heartbeat_and_approve_for_unknown_node_are_404(client):
    for response in (
        beat(client, "ghost"),
        client.post("/v0/nodes/ghost/approve", headers=ADMIN),
        client.delete("/v0/nodes/ghost", headers=ADMIN),
    ):
        assert response.status_code == 404
        assert error_of(response) == "node_not_found"


def test_deleting_the_only_ready_node_makes_the_model_registered(client):
    client.post("/v0/models/register", json={"model_id": QWEN}, headers=ADMIN)
    register_node(client)
    beat(client, "node-a", report(QWEN, "ready", 4, 4))
    assert hub_item(client, QWEN)["status"] == "ready"
    assert client.delete("/v0/nodes/node-a", headers=ADMIN).status_code == 204
    assert hub_item(client, QWEN)["status"] == "registered"
    assert client.get("/v0/nodes", headers=READ).json() == []


def test_bad_metrics_are_rejected(client):
    register_node(client)
    response = beat(client, "node-a", metrics={"cpu_usage": 3})
    assert response.status_code == 422
    assert "cpu_usage" in response.json()["error"]["message"]


# ---------------------------------------------------------------- health, metrics, OpenAPI


def test_health_and_readiness(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"
    assert ready.json()["checks"] == {"database": "ok", "events": "ok"}
    assert ready.json()["details"]["huggingface"]["offline"] is True


def test_metrics_count_requests_and_statuses(client):
    client.post("/v0/models/register", json={"model_id": QWEN}, headers=ADMIN)
    client.get("/v0/models/hub", headers=READ)
    text = client.get("/metrics").text
    replica = client.app.state.settings.replica_id
    hub = f'method="GET",replica="{replica}",route="/v0/models/hub"'
    assert f'modelhub_http_requests_total{{{hub},status="200"}} 1.0' in text
    assert f'modelhub_http_request_duration_seconds_bucket{{le="0.005",{hub}}}' in text
    assert f'modelhub_models{{replica="{replica}",status="registered"}} 1.0' in text
    assert f'modelhub_nodes{{replica="{replica}",status="online"}} 0.0' in text


def test_every_metric_carries_the_replica_id(tmp_path):
    settings = make_settings(tmp_path, replica_id="replica-a")
    with TestClient(create_app(settings)) as client:
        client.get("/v0/models/hub", headers=READ)
        text = client.get("/metrics").text
    samples = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert len(samples) > 20
    unlabelled = [line for line in samples if 'replica="replica-a"' not in line.split("}")[0]]
    assert unlabelled == []
    assert 'modelhub_ws_connections{replica="replica-a"} 0.0' in samples
    assert 'modelhub_http_requests_total{method="GET",replica="replica-a",route="/v0/models/hub",status="200"} 1.0' in (
        samples
    )


def test_openapi_describes_the_api_with_generated_types(client):
    document = client.get("/schema/openapi.json").json()
    operations = {op["operationId"] for path in document["paths"].values() for op in path.values()}
    assert {
        "listHub",
        "registerModel",
        "deleteModel",
        "listManifests",
        "registerNode",
        "approveNode",
        "nodeHeartbeat",
        "listNodes",
        "deleteNode",
        "openaiListModels",
        "openaiRetrieveModel",
        "getModel",
        "getNode",
    } <= operations
    schemas = document["components"]["schemas"]
    assert {"HubItem", "RegisterRequest", "Heartbeat", "HeartbeatResponse", "Node", "ErrorBody"} <= set(schemas)
    heartbeat = document["paths"]["/v0/nodes/{runtime_id}/heartbeat"]["post"]
    assert heartbeat["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/Heartbeat")
    assert [p["name"] for p in heartbeat["parameters"]] == ["runtime_id"]
    hub = document["paths"]["/v0/models/hub"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert hub["items"]["$ref"].endswith("/HubItem")


def test_openapi_documents_the_hub_query_parameter(client):
    document = client.get("/schema/openapi.json").json()
    parameters = document["paths"]["/v0/models/hub"]["get"]["parameters"]
    assert [(p["name"], p["in"], p["required"]) for p in parameters] == [("q", "query", False)]


# ---------------------------------------------------------------- detail endpoints

ROW_FIELDS = {
    "runtime_id",
    "model_id",
    "state",
    "bytes_done",
    "bytes_total",
    "bytes_per_second",
    "eta_seconds",
    "stalled",
    "error",
    "updated_at",
}


def test_model_detail_is_the_hub_item_plus_every_nodes_row_by_runtime_id(client):
    client.post("/v0/models/register", json={"model_id": QWEN}, headers=ADMIN)
    total = CATALOG_BY_ID[QWEN].size_bytes
    for runtime_id in ("node-b", "node-a"):
        register_node(client, runtime_id)
    beat(client, "node-b", report(QWEN, "ready", total, total))
    beat(client, "node-a", report(QWEN, "downloading", total // 2, total))

    response = client.get(f"/v0/models/{QWEN}", headers=READ)

    assert response.status_code == 200
    detail = response.json()
    rows = detail.pop("nodes")
    assert detail == hub_item(client, QWEN)
    assert detail["node_counts"] == {**ZERO_COUNTS, "downloading": 1, "ready": 1}
    assert [row["runtime_id"] for row in rows] == ["node-a", "node-b"]
    assert all(set(row) == ROW_FIELDS for row in rows)
    downloading, ready = rows
    assert (downloading["state"], downloading["bytes_done"], downloading["bytes_total"]) == (
        "downloading",
        total // 2,
        total,
    )
    assert (ready["state"], ready["bytes_done"], ready["bytes_per_second"], ready["eta_seconds"]) == (
        "ready",
        total,
        None,
        None,
    )
    assert all(row["model_id"] == QWEN and row["stalled"] is False for row in rows)
    assert all(row["updated_at"].endswith("Z") for row in rows)


def test_model_detail_of_an_unregistered_catalog_model_has_no_rows(client):
    detail = client.get(f"/v0/models/{QWEN}", headers=READ).json()
    assert detail["status"] == "available"
    assert detail["nodes"] == []


def test_model_detail_of_a_model_outside_the_catalog_is_404_model_not_supported(client):
    response = client.get("/v0/models/no-such-model", headers=READ)
    assert response.status_code == 404
    assert error_of(response) == "model_not_supported"


def test_model_detail_needs_a_token(client):
    assert client.get(f"/v0/models/{QWEN}").status_code == 401


def test_node_detail_is_the_node_plus_its_row_per_model_by_model_id(client):
    other = "gpt-oss-20b"
    for model_id in (QWEN, other):
        client.post("/v0/models/register", json={"model_id": model_id}, headers=ADMIN)
    register_node(client)
    beat(client, "node-a", report(other, "pending", 0, 8), report(QWEN, "ready", 4, 4))

    response = client.get("/v0/nodes/node-a", headers=READ)

    assert response.status_code == 200
    detail = response.json()
    rows = detail.pop("models")
    assert detail == client.get("/v0/nodes", headers=READ).json()[0]
    assert detail["status"] == "online"
    assert detail["synced"] is False  # one registered model is not ready on it
    assert [row["model_id"] for row in rows] == sorted([QWEN, other])
    assert all(set(row) == ROW_FIELDS and row["runtime_id"] == "node-a" for row in rows)
    assert {row["model_id"]: row["state"] for row in rows} == {QWEN: "ready", other: "pending"}

    beat(client, "node-a", report(other, "ready", 8, 8), report(QWEN, "ready", 4, 4))
    assert client.get("/v0/nodes/node-a", headers=READ).json()["synced"] is True


def test_node_detail_of_an_unknown_node_is_404_node_not_found(client):
    response = client.get("/v0/nodes/ghost", headers=READ)
    assert response.status_code == 404
    assert error_of(response) == "node_not_found"


def test_node_detail_of_an_approved_node_without_heartbeat_is_registering(client):
    register_node(client)
    detail = client.get("/v0/nodes/node-a", headers=READ).json()
    assert (detail["status"], detail["models"], detail["last_heartbeat_at"]) == ("registering", [], None)


def test_registering_a_model_does_not_change_a_ready_model_nor_the_node(client):
    client.post("/v0/models/register", json={"model_id": QWEN}, headers=ADMIN)
    register_node(client)
    beat(client, "node-a", report(QWEN, "ready", 4, 4))
    before = hub_item(client, QWEN)
    assert before["status"] == "ready"
    assert client.get("/v0/nodes/node-a", headers=READ).json()["synced"] is True

    assert client.post("/v0/models/register", json={"model_id": "gpt-oss-20b"}, headers=ADMIN).status_code == 201

    assert hub_item(client, QWEN) == before
    node = client.get("/v0/nodes/node-a", headers=READ).json()
    assert node["status"] == "online"  # the node keeps serving while it fetches the new model
    assert node["synced"] is False
    assert [m["id"] for m in client.get("/v1/models", headers=READ).json()["data"]] == [QWEN]
    assert client.get(f"/v1/models/{QWEN}", headers=READ).status_code == 200

    beat(client, "node-a", report(QWEN, "ready", 4, 4), report("gpt-oss-20b", "downloading", 1, 8))
    assert hub_item(client, QWEN)["status"] == "ready"
    assert [m["id"] for m in client.get("/v1/models", headers=READ).json()["data"]] == [QWEN]


def test_register_errors_point_at_the_field(client):
    unknown = client.post("/v0/models/register", json={"model_id": "no-such-model"}, headers=ADMIN)
    assert pointer_of(unknown) == "/model_id"
    ambiguous = client.post("/v0/models/register", json={"repo": "bartowski/SmolLM2-1.7B-Instruct-GGUF"}, headers=ADMIN)
    assert pointer_of(ambiguous) == "/filename"


def test_hub_items_validate_against_the_schema(client):
    client.post("/v0/models/register", json={"model_id": QWEN}, headers=ADMIN)
    register_node(client)
    beat(client, "node-a", report(QWEN, "downloading", 1, 4))
    for item in client.get("/v0/models/hub", headers=READ).json():
        assert schema_errors("hub.schema.json", "HubItem", item) == []
    assert schema_errors("nodes.schema.json", "Node", client.get("/v0/nodes", headers=READ).json()[0]) == []


def test_detail_bodies_validate_against_the_schema(client):
    client.post("/v0/models/register", json={"model_id": QWEN}, headers=ADMIN)
    register_node(client)
    beat(client, "node-a", report(QWEN, "downloading", 1, 4))
    model = client.get(f"/v0/models/{QWEN}", headers=READ).json()
    node = client.get("/v0/nodes/node-a", headers=READ).json()
    assert schema_errors("hub.schema.json", "ModelDetail", model) == []
    assert schema_errors("nodes.schema.json", "NodeDetail", node) == []


def test_metrics_count_refused_requests_by_their_real_status(client):
    client.get("/v0/models/hub")  # no token
    client.post("/v0/models/register", json={"model_id": QWEN}, headers=READ)  # the wrong kind of token
    client.post("/v0/models/register", json={"model_id": "no-such-model"}, headers=ADMIN)
    text = client.get("/metrics").text
    replica = f'replica="{client.app.state.settings.replica_id}"'
    assert f'modelhub_http_requests_total{{method="GET",{replica},route="/v0/models/hub",status="401"}} 1.0' in text
    assert (
        f'modelhub_http_requests_total{{method="POST",{replica},route="/v0/models/register",status="403"}} 1.0' in text
    )
    assert (
        f'modelhub_http_requests_total{{method="POST",{replica},route="/v0/models/register",status="404"}} 1.0' in text
    )
    assert 'status="500"' not in text


def test_large_answers_are_gzipped_when_accepted_and_etags_still_work(client):
    plain = client.get("/v0/models/hub", headers={**READ, "Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    zipped = client.get("/v0/models/hub", headers={**READ, "Accept-Encoding": "gzip"})
    assert zipped.headers["content-encoding"] == "gzip"
    assert int(zipped.headers["content-length"]) < len(plain.content) / 3
    assert zipped.content == plain.content  # httpx decodes it: the same bytes
    assert zipped.headers["etag"] != plain.headers["etag"]  # another representation, another ETag
    assert zipped.headers["vary"].lower() == "accept-encoding"
    again = client.get(
        "/v0/models/hub", headers={**READ, "Accept-Encoding": "gzip", "If-None-Match": zipped.headers["etag"]}
    )
    assert again.status_code == 304
    client.post("/v0/models/register", json={"model_id": QWEN}, headers=ADMIN)  # a change: compressed anew
    changed = client.get("/v0/models/hub", headers={**READ, "Accept-Encoding": "gzip"})
    assert changed.headers["etag"] != zipped.headers["etag"]
    assert next(item for item in changed.json() if item["id"] == QWEN)["status"] == "registered"
    small = client.get("/healthz", headers={"Accept-Encoding": "gzip"})
    assert "content-encoding" not in small.headers  # under 1 KiB: not worth it


def test_heartbeat_answers_are_not_compressed(client):
    for model in CATALOG[:6]:
        client.post("/v0/models/register", json={"model_id": model.id}, headers=ADMIN)
    register_node(client)
    response = client.post(
        "/v0/nodes/node-a/heartbeat",
        json={"metrics": {}, "models": []},
        headers={**NODE, "Accept-Encoding": "gzip"},
    )
    assert response.status_code == 200
    assert len(response.content) > 1024  # large enough that it would be
    assert "content-encoding" not in response.headers


def test_readyz_names_the_replica(tmp_path):
    with TestClient(create_app(make_settings(tmp_path, replica_id="replica-a"))) as named:
        assert named.get("/readyz").json()["details"]["replica"] == "replica-a"
    default = make_settings(tmp_path).replica_id
    assert default == f"{socket.gethostname()}:{os.getpid()}"
