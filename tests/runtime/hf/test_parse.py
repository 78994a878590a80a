"""parse_model_info: real Hub payloads, tolerated oddities (None, never an exception) and malformed bodies."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from generated.types import HfGating
from runtime.hf.parse import HfStats, MalformedPayload, parse_model_info

ROOT = Path(__file__).parents[3]
#: Real model-info payloads (the fake Hub's; provenance in their README) and other real Hub bodies.
FIXTURES = ROOT / "runtime" / "fakehub" / "fixtures"
OTHER_PAYLOADS = ROOT / "tests" / "data" / "hf"

#: What each real model-info payload (runtime/fakehub/fixtures/*.model_info.json) must give.
EXPECTED = {
    "HuggingFaceH4__zephyr-7b-beta.model_info.json": HfStats(684157, 1667, "2024-10-16T11:48:13.000Z", HfGating.open),
    "ggml-org__gemma-3-1b-it-GGUF.model_info.json": HfStats(186325, 38, "2025-03-12T10:30:05.000Z", HfGating.open),
    "meta-llama__Llama-3.1-8B-Instruct.model_info.json": HfStats(
        5795728, 3763, "2024-09-25T17:00:57.000Z", HfGating.manual
    ),
    "openai-community__gpt2.model_info.json": HfStats(17272637, 2630, "2024-02-19T10:57:45.000Z", HfGating.open),
}

BASELINE: dict[str, Any] = {
    "_id": "621ffdc036468d709f174338",
    "id": "org/model",
    "downloads": 1234,
    "likes": 56,
    "lastModified": "2025-01-02T03:04:05.000Z",
    "gated": "manual",
    "private": False,
}
BASELINE_STATS = HfStats(1234, 56, "2025-01-02T03:04:05.000Z", HfGating.manual)
MISSING = object()


def fixture_bytes(name: str) -> bytes:
    path = FIXTURES / name if (FIXTURES / name).is_file() else OTHER_PAYLOADS / name
    return path.read_bytes()


def encode(payload: object) -> bytes:
    return json.dumps(payload).encode()


def with_override(field: str, value: object) -> bytes:
    payload = dict(BASELINE)
    if value is MISSING:
        del payload[field]
    else:
        payload[field] = value
    return encode(payload)


# ---------------------------------------------------------------------------------------- real payloads


@pytest.mark.parametrize(("name", "expected"), EXPECTED.items(), ids=lambda value: str(value).split(".")[0])
def test_real_model_info_payload_parses(name: str, expected: HfStats) -> None:
    assert parse_model_info(fixture_bytes(name)) == expected


def test_every_model_info_fixture_is_covered() -> None:
    assert sorted(path.name for path in FIXTURES.glob("*.model_info.json")) == sorted(EXPECTED)


def test_real_expand_payload_has_only_unknown_fields() -> None:
    body = fixture_bytes("meta-llama__Llama-3.3-70B-Instruct.expand_inferenceProviderMapping.json")
    assert parse_model_info(body) == HfStats(None, None, None, None)


def test_real_tree_listing_is_malformed() -> None:
    # A JSON array (GET …/tree/{revision}) is not a model info object.
    with pytest.raises(MalformedPayload, match="list"):
        parse_model_info(fixture_bytes("google-bert__bert-base-uncased.tree_dd4bc8b2.json"))


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_truncated_real_payload_is_malformed(name: str) -> None:
    body = fixture_bytes(name)
    with pytest.raises(MalformedPayload):
        parse_model_info(body[: len(body) // 2])


# ---------------------------------------------------------------------------------------- tolerated oddities


def test_baseline_parses() -> None:
    assert parse_model_info(encode(BASELINE)) == BASELINE_STATS


@pytest.mark.parametrize(
    ("field", "value", "attribute", "expected"),
    [
        # counts
        ("downloads", MISSING, "downloads", None),
        ("downloads", None, "downloads", None),
        ("downloads", "1234", "downloads", None),
        ("downloads", 12.5, "downloads", None),
        ("downloads", 1234.0, "downloads", None),
        ("downloads", -1, "downloads", None),
        ("downloads", True, "downloads", None),
        ("downloads", False, "downloads", None),
        ("downloads", [1234], "downloads", None),
        ("downloads", {"total": 1234}, "downloads", None),
        ("downloads", 0, "downloads", 0),
        ("downloads", 2**63 - 1, "downloads", 2**63 - 1),
        ("likes", MISSING, "likes", None),
        ("likes", "56", "likes", None),
        ("likes", -56, "likes", None),
        ("likes", True, "likes", None),
        ("likes", 0, "likes", 0),
        # lastModified
        ("lastModified", MISSING, "last_modified", None),
        ("lastModified", None, "last_modified", None),
        ("lastModified", 1735786800, "last_modified", None),
        ("lastModified", {"date": "2025-01-02"}, "last_modified", None),
        # gated: false | "auto" | "manual"; anything else is unknown
        ("gated", False, "gated", HfGating.open),
        ("gated", "auto", "gated", HfGating.auto),
        ("gated", "manual", "gated", HfGating.manual),
        ("gated", MISSING, "gated", None),
        ("gated", None, "gated", None),
        ("gated", True, "gated", None),
        ("gated", 0, "gated", None),
        ("gated", "Manual", "gated", None),
        ("gated", "yes", "gated", None),
        ("gated", "", "gated", None),
        ("gated", ["manual"], "gated", None),
        ("gated", {"mode": "manual"}, "gated", None),
    ],
    ids=lambda value: repr(value) if value is not MISSING else "missing",
)
def test_odd_field_gives_none_leaves_others(field: str, value: object, attribute: str, expected: object) -> None:
    stats = parse_model_info(with_override(field, value))
    actual = getattr(stats, attribute)
    assert actual == expected
    assert type(actual) is type(expected)  # True == 1 and 0 == False: a bool must not pass for a count
    assert replace(stats, **{attribute: getattr(BASELINE_STATS, attribute)}) == BASELINE_STATS


def test_extra_fields_are_ignored() -> None:
    payload = {
        **BASELINE,
        "siblings": [{"rfilename": "model.gguf"}],
        "gguf": {"total": 999885952, "architecture": "gemma3"},
        "cardData": {"license": "apache-2.0", "tags": None},
        "usedStorage": 3881938176,
        "trendingScore": 1.5,
        "widgetData": [{"text": "héllo ✓"}],
        "downloadsAllTime": "lots",
    }
    assert parse_model_info(encode(payload)) == BASELINE_STATS


def test_empty_object_gives_all_none() -> None:
    assert parse_model_info(b"{}") == HfStats(None, None, None, None)


def test_error_body_object_gives_all_none() -> None:
    # The Hub's error bodies are objects too; they carry no stats.
    assert parse_model_info(b'{"error":"Repository not found"}') == HfStats(None, None, None, None)


def test_out_of_range_number_in_an_unrelated_field_is_tolerated() -> None:
    body = b'{"downloads": 1234, "likes": 56, "trendingScore": 1e400}'
    assert parse_model_info(body) == HfStats(1234, 56, None, None)


# ---------------------------------------------------------------------------------------- malformed bodies


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"not json", id="text"),
        pytest.param(b"<!DOCTYPE html><html>502 Bad Gateway</html>", id="html"),
        pytest.param(b"Temporary Redirect. Redirecting to /api/models/org/new", id="redirect-text"),
        pytest.param(b"[]", id="empty-array"),
        pytest.param(encode([BASELINE]), id="array-of-objects"),
        pytest.param(b'"org/model"', id="string"),
        pytest.param(b"1234", id="number"),
        pytest.param(b"null", id="null"),
        pytest.param(b"true", id="bool"),
        pytest.param(encode(BASELINE)[:-1], id="truncated-by-one"),
        pytest.param(encode(BASELINE)[:20], id="truncated"),
        pytest.param(b'{"downloads": 1,}', id="trailing-comma"),
        pytest.param(b'{"downloads": 1}{"likes": 2}', id="two-objects"),
        pytest.param(b'{"downloads": NaN}', id="nan"),
    ],
)
def test_malformed_body_raises_malformed_payload(body: bytes) -> None:
    with pytest.raises(MalformedPayload):
        parse_model_info(body)


@pytest.mark.parametrize("body", [b'{"id": "\xff\xfe"}', b'{"\xff": 1}', b'"\xc3"'], ids=["value", "key", "string"])
def test_invalid_utf8_is_malformed(body: bytes) -> None:
    with pytest.raises(MalformedPayload):
        parse_model_info(body)


def test_malformed_payload_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="not an object"):
        parse_model_info(b"[]")


# ---------------------------------------------------------------------------------------- properties

_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text()
_json = st.recursive(
    _scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4), max_leaves=12
)
_keys = st.sampled_from(["downloads", "likes", "lastModified", "gated", "id"]) | st.text(max_size=8)


@given(st.dictionaries(_keys, _json, max_size=8))
def test_any_json_object_parses_to_well_typed_stats(payload: dict[str, Any]) -> None:
    stats = parse_model_info(encode(payload))
    for count in (stats.downloads, stats.likes):
        assert count is None or (type(count) is int and count >= 0)
    assert stats.last_modified is None or isinstance(stats.last_modified, str)
    assert stats.gated is None or isinstance(stats.gated, HfGating)


@given(st.text(max_size=64).map(str.encode))
def test_any_utf8_text_parses_or_is_malformed(body: bytes) -> None:
    # Valid UTF-8 only: invalid UTF-8 is the known bug above (test_invalid_utf8_is_malformed).
    try:
        stats = parse_model_info(body)
    except MalformedPayload:
        return
    assert isinstance(stats, HfStats)
