"""Each catalog in tests/data/invalid has a .expected file: every line the validator must print."""

from __future__ import annotations

import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

from codegen import schemas, validate_file
from tests.conftest import DATA, ROOT

if TYPE_CHECKING:
    from pathlib import Path

CASES = sorted((DATA / "invalid").glob("*.json"))


@pytest.mark.parametrize("case", CASES, ids=lambda path: path.stem)
def test_invalid_catalog_reports_every_problem_with_position(case: Path):
    expected = case.with_suffix(".expected").read_text(encoding="utf-8").splitlines()
    schema = schemas.load(ROOT / "schema").catalog

    _, diagnostics = validate_file(case, case.relative_to(ROOT).as_posix(), schema)

    assert [d.format() for d in diagnostics] == expected
    assert expected, "every corpus case must fail"


def test_corpus_covers_every_rule_and_syntax():
    names = {case.stem for case in CASES}
    assert {
        "syntax_trailing_comma",
        "duplicate_id_casefolded",
        "duplicate_file",
        "extension_disagrees_with_format",
        "memory_below_size",
        "duplicate_artifact_name",
        "duplicate_json_key",
    } <= names


def test_cli_prints_the_same_lines_and_exits_1_without_traceback():
    case = DATA / "invalid" / "many_problems_sorted.json"
    result = subprocess.run(
        [sys.executable, "-m", "codegen", "validate", str(case.relative_to(ROOT))],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.splitlines() == case.with_suffix(".expected").read_text(encoding="utf-8").splitlines()
    assert "Traceback" not in result.stderr + result.stdout


def test_cli_validates_the_real_catalog():
    result = subprocess.run(
        [sys.executable, "-m", "codegen", "validate"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("supported_models.json: valid")
