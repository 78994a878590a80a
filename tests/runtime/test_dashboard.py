"""The dashboard's files at / and GET /v0/session, which the dashboard calls first."""

from __future__ import annotations

import pytest
from litestar.testing import TestClient

from generated.catalog import CATALOG_VERSION
from runtime.app import create_app
from tests.runtime.conftest import ADMIN, NODE, READ, make_settings

PAGE = b"<!doctype html><title>Model Hub</title><script src=/assets/app-1a2b.js></script>"


@pytest.fixture
def built(tmp_path):
    directory = tmp_path / "dist"
    (directory / "assets").mkdir(parents=True)
    (directory / "index.html").write_bytes(PAGE)
    (directory / "assets" / "app-1a2b.js").write_text("console.log('hub')")
    return directory


@pytest.mark.parametrize("path", ["/", "/local", "/nodes"])
def test_every_view_serves_the_page_uncached_and_without_a_token(tmp_path, built, path):
    with TestClient(create_app(make_settings(tmp_path, ui_dir=built))) as client:
        response = client.get(path)
    assert response.status_code == 200
    assert response.content == PAGE
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-cache"


def test_hashed_assets_are_cached_for_a_year(tmp_path, built):
    with TestClient(create_app(make_settings(tmp_path, ui_dir=built))) as client:
        response = client.get("/assets/app-1a2b.js")
        missing = client.get("/assets/app-0000.js")
    assert response.status_code == 200
    assert response.text == "console.log('hub')"
    assert response.headers["cache-control"] == "max-age=31536000, public"
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"


def test_an_unbuilt_dashboard_says_how_to_build_it(tmp_path):
    with TestClient(create_app(make_settings(tmp_path, ui_dir=tmp_path / "absent"))) as client:
        response = client.get("/")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "dashboard_not_built"
    assert "just build" in response.json()["error"]["message"]


def test_unknown_paths_are_not_the_page(tmp_path, built):
    with TestClient(create_app(make_settings(tmp_path, ui_dir=built))) as client:
        assert client.get("/v0/nope", headers=ADMIN).status_code == 404
        assert client.get("/settings").status_code == 404


@pytest.mark.parametrize(("headers", "role"), [(ADMIN, "admin"), (READ, "read"), (NODE, "node")])
def test_session_tells_the_role_and_catalog_version(client, headers, role):
    response = client.get("/v0/session", headers=headers)
    assert response.status_code == 200
    assert response.json() == {"role": role, "catalog_version": CATALOG_VERSION}


@pytest.mark.parametrize(("headers", "status"), [({}, 401), ({"Authorization": "Bearer nope"}, 401)])
def test_session_without_a_valid_token_is_refused(client, headers, status):
    response = client.get("/v0/session", headers=headers)
    assert response.status_code == status
    assert response.json()["error"]["code"] == "unauthorized"
