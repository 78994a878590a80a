"""The API docs at /schema: Swagger UI with its files served by the runtime itself, no CDN (air-gapped clusters)."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from litestar.testing import TestClient

from runtime.app import create_app
from tests.runtime.conftest import make_settings

# What ui/scripts/copy-docs-assets.mjs copies from swagger-ui-dist into ui/dist/docs-assets.
DOCS_FILES = {
    "swagger-ui-bundle.js": "window.SwaggerUIBundle = function () {};",
    "swagger-ui-standalone-preset.js": "window.SwaggerUIStandalonePreset = {};",
    "swagger-ui.css": ".swagger-ui { color: black }",
}
CONTENT_TYPES = {".js": ("text/javascript", "application/javascript"), ".css": ("text/css",)}


class _Links(HTMLParser):
    """The URLs a page loads: script src and link href."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        wanted = {"script": "src", "link": "href", "img": "src", "iframe": "src"}.get(tag)
        self.urls += [value for name, value in attrs if name == wanted and value]


def loaded_urls(page: str) -> list[str]:
    parser = _Links()
    parser.feed(page)
    return parser.urls


@pytest.fixture
def built(tmp_path):
    directory = tmp_path / "dist"
    (directory / "docs-assets").mkdir(parents=True)
    for name, text in DOCS_FILES.items():
        (directory / "docs-assets" / name).write_text(text)
    return directory


@pytest.fixture
def docs_client(tmp_path, built):
    with TestClient(create_app(make_settings(tmp_path, ui_dir=built))) as client:
        yield client


@pytest.mark.parametrize("path", ["/schema", "/schema/swagger"])
def test_the_docs_page_loads_only_same_origin_files(docs_client, path):
    response = docs_client.get(path)  # no token: public, like the dashboard's page
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    urls = loaded_urls(response.text)
    assert len([url for url in urls if not url.startswith("data:")]) == len(DOCS_FILES)
    for url in urls:
        assert url.startswith(("/", "data:")), url
        assert not url.startswith("//"), url  # protocol-relative: another host
    assert "https://" not in response.text.split("<body")[0]
    assert "//cdn" not in response.text


def test_every_file_the_docs_page_loads_is_served_and_cacheable(docs_client):
    urls = [url for url in loaded_urls(docs_client.get("/schema").text) if not url.startswith("data:")]
    assert sorted(url.rsplit("/", 1)[1] for url in urls) == sorted(DOCS_FILES)
    for url in urls:
        response = docs_client.get(url)
        assert response.status_code == 200, url
        assert response.text == DOCS_FILES[url.rsplit("/", 1)[1]]
        suffix = url[url.rindex(".") :]
        assert response.headers["content-type"].split(";")[0] in CONTENT_TYPES[suffix], url
        assert response.headers["cache-control"] == "max-age=86400, public"


def test_the_page_embeds_the_document_and_the_json_stays(docs_client):
    page = docs_client.get("/schema").text
    document = docs_client.get("/schema/openapi.json")
    assert document.status_code == 200
    assert document.json()["info"]["title"] == "Model Hub"
    assert "SwaggerUIBundle(" in page
    assert '"/v0/models/hub"' in page  # the spec is inline: the page fetches nothing else


def test_a_missing_docs_file_is_a_404(docs_client):
    missing = docs_client.get("/docs-assets/redoc.standalone.js")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
