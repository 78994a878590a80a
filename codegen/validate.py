"""Validate a catalog file: JSON syntax, the JSON Schema, then the rules in ``codegen.rules``.

Every problem is collected (never only the first), located by line, column and JSON pointer,
and returned sorted by position.
"""

from __future__ import annotations

import difflib
import re
from typing import TYPE_CHECKING, Any

from jsonschema import Draft202012Validator

from codegen import rules, source_map
from codegen.diagnostics import Diagnostic, Finding, join_pointer
from codegen.schemas import declared_properties

if TYPE_CHECKING:
    from pathlib import Path

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


def _unknown_properties(error: ValidationError, root: dict[str, Any]) -> list[Finding]:
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
        pointer = join_pointer([*error.absolute_path, name])
        findings.append(Finding(pointer, f"unknown property {name!r}{suggestion}", at_key=True))
    return findings


def _schema_findings(error: ValidationError, root: dict[str, Any]) -> list[Finding]:
    """Turn one jsonschema error into findings with messages a catalog editor can act on."""
    pointer = join_pointer(list(error.absolute_path))
    if isinstance(error.schema, dict) and "x-error" in error.schema:
        return [Finding(pointer, str(error.schema["x-error"]))]
    if error.validator in ("additionalProperties", "unevaluatedProperties"):
        return _unknown_properties(error, root)
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


def _read(path: Path, display: str) -> tuple[str | None, Diagnostic | None]:
    try:
        data = path.read_bytes()
    except OSError as error:
        return None, Diagnostic(display, 1, 1, "", f"cannot read the file: {error.strerror}")
    if data.startswith(b"\xef\xbb\xbf"):
        return None, Diagnostic(
            display, 1, 1, "", "the file starts with a byte-order mark; save it as UTF-8 without BOM"
        )
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        column = error.start - (data.rfind(b"\n", 0, error.start) + 1) + 1
        return None, Diagnostic(display, line, column, "", f"the file is not UTF-8 ({error.reason})")


def validate_document(document: Any, schema: dict[str, Any]) -> list[Finding]:
    """Findings of the schema and the rules for an already parsed catalog, unlocated."""
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    findings = [f for error in validator.iter_errors(document) for f in _schema_findings(error, schema)]
    return findings + rules.check(document)


def validate_text(text: str, display: str, schema: dict[str, Any]) -> tuple[Any, list[Diagnostic]]:
    """Validate catalog text; return the parsed document and every diagnostic, sorted."""
    document, syntax, has_duplicates = source_map.parse(text)
    if syntax is not None:
        return None, [Diagnostic(display, syntax.line, syntax.column, syntax.pointer, syntax.message)]
    findings = validate_document(document, schema)
    if not findings and not has_duplicates:
        return document, []
    located, _ = source_map.map_source(text)
    diagnostics = [
        Diagnostic(
            display,
            *located.line_column(offset),
            pointer,
            f"duplicate key {pointer.rsplit('/', 1)[1]!r}; JSON keeps only the last value, so remove one",
        )
        for pointer, offset in located.duplicate_keys
    ]
    for finding in findings:
        line, column = located.locate(finding.pointer, key=finding.at_key)
        diagnostics.append(Diagnostic(display, line, column, finding.pointer, finding.message))
    return document, sorted(set(diagnostics))


def validate_file(path: Path, display: str, schema: dict[str, Any]) -> tuple[Any, list[Diagnostic]]:
    """Read and validate a catalog file."""
    text, problem = _read(path, display)
    if problem is not None:
        return None, [problem]
    assert text is not None
    return validate_text(text, display, schema)
