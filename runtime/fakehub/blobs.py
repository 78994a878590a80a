"""File metadata as the Hub states it: ``?blobs=true`` siblings and the ``/tree/`` listing.

A sibling with blobs is ``{"rfilename", "blobId", "size", "lfs"?: {"sha256", "size", "pointerSize"}}`` and a
tree entry ``{"type": "file", "oid", "size", "path", "lfs"?: {"oid", "size", "pointerSize"}}``, the shapes
huggingface_hub parses (``hf_api.py`` ``RepoSibling`` / ``RepoFile``). Weight files are LFS files; small text
files (a sharded index, a README) are plain git blobs without ``lfs``.

The LFS SHA-256 is the real digest of the bytes the fake Hub serves for files up to ``HASH_LIMIT``; a larger
file would take seconds to hash on every start, so it states a deterministic stand-in instead (never the
content's digest), unless the repo declares one (a catalog entry's ``sha256``, a drift).
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from runtime.fakehub.files import file_etag, file_sha256

if TYPE_CHECKING:
    from collections.abc import Iterable

    from runtime.fakehub.repos import Repo

HASH_LIMIT = 64 * 1024 * 1024
"""Largest file whose LFS SHA-256 is the digest of its served bytes."""

POINTER_SIZE = 134
"""Bytes of a git-lfs pointer file (what the Hub reports as ``pointerSize``)."""

_LFS_SUFFIXES = (".gguf", ".safetensors", ".bin", ".pt", ".pth", ".onnx", ".h5", ".msgpack", ".npz", ".ggml")
_LFS_SIZE = 10 * 1024 * 1024


def is_lfs(path: str, size: int) -> bool:
    """Whether the Hub stores ``path`` with git-lfs: weight files, and anything of 10 MiB or more."""
    return path.endswith(_LFS_SUFFIXES) or size >= _LFS_SIZE


@lru_cache(maxsize=4096)
def _content_sha256(repo: str, path: str, size: int) -> str:
    return file_sha256(repo, path, size)


def lfs_sha256(repo: Repo, path: str, size: int) -> str:
    """The SHA-256 the Hub states for an LFS file of ``repo`` (see the module docstring)."""
    declared = repo.digests.get(path)
    if declared is not None:
        return declared
    if size <= HASH_LIMIT and path not in repo.contents:
        return _content_sha256(repo.id, path, size)
    content = repo.contents.get(path)
    if content is not None:
        return hashlib.sha256(content).hexdigest()
    return hashlib.sha256(f"modelhub-fakehub-lfs\0{repo.id}\0{path}\0{size}".encode()).hexdigest()


def blob_id(repo: Repo, path: str, size: int) -> str:
    """The file's git object id (40 hex), stable for a repo, path and size."""
    return file_etag(repo.id, path, size).strip('"')


def sibling(repo: Repo, path: str) -> dict[str, Any]:
    """One ``siblings[]`` entry with blobs; only ``rfilename`` for a file the fake Hub has no size for."""
    size = repo.files.get(path)
    if size is None:
        return {"rfilename": path}
    entry: dict[str, Any] = {"rfilename": path, "blobId": blob_id(repo, path, size), "size": size}
    if is_lfs(path, size):
        entry["lfs"] = {"sha256": lfs_sha256(repo, path, size), "size": size, "pointerSize": POINTER_SIZE}
    return entry


def siblings(repo: Repo, names: Iterable[str], *, blobs: bool) -> list[dict[str, Any]]:
    """The ``siblings`` list for ``names`` (sorted), with blob metadata when ``blobs``."""
    return [sibling(repo, name) if blobs else {"rfilename": name} for name in sorted(set(names))]


def _tree_oid(name: str) -> str:
    return hashlib.sha1(name.encode(), usedforsecurity=False).hexdigest()


def tree(repo: Repo, folder: str, *, recursive: bool) -> list[dict[str, Any]] | None:
    """The ``/tree/{revision}/{folder}`` entries (directories first, then files), or None if no such folder."""
    prefix = f"{folder.strip('/')}/" if folder.strip("/") else ""
    directories: set[str] = set()
    entries: list[dict[str, Any]] = []
    for path in sorted(repo.files):
        if not path.startswith(prefix):
            continue
        rest = path[len(prefix) :]
        if "/" in rest and not recursive:
            directories.add(prefix + rest.partition("/")[0])
            continue
        if recursive:
            parts = rest.split("/")[:-1]
            directories.update(prefix + "/".join(parts[: i + 1]) for i in range(len(parts)))
        size = repo.files[path]
        entry: dict[str, Any] = {"type": "file", "oid": blob_id(repo, path, size), "size": size, "path": path}
        if is_lfs(path, size):
            entry["lfs"] = {"oid": lfs_sha256(repo, path, size), "size": size, "pointerSize": POINTER_SIZE}
        entries.append(entry)
    if prefix and not entries and not directories:
        return None
    folders = [
        {
            "type": "directory",
            "oid": hashlib.sha1(name.encode(), usedforsecurity=False).hexdigest(),
            "size": 0,
            "path": name,
        }
        for name in sorted(directories)
    ]
    return folders + entries
