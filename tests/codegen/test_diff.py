"""``python -m codegen diff``: a valid baseline plus one override per kind of change."""

from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path

import pytest

from codegen import build, schemas
from codegen import catalog_diff as diff
from codegen.cli import main
from codegen.errors import GitError

SMALL = Path(__file__).parents[1] / "data" / "catalogs" / "small.json"
BASE = json.loads(SMALL.read_text())


def write(tmp_path: Path, document, name="new.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(document, indent=2))
    return path


def changed(**fields):
    document = copy.deepcopy(BASE)
    for key, value in fields.items():
        if value is None:
            document["models"][0].pop(key, None)
        else:
            document["models"][0][key] = value
    return document


@pytest.mark.parametrize(
    ("fields", "line"),
    [
        ({"repo": "example/Other-GGUF"}, 'breaking: tiny-chat: repo: "example/Tiny-Chat-GGUF" → "example/Other-GGUF"'),
        ({"revision": "a" * 40}, f'breaking: tiny-chat: revision: (absent) → "{"a" * 40}"'),
        (
            {"recommended_filename": "tiny-chat-q8_0.gguf"},
            'breaking: tiny-chat: recommended_filename: "tiny-chat-q4_k_m.gguf" → "tiny-chat-q8_0.gguf"',
        ),
        ({"size_bytes": 1001}, "breaking: tiny-chat: size_bytes: 1000 → 1001"),
        ({"sha256": "b" * 64}, f'breaking: tiny-chat: sha256: (absent) → "{"b" * 64}"'),
        ({"name": "Tiny"}, 'tiny-chat: name: "Tiny Chat" → "Tiny"'),
        ({"tags": ["chat", "small"]}, 'tiny-chat: tags: ["chat"] → ["chat", "small"]'),
        ({"license": "mit"}, 'tiny-chat: license: (absent) → "mit"'),
    ],
)
def test_a_changed_field_prints_old_and_new(tmp_path, capsys, fields, line):
    assert main(["diff", str(SMALL), str(write(tmp_path, changed(**fields)))]) == 0
    assert capsys.readouterr().out.splitlines() == [line]


def test_a_removed_field_is_shown_absent():
    before = copy.deepcopy(BASE)
    after = copy.deepcopy(BASE)
    del after["models"][1]["license"]
    assert diff.changes(before, after) == ['vision-7b: license: "apache-2.0" → (absent)']


def test_a_removed_id_is_breaking_and_an_added_id_is_not(tmp_path, capsys):
    document = copy.deepcopy(BASE)
    removed = document["models"].pop(0)
    document["models"].append({**removed, "id": "tiny-chat-2"})
    assert main(["diff", str(SMALL), str(write(tmp_path, document))]) == 0
    captured = capsys.readouterr()
    assert captured.out.splitlines() == [
        "breaking: tiny-chat: removed (repo example/Tiny-Chat-GGUF)",
        "tiny-chat-2: added",
    ]
    assert captured.err == "1 added, 1 removed, 0 changed; 1 breaking line(s)\n"


def test_identical_catalogs_have_no_changes(capsys):
    assert main(["diff", str(SMALL), str(SMALL)]) == 0
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == ("", "no changes\n")


def test_an_invalid_side_prints_the_validate_lines_and_exits_1(tmp_path, capsys):
    bad = changed(size_bytes=-1)
    path = write(tmp_path, bad)
    assert main(["diff", str(SMALL), str(path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"{path}:")
    assert "/models/0/size_bytes" in err


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)


def test_a_git_side_reads_the_catalog_at_that_revision(tmp_path):
    git(tmp_path, "init", "-q")
    (tmp_path / "supported_models.json").write_text(SMALL.read_text())
    git(tmp_path, "add", "supported_models.json")
    git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-qm", "catalog")
    schema = schemas.load(build.SCHEMA_DIR).catalog
    assert diff.load("git:HEAD", schema, tmp_path) == BASE
    with pytest.raises(GitError, match="git:nope: "):
        diff.load("git:nope", schema, tmp_path)


def test_an_unknown_git_revision_is_one_line_and_exit_1(capsys):
    assert main(["diff", "git:no-such-ref-anywhere", str(SMALL)]) == 1
    assert capsys.readouterr().err.startswith("codegen: git:no-such-ref-anywhere: ")
