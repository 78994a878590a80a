"""405 answers carry an ``Allow`` header naming every method their path answers (RFC 9110 §15.5.6)."""

from __future__ import annotations

import re

import pytest
from litestar.routes import HTTPRoute, WebSocketRoute

from runtime.errors import allowed_methods
from tests.runtime.conftest import ADMIN

ORDER = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def _concrete(path: str) -> str:
    """A request path for a route path: each ``{name:type}`` becomes a sample value."""
    return re.sub(r"\{[^}]+:path\}", "x.js", re.sub(r"\{[^}:]+:(?!path)[^}]+\}", "x", path))


def test_every_http_route_lists_all_its_methods_in_a_405(client):
    routes = [route for route in client.app.routes if isinstance(route, HTTPRoute)]
    assert routes
    for route in routes:
        assert "PATCH" not in route.methods  # no route answers PATCH: it is the method every one refuses
        response = client.request("PATCH", _concrete(route.path), headers=ADMIN)
        assert response.status_code == 405, route.path
        assert response.json()["error"]["code"] == "method_not_allowed"
        assert response.headers["allow"] == ", ".join(m for m in ORDER if m in route.methods), route.path


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("PUT", "/v0/models/hub", "GET, HEAD, OPTIONS"),
        ("POST", "/healthz", "GET, HEAD, OPTIONS"),
        ("DELETE", "/", "GET, HEAD, OPTIONS"),
        ("PUT", "/v0/models/qwen3-0.6b", "GET, HEAD, DELETE, OPTIONS"),
        ("GET", "/v0/models/register", "POST, OPTIONS"),
        ("PUT", "/v0/session", "GET, HEAD, POST, DELETE, OPTIONS"),
    ],
)
def test_examples(client, method, path, allow):
    response = client.request(method, path, headers=ADMIN)
    assert response.status_code == 405
    assert response.headers["allow"] == allow
    assert response.json()["error"]["message"] == f"{method} is not allowed here; this path answers {allow}."


def test_the_listed_methods_are_answered(client):
    assert client.options("/v0/models/hub", headers=ADMIN).status_code == 204
    assert client.head("/healthz").status_code == 200


def test_every_get_route_answers_head_like_get_without_a_body(client):
    """HEAD: the GET's status and content type, no body; every path that answers GET answers HEAD."""
    routes = [
        route
        for route in client.app.routes
        if isinstance(route, HTTPRoute) and "GET" in route.methods and not route.path.startswith("/schema")
    ]  # /schema/*: Litestar's own OpenAPI controller, which answers GET only
    assert len(routes) > 10
    for route in routes:
        assert "HEAD" in route.methods, route.path
        path = (
            _concrete(route.path).replace("/x.js", "/index.html") if ":path}" in route.path else _concrete(route.path)
        )
        get, head = client.get(path, headers=ADMIN), client.head(path, headers=ADMIN)
        assert head.status_code == get.status_code, path
        assert head.headers.get("content-type") == get.headers.get("content-type"), path
        assert head.content == b"", path


def test_a_websocket_path_allows_get_and_asks_a_plain_get_to_upgrade(client):
    websockets = [route.path for route in client.app.routes if isinstance(route, WebSocketRoute)]
    assert sorted(websockets) == ["/ws", "/ws/models"]
    for path in websockets:
        put = client.put(path, headers=ADMIN)
        assert put.status_code == 405
        assert put.headers["allow"] == "GET"
        plain = client.get(path, headers=ADMIN)
        assert plain.status_code == 426
        assert plain.headers["upgrade"] == "websocket"
        assert plain.json()["error"]["code"] == "upgrade_required"


def test_allowed_methods_orders_dedupes_and_names_the_websocket_handshake():
    assert allowed_methods("OPTIONS, HEAD, GET") == ["GET", "HEAD", "OPTIONS"]
    assert allowed_methods("websocket") == ["GET"]
    assert allowed_methods("get, GET ,websocket, PROPFIND") == ["GET", "PROPFIND"]
    assert allowed_methods("") == []
