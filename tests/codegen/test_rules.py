"""Rules JSON Schema cannot express, each tested from a valid baseline plus one override."""

from __future__ import annotations

import copy

import pytest

from codegen import rules
from codegen.diagnostics import Finding

BASELINE = {
    "id": "base",
    "name": "Base",
    "description": "Baseline.",
    "repo": "example/Base-GGUF",
    "recommended_filename": "base.gguf",
    "size_bytes": 100,
    "required_memory_bytes": 150,
    "tags": [],
    "capabilities": ["TextGeneration"],
    "format": "gguf",
}


def catalog(*overrides: dict) -> dict:
    return {"models": [copy.deepcopy(BASELINE) | override for override in overrides]}


def test_baseline_passes_every_rule():
    assert rules.check(catalog({}, {"id": "other", "recommended_filename": "other.gguf"})) == []


@pytest.mark.parametrize(
    ("document", "pointer", "words"),
    [
        (catalog({}, {"id": "BASE", "recommended_filename": "b.gguf"}), "/models/1/id", "duplicate id 'BASE'"),
        (catalog({}, {"id": "b2", "repo": "EXAMPLE/base-gguf"}), "/models/1/recommended_filename", "already in"),
        (catalog({"format": "safetensors"}), "/models/0/recommended_filename", "does not end in .safetensors"),
        (catalog({"recommended_filename": "base.GGUF.bin"}), "/models/0/recommended_filename", "does not end in .gguf"),
        (catalog({"required_memory_bytes": 99}), "/models/0/required_memory_bytes", "less than size_bytes (100)"),
        (
            catalog({"artifacts": [{"name": "x", "path": "a"}, {"name": "x", "url": "https://e.org/b"}]}),
            "/models/0/artifacts/1/name",
            "duplicate artifact name 'x'",
        ),
    ],
    ids=["id-casefold", "same-file", "safetensors-ext", "gguf-ext", "memory", "artifact-name"],
)
def test_rule_violation_is_reported_at_its_pointer(document, pointer, words):
    findings = rules.check(document)
    assert len(findings) == 1
    assert findings[0].pointer == pointer
    assert words in findings[0].message


def test_duplicate_id_message_names_both_entries():
    [finding] = rules.unique_ids(catalog({}, {"id": "Base", "recommended_filename": "b.gguf"}))
    assert finding == Finding(
        "/models/1/id", "duplicate id 'Base': /models/0/id is 'base' (ids are compared case-insensitively)"
    )


def test_same_file_at_another_revision_is_allowed():
    pinned = {"id": "pinned", "revision": "0" * 40}
    assert rules.unique_files(catalog({}, pinned)) == []


def test_sharded_safetensors_index_is_a_valid_extension():
    assert (
        rules.extension_matches_format(
            catalog({"format": "safetensors", "recommended_filename": "model.safetensors.index.json"})
        )
        == []
    )


@pytest.mark.parametrize("document", [None, [], {"models": "x"}, {"models": [1, None, {"id": 3}]}])
def test_rules_skip_shapes_the_schema_reports(document):
    assert rules.check(document) == []
