"""The TypeScript side of generated/typescript/: types, the catalog data and the lifecycle tables.

No maintained generator emits ``readonly`` TypeScript from JSON Schema (json-schema-to-typescript
has no readonly option and formats through a changing prettier), so this module maps the small
schema subset we use to view-models, and Jinja templates write them. Anything outside that subset
is a SchemaError, never a silent ``any``.
"""

from __future__ import annotations

import json
import re
from typing import Any

from codegen.errors import SchemaError
from codegen.render import environment, upper_snake

_IDENTIFIER = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$]*$")
_PRIMITIVES = {"string": "string", "integer": "number", "number": "number", "boolean": "boolean", "null": "null"}


def _doc(text: str) -> list[str]:
    return text.replace("*/", "*\\/").splitlines() or [""]


def ts_type(schema: dict[str, Any], where: str) -> str:
    """The TypeScript type of a schema, from the subset schema/ uses."""
    if "$ref" in schema:
        return str(schema["$ref"]).removeprefix("#/$defs/")
    if "const" in schema:
        return json.dumps(schema["const"])
    if "enum" in schema:
        return " | ".join(json.dumps(value) for value in schema["enum"])
    variants = schema.get("anyOf") or schema.get("oneOf")
    if variants:
        return " | ".join(ts_type(part, where) for part in variants)
    kinds = schema.get("type")
    if isinstance(kinds, list):
        return " | ".join(ts_type({**schema, "type": kind}, where) for kind in kinds)
    if kinds == "array":
        return f"ReadonlyArray<{ts_type(schema.get('items', {}), where)}>"
    if kinds in _PRIMITIVES:
        return _PRIMITIVES[kinds]
    raise SchemaError(f"{where}: no TypeScript mapping for {json.dumps(schema, sort_keys=True)}")


def _definition(name: str, definition: dict[str, Any]) -> dict[str, Any]:
    view: dict[str, Any] = {"name": name, "doc": _doc(definition.get("description", name))}
    if "enum" in definition:
        return view | {
            "kind": "enum",
            "type": ts_type(definition, name),
            "constant": upper_snake(name) + "_VALUES",
            "values": [json.dumps(v) for v in definition["enum"]],
        }
    own = definition.get("properties", {})
    bases = [part["$ref"].removeprefix("#/$defs/") for part in definition.get("allOf", [])]
    if definition.get("type") == "object" or own:
        required = set(definition.get("required", []))
        fields = [
            {
                "key": key if _IDENTIFIER.match(key) else json.dumps(key),
                "optional": key not in required,
                "type": ts_type(schema, f"{name}.{key}"),
                "doc": _doc(schema.get("description", "")),
            }
            for key, schema in own.items()
        ]
        return view | {"kind": "interface", "bases": bases, "fields": fields}
    if bases:
        return view | {"kind": "alias", "type": " & ".join(bases)}
    return view | {"kind": "alias", "type": ts_type(definition, name)}


def render_types(bundle: dict[str, Any], header: str) -> str:
    """Every schema type as a readonly interface, a literal union or an alias."""
    definitions = [_definition(name, d) for name, d in sorted(bundle["$defs"].items())]
    root = _definition(bundle.get("title", "Root"), bundle)
    return environment().get_template("ts/types.ts.j2").render(header=header, definitions=[*definitions, root])


def render_catalog(models: list[dict[str, Any]], header: str, version: str) -> str:
    """The catalog as a readonly array typed by SupportedModel."""
    # One line per model: the C encoder (no indent) keeps 10,000 entries fast, and a diff shows the model.
    entries = [json.dumps(model, ensure_ascii=False) for model in models]
    return environment().get_template("ts/catalog.ts.j2").render(header=header, version=version, entries=entries)


def render_lifecycle(bundle: dict[str, Any], header: str) -> str:
    """Each x-transitions table as readonly data."""
    tables = [
        {
            "enum": name,
            "constant": upper_snake(name) + "_TRANSITIONS",
            "trigger": name + "Trigger",
            "triggers": sorted({json.dumps(edge["on"]) for edge in d["x-transitions"]}),
            "edges": [{k: json.dumps(edge[k]) for k in ("from", "to", "on")} for edge in d["x-transitions"]],
        }
        for name, d in bundle["$defs"].items()
        if "x-transitions" in d
    ]
    return environment().get_template("ts/lifecycle.ts.j2").render(header=header, tables=tables)


def render_index(header: str) -> str:
    """The barrel module that re-exports the others."""
    return environment().get_template("ts/index.ts.j2").render(header=header)
