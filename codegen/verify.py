"""``python -m codegen verify --online [FILE]``: check every catalog entry against the Hub.

Entries that share a repository and revision share one request: ``GET /api/models/{repo}[/revision/{rev}]
?blobs=true`` (``codegen.hub``), several at a time. Each entry is checked for its repository (gone, renamed,
become gated), its pinned revision, its file(s) (a safetensors index with its shards), their exact total
size and the LFS SHA-256, and the files of its same-repository artifacts.

Output: a mismatch is one ``FILE:LINE:COL: /json/pointer: message`` line on stdout, the pointer naming the
field that differs and the message both values. An entry that could not be checked is one
``could not check ID (REPO): reason`` line on stderr. Exit status: 0 all match; 1 some differ (whatever
else); 3 none differ but some could not be checked, or ``HF_HUB_OFFLINE`` is set (no call is made). A
terminal gets a progress line on stderr; otherwise a plain line every tenth of the entries.
"""

from __future__ import annotations

import asyncio
import os
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TextIO

from codegen import build, schemas, source_map
from codegen.diagnostics import Diagnostic, Finding
from codegen.errors import HubAnswer, HubError, HubUnavailable, RepoNotFound
from codegen.hub import OFFLINE, HubClient, HubSettings
from codegen.validate import validate_file

if TYPE_CHECKING:
    from pathlib import Path

    import httpx

    from codegen.repo_info import RepoInfo

UNAVAILABLE = 3
Key = tuple[str, str | None]


@dataclass
class Report:
    """What one run found."""

    mismatches: list[Finding] = field(default_factory=list)
    unchecked: list[str] = field(default_factory=list)
    missing: list[Finding] = field(default_factory=list)
    """Fields the entry lacks and the Hub states (sha256, revision), as hints."""
    requests: int = 0
    waited: float = 0.0


def _key(model: dict[str, Any]) -> Key:
    return model["repo"], model.get("revision")


def check_entry(index: int, model: dict[str, Any], answer: RepoInfo | HubError, report: Report) -> None:
    """Add the findings of one entry, given the Hub's answer (or error) for its repository and revision."""
    at = f"/models/{index}"
    repo, revision = model["repo"], model.get("revision")
    if isinstance(answer, HubUnavailable):
        report.unchecked.append(f"could not check {model['id']} ({repo}): {answer}")
        return
    if isinstance(answer, RepoNotFound):
        report.mismatches.append(Finding(f"{at}/repo", f"repository gone: catalog {repo!r}, Hub: not found"))
        return
    if isinstance(answer, HubAnswer):
        report.mismatches.append(Finding(f"{at}/revision", f"catalog {revision!r}, Hub: {answer}"))
        return
    assert not isinstance(answer, HubError)
    info = answer
    if info.repo.casefold() != repo.casefold():
        report.mismatches.append(Finding(f"{at}/repo", f"repository renamed: catalog {repo!r}, Hub {info.repo!r}"))
    if info.gated is not None:
        report.mismatches.append(
            Finding(f"{at}/repo", f"repository became gated: catalog expects open access, Hub gated={info.gated!r}")
        )
    path = model["recommended_filename"]
    parts = info.parts(path)
    if parts is None:
        others = ", ".join(info.weight_files()[:5]) or "no weight files"
        message = f"file not in the repository: catalog {path!r}, Hub at {revision or 'main'} has {others}"
        report.mismatches.append(Finding(f"{at}/recommended_filename", message))
    elif any(part.size is None for part in parts):
        report.unchecked.append(f"could not check {model['id']} ({repo}): the Hub states no size for {path}")
    else:
        size = sum(part.size or 0 for part in parts)
        if size != model["size_bytes"]:
            what = f" (index and {len(parts) - 1} shards)" if len(parts) > 1 else ""
            message = f"size differs{what}: catalog {model['size_bytes']}, Hub {size}"
            report.mismatches.append(Finding(f"{at}/size_bytes", message))
        digest = parts[0].sha256 if len(parts) == 1 else None
        if "sha256" in model and digest is not None and digest != model["sha256"]:
            report.mismatches.append(
                Finding(f"{at}/sha256", f"sha256 differs: catalog {model['sha256']}, Hub {digest}")
            )
        if "sha256" not in model and digest is not None:
            report.missing.append(Finding(f"{at}/sha256", f"absent; the Hub states {digest}"))
    if revision is None and info.sha is not None:
        report.missing.append(Finding(f"{at}/revision", f"absent; the Hub's main is {info.sha}"))
    for number, artifact in enumerate(model.get("artifacts", [])):
        own = artifact.get("repo") in (None, repo)
        if own and "path" in artifact and artifact["path"] not in info.files:
            message = f"artifact file not in the repository: catalog {artifact['path']!r}"
            report.mismatches.append(Finding(f"{at}/artifacts/{number}/path", message))


