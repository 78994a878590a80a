"""Validate frames and API bodies against the JSON Schemas in ``schema/`` (draft 2020-12)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry, Resource

SCHEMA_DIR = Path(__file__).resolve().parents[3] / "schema"


@cache
def _registry() -> Registry:
    resources = [
        (path.name, Resource.from_contents(json.loads(path.read_text()))) for path in SCHEMA_DIR.glob("*.schema.json")
    ]
    return Registry().with_resources(resources)


@cache
def validator(file: str, definition: str) -> Draft202012Validator:
    """A validator of ``file``'s ``$defs/definition``, with the other schema files resolvable."""
    return Draft202012Validator({"$ref": f"{file}#/$defs/{definition}"}, registry=_registry())


def check(file: str, definition: str, instance: Any) -> None:
    """Raise ``jsonschema.ValidationError`` unless ``instance`` is a valid ``definition``."""
    validator(file, definition).validate(instance)


def errors(file: str, definition: str, instance: Any) -> list[str]:
    """The validation errors' messages (empty when valid)."""
    return [error.message for error in validator(file, definition).iter_errors(instance)]


def topic_pattern() -> str:
    """The Topic pattern of schema/events.schema.json."""
    return json.loads((SCHEMA_DIR / "events.schema.json").read_text())["$defs"]["Topic"]["pattern"]
