"""``python -m codegen verify --online`` against the fake Hub on loopback: each kind of drift, 429, offline.

The catalog is written per run from the fake Hub's own files (sizes, real LFS SHA-256 of the served bytes),
so a run without faults matches; each drift fault then changes one thing upstream.
"""

from __future__ import annotations

import io
import json
import threading
import time

import pytest

from codegen.cli import main
from codegen.verify import Progress
from runtime.fakehub import file_sha256
from runtime.fakehub.repos import fake_sha
from tests.fakehub import running_fake_hub

ALPHA, BETA, SHARDS, GAMMA = "fake-org/Alpha-GGUF", "fake-org/Beta-GGUF", "fake-org/Shards-7B", "fake-org/Gamma-GGUF"
SHARD_2 = "model-00002-of-00002.safetensors"
EXTRA = {
    ALPHA: {"alpha-q4_k_m.gguf": 200_000},
    BETA: {"beta-q8_0.gguf": 300_000},
    SHARDS: {"model.safetensors.index.json": 1_000, "model-00001-of-00002.safetensors": 50_000, SHARD_2: 40_000},
    GAMMA: {"gamma.gguf": 100_000},
}


def entry(model_id: str, repo: str, path: str, size: int, **more):
    fmt = "safetensors" if path.endswith(".json") else "gguf"
    return {
        "id": model_id,
        "name": model_id.title(),
        "description": "A test entry.",
        "repo": repo,
        "recommended_filename": path,
        "size_bytes": size,
        "required_memory_bytes": size * 2,
        "tags": [],
        "capabilities": ["TextGeneration"],
        "format": fmt,
        **more,
    }


MODELS = [
    entry(
        "alpha",
        ALPHA,
        "alpha-q4_k_m.gguf",
        200_000,
        revision=fake_sha(ALPHA),
        sha256=file_sha256(ALPHA, "alpha-q4_k_m.gguf", 200_000),
    ),
    entry("beta", BETA, "beta-q8_0.gguf", 300_000, sha256=file_sha256(BETA, "beta-q8_0.gguf", 300_000)),
    entry("shards", SHARDS, "model.safetensors.index.json", 91_000),
    entry("gamma", GAMMA, "gamma.gguf", 100_000),
]


@pytest.fixture(scope="module")
def server():
    with running_fake_hub(extra_files=EXTRA) as handle:
        yield handle


@pytest.fixture
def catalog(tmp_path):
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps({"models": MODELS}, indent=2) + "\n")
    return path


def line_of(text: str, index: int, field: str) -> int:
    """The 1-based line of ``field`` in entry ``index`` (of the entry's ``{`` when the field is absent)."""
    lines = text.splitlines()
    start = next(n for n, line in enumerate(lines) if line.strip() == f'"id": "{MODELS[index]["id"]}",')
    for n in range(start, len(lines)):
        if lines[n].strip().startswith(f'"{field}":'):
            return n + 1
        if lines[n].strip().startswith("}"):
            break
    return start


def test_a_catalog_that_matches_exits_0_with_one_request_per_repo(hub, catalog, capsys):
    assert main(["verify", "--online", str(catalog)]) == 0
    captured = capsys.readouterr()
    assert captured.out == ""
    assert hub.stats()["api_calls"] == len(MODELS)
    assert "4 entries, 4 repositories, 4 requests: 0 mismatch(es), 0 could not be checked" in captured.err


@pytest.mark.parametrize(
    ("faults", "index", "field", "message"),
    [
        (
            {"drift": [{"repo": ALPHA, "file": "alpha-q4_k_m.gguf", "size": 5}]},
            0,
            "size_bytes",
            "catalog 200000, Hub 5",
        ),
        (
            {"drift": [{"repo": BETA, "file": "beta-q8_0.gguf", "sha256": "c" * 64}]},
            1,
            "sha256",
            f"sha256 differs: catalog {MODELS[1]['sha256']}, Hub {'c' * 64}",
        ),
        (
            {"drift": [{"repo": BETA, "file": "beta-q8_0.gguf", "renamed_to": "beta-v2-q8_0.gguf"}]},
            1,
            "recommended_filename",
            "file not in the repository: catalog 'beta-q8_0.gguf', Hub at main has beta-v2-q8_0.gguf",
        ),
        ({"drift": [{"repo": BETA, "deleted": True}]}, 1, "repo", "repository gone: catalog 'fake-org/Beta-GGUF'"),
        ({"drift": [{"repo": GAMMA, "gated": "manual"}]}, 3, "repo", "repository became gated"),
        ({"rename": {"from": BETA, "to": "fake-org/Beta-Renamed"}}, 1, "repo", "'fake-org/Beta-Renamed'"),
        (
            {"drift": [{"repo": ALPHA, "commit": "d" * 40, "forget_revisions": True}]},
            0,
            "revision",
            f"revision {fake_sha(ALPHA)} does not resolve",
        ),
        (
            {"drift": [{"repo": SHARDS, "file": SHARD_2, "size": 40_001}]},
            2,
            "size_bytes",
            "size differs (index and 2 shards): catalog 91000, Hub 91001",
        ),
    ],
)
def test_each_drift_is_reported_at_the_field_that_differs(hub, catalog, capsys, faults, index, field, message):
    hub.faults(**faults)
    assert main(["verify", "--online", str(catalog)]) == 1
    lines = [line.split(": ", 2) for line in capsys.readouterr().out.splitlines()]
    assert all(pointer.startswith(f"/models/{index}/") for _, pointer, _ in lines), lines
    # a file whose size changed also hashes differently: that is a second line, for sha256
    location, pointer, text = next(line for line in lines if line[1] == f"/models/{index}/{field}")
    assert location.startswith(f"{catalog}:{line_of(catalog.read_text(), index, field)}:")
    assert pointer == f"/models/{index}/{field}"
    assert message in text


