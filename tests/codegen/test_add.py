"""``python -m codegen add`` against the fake Hub on loopback: entries, candidates, gated repos, bad input.

Each test appends to a copy of tests/data/catalogs/small.json; the written file is compared byte for byte
with a syrupy snapshot, and every failure leaves the file unchanged.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from codegen.cli import main
from tests.fakehub import running_fake_hub

SMALL = Path(__file__).parents[1] / "data" / "catalogs" / "small.json"
GEMMA = "ggml-org/gemma-3-1b-it-GGUF"  # a recorded payload with gguf and cardData
TINY = "fake-org/Tiny-GGUF"
SHARDED = "fake-org/Sharded-7B"
GATED = "fake-org/Gated-GGUF"
EXTRA = {
    GEMMA: {"gemma-3-1b-it-Q4_K_M.gguf": 2_000_000, "gemma-3-1b-it-Q8_0.gguf": 3_000_000},
    TINY: {"tiny-q4_k_m.gguf": 300_000, "README.md": 120},
    SHARDED: {
        "model.safetensors.index.json": 2_000,
        "model-00001-of-00002.safetensors": 5_000_000,
        "model-00002-of-00002.safetensors": 4_000_000,
        "config.json": 700,
    },
    GATED: {"gated-q8_0.gguf": 400_000},
}


@pytest.fixture(scope="module")
def server():
    with running_fake_hub(extra_files=EXTRA) as handle:
        yield handle


@pytest.fixture
def catalog(tmp_path):
    path = tmp_path / "catalog.json"
    shutil.copyfile(SMALL, path)
    return path


def add(catalog: Path, *args: str) -> int:
    return main(["add", *args, "--catalog", str(catalog)])


def test_a_gguf_entry_takes_the_hub_facts(hub, catalog, capsys, json_snapshot):
    assert add(catalog, GEMMA, "--file", "gemma-3-1b-it-Q4_K_M.gguf") == 0
    assert catalog.read_text() == json_snapshot
    assert "added /models/3 'gemma-3-1b-it-q4_k_m'" in capsys.readouterr().out
    assert hub.stats()["api_calls"] == 1


def test_a_single_weight_file_needs_no_file_flag(hub, catalog, json_snapshot):
    assert add(catalog, TINY, "--id", "tiny") == 0
    assert catalog.read_text() == json_snapshot


def test_a_sharded_safetensors_size_is_the_index_and_its_shards(hub, catalog, json_snapshot):
    assert add(catalog, SHARDED) == 0
    assert catalog.read_text() == json_snapshot
    assert '"size_bytes": 9002000' in catalog.read_text()


def test_the_diff_is_one_added_object(hub, catalog):
    before = catalog.read_text()
    assert add(catalog, TINY, "--id", "tiny") == 0
    after = catalog.read_text()
    cut = before.rindex("}", 0, before.rindex("]"))
    assert after.startswith(before[: cut + 1])
    assert after.endswith(before[cut + 1 :])
    assert after[cut + 1 : len(after) - len(before) + cut + 1].startswith(",\n    {\n")


def test_several_candidates_are_listed_and_nothing_is_written(hub, catalog, capsys):
    before = catalog.read_bytes()
    assert add(catalog, GEMMA) == 2
    assert capsys.readouterr().out == (
        f"{GEMMA} has 3 candidate weight files; choose one with --file:\n"
        "  gemma-3-1b-it-Q4_K_M.gguf  2,000,000 bytes (2.00 MB)\n"
        "  gemma-3-1b-it-Q8_0.gguf    3,000,000 bytes (3.00 MB)\n"
        "  gemma-3-1b-it-f16.gguf     size unknown\n"
    )
    assert catalog.read_bytes() == before


def test_a_gated_repo_without_a_token_says_how_to_get_access(hub, catalog, capsys):
    hub.faults(drift=[{"repo": GATED, "gated": "manual"}])
    assert add(catalog, GATED) == 1
    err = capsys.readouterr().err
    assert f"{GATED} is gated (manual): ask for access at https://huggingface.co/{GATED}" in err
    assert "HF_TOKEN" in err


def test_a_gated_repo_with_a_token_is_added(hub, catalog, monkeypatch, json_snapshot):
    hub.faults(drift=[{"repo": GATED, "gated": "auto"}])
    monkeypatch.setenv("HF_TOKEN", "hf_approved")
    assert add(catalog, GATED) == 0
    assert catalog.read_text() == json_snapshot
    assert hub.stats()["last_authorization"] == "Bearer hf_approved"


def test_a_gated_repo_with_an_unapproved_token_is_refused(hub, catalog, monkeypatch, capsys):
    hub.faults(drift=[{"repo": GATED, "gated": "manual"}], denied_tokens=["hf_pending"])
    monkeypatch.setenv("HF_TOKEN", "hf_pending")
    before = catalog.read_bytes()
    assert add(catalog, GATED) == 1
    assert "gated and HF_TOKEN has no access yet" in capsys.readouterr().err
    assert catalog.read_bytes() == before


def one_line(capsys) -> str:
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert "Traceback" not in captured.err
    return lines[0]


@pytest.mark.parametrize(
    ("args", "faults", "status", "message"),
    [
        (["nobody/nothing"], {}, 1, "codegen add: repository nobody/nothing not found on the Hub"),
        ([TINY, "--file", "other.gguf"], {}, 1, f"codegen add: other.gguf is not in {TINY}"),
        ([TINY, "--revision", "no-such-branch"], {}, 1, f"revision no-such-branch does not resolve in {TINY}"),
        ([TINY], {"status": 503}, 3, "codegen add: could not ask the Hub: HTTP 503"),
        ([TINY], {"malformed": True}, 3, "the Hub answered a malformed body"),
        ([TINY], {"drift": [{"repo": TINY, "deleted": True}]}, 1, f"repository {TINY} not found"),
    ],
)
def test_bad_input_is_one_line_and_leaves_the_catalog_unchanged(hub, catalog, capsys, args, faults, status, message):
    if faults:
        hub.faults(**faults)
    before = catalog.read_bytes()
    assert add(catalog, *args) == status
    assert message in one_line(capsys)
    assert catalog.read_bytes() == before


def test_an_id_that_is_taken_gives_the_validate_lines(hub, catalog, capsys):
    before = catalog.read_bytes()
    assert add(catalog, TINY, "--id", "tiny-chat") == 1
    err = capsys.readouterr().err
    assert f"{catalog}:" in err
    assert "/models/3/id" in err
    assert "nothing written" in err
    assert catalog.read_bytes() == before


def test_offline_makes_no_call(hub, catalog, monkeypatch, capsys):
    monkeypatch.setenv("HF_HUB_OFFLINE", "yes")
    assert add(catalog, TINY) == 3
    assert "HF_HUB_OFFLINE is set" in one_line(capsys)
    assert hub.stats()["api_calls"] == 0


def test_no_network_exits_3(catalog, monkeypatch, capsys):
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    assert add(catalog, TINY) == 3
    assert "cannot reach http://127.0.0.1:9" in one_line(capsys)
