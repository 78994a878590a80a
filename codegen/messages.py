"""Turn jsonschema's errors into findings with messages a catalog editor can act on."""

from __future__ import annotations

import difflib
import re
from typing import TYPE_CHECKING, Any

from codegen.diagnostics import Finding, join_pointer
from codegen.schemas import declared_properties

if TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError

_UNEXPECTED = re.compile(r"'((?:[^'\\]|\\.)*)'")
_JSON_TYPES = {
    "object": "an object",
    "array": "an array",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "a boolean",
    "null": "null",
}


def _json_type(value: Any) -> str:
    """The JSON type of a parsed value, as a phrase."""
    for python_type, name in (
        (bool, "boolean"),
        (int, "integer"),
        (float, "number"),
        (str, "string"),
        (list, "array"),
        (dict, "object"),
        (type(None), "null"),
    ):
        if isinstance(value, python_type):
            return _JSON_TYPES[name]
    return type(value).__name__


def _unknown_properties(error: ValidationError, root: dict[str, Any], path: list[str | int]) -> list[Finding]:
    """One finding per unknown property, on its key, with a suggestion when one is close."""
    allowed = set(declared_properties(error.schema, root)) if isinstance(error.schema, dict) else set()
    instance = error.instance if isinstance(error.instance, dict) else {}
    # Properties that are declared but failed their own checks also count as "unevaluated" in
    # 2020-12; those failures are reported on their own, so only undeclared names are news here.
    unknown = sorted(set(instance) - allowed)
    findings = []
    for name in unknown:
        hint = difflib.get_close_matches(name, sorted(allowed), n=1)
        suggestion = f"; did you mean {hint[0]!r}?" if hint else ""
        pointer = join_pointer([*path, name])
        findings.append(Finding(pointer, f"unknown property {name!r}{suggestion}", at_key=True))
    return findings


def translate(error: ValidationError, root: dict[str, Any], prefix: tuple[str | int, ...] = ()) -> list[Finding]:
    """Findings for one jsonschema error; ``prefix`` locates the validated value inside the document."""
    path = [*prefix, *error.absolute_path]
    pointer = join_pointer(path)
    if isinstance(error.schema, dict) and "x-error" in error.schema:
        return [Finding(pointer, str(error.schema["x-error"]))]
    if error.validator in ("additionalProperties", "unevaluatedProperties"):
        return _unknown_properties(error, root, path)
    if error.validator == "type":
        value = error.validator_value
        expected = [str(kind) for kind in (value if isinstance(value, list) else [value])]
        wanted = " or ".join(_JSON_TYPES.get(kind, kind) for kind in expected)
        return [Finding(pointer, f"must be {wanted}, not {_json_type(error.instance)}")]
    if error.validator == "exclusiveMinimum":
        return [Finding(pointer, f"{error.instance!r} must be greater than {error.validator_value}")]
    if error.validator == "uniqueItems" and isinstance(error.instance, list):
        repeated = sorted({repr(item) for item in error.instance if error.instance.count(item) > 1})
        return [Finding(pointer, f"items must be unique; repeated: {', '.join(repeated)}")]
    if error.validator == "pattern" and isinstance(error.schema, dict) and "description" in error.schema:
        what = error.schema["description"].rstrip(".")
        return [Finding(pointer, f"{error.instance!r} does not match {error.validator_value} ({what})")]
    if error.validator == "required":
        missing = _UNEXPECTED.search(error.message)
        name = missing.group(1) if missing else "?"
        return [Finding(pointer, f"missing required property {name!r}")]
    return [Finding(pointer, error.message)]