def test_could_not_check_is_apart_from_differs(hub, catalog, capsys):
    hub.faults(status=503, repos=[GAMMA])
    assert main(["verify", "--online", str(catalog)]) == 3
    captured = capsys.readouterr()
    assert captured.out == ""
    assert f"could not check gamma ({GAMMA}): HTTP 503: Service Unavailable" in captured.err.splitlines()


def test_a_mismatch_wins_over_could_not_check(hub, catalog, capsys):
    hub.faults(status=503, repos=[GAMMA], drift=[{"repo": ALPHA, "file": "alpha-q4_k_m.gguf", "size": 1}])
    assert main(["verify", "--online", str(catalog)]) == 1
    captured = capsys.readouterr()
    assert "/models/0/size_bytes" in captured.out
    assert "could not check gamma" in captured.err


def test_429_waits_for_retry_after_and_finishes(hub, catalog, capsys):
    hub.faults(rate_limit={"retry_after": 1})
    threading.Timer(0.3, hub.clear).start()
    started = time.monotonic()
    assert main(["verify", "--online", str(catalog)]) == 0
    assert time.monotonic() - started >= 0.9
    assert "0 mismatch(es), 0 could not be checked" in capsys.readouterr().err


def test_offline_exits_3_at_once_without_a_call(hub, catalog, monkeypatch, capsys):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert main(["verify", "--online", str(catalog)]) == 3
    assert "HF_HUB_OFFLINE is set" in capsys.readouterr().err
    assert hub.stats()["api_calls"] == 0


def test_the_request_budget_is_kept(hub, catalog, capsys):
    assert main(["verify", "--online", "--budget", "2", "--concurrency", "1", str(catalog)]) == 3
    assert capsys.readouterr().err.count("request budget of 2 spent") == 2
    assert hub.stats()["api_calls"] == 2


def test_show_missing_lists_what_the_hub_states(hub, catalog, capsys):
    assert main(["verify", "--online", "--show-missing", str(catalog)]) == 0
    err = capsys.readouterr().err
    assert f"/models/3/sha256: absent; the Hub states {file_sha256(GAMMA, 'gamma.gguf', 100_000)}" in err
    assert f"/models/1/revision: absent; the Hub's main is {fake_sha(BETA)}" in err


def test_an_invalid_catalog_gives_the_validate_lines_and_no_call(hub, tmp_path, capsys):
    path = tmp_path / "bad.json"
    path.write_text('{"models": [{"id": "x"}]}\n')
    assert main(["verify", "--online", str(path)]) == 1
    assert f"{path}:1:" in capsys.readouterr().err
    assert hub.stats()["api_calls"] == 0


def test_verify_without_online_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as stopped:
        main(["verify"])
    assert stopped.value.code == 2
    assert "--online" in capsys.readouterr().err


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_rewritten_in_place_on_a_terminal_and_plain_lines_otherwise() -> None:
    terminal = _Terminal()
    progress = Progress(3, terminal)
    for _ in range(3):
        progress.advance()
    assert terminal.getvalue() == (
        "\rverify: 1/3 repositories checked\rverify: 2/3 repositories checked\rverify: 3/3 repositories checked\n"
    )
    plain = io.StringIO()
    progress = Progress(20, plain)
    for _ in range(20):
        progress.advance()
    assert plain.getvalue().splitlines() == [f"verify: {n}/20 repositories checked" for n in range(2, 21, 2)]
