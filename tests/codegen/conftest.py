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


class JsonSnapshot(SingleFileSnapshotExtension):
    _write_mode = WriteMode.TEXT
    file_extension = "json"


@pytest.fixture
def json_snapshot(snapshot):
    return snapshot.use_extension(JsonSnapshot)


@pytest.fixture
def hub(server, monkeypatch):
    """The module's own ``server`` fake Hub: no faults, counts reset, as ``HF_ENDPOINT``, online, no token."""
    server.clear()
    server.reset_stats()
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    for name in ("HF_TOKEN", "HF_HUB_OFFLINE", "MODELHUB_HF_HUB_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    return server
