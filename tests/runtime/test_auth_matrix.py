"""Every endpoint with no token, an unknown token, a token of the wrong kind and of the right kind."""

from __future__ import annotations

import pytest
from litestar.testing import TestClient

from runtime.app import create_app
from tests.runtime.conftest import ADMIN_TOKEN, NODE_TOKEN, READ_TOKEN, make_settings

TOKENS = {"admin": ADMIN_TOKEN, "node": NODE_TOKEN, "read": READ_TOKEN}

# (method, path, body, roles allowed). Allowed calls may still fail for other reasons (404, 409),
# but never with 401 or 403.
ENDPOINTS = [
    ("GET", "/v0/models/hub", None, {"read", "admin"}),
    ("POST", "/v0/models/register", {"model_id": "qwen3-0.6b"}, {"admin"}),
    ("DELETE", "/v0/models/qwen3-0.6b", None, {"admin"}),
    ("GET", "/v0/models", None, {"node", "admin"}),
    ("GET", "/v0/models/qwen3-0.6b", None, {"read", "admin"}),
    ("POST", "/v0/nodes", {"runtime_id": "n1", "machine_name": "m"}, {"node"}),
    ("POST", "/v0/nodes/n1/approve", None, {"admin"}),
    ("POST", "/v0/nodes/n1/heartbeat", {"metrics": {}, "models": []}, {"node"}),
    ("GET", "/v0/nodes", None, {"read", "admin"}),
    ("GET", "/v0/nodes/n1", None, {"read", "admin"}),
    ("DELETE", "/v0/nodes/n1", None, {"admin"}),
    ("GET", "/v1/models", None, {"read", "admin"}),
    ("GET", "/v1/models/qwen3-0.6b", None, {"read", "admin"}),
    ("GET", "/v0/session", None, {"read", "admin", "node"}),
    ("POST", "/v0/session", None, {"read", "admin", "node"}),
]
OPEN = [
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
    ("GET", "/schema/openapi.json"),
    ("GET", "/schema"),
]


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    settings = make_settings(tmp_path_factory.mktemp("auth"), auto_approve_nodes=True)  # heartbeats need no approve
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def call(client, method, path, body, token):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.request(method, path, json=body, headers=headers)


@pytest.mark.parametrize(("method", "path", "body", "allowed"), ENDPOINTS, ids=[f"{m} {p}" for m, p, *_ in ENDPOINTS])
@pytest.mark.parametrize("token", [None, "not-a-token", *TOKENS], ids=["none", "unknown", *TOKENS])
def test_auth_matrix(client, method, path, body, allowed, token):
    response = call(client, method, path, body, TOKENS.get(token, token))
    if token in allowed:
        assert response.status_code not in (401, 403), response.text
    else:
        expected = 401 if token in (None, "not-a-token") else 403
        assert response.status_code == expected, response.text
        assert response.json()["error"]["code"] == ("unauthorized" if expected == 401 else "forbidden")


@pytest.mark.parametrize(("method", "path"), OPEN)
def test_health_endpoints_need_no_token(client, method, path):
    assert call(client, method, path, None, None).status_code == 200


def test_reads_need_the_admin_token_when_no_read_token_is_set(tmp_path):
    with TestClient(create_app(make_settings(tmp_path, read_token=None))) as client:
        assert call(client, "GET", "/v0/models/hub", None, READ_TOKEN).status_code == 401
        assert call(client, "GET", "/v0/models/hub", None, ADMIN_TOKEN).status_code == 200


def test_tokens_are_never_echoed(client):
    response = call(client, "POST", "/v0/models/register", {"model_id": "qwen3-0.6b"}, NODE_TOKEN)
    assert NODE_TOKEN not in response.text
    assert "Basic" not in call(client, "GET", "/v0/nodes", None, None).text


def test_other_schemes_and_blank_tokens_are_unauthorized(client):
    for header in ("Basic YWRtaW46eA==", "Bearer ", "Bearer", ADMIN_TOKEN):
        response = client.get("/v0/nodes", headers={"Authorization": header})
        assert response.status_code == 401, header


def test_only_health_schema_and_dashboard_files_are_public(tmp_path):
    app = create_app(make_settings(tmp_path))
    public = {
        route.path
        for route in app.routes
        for handler in getattr(route, "route_handlers", [])
        if handler.opt.get("roles") is None and set(getattr(handler, "http_methods", ())) != {"OPTIONS"}
    }
    assert {path for path in public if not path.startswith("/schema")} == {
        "/healthz",
        "/readyz",
        "/metrics",
        "/",  # the dashboard's page and files; every call they make needs a token
        "/local",
        "/nodes",
        "/assets/{file_path:path}",
        "/docs-assets/{file_path:path}",  # Swagger UI's files, for the API docs at /schema
        "/v0/session",  # DELETE only: sign-out clears the cookie, whatever token the page still holds
    }
