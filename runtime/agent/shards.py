"""Sharded safetensors: the manifest lists only ``*.safetensors.index.json``; its ``weight_map`` names the shards.

The shards sit in the index's folder of the same repository, so their URLs are the index's URL with
the last segment replaced. The manifest gives the index no size (the catalog's size is that of the
index and all shards), so the shards' sizes come from a ``HEAD`` each.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import quote, urlsplit, urlunsplit

import httpx
import msgspec

from runtime.agent.download import FileSpec
from runtime.agent.errors import DownloadError, FileUnavailable

if TYPE_CHECKING:
    from collections.abc import Mapping

INDEX_SUFFIX = ".safetensors.index.json"


class _Index(msgspec.Struct):
    weight_map: dict[str, str]


def is_index(spec: FileSpec) -> bool:
    """Whether ``spec`` is a sharded safetensors index."""
    return spec.name.endswith(INDEX_SUFFIX)


def shard_specs(index: FileSpec, content: bytes) -> list[FileSpec]:
    """The shards an index names, in name order, with their URLs (sizes unknown).

    Raises:
        DownloadError: The index is not JSON with a ``weight_map``, or names a shard outside its folder.
    """
    try:
        shards = sorted(set(msgspec.json.decode(content, type=_Index).weight_map.values()))
    except msgspec.DecodeError as error:
        raise DownloadError(f"{index.name}: not a safetensors index ({error})") from error
    folder = index.name.rpartition("/")[0]
    parts = urlsplit(index.url)
    base = parts.path.rpartition("/")[0]
    specs = []
    for shard in shards:
        if not shard or "/" in shard or "\\" in shard or shard in (".", ".."):
            raise DownloadError(f"{index.name}: names a shard outside its folder: {shard!r}")
        url = urlunsplit(parts._replace(path=f"{base}/{quote(shard)}", query="", fragment=""))
        specs.append(FileSpec(name=f"{folder}/{shard}" if folder else shard, url=url))
    return specs


async def remote_size(client: httpx.AsyncClient, url: str, headers: Mapping[str, str]) -> int | None:
    """The size of the file at ``url`` from a ``HEAD`` (the Hub's ``X-Linked-Size`` first); None if not told.

    Raises:
        FileUnavailable: An error status.
        DownloadError: No answer.
    """
    try:
        response = await client.head(url, headers={**headers, "accept-encoding": "identity"})
    except httpx.HTTPError as error:
        raise DownloadError(f"HEAD {urlsplit(url).path}: {type(error).__name__}: {error}") from error
    if response.status_code >= 400:
        raise FileUnavailable(response.status_code, f"HEAD {urlsplit(url).path}: HTTP {response.status_code}")
    for header in ("x-linked-size", "content-length"):
        value = response.headers.get(header, "")
        if value.isdigit():
            return int(value)
    return None
