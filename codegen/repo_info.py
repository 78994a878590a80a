"""What a model-info answer with ``?blobs=true`` says about a repository, and which of its files are weights.

The parser keeps only what ``add`` and ``verify`` use and tolerates everything else, as runtime/hf/parse.py
does: a field of an unexpected type counts as absent. Only a body that is not a JSON object is malformed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

_COMMIT = re.compile(r"[0-9a-f]{40}")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_INDEX_SUFFIX = ".safetensors.index.json"
_SHARD = re.compile(r"-\d{5}-of-\d{5}\.(?:safetensors|gguf)$")


class MalformedInfo(ValueError):
    """The body is not a JSON object."""


@dataclass(frozen=True, slots=True)
class HubFile:
    """One file of a repository: its size and LFS SHA-256 when the Hub states them."""

    path: str
    size: int | None
    sha256: str | None


@dataclass(frozen=True)
class RepoInfo:
    """A repository at one revision, as the Hub describes it."""

    repo: str
    """The id the Hub answers with (a renamed repository answers with its new id)."""
    sha: str | None
    """The commit the revision resolved to."""
    gated: str | None
    """``auto`` or ``manual`` when gated, None when open."""
    files: dict[str, HubFile] = field(default_factory=dict)
    payload: dict[str, Any] = field(default_factory=dict)
    """The whole answer, for ``gguf``, ``cardData``, ``config``, ``safetensors`` and ``pipeline_tag``."""

    def weight_files(self) -> list[str]:
        """Candidate weight files, sorted.

        Single GGUF files (no split parts, no ``mmproj``), safetensors indexes, and single safetensors files
        that are neither shards nor covered by an index.
        """
        found = []
        for path in self.files:
            name = path.rpartition("/")[2]
            if _SHARD.search(name) or "mmproj" in name.lower():
                continue
            if name.endswith((".gguf", _INDEX_SUFFIX, ".safetensors")):
                found.append(path)
        indexed = {path[: -len(_INDEX_SUFFIX)] for path in found if path.endswith(_INDEX_SUFFIX)}
        return sorted(path for path in found if not (path.endswith(".safetensors") and path[:-12] in indexed))

    def parts(self, path: str) -> list[HubFile] | None:
        """The files a download of ``path`` takes: itself, plus the shards a safetensors index names; None if absent."""
        head = self.files.get(path)
        if head is None:
            return None
        if not path.endswith(_INDEX_SUFFIX):
            return [head]
        stem = path[: -len(_INDEX_SUFFIX)]
        shard = re.compile(re.escape(stem) + r"-\d{5}-of-\d{5}\.safetensors")
        return [head, *(self.files[name] for name in sorted(self.files) if shard.fullmatch(name))]


def _int(value: Any) -> int | None:
    return value if type(value) is int and value >= 0 else None


def _file(item: Any) -> HubFile | None:
    if not isinstance(item, dict) or not isinstance(item.get("rfilename"), str):
        return None
    lfs: dict[str, Any] = item["lfs"] if isinstance(item.get("lfs"), dict) else {}
    digest = lfs.get("sha256")
    return HubFile(
        item["rfilename"],
        _int(lfs.get("size")) if _int(lfs.get("size")) is not None else _int(item.get("size")),
        digest if isinstance(digest, str) and _SHA256.fullmatch(digest) else None,
    )


def parse_repo_info(body: bytes, asked: str) -> RepoInfo:
    """The ``RepoInfo`` in a ``GET /api/models/{repo}?blobs=true`` body (``asked``: the id requested)."""
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError) as error:
        raise MalformedInfo(f"not JSON ({type(error).__name__})") from None
    if not isinstance(payload, dict):
        raise MalformedInfo(f"a JSON {type(payload).__name__}, not an object")
    files = {}
    listed = payload.get("siblings")
    for item in listed if isinstance(listed, list) else []:
        parsed = _file(item)
        if parsed is not None:
            files[parsed.path] = parsed
    repo = payload.get("id")
    sha = payload.get("sha")
    gated = payload.get("gated")
    return RepoInfo(
        repo=repo if isinstance(repo, str) and "/" in repo else asked,
        sha=sha if isinstance(sha, str) and _COMMIT.fullmatch(sha) else None,
        gated=gated if gated in ("auto", "manual") else None,
        files=files,
        payload=payload,
    )
