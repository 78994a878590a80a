"""``python -m codegen diff OLD NEW``: what changes between two catalogs, per model id.

Each side is a file or ``git:REF`` (``supported_models.json`` at that git revision; ``git:REF:PATH`` for
another file), and is validated first, exactly as ``validate`` does. Output, in the old catalog's order then
the new ids in the new one's::

    ID: added
    breaking: ID: removed
    ID: FIELD: OLD → NEW
    breaking: ID: FIELD: OLD → NEW      (repo, revision, recommended_filename, size_bytes, sha256, artifacts)

Values print as JSON; a field that is not there prints as ``(absent)``. A change on a ``breaking:`` line
makes every node that holds the model download it again (or, for a removed id, orphans its registrations).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from codegen.errors import CatalogInvalid, GitError
from codegen.validate import validate_file, validate_text

BREAKING = ("repo", "revision", "recommended_filename", "size_bytes", "sha256", "artifacts")
"""Fields whose change makes nodes fetch different bytes."""
ABSENT = "(absent)"
DEFAULT_PATH = "supported_models.json"


def _git_show(spec: str, root: Path) -> str:
    ref, _, path = spec.removeprefix("git:").partition(":")
    if not ref:
        raise GitError(f"{spec}: name a git revision, e.g. git:HEAD or git:v1.2.0")
    try:
        shown = subprocess.run(
            ["git", "show", f"{ref}:{path or DEFAULT_PATH}"], cwd=root, capture_output=True, check=False
        )
    except OSError as error:
        raise GitError(f"{spec}: cannot run git ({error.strerror})") from None
    if shown.returncode != 0:
        reason = shown.stderr.decode("utf-8", "replace").strip().splitlines()
        raise GitError(f"{spec}: {reason[-1] if reason else 'git show failed'}")
    try:
        return shown.stdout.decode("utf-8")
    except UnicodeDecodeError:
        raise GitError(f"{spec}: the file at that revision is not UTF-8") from None


def load(spec: str, schema: dict[str, Any], root: Path) -> Any:
    """The validated catalog that ``spec`` names; raises ``CatalogInvalid`` or ``GitError``."""
    if spec.startswith("git:"):
        document, diagnostics = validate_text(_git_show(spec, root), spec, schema)
    else:
        document, diagnostics = validate_file(Path(spec), spec, schema)
    if diagnostics:
        raise CatalogInvalid(diagnostics)
    return document


def _show(value: Any) -> str:
    return ABSENT if value is _MISSING else json.dumps(value, ensure_ascii=False)


_MISSING = object()


def _fields(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Every field of either entry, in the old entry's order, then the new entry's."""
    return list(dict.fromkeys([*old, *new]))


def changes(old: Any, new: Any) -> list[str]:
    """The lines that describe going from catalog ``old`` to catalog ``new`` (both valid)."""
    before = {entry["id"]: entry for entry in old["models"]}
    after = {entry["id"]: entry for entry in new["models"]}
    lines: list[str] = []
    for model_id in dict.fromkeys([*before, *after]):
        if model_id not in after:
            lines.append(f"breaking: {model_id}: removed (repo {before[model_id]['repo']})")
            continue
        if model_id not in before:
            lines.append(f"{model_id}: added")
            continue
        for name in _fields(before[model_id], after[model_id]):
            was, now = before[model_id].get(name, _MISSING), after[model_id].get(name, _MISSING)
            if was != now:
                prefix = "breaking: " if name in BREAKING else ""
                lines.append(f"{prefix}{model_id}: {name}: {_show(was)} → {_show(now)}")
    return lines


def summary(lines: list[str], old: Any, new: Any) -> str:
    """One closing line: how many ids were added, removed and changed, and how many lines are breaking."""
    before = {entry["id"] for entry in old["models"]}
    after = {entry["id"] for entry in new["models"]}
    changed = {line.removeprefix("breaking: ").split(":", 1)[0] for line in lines} - (before ^ after)
    breaking = sum(line.startswith("breaking: ") for line in lines)
    if not lines:
        return "no changes"
    return (
        f"{len(after - before)} added, {len(before - after)} removed, {len(changed)} changed; "
        f"{breaking} breaking line(s)"
    )
