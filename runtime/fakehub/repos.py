"""The repositories the fake Hub knows: one per catalog repo, per extra test repo, and per recorded fixture.

Repo ids are matched case-insensitively, as on the real Hub; answers use the canonical spelling. A catalog
file is ``size_bytes`` long, except a sharded safetensors index (``*.safetensors.index.json``): the
catalog's size is that of the index and its shards together, so the fake Hub serves a real index JSON that
names shards of at most 5 GiB whose sizes, with the index, add up to exactly ``size_bytes``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from importlib.resources import files
from typing import TYPE_CHECKING

import msgspec

from generated.types import ModelFormat

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping

    from generated.types import SupportedModel

SHARD_LIMIT = 5 * 1024**3
"""Largest shard of a generated sharded safetensors model, in bytes."""

ARTIFACT_SIZE = 4 * 1024 * 1024 + 4099
"""Size of a catalog artifact (its size is not in the catalog)."""

_INDEX_SUFFIX = ".safetensors.index.json"


class _FixtureId(msgspec.Struct):
    id: str


@dataclass(frozen=True)
class Repo:
    """One repository: its files (path -> size) and what its model info is made from."""

    id: str
    sha: str
    files: dict[str, int] = field(default_factory=dict)
    contents: dict[str, bytes] = field(default_factory=dict)
    """Files whose bytes are fixed rather than generated (a sharded index)."""
    models: tuple[SupportedModel, ...] = ()
    fixture: bytes | None = None
    """A recorded model-info body, served as is."""
    gated: bool = False
    """Whether files need a token (recorded gated repos, e.g. meta-llama, or a ``gated`` drift)."""
    gated_mode: str | None = None
    """The ``gated`` value a generated model info states when it is not ``false`` (``auto`` or ``manual``)."""
    digests: dict[str, str] = field(default_factory=dict)
    """LFS SHA-256 to state for a file instead of its content's (a catalog entry's ``sha256``, a drift)."""


def fake_sha(repo_id: str) -> str:
    """A deterministic 40-hex commit id for a generated repo."""
    return hashlib.sha1(f"modelhub-fakehub:{repo_id}".encode(), usedforsecurity=False).hexdigest()


def load_fixtures() -> dict[str, bytes]:
    """The recorded model-info bodies shipped in ``fixtures/``, by repo id."""
    found = {}
    for entry in files("runtime.fakehub").joinpath("fixtures").iterdir():
        if entry.name.endswith(".model_info.json"):
            body = entry.read_bytes()
            found[msgspec.json.decode(body, type=_FixtureId).id] = body
    return found


def sharded_index(path: str, total: int) -> tuple[bytes, dict[str, int]] | None:
    """An index JSON and its shards (path -> size), together exactly ``total`` bytes; None if too small."""
    folder, _, name = path.rpartition("/")
    stem = name[: -len(_INDEX_SUFFIX)]
    prefix = f"{folder}/" if folder else ""
    count = max(1, -(-total // SHARD_LIMIT))
    names = [f"{prefix}{stem}-{i:05d}-of-{count:05d}.safetensors" for i in range(1, count + 1)]
    weight_map = {f"model.layers.{i}.weight": shard.rpartition("/")[2] for i, shard in enumerate(names)}

    def render(data: int) -> str:
        return json.dumps({"metadata": {"total_size": data}, "weight_map": weight_map}, indent=2, sort_keys=True)

    width = len(render(total)) + 1  # the shards' total has at most as many digits as ``total``
    data = total - width
    if data < count:
        return None
    text = render(data)
    index = (text + " " * (width - 1 - len(text)) + "\n").encode()
    sizes = {shard: data // count for shard in names}
    sizes[names[-1]] += data - sum(sizes.values())
    return index, sizes


def _catalog_files(model: SupportedModel) -> Iterable[tuple[str, str, int, bytes | None]]:
    path = model.recommended_filename
    sharded = (
        sharded_index(path, model.size_bytes)
        if model.format == ModelFormat.safetensors and path.endswith(_INDEX_SUFFIX)
        else None
    )
    if sharded is None:
        yield model.repo, path, model.size_bytes, None
    else:
        index, shards = sharded
        yield model.repo, path, len(index), index
        for shard, size in shards.items():
            yield model.repo, shard, size, None
    for artifact in model.artifacts if isinstance(model.artifacts, tuple | list) else ():
        if isinstance(artifact.path, str):
            yield artifact.repo if isinstance(artifact.repo, str) else model.repo, artifact.path, ARTIFACT_SIZE, None


class RepoIndex:
    """Every known repo, looked up case-insensitively."""

    def __init__(self, repos: Iterable[Repo]) -> None:
        """Index ``repos`` by case-folded id."""
        self._repos = {repo.id.casefold(): repo for repo in repos}

    @classmethod
    def build(
        cls,
        catalog: Iterable[SupportedModel],
        extra_files: Mapping[str, Mapping[str, int]] | None = None,
        fixtures: Mapping[str, bytes] | None = None,
    ) -> RepoIndex:
        """The repos of ``catalog``, ``extra_files`` (repo -> {path: size}) and the recorded fixtures."""
        repos: dict[str, Repo] = {}
        for repo_id, body in (load_fixtures() if fixtures is None else fixtures).items():
            recorded = msgspec.json.decode(body)
            sha = recorded.get("sha") or fake_sha(repo_id)
            repos[repo_id.casefold()] = Repo(
                repo_id, sha, fixture=body, gated=recorded.get("gated", False) is not False
            )

        def repo(repo_id: str) -> Repo:
            return repos.setdefault(repo_id.casefold(), Repo(repo_id, fake_sha(repo_id)))

        for model in catalog:
            owner = repo(model.repo)
            if model not in owner.models:
                repos[owner.id.casefold()] = owner = replace(owner, models=(*owner.models, model))
            if isinstance(model.revision, str) and owner.sha == fake_sha(owner.id) and owner.fixture is None:
                repos[owner.id.casefold()] = replace(owner, sha=model.revision)
            for repo_id, path, size, content in _catalog_files(model):
                target = repo(repo_id)
                target.files.setdefault(path, size)
                if path == model.recommended_filename and isinstance(model.sha256, str):
                    target.digests.setdefault(path, model.sha256)
                if content is not None:
                    target.contents.setdefault(path, content)
        for repo_id, sizes in (extra_files or {}).items():
            target = repo(repo_id)
            for path, size in sizes.items():
                target.files[path] = size
                target.contents.pop(path, None)
        return cls(repos.values())

    def get(self, repo_id: str) -> Repo | None:
        """The repo called ``repo_id`` in any case, or None."""
        return self._repos.get(repo_id.casefold())

    def __iter__(self) -> Iterator[Repo]:
        """Every repo."""
        return iter(self._repos.values())
