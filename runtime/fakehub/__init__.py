"""An HF-compatible fake Hub on loopback, for tests, benchmarks and demos (``modelhub fake-hub``).

It answers model info (recorded fixtures, or plausible bodies for every catalog repo), serves files of the
catalog's exact sizes with deterministic bytes and ``Range`` support, and injects faults switched at run time
through ``/_fake/faults``, upstream drift among them. ``file_bytes`` and ``file_sha256`` tell tests what a file holds.
"""

from __future__ import annotations

from runtime.fakehub.app import FakeHub, create_fake_hub, run
from runtime.fakehub.faults import Drift, Faults, Stats
from runtime.fakehub.files import BLOCK, byte_range, file_bytes, file_etag, file_sha256
from runtime.fakehub.repos import Repo, RepoIndex, sharded_index

__all__ = [
    "BLOCK",
    "Drift",
    "FakeHub",
    "Faults",
    "Repo",
    "RepoIndex",
    "Stats",
    "byte_range",
    "create_fake_hub",
    "file_bytes",
    "file_etag",
    "file_sha256",
    "run",
    "sharded_index",
]
