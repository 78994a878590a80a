"""``modelhub serve --dev``: tokens made up once and kept, so a restart does not lock out running nodes.

Every restart of ``just serve`` used to print fresh tokens, and nodes started with the old node token
stopped working. The tokens ``--dev`` generates are written to ``dev-tokens.json`` beside the SQLite
database (``./data`` for other databases), readable by the owner only (mode 0600), and read back on the
next start; a token set in the environment always wins.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import SecretStr

from runtime.db.sql import sqlite_file_of

if TYPE_CHECKING:
    from runtime.settings import Settings

__all__ = ["FIELDS", "new_token", "tokens_file", "with_dev_tokens"]

FIELDS = ("admin_token", "node_token", "read_token")


def new_token() -> str:
    """A random URL-safe token that does not start with ``-`` (``--token -x…`` would read as an option)."""
    token = secrets.token_urlsafe(24)
    while not token[0].isalnum():
        token = secrets.token_urlsafe(24)
    return token


def tokens_file(database_url: str) -> Path:
    """Where ``--dev`` keeps its tokens: beside the SQLite file, else under ``./data``."""
    database = sqlite_file_of(database_url)
    return (database.parent if database is not None else Path("data")) / "dev-tokens.json"


def with_dev_tokens(settings: Settings, path: Path | None = None) -> tuple[Settings, dict[str, str]]:
    """Fill in each missing token from ``path`` or a new one (then saved); return the settings and those tokens."""
    path = path or tokens_file(settings.database_url)
    try:
        kept = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        kept = {}
    kept = (
        {name: value for name, value in kept.items() if isinstance(value, str) and value}
        if isinstance(kept, dict)
        else {}
    )
    filled: dict[str, str] = {}
    for field in FIELDS:
        if getattr(settings, field) is None:
            name = f"MODELHUB_{field.upper()}"
            filled[name] = kept.get(name) or new_token()
    if filled and any(kept.get(name) != token for name, token in filled.items()):
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as output:
            json.dump({**kept, **filled}, output, indent=2)
        os.chmod(path, 0o600)
    updates = {
        field: SecretStr(filled[f"MODELHUB_{field.upper()}"])
        for field in FIELDS
        if f"MODELHUB_{field.upper()}" in filled
    }
    return settings.model_copy(update=updates), filled
