"""Load schema/ and bundle it into one document for the code generators.

Each file in schema/ is a Draft 2020-12 schema whose reusable types live in ``$defs``; files refer
to each other with relative references (``nodes.schema.json#/$defs/RuntimeId``), so editors resolve
them too. The generators want one document: ``bundle`` merges every ``$defs`` into one namespace,
rewrites references to local ones, and refuses clashing names, dangling references and malformed
``x-transitions`` tables.
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError as JsonSchemaError

from codegen.errors import SchemaError

if TYPE_CHECKING:
    from pathlib import Path

#: The schema of the catalog file itself; it is self-contained.
CATALOG_SCHEMA = "catalog.schema.json"


@dataclass(frozen=True)
class SchemaSet:
    """Every schema file, parsed, in file-name order (the catalog schema first)."""

    documents: dict[str, dict[str, Any]]
    digest: str

    @property
    def catalog(self) -> dict[str, Any]:
        """The schema that a catalog file must satisfy."""
        return self.documents[CATALOG_SCHEMA]


def load(directory: Path) -> SchemaSet:
    """Read and check every ``*.schema.json`` in ``directory``."""
    paths = sorted(directory.glob("*.schema.json"), key=lambda p: (p.name != CATALOG_SCHEMA, p.name))
    if not any(p.name == CATALOG_SCHEMA for p in paths):
        raise SchemaError(f"{directory / CATALOG_SCHEMA}: missing")
    documents: dict[str, dict[str, Any]] = {}
    digest = hashlib.sha256()
    for path in paths:
        data = path.read_bytes()
        digest.update(path.name.encode() + b"\0" + data + b"\0")
        try:
            document = json.loads(data)
            Draft202012Validator.check_schema(document)
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise SchemaError(f"schema/{path.name}: not JSON: {error}") from None
        except JsonSchemaError as error:
            raise SchemaError(f"schema/{path.name}: not a valid schema: {error.message}") from None
        documents[path.name] = document
    return SchemaSet(documents, digest.hexdigest())


def _rewrite_refs(node: Any, file: str, names: dict[str, str]) -> Any:
    """Copy ``node`` with every ``$ref`` pointing into the bundle's ``$defs``."""
    if isinstance(node, list):
        return [_rewrite_refs(item, file, names) for item in node]
    if not isinstance(node, dict):
        return node
    result = {key: _rewrite_refs(value, file, names) for key, value in node.items()}
    ref = node.get("$ref")
    if isinstance(ref, str):
        target_file, _, fragment = ref.partition("#")
        name = fragment.removeprefix("/$defs/")
        if not fragment.startswith("/$defs/") or "/" in name:
            raise SchemaError(f"schema/{file}: $ref {ref!r} must point at a $defs entry")
        if names.get(name) != (target_file or file):
            raise SchemaError(f"schema/{file}: $ref {ref!r} does not resolve")
        result["$ref"] = f"#/$defs/{name}"
    return result


def _check_transitions(file: str, name: str, definition: dict[str, Any]) -> None:
    table = definition.get("x-transitions")
    if table is None:
        return
    states = definition.get("enum", [])
    seen = set()
    for edge in table:
        if set(edge) != {"from", "to", "on"} or edge["from"] not in states or edge["to"] not in states:
            raise SchemaError(
                f"schema/{file}: $defs/{name}: x-transitions edge {edge} must be {{from, to, on}} over {states}"
            )
        if (edge["from"], edge["to"]) in seen:
            raise SchemaError(f"schema/{file}: $defs/{name}: x-transitions lists {edge['from']} -> {edge['to']} twice")
        seen.add((edge["from"], edge["to"]))


def bundle(schemas: SchemaSet) -> dict[str, Any]:
    """One document: the catalog schema's root with every file's ``$defs`` merged in."""
    owner: dict[str, str] = {}
    for file, document in schemas.documents.items():
        for name in document.get("$defs", {}):
            if name in owner:
                raise SchemaError(f"schema/{file}: $defs/{name} is also defined in schema/{owner[name]}")
            owner[name] = file
    defs: dict[str, Any] = {}
    for file, document in schemas.documents.items():
        for name, definition in document.get("$defs", {}).items():
            _check_transitions(file, name, definition)
            defs[name] = _rewrite_refs(definition, file, owner)
    root = _rewrite_refs({k: v for k, v in schemas.catalog.items() if k != "$defs"}, CATALOG_SCHEMA, owner)
    return {**copy.deepcopy(root), "$defs": defs}


def declared_properties(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    """Properties a (sub)schema declares, following local ``$ref`` and ``allOf``; inherited ones first."""
    properties: dict[str, Any] = {}
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        properties |= declared_properties(root["$defs"][ref.removeprefix("#/$defs/")], root)
    for part in schema.get("allOf", []):
        properties |= declared_properties(part, root)
    own: dict[str, Any] = schema.get("properties", {})
    return properties | own


_ANNOTATIONS = frozenset({"description", "title", "$comment"})
_OBJECT_SHAPE = frozenset({"type", "properties", "required", "description", "title"})


def inline(schema: dict[str, Any]) -> dict[str, Any]:
    """An equivalent schema without ``$ref`` and without ``allOf`` + ``unevaluatedProperties: false``.

    jsonschema spends most of a large catalog's validation resolving references and re-evaluating
    ``allOf`` branches to find unevaluated properties (6.8 s of 7 s at 10,000 entries). Both are
    rewritten into plain keywords where that is provably the same check: a ``$ref`` whose siblings are
    only annotations becomes the target's keywords; ``allOf: [base]`` + ``unevaluatedProperties: false``
    over a base of only properties/required becomes one closed object. Anything else is kept as is.
    """
    defs = schema.get("$defs", {})

    def walk(node: Any, seen: tuple[str, ...]) -> Any:
        if isinstance(node, list):
            return [walk(item, seen) for item in node]
        if not isinstance(node, dict):
            return node
        result = {key: walk(value, seen) for key, value in node.items() if key != "$defs"}
        ref = result.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            name = ref.removeprefix("#/$defs/")
            if name in seen:
                raise SchemaError(f"$defs/{name} refers to itself; it cannot be inlined")
            target = walk(defs[name], (*seen, name))
            siblings = {key: value for key, value in result.items() if key != "$ref"}
            # Annotations of the definition win: they describe the value itself, which messages quote.
            result = {**siblings, **target} if set(siblings) <= _ANNOTATIONS else {"allOf": [target], **siblings}
        parts = result.get("allOf")
        if (
            result.get("unevaluatedProperties") is False
            and isinstance(parts, list)
            and len(parts) == 1
            and set(parts[0]) <= _OBJECT_SHAPE
            and set(result) <= _OBJECT_SHAPE | {"allOf", "unevaluatedProperties"}
        ):
            base = parts[0]
            result = {
                **{key: value for key, value in result.items() if key in _ANNOTATIONS},
                "type": "object",
                "properties": {**base.get("properties", {}), **result.get("properties", {})},
                "required": [*base.get("required", []), *result.get("required", [])],
                "additionalProperties": False,
            }
        return result

    inlined: dict[str, Any] = walk(schema, ())
    return inlined
