"""Catalog rules that JSON Schema cannot express.

Each rule reads the parsed catalog and returns findings in the same shape as schema errors. The
rules are defensive: schema validation reports malformed entries, so a rule skips any value that
is not the shape it expects instead of raising.
"""

from __future__ import annotations

import unicodedata
from typing import Any

from codegen.diagnostics import Finding

#: Accepted file-name endings per model format.
FORMAT_EXTENSIONS: dict[str, tuple[str, ...]] = {
    "gguf": (".gguf",),
    "safetensors": (".safetensors", ".safetensors.index.json"),
}


def _entries(document: Any) -> list[tuple[int, dict[str, Any]]]:
    models = document.get("models") if isinstance(document, dict) else None
    if not isinstance(models, list):
        return []
    return [(index, entry) for index, entry in enumerate(models) if isinstance(entry, dict)]


def unique_ids(document: Any) -> list[Finding]:
    """Ids are unique, compared case-insensitively; the message names both entries."""
    first: dict[str, tuple[int, str]] = {}
    findings = []
    for index, entry in _entries(document):
        model_id = entry.get("id")
        if not isinstance(model_id, str):
            continue
        key = model_id.casefold()
        if key in first:
            other, other_id = first[key]
            findings.append(
                Finding(
                    f"/models/{index}/id",
                    f"duplicate id {model_id!r}: /models/{other}/id is {other_id!r} "
                    "(ids are compared case-insensitively)",
                )
            )
        else:
            first[key] = (index, model_id)
    return findings


def unique_files(document: Any) -> list[Finding]:
    """No two entries point at the same file: (repo, revision, recommended_filename) is unique."""
    first: dict[tuple[str, str, str], int] = {}
    findings = []
    for index, entry in _entries(document):
        repo, filename = entry.get("repo"), entry.get("recommended_filename")
        revision = entry.get("revision", "main")
        if not (isinstance(repo, str) and isinstance(filename, str) and isinstance(revision, str)):
            continue
        key = (repo.casefold(), revision, filename)
        if key in first:
            findings.append(
                Finding(
                    f"/models/{index}/recommended_filename",
                    f"{repo}@{revision}/{filename} is already in the catalog as /models/{first[key]}",
                )
            )
        else:
            first[key] = index
    return findings


def extension_matches_format(document: Any) -> list[Finding]:
    """The recommended file's extension agrees with ``format``."""
    findings = []
    for index, entry in _entries(document):
        filename, model_format = entry.get("recommended_filename"), entry.get("format")
        extensions = FORMAT_EXTENSIONS.get(model_format) if isinstance(model_format, str) else None
        if not isinstance(filename, str) or extensions is None:
            continue
        if not filename.lower().endswith(extensions):
            findings.append(
                Finding(
                    f"/models/{index}/recommended_filename",
                    f"{filename!r} does not end in {' or '.join(extensions)}, as format {model_format!r} requires",
                )
            )
    return findings


def memory_covers_size(document: Any) -> list[Finding]:
    """``required_memory_bytes >= size_bytes``: a model cannot load in less memory than its file."""
    findings = []
    for index, entry in _entries(document):
        size, memory = entry.get("size_bytes"), entry.get("required_memory_bytes")
        if type(size) is int and type(memory) is int and memory < size:
            findings.append(
                Finding(
                    f"/models/{index}/required_memory_bytes",
                    f"required_memory_bytes ({memory}) is less than size_bytes ({size})",
                )
            )
    return findings


def unique_artifact_names(document: Any) -> list[Finding]:
    """Artifact names are unique within an entry."""
    findings = []
    for index, entry in _entries(document):
        artifacts = entry.get("artifacts")
        if not isinstance(artifacts, list):
            continue
        first: dict[str, int] = {}
        for position, artifact in enumerate(artifacts):
            name = artifact.get("name") if isinstance(artifact, dict) else None
            if not isinstance(name, str):
                continue
            if name in first:
                findings.append(
                    Finding(
                        f"/models/{index}/artifacts/{position}/name",
                        f"duplicate artifact name {name!r}: also /models/{index}/artifacts/{first[name]}",
                    )
                )
            else:
                first[name] = position
    return findings


#: Names for the control characters a catalog editor is most likely to meet.
_CONTROL_NAMES = {"\0": "NUL", "\t": "tab", "\n": "newline", "\r": "carriage return", "\x7f": "DEL"}


def _control_character(text: str) -> str | None:
    """The first control character (Unicode category Cc) in ``text``, described, or None."""
    for character in text:
        if unicodedata.category(character) == "Cc":
            name = _CONTROL_NAMES.get(character)
            return f"U+{ord(character):04X}" + (f" ({name})" if name else "")
    return None


def _file_name_fields(document: Any) -> list[tuple[str, Any]]:
    """(pointer, value) of every field that becomes a file name on a node."""
    fields = []
    for index, entry in _entries(document):
        fields.append((f"/models/{index}/recommended_filename", entry.get("recommended_filename")))
        artifacts = entry.get("artifacts")
        for position, artifact in enumerate(artifacts if isinstance(artifacts, list) else []):
            if isinstance(artifact, dict):
                for key in ("name", "path"):
                    fields.append((f"/models/{index}/artifacts/{position}/{key}", artifact.get(key)))
    return fields


def file_names_have_no_control_characters(document: Any) -> list[Finding]:
    """File names and paths contain no control character (NUL, newline, tab, ...).

    The schema's pattern keeps them relative (no leading ``/``, no ``..`` segment, no backslash);
    this rule names the offending character, which a pattern cannot. A newline would also hide a
    ``..`` segment from the pattern, whose ``.`` does not match it.
    """
    findings = []
    for pointer, value in _file_name_fields(document):
        character = _control_character(value) if isinstance(value, str) else None
        if character is not None:
            findings.append(
                Finding(
                    pointer,
                    f"{value!r} contains the control character {character}; "
                    "file names and paths must not contain control characters",
                )
            )
    return findings


RULES = (
    unique_ids,
    unique_files,
    extension_matches_format,
    memory_covers_size,
    unique_artifact_names,
    file_names_have_no_control_characters,
)


def check(document: Any) -> list[Finding]:
    """Run every rule and return all findings."""
    return [finding for rule in RULES for finding in rule(document)]