class Progress:
    """``verify: N/M`` on a terminal (rewritten in place); a plain line every tenth of the work otherwise."""

    def __init__(self, total: int, stream: TextIO) -> None:
        """Report on ``stream`` (stderr)."""
        self.total, self.done, self.stream = total, 0, stream
        self.tty = stream.isatty()
        self._step = max(1, total // 10)

    def advance(self) -> None:
        """One more repository answered."""
        self.done += 1
        if self.tty:
            end = "\n" if self.done == self.total else ""
            self.stream.write(f"\rverify: {self.done}/{self.total} repositories checked{end}")
            self.stream.flush()
        elif self.done % self._step == 0 or self.done == self.total:
            print(f"verify: {self.done}/{self.total} repositories checked", file=self.stream)


async def ask_all(
    keys: list[Key], settings: HubSettings, transport: httpx.AsyncBaseTransport | None, progress: Progress
) -> tuple[dict[Key, RepoInfo | HubError], int, float]:
    """The Hub's answer for every (repo, revision), several at a time; also the request count and the wait."""
    async with HubClient(settings, transport=transport) as hub:

        async def one(key: Key) -> RepoInfo | HubError:
            try:
                return await hub.model_info(*key)
            except HubError as error:
                return error
            finally:
                progress.advance()

        answers = await asyncio.gather(*(one(key) for key in keys))
        return dict(zip(keys, answers, strict=True)), hub.requests, hub.waited


def run(
    file: Path,
    *,
    environ: dict[str, str] | os._Environ[str] = os.environ,
    transport: httpx.AsyncBaseTransport | None = None,
    show_missing: bool = False,
    overrides: dict[str, Any] | None = None,
) -> int:
    """Run ``verify --online``; return the exit status."""
    display = build.display_name(file)
    document, diagnostics = validate_file(file, display, schemas.load(build.SCHEMA_DIR).catalog)
    if diagnostics:
        for diagnostic in diagnostics:
            print(diagnostic.format(), file=sys.stderr)
        return 1
    settings = HubSettings.from_env(environ, **(overrides or {}))
    if settings.offline:
        print(f"codegen verify: {OFFLINE}", file=sys.stderr)
        return UNAVAILABLE
    models = document["models"]
    keys = list(dict.fromkeys(_key(model) for model in models))
    answers, requests, waited = asyncio.run(ask_all(keys, settings, transport, Progress(len(keys), sys.stderr)))
    report = Report(requests=requests, waited=waited)
    for index, model in enumerate(models):
        check_entry(index, model, answers[_key(model)], report)
    text = file.read_text(encoding="utf-8")
    located, _ = source_map.map_source(text)

    def line(finding: Finding) -> str:
        return Diagnostic(display, *located.locate(finding.pointer), finding.pointer, finding.message).format()

    for finding in report.mismatches:
        print(line(finding))
    for reason in report.unchecked:
        print(reason, file=sys.stderr)
    if show_missing:
        for finding in report.missing:
            print(line(finding), file=sys.stderr)
    lacking = {finding.pointer.rsplit("/", 1)[1] for finding in report.missing}
    hint = f"; {len(report.missing)} absent sha256/revision the Hub states (--show-missing)" if lacking else ""
    print(
        f"verify: {len(models)} entries, {len(keys)} repositories, {requests} requests: "
        f"{len(report.mismatches)} mismatch(es), {len(report.unchecked)} could not be checked{hint}",
        file=sys.stderr,
    )
    if report.mismatches:
        return 1
    return UNAVAILABLE if report.unchecked else 0
