"""The cache directory: what it holds, what is complete, and what goes when a model is no longer wanted.

Layout::

    {cache_dir}/.modelhub-cache            marks the directory as the agent's (it deletes in it)
    {cache_dir}/runtime_id                 the node's stable id, when not given on the command line
    {cache_dir}/{model_id}/{name}          a verified file (names may have folders)
    {cache_dir}/{model_id}/{name}.part     a partial download, and {name}.part.json beside it
    {cache_dir}/{model_id}/.modelhub.json  the verified files: {name: {url, size, sha256}}

A file is complete when ``.modelhub.json`` records it with the manifest's URL (and size and sha256
where the manifest has them) and the file on disk has the recorded size: a restart knows what it has
without re-hashing gigabytes. Only directories named like a model id are ever deleted.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

import msgspec

from runtime.agent.errors import CacheError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from runtime.agent.download import FileSpec

MARKER = ".modelhub-cache"
"""The file that marks a directory as a node cache."""
STATE = ".modelhub.json"
"""The per-model record of verified files."""
RUNTIME_ID = "runtime_id"
"""The file holding the node's generated runtime id."""
_MODEL_ID = re.compile(r"[a-z0-9]+(?:[._-][a-z0-9]+)*")
_RESERVED_SUFFIXES = (".part", ".part.json", ".tmp")


class VerifiedFile(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A file that passed verification: where it came from, its size, and its sha256 if one was checked."""

    url: str
    size: int
    sha256: str | None = None


class _ModelRecord(msgspec.Struct, forbid_unknown_fields=True):
    files: dict[str, VerifiedFile] = msgspec.field(default_factory=dict)


def is_model_id(name: str) -> bool:
    """Whether ``name`` is shaped like a catalog model id (and so may name a model directory)."""
    return len(name) <= 64 and _MODEL_ID.fullmatch(name) is not None


def check_name(name: str) -> PurePosixPath:
    """A manifest file name as a relative path that stays inside the model's directory.

    Raises:
        CacheError: The name is empty, absolute, climbs out with ``..``, or clashes with the agent's own files.
    """
    path = PurePosixPath(name)
    if (
        not name
        or "\\" in name
        or "\0" in name
        or path.is_absolute()
        or any(part in ("", ".", "..") for part in name.split("/"))
        or name == STATE
        or name.endswith(_RESERVED_SUFFIXES)
    ):
        raise CacheError(f"the manifest names a file the cache cannot hold: {name!r}")
    return path


class Cache:
    """The cache directory of one node."""

    def __init__(self, root: Path) -> None:
        """Use ``root`` as it is; ``Cache.open`` checks and marks it first."""
        self.root = root

    @classmethod
    def open(cls, root: Path) -> Cache:
        """Create or reopen the cache at ``root``.

        Raises:
            CacheError: ``root`` is a file, cannot be created, or is a non-empty directory without the marker
                (the agent deletes files in its cache, so it never takes over a directory it did not make).
        """
        try:
            root.mkdir(parents=True, exist_ok=True)
            if not (root / MARKER).is_file():
                if any(root.iterdir()):
                    raise CacheError(
                        f"{root} is not empty and is not a node cache (no {MARKER}); give a new or empty directory"
                    )
                (root / MARKER).write_text(
                    "A Model Hub node cache: the agent deletes the files of models that are no longer registered.\n"
                )
        except OSError as error:
            raise CacheError(f"{root}: {error.strerror or error}") from error
        return cls(root)

    def runtime_id(self, make: Callable[[], str], valid: Callable[[str], bool]) -> str:
        """The id kept in ``runtime_id``; a new one from ``make`` is stored when there is none (or it is invalid)."""
        path = self.root / RUNTIME_ID
        with contextlib.suppress(OSError, UnicodeDecodeError):
            stored = path.read_text().strip()
            if valid(stored):
                return stored
        made = make()
        _write_atomic(path, (made + "\n").encode())
        return made

    def model_dir(self, model_id: str) -> Path:
        """The directory of ``model_id``."""
        if not is_model_id(model_id):
            raise CacheError(f"not a model id: {model_id!r}")
        return self.root / model_id

    def file_path(self, model_id: str, name: str) -> Path:
        """Where the file ``name`` of ``model_id`` lives."""
        return self.model_dir(model_id).joinpath(*check_name(name).parts)

    def verified(self, model_id: str) -> dict[str, VerifiedFile]:
        """The verified files of ``model_id`` by name (empty when the record is missing or unreadable)."""
        try:
            return msgspec.json.decode((self.model_dir(model_id) / STATE).read_bytes(), type=_ModelRecord).files
        except (OSError, msgspec.DecodeError):
            return {}

    def record(self, model_id: str, name: str, file: VerifiedFile) -> None:
        """Record ``name`` as verified (atomically replacing the record)."""
        files = self.verified(model_id)
        files[name] = file
        directory = self.model_dir(model_id)
        directory.mkdir(parents=True, exist_ok=True)
        _write_atomic(directory / STATE, msgspec.json.encode(_ModelRecord(dict(sorted(files.items())))))

    def present(self, model_id: str, spec: FileSpec) -> VerifiedFile | None:
        """The record of ``spec``'s file if it was verified for this URL (and size) and is on disk whole.

        Its sha256 may not have been checked against ``spec.sha256`` (see ``complete``).
        """
        known = self.verified(model_id).get(spec.name)
        if known is None or known.url != spec.url or (spec.size is not None and known.size != spec.size):
            return None
        try:
            return known if self.file_path(model_id, spec.name).stat().st_size == known.size else None
        except OSError:
            return None

    def complete(self, model_id: str, spec: FileSpec) -> VerifiedFile | None:
        """The record of ``spec`` if the file is complete: ``present``, and with its sha256 when it has one."""
        known = self.present(model_id, spec)
        if known is None or (spec.sha256 is not None and known.sha256 != spec.sha256):
            return None
        return known

    def models(self) -> list[str]:
        """The model directories present, by id."""
        try:
            return sorted(entry.name for entry in self.root.iterdir() if entry.is_dir() and is_model_id(entry.name))
        except OSError:
            return []

    def stale(self, wanted: Iterable[str]) -> list[str]:
        """The models present that are not in ``wanted``."""
        keep = set(wanted)
        return [model_id for model_id in self.models() if model_id not in keep]

    def remove_model(self, model_id: str) -> None:
        """Delete every file of ``model_id``."""
        shutil.rmtree(self.model_dir(model_id), ignore_errors=True)

    def prune_model(self, model_id: str, keep: Iterable[str]) -> list[str]:
        """Delete the files of ``model_id`` other than ``keep`` (and the record); return what went."""
        directory = self.model_dir(model_id)
        kept = {STATE, *keep}
        removed = []
        for folder, _, names in os.walk(directory, topdown=False):
            for name in names:
                path = Path(folder, name)
                relative = path.relative_to(directory).as_posix()
                if relative not in kept:
                    with contextlib.suppress(OSError):
                        path.unlink()
                        removed.append(relative)
            if Path(folder) != directory:
                with contextlib.suppress(OSError):
                    Path(folder).rmdir()  # only when empty
        files = self.verified(model_id)
        if files.keys() - kept:
            kept_files = {name: file for name, file in sorted(files.items()) if name in kept}
            _write_atomic(directory / STATE, msgspec.json.encode(_ModelRecord(kept_files)))
        return sorted(removed)


def _write_atomic(path: Path, data: bytes) -> None:
    temporary = path.with_name(path.name + ".tmp")
    with temporary.open("wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)
