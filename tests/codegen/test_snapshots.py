"""Whole-file snapshots of generated/ for tests/data/catalogs/small.json (update: just snapshot-update)."""

from __future__ import annotations

import pytest

PYTHON_FILES = ["__init__.py", "types.py", "lifecycle.py", "catalog.py"]
TYPESCRIPT_FILES = ["typescript/types.ts", "typescript/lifecycle.ts", "typescript/catalog.ts", "typescript/index.ts"]


def test_snapshots_cover_every_generated_file(small_files):
    assert sorted(small_files) == sorted(PYTHON_FILES + TYPESCRIPT_FILES)


@pytest.mark.parametrize("relative", PYTHON_FILES, ids=lambda p: p.removesuffix(".py"))
def test_python_output(small_files, py_snapshot, relative):
    assert small_files[relative] == py_snapshot


@pytest.mark.parametrize("relative", TYPESCRIPT_FILES, ids=lambda p: p.split("/")[-1].removesuffix(".ts"))
def test_typescript_output(small_files, ts_snapshot, relative):
    assert small_files[relative] == ts_snapshot
