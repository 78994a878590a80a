"""schema/ keeps its own rules: described fields, closed objects, vocabularies defined once."""

from __future__ import annotations

import json

import pytest

from codegen import schemas
from tests.conftest import ROOT

DOCUMENTS = schemas.load(ROOT / "schema").documents
BUNDLE = schemas.bundle(schemas.load(ROOT / "schema"))


def _walk(node, path=""):
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            yield from _walk(value, f"{path}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _walk(value, f"{path}/{index}")


@pytest.mark.parametrize("file", sorted(DOCUMENTS))
def test_every_property_has_a_description(file):
    missing = [
        f"{path}/properties/{name}"
        for path, node in _walk(DOCUMENTS[file])
        for name, schema in node.get("properties", {}).items()
        if isinstance(node.get("properties"), dict) and "description" not in schema
    ]
    assert missing == []


@pytest.mark.parametrize("file", sorted(DOCUMENTS))
def test_every_definition_has_a_description(file):
    assert [name for name, d in DOCUMENTS[file].get("$defs", {}).items() if "description" not in d] == []


def test_every_object_is_closed():
    """additionalProperties: false, or unevaluatedProperties: false for objects extended through allOf.

    A base that others extend (CatalogFields, HubItemFields, NodeFields) stays open, so its extensions
    can add fields; every extension that nothing extends further is closed.
    """
    extended = {part["$ref"] for _, node in _walk(BUNDLE) for part in node.get("allOf", [])}
    open_objects = [
        path
        for path, node in _walk(BUNDLE)
        if node.get("type") == "object"
        and node.get("additionalProperties") is not False
        and f"#/$defs/{path.rsplit('/', 1)[-1]}" not in extended
    ]
    extensions = [
        node for path, node in _walk(BUNDLE) if "allOf" in node and f"#/$defs/{path.rsplit('/', 1)[-1]}" not in extended
    ]
    assert open_objects == []
    assert extensions
    assert all(node.get("unevaluatedProperties") is False for node in extensions)


def test_closed_vocabularies_are_defined_once_in_defs():
    inline_enums = [path for path, node in _walk(BUNDLE) if "enum" in node and path.rsplit("/", 1)[0] != "/$defs"]
    assert inline_enums == []


def test_catalog_file_points_editors_at_the_schema():
    catalog = json.loads((ROOT / "supported_models.json").read_text(encoding="utf-8"))
    assert catalog["$schema"] == "./schema/catalog.schema.json"
    assert (ROOT / catalog["$schema"]).is_file()
