"""Fields that become file names on a node are refused at build time unless they stay inside the repo.

Covered fields: recommended_filename, artifacts[].path and artifacts[].name (a URL artifact's file is
named after it when the URL has no file name). The schema's pattern refuses a leading ``/``, a ``..``
segment and a backslash; the rule ``file_names_have_no_control_characters`` refuses NUL, newline and
every other control character. Each refusal is reported at the field's JSON pointer.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

from codegen import rules, schemas, validate_text
from tests.codegen.test_rules import BASELINE
from tests.conftest import ROOT

if TYPE_CHECKING:
    from pathlib import Path

SCHEMA = schemas.load(ROOT / "schema").catalog

ENTRY = BASELINE  # the valid entry the rule tests start from

OUTSIDE = "does not match ^(?!/)(?!.*(^|/)\\.\\.(/|$))[^\\\\]+$"

#: (bad value, words its refusal must contain)
BAD_NAMES = [
    ("../../etc/evil", OUTSIDE),
    ("/etc/evil", OUTSIDE),
    ("a\u0000b", "contains the control character U+0000 (NUL); file names and paths must not contain"),
    ("a\nb", "contains the control character U+000A (newline)"),
    ("..", OUTSIDE),
    ("a/../b", OUTSIDE),
    ("C:\\evil", OUTSIDE),
    ("a\r", "contains the control character U+000D (carriage return)"),
    ("a\tb", "contains the control character U+0009 (tab)"),
    ("a\x1bb", "contains the control character U+001B;"),
    ("a\x7f", "contains the control character U+007F (DEL)"),
    ("a\x85", "contains the control character U+0085;"),
    ("a\n../b", "contains the control character U+000A (newline)"),
]
BAD_IDS = [
    "parent-parent",
    "absolute",
    "nul",
    "newline",
    "dotdot",
    "inner-dotdot",
    "backslash",
    "cr",
    "tab",
    "escape",
    "del",
    "c1-nel",
    "newline-hides-dotdot",
]

GOOD_NAMES = ["model.gguf", "sub/dir/model-00001-of-00002.safetensors", "mmproj", "a..b", ".hidden", "..a/b.."]


def _document(entry_override: dict) -> dict:
    return {"models": [copy.deepcopy(ENTRY) | entry_override]}


def _validate(document: dict) -> list:
    _, diagnostics = validate_text(json.dumps(document, indent=2), "catalog.json", SCHEMA)
    return diagnostics


def _placements(value: str) -> list[tuple[dict, str]]:
    """The bad value in every covered field, each with the pointer its refusal must name."""
    return [
        ({"artifacts": [{"name": value, "url": "https://e.org/mmproj.gguf"}]}, "/models/0/artifacts/0/name"),
        ({"artifacts": [{"name": "mmproj", "path": value}]}, "/models/0/artifacts/0/path"),
        ({"recommended_filename": value}, "/models/0/recommended_filename"),
    ]


@pytest.mark.parametrize(("value", "words"), BAD_NAMES, ids=BAD_IDS)
@pytest.mark.parametrize("field", [0, 1, 2], ids=["artifact-name", "artifact-path", "recommended-filename"])
def test_bad_file_name_is_refused_at_its_pointer(value, words, field):
    override, pointer = _placements(value)[field]

    diagnostics = _validate(_document(override))

    assert diagnostics, f"{value!r} was accepted at {pointer}"
    assert {d.pointer for d in diagnostics} == {pointer}
    assert any(words in d.message for d in diagnostics), [d.format() for d in diagnostics]
    assert all(d.format().startswith(f"catalog.json:{d.line}:{d.column}: {pointer}: ") for d in diagnostics)


@pytest.mark.parametrize("value", GOOD_NAMES)
def test_good_file_names_are_accepted(value):
    model_format = "safetensors" if value.endswith(".safetensors") else "gguf"
    filename = value if value.endswith((".gguf", ".safetensors")) else f"{value}.gguf"
    document = _document(
        {
            "format": model_format,
            "recommended_filename": filename,
            "artifacts": [
                {"name": value, "url": "https://e.org/a.gguf"},
                {"name": f"{value}-2", "path": value},
            ],
        }
    )

    assert _validate(document) == []


def test_the_schema_refuses_the_same_shapes_in_every_file_name_field():
    patterns = {
        pointer: schema["pattern"]
        for pointer, schema in [
            ("Artifact/name", SCHEMA["$defs"]["Artifact"]["properties"]["name"]),
            ("Artifact/path", SCHEMA["$defs"]["Artifact"]["properties"]["path"]),
            ("recommended_filename", SCHEMA["$defs"]["CatalogFields"]["properties"]["recommended_filename"]),
        ]
    }
    assert len(set(patterns.values())) == 1, patterns


def test_control_character_rule_message():
    [finding] = rules.file_names_have_no_control_characters(_document({"recommended_filename": "a\u0000b.gguf"}))
    assert finding.pointer == "/models/0/recommended_filename"
    assert finding.message == (
        "'a\\x00b.gguf' contains the control character U+0000 (NUL); "
        "file names and paths must not contain control characters"
    )


@pytest.mark.parametrize(
    "document",
    [{"models": [{"artifacts": "x"}]}, {"models": [{"artifacts": [1, {"name": 3, "path": None}]}]}],
)
def test_control_character_rule_skips_shapes_the_schema_reports(document):
    assert rules.file_names_have_no_control_characters(document) == []


def test_cli_refuses_a_path_traversal_artifact(tmp_path: Path):
    catalog = tmp_path / "evil.json"
    catalog.write_text(
        json.dumps(_document({"artifacts": [{"name": "../../etc/evil", "url": "https://e.org/x.gguf"}]}), indent=2),
        encoding="utf-8",
    )

    result = subprocess.run(
        [sys.executable, "-m", "codegen", "validate", str(catalog)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert line.startswith(f"{catalog}:")
    assert f": /models/0/artifacts/0/name: '../../etc/evil' {OUTSIDE}" in line
    assert "Traceback" not in result.stderr + result.stdout
