"""``python -m codegen add REPO``: ask the Hub about a repository and append a validated entry to the catalog.

One model-info request with file metadata (``?blobs=true``), plus, for a gated repository and a token, one
``HEAD`` of the file to learn whether the token has access. With several weight files and no ``--file`` it
prints them with their sizes and writes nothing (exit 2). The new entry is validated with the catalog, by the
rules of ``validate``, before the file is written (atomically); every other byte of the file is kept.

Exit status: 0 added; 1 the catalog or the entry is invalid, or the Hub says the repository, revision or
file is not there or not for us (gated); 2 several candidates, or a usage mistake; 3 the Hub cannot be asked
(``HF_HUB_OFFLINE``, network, timeout, 5xx, 429 past the longest wait, a malformed answer).
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from codegen import build, entry, schemas
from codegen.errors import GatedRepo, HubAnswer, HubUnavailable
from codegen.hub import OFFLINE, HubClient, HubSettings
from codegen.validate import validate_file, validate_text

if TYPE_CHECKING:
    import httpx

    from codegen.repo_info import RepoInfo

CANDIDATES = 2
"""Exit status when a choice of file is needed."""
UNAVAILABLE = 3


@dataclass(frozen=True)
class AddRequest:
    """The command's arguments."""

    repo: str
    file: str | None = None
    revision: str | None = None
    model_id: str | None = None
    catalog: Path = build.CATALOG


def _size(value: int | None) -> str:
    if value is None:
        return "size unknown"
    for unit, scale in (("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if value >= scale:
            return f"{value:,} bytes ({value / scale:.2f} {unit})"
    return f"{value:,} bytes"


def candidates_table(info: RepoInfo, paths: list[str]) -> str:
    """The candidate files, one per line with their total size (a safetensors index with its shards)."""
    width = max(len(path) for path in paths)
    rows = []
    for path in paths:
        parts = info.parts(path) or []
        sizes = [part.size for part in parts]
        total = None if None in sizes else sum(size or 0 for size in sizes)
        shards = f", {len(parts) - 1} shards" if len(parts) > 1 else ""
        rows.append(f"  {path.ljust(width)}  {_size(total)}{shards}")
    return "\n".join(rows)


async def _ask(request: AddRequest, settings: HubSettings, transport: httpx.AsyncBaseTransport | None) -> RepoInfo:
    async with HubClient(settings, transport=transport) as hub:
        info = await hub.model_info(request.repo, request.revision)
    if info.gated is not None and settings.token is None:
        raise GatedRepo(
            f"{info.repo} is gated ({info.gated}): ask for access at https://huggingface.co/{info.repo}, "
            "then set HF_TOKEN to a token of that account",
            status=401,
        )
    return info


async def _check_access(
    info: RepoInfo, path: str, settings: HubSettings, transport: httpx.AsyncBaseTransport | None
) -> None:
    async with HubClient(settings, transport=transport) as hub:
        await hub.check_download(info.repo, info.sha or "main", path)


def _write(path: Path, text: str) -> None:
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as out:
            out.write(text)
        os.chmod(temporary, path.stat().st_mode & 0o777)
        Path(temporary).replace(path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def run(
    request: AddRequest,
    environ: dict[str, str] | os._Environ[str] = os.environ,
    transport: httpx.AsyncBaseTransport | None = None,
) -> int:
    """Run ``add``; return the exit status (messages go to stdout and stderr)."""
    settings = HubSettings.from_env(environ)
    display = build.display_name(request.catalog)
    schema = schemas.load(build.SCHEMA_DIR).catalog
    document, diagnostics = validate_file(request.catalog, display, schema)
    if diagnostics:
        for diagnostic in diagnostics:
            print(diagnostic.format(), file=sys.stderr)
        print(f"codegen add: {display} is invalid; fix it first", file=sys.stderr)
        return 1
    if settings.offline:
        print(f"codegen add: {OFFLINE}", file=sys.stderr)
        return UNAVAILABLE
    try:
        return _add(request, settings, transport, document, display, schema)
    except HubUnavailable as error:
        print(f"codegen add: could not ask the Hub: {error}", file=sys.stderr)
        return UNAVAILABLE
    except HubAnswer as error:
        print(f"codegen add: {error}", file=sys.stderr)
        return 1


def _add(
    request: AddRequest,
    settings: HubSettings,
    transport: httpx.AsyncBaseTransport | None,
    document: Any,
    display: str,
    schema: dict[str, Any],
) -> int:
    """Ask the Hub, choose the file, check access, append; the Hub's failures are raised to ``run``."""
    info = asyncio.run(_ask(request, settings, transport))
    weights = info.weight_files()
    if request.file is not None:
        if request.file not in info.files:
            listed = ", ".join(weights) or "no weight files"
            print(f"codegen add: {request.file} is not in {info.repo} (weight files: {listed})", file=sys.stderr)
            return 1
        path = request.file
    elif len(weights) == 1:
        path = weights[0]
    elif not weights:
        print(f"codegen add: {info.repo} has no GGUF or safetensors weight file; name one with --file", file=sys.stderr)
        return 1
    else:
        print(f"{info.repo} has {len(weights)} candidate weight files; choose one with --file:")
        print(candidates_table(info, weights))
        return CANDIDATES
    if info.gated is not None:
        asyncio.run(_check_access(info, path, settings, transport))
    return _append(request, info, path, document, display, schema)


def _append(request: AddRequest, info: RepoInfo, path: str, document: Any, display: str, schema: dict[str, Any]) -> int:
    parts = info.parts(path) or []
    if any(part.size is None for part in parts):
        print(f"codegen add: the Hub states no size for {path} in {info.repo}", file=sys.stderr)
        return UNAVAILABLE
    proposed = entry.propose(info, path, request.model_id)
    text = request.catalog.read_text(encoding="utf-8")
    updated = entry.append(text, proposed)
    _, diagnostics = validate_text(updated, display, schema)
    if diagnostics:
        for diagnostic in diagnostics:
            print(diagnostic.format(), file=sys.stderr)
        print(f"codegen add: the entry for {info.repo} would be invalid; nothing written", file=sys.stderr)
        return 1
    _write(request.catalog, updated)
    index = len(document["models"])
    revision = proposed.get("revision", "main")[:12]
    print(
        f"{display}: added /models/{index} {proposed['id']!r}: {info.repo} {path} "
        f"({proposed['size_bytes']:,} bytes, revision {revision})"
    )
    missing = [name for name in ("sha256", "license", "parameter_count", "context_length") if name not in proposed]
    note = f"; the Hub states no {', '.join(missing)}" if missing else ""
    print(f"review id, name, description, tags and required_memory_bytes (1.5 x size){note}", file=sys.stderr)
    return 0
