"""The OpenAPI document at /schema/openapi.json: valid, every reference resolves, security and errors tell the truth."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest
from litestar.testing import TestClient
from openapi_spec_validator import validate

from runtime.app import create_app
from runtime.openapi_docs import security_for
from tests.runtime.conftest import make_settings

PUBLIC = {
    *((method, path) for method in ("get", "head") for path in ("/healthz", "/readyz", "/metrics")),
    ("delete", "/v0/session"),
}
JSON_BODY = {("post", "/v0/models/register"), ("post", "/v0/nodes"), ("post", "/v0/nodes/{runtime_id}/heartbeat")}
METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
PAGE = b"<!doctype html><title>Model Hub</title>"


@pytest.fixture(scope="module")
def document(tmp_path_factory) -> dict[str, Any]:
    with TestClient(create_app(make_settings(tmp_path_factory.mktemp("openapi")))) as client:
        response = client.get("/schema/openapi.json")
    assert response.status_code == 200
    return response.json()


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]


def walk(node: Any, at: str = "#"):
    """Every (pointer, dict) in the document."""
    if isinstance(node, dict):
        yield at, node
        for key, value in node.items():
            yield from walk(value, f"{at}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from walk(value, f"{at}/{index}")


def test_the_document_is_valid_openapi(document):
    validate(document)  # raises on the first error


def test_every_reference_resolves(document):
    refs = {node["$ref"] for _, node in walk(document) if isinstance(node.get("$ref"), str)}
    assert refs, "the document has references"
    for ref in refs:
        assert ref.startswith("#/components/"), ref
        target: Any = document
        for step in ref[2:].split("/"):
            assert isinstance(target, dict), ref
            assert step in target, f"dangling reference {ref}"
            target = target[step]


def test_the_enum_of_an_array_is_one_component(document):
    capabilities = document["components"]["schemas"]["HubItem"]["properties"]["capabilities"]
    assert capabilities["items"] == {"$ref": "#/components/schemas/Capability"}
    assert not [name for name in document["components"]["schemas"] if name.startswith("generated_")]


def test_bearer_schemes_one_per_kind_of_token(document):
    schemes = document["components"]["securitySchemes"]
    assert set(schemes) == {"adminToken", "nodeToken", "readToken"}
    for scheme in schemes.values():
        assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
        assert scheme["description"]


def test_every_authenticated_operation_lists_the_tokens_its_roles_admit(tmp_path, document):
    app = create_app(make_settings(tmp_path))
    documented = {(method, path): operation for method, path, operation in operations(document)}
    checked = set()
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            if not handler.resolve_include_in_schema():
                continue
            path = route.path_format
            for method in handler.http_methods:
                key = (method.lower(), path)
                if key not in documented:
                    continue
                checked.add(key)
                roles = handler.opt.get("roles")
                if roles is None:
                    assert key in PUBLIC, key
                    assert "security" not in documented[key], key
                else:
                    assert documented[key]["security"] == security_for(roles), key
    assert checked == set(documented)
    assert checked >= PUBLIC


def test_every_authenticated_operation_documents_our_errors(document):
    for method, path, operation in operations(document):
        responses = operation["responses"]
        errors = {status for status in responses if status.startswith(("4", "5"))}
        if (method, path) in PUBLIC:
            continue
        wanted = {"400", "401", "403", "422"} | ({"413", "415"} if (method, path) in JSON_BODY else set())
        assert wanted <= errors, (method, path)
        for status in errors:
            schema = responses[status]["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (method, path, status)


def test_body_routes_refuse_what_they_document(client):
    from tests.runtime.conftest import ADMIN, NODE

    for path, headers in (("/v0/models/register", ADMIN), ("/v0/nodes", NODE), ("/v0/nodes/n1/heartbeat", NODE)):
        response = client.post(path, content=b"x", headers={**headers, "Content-Type": "text/plain"})
        assert response.status_code == 415, path
        assert response.json()["error"]["code"] == "unsupported_media_type"


def resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with the components at hand, so that jsonschema resolves its references."""
    return {**schema, "components": document["components"]}


def examples(document: dict[str, Any]):
    """(pointer, schema, example) for every example in the document: of a schema, a parameter or a media type."""
    for at, node in walk(document):
        if at.endswith("/properties") or "/examples/" in at:
            continue
        if "examples" in node and isinstance(node["examples"], list) and "$ref" not in node:
            for index, example in enumerate(node["examples"]):  # a schema's examples: a list of values
                yield f"{at}/examples/{index}", node, example
        if "schema" in node and isinstance(node.get("schema"), dict):
            if "example" in node:
                yield f"{at}/example", node["schema"], node["example"]
            for name, example in (node.get("examples") or {}).items() if isinstance(node.get("examples"), dict) else ():
                if "value" in example:
                    yield f"{at}/examples/{name}", node["schema"], example["value"]


def broken_examples(document: dict[str, Any]) -> list[str]:
    broken = []
    for at, schema, example in examples(document):
        validator = jsonschema.Draft202012Validator(resolve(document, schema))
        broken += [f"{at}: {error.message}" for error in validator.iter_errors(example)]
    return broken


def test_every_example_keeps_to_its_schema(document):
    assert broken_examples(document) == []


def test_a_broken_example_is_found():
    # Litestar's generated examples, which the document no longer has, broke the schemas' rules like this.
    progress = {"type": "number", "minimum": 0, "maximum": 1, "examples": [874.65]}
    document = {
        "components": {"schemas": {"Report": {"type": "object", "properties": {"progress": progress}}}},
        "paths": {"/x": {"get": {"parameters": [{"name": "p", "schema": {"type": "integer"}, "example": "a"}]}}},
    }
    assert len(broken_examples(document)) == 2


@pytest.mark.parametrize("path", ["/", "/local", "/nodes"])
def test_head_of_a_view_is_its_get_without_a_body(tmp_path, path):
    directory = tmp_path / "dist"
    directory.mkdir()
    (directory / "index.html").write_bytes(PAGE)
    with TestClient(create_app(make_settings(tmp_path, ui_dir=directory))) as client:
        get = client.get(path)
        head = client.head(path)
    assert get.status_code == head.status_code == 200
    assert head.content == b""
    assert head.headers["content-type"] == get.headers["content-type"]
    assert head.headers["content-length"] == get.headers["content-length"] == str(len(PAGE))
    assert head.headers["cache-control"] == get.headers["cache-control"] == "no-cache"


def test_head_of_healthz_is_its_get_without_a_body(client):
    get = client.get("/healthz")
    head = client.head("/healthz")
    assert get.status_code == head.status_code == 200
    assert get.json() == {"status": "ok"}
    assert head.content == b""
    assert head.headers["content-type"] == get.headers["content-type"] == "application/json"
    assert head.headers["content-length"] == get.headers["content-length"]
