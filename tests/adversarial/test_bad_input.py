"""Hand-made bad requests, each once found to answer 500 or to be taken: every one gets a 4xx with our error body.

Over real HTTP on loopback (``modelhub serve``), so uvicorn's own parsing is part of what is tested.
"""

from __future__ import annotations

import httpx
import pytest

from tests.runtime.conftest import ADMIN, NODE, READ, live_server

NOT_UTF8 = b'{"model_id":"\xff"}'
DEEP = b"[" * 100_000 + b"]" * 100_000
JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    directory = tmp_path_factory.mktemp("bad-input")
    with live_server(directory, MODELHUB_AUTO_APPROVE_NODES="true") as (url, _):
        with httpx.Client(base_url=url) as client:
            client.post("/v0/nodes", json={"runtime_id": "n1", "machine_name": "box"}, headers=NODE)
        yield url


BODY_ROUTES = [  # each with a body of its type whose one string holds a byte that is not UTF-8
    ("/v0/models/register", ADMIN, NOT_UTF8),
    ("/v0/nodes", NODE, b'{"runtime_id":"n2","machine_name":"\xff"}'),
    ("/v0/nodes/n1/heartbeat", NODE, b'{"metrics":{},"models":[{"model_id":"\xff"}]}'),
]

CASES = [
    (path, headers, body, content_type, status)
    for path, headers, not_utf8 in BODY_ROUTES
    for body, content_type, status in [
        (not_utf8, "application/json", 400),
        (DEEP, "application/json", 422),
        (b'{"model_id": "qwen3-0.6b"}', "text/plain", 415),
        (b'{"model_id": "qwen3-0.6b"}', None, 415),
        (b"", "application/json", 400),
        (b"null", "application/json", 422),
    ]
]


@pytest.mark.parametrize(("path", "headers", "body", "content_type", "status"), CASES)
def test_a_bad_body_is_a_client_error_with_our_error_body(base, path, headers, body, content_type, status):
    sent = {**headers, **({"Content-Type": content_type} if content_type else {})}
    response = httpx.post(f"{base}{path}", content=body, headers=sent, timeout=10)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == ("unsupported_media_type" if status == 415 else "validation_error")
    assert error["message"]


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/assets/..%00/x", 404),
        ("/assets/%00", 404),
        ("/v1/models/%2F", 404),
        ("/v1/models/..%2F..%2Fetc%2Fpasswd", 404),
        ("/v0/models/%00", 404),
    ],
)
def test_odd_paths_are_client_errors(base, path, status):
    response = httpx.get(f"{base}{path}", headers=READ, timeout=10)
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] in ("not_found", "model_not_supported", "model_not_found")


def test_v1_models_with_an_encoded_slash_is_not_the_list(base):
    response = httpx.get(f"{base}/v1/models/%2F", headers=READ, timeout=10)
    assert "data" not in response.json()
