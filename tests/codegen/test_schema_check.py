"""The fast schema check reports exactly what checking the whole document with jsonschema reports."""

from __future__ import annotations

import copy
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codegen import schemas
from codegen.schema_check import findings, whole_document_findings
from tests.conftest import DATA, ROOT, SMALL_CATALOG

SCHEMA = schemas.load(ROOT / "schema").catalog
INLINED = schemas.inline(SCHEMA)
PARSEABLE = [
    path
    for path in sorted((DATA / "invalid").glob("*.json"))
    if not path.stem.startswith(("syntax", "empty", "not_utf8", "byte_order"))
]


def _same(document):
    fast = sorted(findings(document, SCHEMA), key=repr)
    assert fast == sorted(whole_document_findings(document, INLINED), key=repr)
    assert fast == sorted(whole_document_findings(document, SCHEMA), key=repr)
    return fast


@pytest.mark.parametrize("case", PARSEABLE, ids=lambda path: path.stem)
def test_corpus_cases_agree(case):
    _same(json.loads(case.read_text(encoding="utf-8")))


def test_inlining_removes_every_reference():
    assert "$ref" not in json.dumps(INLINED)
    assert "unevaluatedProperties" not in json.dumps(INLINED)


VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-2, 2**40)
    | st.floats(allow_nan=False)
    | st.text(max_size=8)
    | st.sampled_from(["gguf", "TextGeneration", "cpu", "x.gguf", "org/name", "https://e.org/a", "a" * 40]),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=6,
)
FIELDS = st.sampled_from([*INLINED["properties"]["models"]["items"]["properties"], "colour", "name ", ""])


@settings(max_examples=150, deadline=None)
@given(edits=st.lists(st.tuples(st.integers(0, 2), FIELDS, VALUES | st.just(...)), max_size=6))
def test_random_edits_agree(edits):
    document = json.loads(SMALL_CATALOG.read_text(encoding="utf-8"))
    for index, field, value in edits:
        entry = document["models"][index]
        if value is ...:
            entry.pop(field, None)
        else:
            entry[field] = copy.deepcopy(value)
    _same(document)


@pytest.mark.parametrize("document", [None, [], {"models": 3}, {"models": [1, "x", None, []]}, {}])
def test_malformed_shapes_agree(document):
    _same(document)
