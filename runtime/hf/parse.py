"""Read the fields the hub shows from a Hub model-info payload, tolerating anything else.

Real payloads (runtime/fakehub/fixtures/) carry dozens of fields that change over time; a missing field,
a field of an unexpected type, or an unknown ``gated`` value gives None, never an exception. Only a
body that is not a JSON object is malformed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import msgspec

from generated.types import HfGating


class MalformedPayload(ValueError):
    """The body is not a JSON object."""


@dataclass(frozen=True, slots=True)
class HfStats:
    """What we keep of a repository's model info."""

    downloads: int | None
    likes: int | None
    last_modified: str | None
    gated: HfGating | None


#: Counts are stored as BIGINT; a larger one is not a count we can keep.
_MAX_COUNT = 2**63 - 1


def _count(value: Any) -> int | None:
    return value if type(value) is int and 0 <= value <= _MAX_COUNT else None


def _gating(value: Any) -> HfGating | None:
    if value is False:
        return HfGating.open
    if value in ("auto", "manual"):
        return HfGating(value)
    return None


def parse_model_info(body: bytes) -> HfStats:
    """The stats in a ``GET /api/models/{repo}`` body."""
    try:
        payload = msgspec.json.decode(body)
    except msgspec.ValidationError:  # a number beyond msgspec's range somewhere: the stdlib takes it
        payload = json.loads(body)
    except (msgspec.DecodeError, UnicodeDecodeError) as error:
        raise MalformedPayload(f"not JSON: {error}") from None
    if not isinstance(payload, dict):
        raise MalformedPayload(f"a JSON {type(payload).__name__}, not an object")
    modified = payload.get("lastModified")
    return HfStats(
        downloads=_count(payload.get("downloads")),
        likes=_count(payload.get("likes")),
        last_modified=modified if isinstance(modified, str) and len(modified) <= 40 else None,
        gated=_gating(payload.get("gated")),
    )
