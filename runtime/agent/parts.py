"""Partial downloads: ``<name>.part`` and the ``<name>.part.json`` that says what it is a part of.

The description (URL, expected size, strong ETag) is written when a transfer starts from byte 0, so a
later run, even after the agent was killed, resumes only a part of the same URL and size.
"""

from __future__ import annotations

import contextlib
import os
from typing import TYPE_CHECKING

import msgspec

if TYPE_CHECKING:
    from pathlib import Path

    from runtime.agent.download import FileSpec


class PartInfo(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The ``<name>.part.json`` beside a partial download."""

    url: str
    size: int | None = None
    etag: str | None = None


def part_path(target: Path) -> Path:
    """Where the partial download of ``target`` is kept."""
    return target.with_name(target.name + ".part")


def info_path(target: Path) -> Path:
    """Where the description of ``target``'s partial download is kept."""
    return target.with_name(target.name + ".part.json")


def read_info(target: Path) -> PartInfo | None:
    """The description of ``target``'s partial download, or None when missing or unreadable."""
    try:
        return msgspec.json.decode(info_path(target).read_bytes(), type=PartInfo)
    except (OSError, msgspec.DecodeError):
        return None


def resumable_size(target: Path, spec: FileSpec) -> int:
    """The bytes of a partial download of ``spec`` that a fetch would keep (0 if none)."""
    info = read_info(target)
    try:
        size = part_path(target).stat().st_size
    except OSError:
        return 0
    if info is None or info.url != spec.url or (spec.size is not None and info.size not in (None, spec.size)):
        return 0
    return size if spec.size is None or size <= spec.size else 0


def discard(target: Path) -> None:
    """Delete the partial download of ``target`` and its description."""
    for path in (part_path(target), info_path(target)):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def adopt(target: Path, spec: FileSpec) -> None:
    """Turn the file at ``target`` back into a complete part of ``spec``: the next fetch checks it on disk."""
    info_path(target).write_bytes(msgspec.json.encode(PartInfo(url=spec.url, size=target.stat().st_size)))
    os.replace(target, part_path(target))
