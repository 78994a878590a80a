"""Entry proposals and the append that keeps every other byte of the catalog."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import runtime.fakehub
from codegen.entry import append, parameter_text, propose, quantization, slug
from codegen.repo_info import parse_repo_info

GEMMA = Path(runtime.fakehub.__file__).parent / "fixtures" / "ggml-org__gemma-3-1b-it-GGUF.model_info.json"
ENTRY = {"id": "x", "tags": []}


@pytest.mark.parametrize(
    ("name", "quant"),
    [
        ("Qwen_Qwen3-0.6B-Q4_K_M.gguf", "Q4_K_M"),
        ("Phi-3.5-mini-instruct.Q4_K_M.gguf", "Q4_K_M"),
        ("llama-3.2-1b-instruct-q8_0.gguf", "Q8_0"),
        ("Hermes-2-Pro-Mistral-7B.Q4_0.gguf", "Q4_0"),
        ("gemma-3-1b-it-f16.gguf", "F16"),
        ("model-IQ4_XS.gguf", "IQ4_XS"),
        ("plain.gguf", None),
    ],
)
def test_the_quant_tag_comes_from_the_file_name(name, quant):
    assert quantization(name) == quant


@pytest.mark.parametrize(
    ("count", "text"), [(596_049_920, "0.6B"), (999_885_952, "1B"), (7_241_732_096, "7.2B"), (20_000_000, "20M")]
)
def test_parameter_counts_read_like_the_catalog(count, text):
    assert parameter_text(count) == text


def test_ids_are_slugs():
    assert slug("Qwen_Qwen3-0.6B-Q4_K_M") == "qwen_qwen3-0.6b-q4_k_m"
    assert slug("A  B//C") == "a-b-c"


def test_a_recorded_gguf_payload_gives_licence_parameters_and_context():
    info = parse_repo_info(GEMMA.read_bytes(), "ggml-org/gemma-3-1b-it-GGUF")
    proposed = propose(info, "gemma-3-1b-it-Q4_K_M.gguf")
    assert proposed["license"] == "gemma"
    assert proposed["parameter_count"] == "1B"
    assert proposed["context_length"] == 32768
    assert proposed["revision"] == "f9c28bcd85737ffc5aef028638d3341d49869c27"
    assert "sha256" not in proposed  # the recorded payload has no blobs


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '{"models": [\n  {"id": "a"}\n]}\n',
            '{"models": [\n  {"id": "a"},\n  {\n    "id": "x",\n    "tags": []\n  }\n]}\n',
        ),
        ('{\n  "models": []\n}\n', '{\n  "models": [\n    {\n      "id": "x",\n      "tags": []\n    }\n  ]\n}\n'),
        (
            '{"models": [\r\n    {"id": "a"}\r\n]}',
            '{"models": [\r\n    {"id": "a"},\r\n    {\r\n        "id": "x",\r\n        "tags": []\r\n    }\r\n]}',
        ),
    ],
)
def test_append_adds_one_object_and_keeps_the_rest(text, expected):
    assert append(text, ENTRY) == expected
    assert json.loads(expected)["models"][-1] == ENTRY
