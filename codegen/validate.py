"""Validate a catalog file: JSON syntax, the JSON Schema, then the rules in ``codegen.rules``.

Every problem is collected (never only the first), located by line, column and JSON pointer,
and returned sorted by position.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from codegen import rules, schema_check, source_map
from codegen.diagnostics import Diagnostic

if TYPE_CHECKING:
    from pathlib import Path

    from codegen.diagnostics import Finding


def read_catalog(path: Path, display: str) -> tuple[str | None, Diagnostic | None]:
    """The file as text, or the one diagnostic that says why it cannot be read as UTF-8."""
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
    return schema_check.findings(document, schema) + rules.check(document)


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
    text, problem = read_catalog(path, display)
    if problem is not None:
        return None, [problem]
    assert text is not None
    return validate_text(text, display, schema)
