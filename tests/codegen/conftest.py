from __future__ import annotations

import pytest
from syrupy.extensions.single_file import SingleFileSnapshotExtension, WriteMode


class PythonSnapshot(SingleFileSnapshotExtension):
    _write_mode = WriteMode.TEXT
    file_extension = "py"


class TypeScriptSnapshot(SingleFileSnapshotExtension):
    _write_mode = WriteMode.TEXT
    file_extension = "ts"


@pytest.fixture
def py_snapshot(snapshot):
    return snapshot.use_extension(PythonSnapshot)


@pytest.fixture
def ts_snapshot(snapshot):
    return snapshot.use_extension(TypeScriptSnapshot)
