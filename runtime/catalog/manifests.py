"""Manifests: the files a node fetches for each registered model, with URLs on HF_ENDPOINT."""

from __future__ import annotations

from posixpath import basename
from typing import TYPE_CHECKING
from urllib.parse import quote, urlsplit

import msgspec

from generated.types import ManifestFile, ModelFormat, ModelManifest

if TYPE_CHECKING:
    from generated.types import SupportedModel


def resolve_url(endpoint: str, repo: str, revision: str, path: str) -> str:
    """``{HF_ENDPOINT}/{repo}/resolve/{revision}/{path}``, the path percent-encoded."""
    return f"{endpoint.rstrip('/')}/{repo}/resolve/{revision}/{quote(path)}"


def manifest(model: SupportedModel, endpoint: str) -> ModelManifest:
    """The manifest of one catalog model.

    The recommended file comes first, with its size and sha256 when the catalog has them; a sharded
    safetensors index gets no size (the catalog's size is that of all shards together, which the
    node finds in the index). Artifacts follow, each from its own repository when it names one.
    """
    revision = model.revision if isinstance(model.revision, str) else "main"
    sized = model.format != ModelFormat.safetensors or not model.recommended_filename.endswith(".index.json")
    files = [
        ManifestFile(
            name=model.recommended_filename,
            url=resolve_url(endpoint, model.repo, revision, model.recommended_filename),
            size_bytes=model.size_bytes if sized else msgspec.UNSET,
            sha256=model.sha256,
        )
    ]
    for artifact in model.artifacts if isinstance(model.artifacts, tuple | list) else ():
        if isinstance(artifact.path, str):
            repo = artifact.repo if isinstance(artifact.repo, str) else model.repo
            name, url = (
                artifact.path,
                resolve_url(endpoint, repo, revision if repo == model.repo else "main", artifact.path),
            )
        else:
            url = str(artifact.url)
            name = basename(urlsplit(url).path) or artifact.name
        files.append(ManifestFile(name=name, url=url, priority=artifact.priority, runtimes=artifact.runtimes))
    return ModelManifest(
        model_id=model.id, repo=model.repo, revision=model.revision, format=model.format, files=tuple(files)
    )
